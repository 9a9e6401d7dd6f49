//! The cold path of a ring: building it (probing setup flags from the
//! most to the least capable), the probe of its opcodes, the runtime's
//! up-front probe, and the setup errors explained (what is wrong here,
//! and how to fix it).

use std::io;

use io_uring::IoUring;

/// Submission queue entries per ring; the completion queue is 8× larger.
const RING_ENTRIES: u32 = 256;

/// Which io_uring features the ring got.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct RingFlags {
    pub(crate) single_issuer: bool,
    pub(crate) defer_taskrun: bool,
    pub(crate) coop_taskrun: bool,
    pub(crate) ext_arg: bool,
}

/// Simulated setup failure (tests of the unavailable path).
pub(crate) type SetupHook = Option<i32>;

/// Creates a ring, probing flags from the most to the least capable.
pub(super) fn build_ring(simulate: SetupHook) -> io::Result<(IoUring, RingFlags)> {
    build_ring_raw(simulate).map_err(explain_setup_error)
}

/// `build_ring` with the kernel's error as is (its errno kept).
pub(super) fn build_ring_raw(simulate: SetupHook) -> io::Result<(IoUring, RingFlags)> {
    if let Some(errno) = simulate {
        return Err(io::Error::from_raw_os_error(errno));
    }
    // (single_issuer, defer_taskrun, coop_taskrun). Neither single issuer
    // nor deferred task work: the watchdog must be able to reap a stuck
    // worker's completions (`driver/task_work.rs`), which both forbid.
    // COOP_TASKRUN stays: without it each completion arriving while the
    // worker runs user code interrupts it (README measures the CPU per
    // request it costs).
    let attempts = [(false, false, true), (false, false, false)];
    let mut last = None;
    for (single, defer, coop) in attempts {
        let mut b = IoUring::builder();
        b.setup_cqsize(RING_ENTRIES * 8);
        if single {
            b.setup_single_issuer();
        }
        if defer {
            b.setup_defer_taskrun();
        }
        if coop {
            b.setup_coop_taskrun();
            b.setup_taskrun_flag();
        }
        match b.build(RING_ENTRIES) {
            Ok(ring) => {
                let ext_arg = ring.params().is_feature_ext_arg();
                return Ok((
                    ring,
                    RingFlags {
                        single_issuer: single,
                        defer_taskrun: defer,
                        coop_taskrun: coop,
                        ext_arg,
                    },
                ));
            }
            // An older kernel rejects a flag it does not know: try fewer.
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::from_raw_os_error(libc::EINVAL)))
}

/// The opcodes the kernel has, one bit each (none if it cannot be
/// probed: `IORING_REGISTER_PROBE` is 5.6+).
pub(super) fn probe_opcodes(ring: &IoUring) -> [u64; 4] {
    let mut bits = [0u64; 4];
    let mut probe = io_uring::Probe::new();
    if ring.submitter().register_probe(&mut probe).is_ok() {
        for code in 0..=u8::MAX {
            if probe.is_supported(code) {
                bits[usize::from(code / 64)] |= 1 << (code % 64);
            }
        }
    }
    bits
}

/// Turns a setup error into one that names the cause and the fix.
pub(crate) fn explain_setup_error(e: io::Error) -> io::Error {
    let disabled = std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled")
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok());
    let why = match e.raw_os_error() {
        Some(libc::ENOSYS) => "this kernel has no io_uring (io_uring_setup returned ENOSYS); \
             ferrio needs Linux 5.11 or newer built with CONFIG_IO_URING"
            .to_string(),
        Some(libc::EPERM) => match disabled {
            Some(2) => "io_uring is disabled by the sysctl kernel.io_uring_disabled=2; \
                 enable it with `sysctl -w kernel.io_uring_disabled=0`"
                .to_string(),
            Some(1) => "io_uring is restricted by the sysctl kernel.io_uring_disabled=1 to \
                 members of the group in kernel.io_uring_group; add this user to that group or \
                 set kernel.io_uring_disabled=0"
                .to_string(),
            _ => "io_uring_setup was denied (EPERM), most likely by a seccomp profile: \
                 Docker's and Podman's default profiles block io_uring. Run the container \
                 with a profile that allows io_uring_setup, io_uring_enter and \
                 io_uring_register (for example --security-opt seccomp=<profile>), or \
                 outside such a sandbox"
                .to_string(),
        },
        Some(libc::ENOMEM) => "io_uring_setup failed with ENOMEM: the locked-memory limit \
             (ulimit -l, RLIMIT_MEMLOCK) is too low for the rings; raise it or use Linux 5.12+ \
             which accounts rings to the memory cgroup instead"
            .to_string(),
        Some(libc::EOPNOTSUPP) | Some(libc::EINVAL) => "io_uring is not supported in this \
             environment (io_uring_setup returned EOPNOTSUPP/EINVAL), as in some sandboxes \
             such as gVisor"
            .to_string(),
        Some(libc::EMFILE) | Some(libc::ENFILE) => "no file descriptor left for the ring \
             (EMFILE/ENFILE); raise the open-file limit (ulimit -n)"
            .to_string(),
        _ => format!("io_uring_setup failed: {e}"),
    };
    io::Error::new(
        e.kind(),
        format!("ferrio: io_uring is unavailable: {why} [{e}]"),
    )
}
