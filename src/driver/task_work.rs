//! Making a stuck worker's thread submit its queued SQEs and post its
//! io_uring completions.
//!
//! On a ring set up without DEFER_TASKRUN, the kernel posts a request's
//! completion by task work of the thread that submitted it, and with
//! COOP_TASKRUN (kept: without it every completion arriving while the
//! worker runs user code costs an interrupt; README measures the CPU it
//! costs) it does not interrupt that thread to do so: the work runs
//! at the thread's next entry into or exit from the kernel. A worker
//! spinning in user code gets there at its next timer interrupt; one
//! asleep in a system call (`std::thread::sleep`, a contended std
//! `Mutex`) only when the call ends. And SQEs the worker pushed before
//! its poll got stuck wait for its next submit.
//!
//! So the watchdog, seeing SQEs or task work pending on a stuck worker's
//! ring, sends that thread `SIGURG` (as Go's scheduler does to preempt).
//! The handler submits the thread's own ring (one `io_uring_enter`, as
//! the owner: the SQ's shared tail only ever covers complete SQEs, and
//! the kernel takes no more than are there), the task work runs on the
//! way back to user code, and the interrupted call resumes (`SA_RESTART`;
//! calls that never restart, such as `nanosleep` and `poll`, return
//! `EINTR`, which `std::thread::sleep` and careful callers retry).
//!
//! The handler is installed once, the first time it is needed, and only
//! over the default disposition (SIGURG is ignored by default): a program
//! that handles SIGURG itself keeps its handler, and its stuck workers'
//! I/O then waits for the timer tick or the end of the blocking call.

use std::cell::Cell;
use std::sync::OnceLock;

std::thread_local! {
    /// The descriptor of the ring this thread owns (-1: none). Read by
    /// the signal handler: a `const` thread-local of a `Cell<i32>` has no
    /// lazy initialisation and no destructor, so reading it there is
    /// async-signal-safe.
    static THREAD_RING: Cell<i32> = const { Cell::new(-1) };
}

/// Records `fd` as the ring the calling thread owns.
pub(crate) fn set_thread_ring(fd: i32) {
    THREAD_RING.with(|r| r.set(fd));
}

/// The handler: submits this thread's ring, if it has one.
extern "C" fn submit_own_ring(_: libc::c_int) {
    let fd = THREAD_RING.try_with(|r| r.get()).unwrap_or(-1);
    if fd < 0 {
        return;
    }
    // SAFETY: errno is this thread's; saved and restored around the call
    // so the interrupted code sees its own.
    let errno = unsafe { *libc::__errno_location() };
    // SAFETY: io_uring_enter on our own ring, submitting at most what the
    // SQ holds (the kernel clamps the count), waiting for nothing, no
    // signal mask: async-signal-safe.
    unsafe {
        libc::syscall(
            libc::SYS_io_uring_enter,
            fd,
            4096u32,
            0u32,
            0u32,
            std::ptr::null::<libc::sigset_t>(),
            0usize,
        );
        *libc::__errno_location() = errno;
    }
}

fn handler_address() -> libc::sighandler_t {
    submit_own_ring as extern "C" fn(libc::c_int) as *const () as libc::sighandler_t
}

/// Installs the handler where SIGURG has its default disposition; false
/// when someone else handles it.
fn install() -> bool {
    // SAFETY: a zeroed sigaction is a valid value to be filled in.
    let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: reads the current disposition into `old`.
    if unsafe { libc::sigaction(libc::SIGURG, std::ptr::null(), &mut old) } != 0 {
        return false;
    }
    if old.sa_sigaction != libc::SIG_DFL && old.sa_sigaction != libc::SIG_IGN {
        return old.sa_sigaction == handler_address();
    }
    // SAFETY: as above.
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = handler_address();
    action.sa_flags = libc::SA_RESTART;
    // SAFETY: `action` is initialised, its mask empty, its handler a
    // function that does nothing (async-signal-safe).
    unsafe {
        libc::sigemptyset(&mut action.sa_mask);
        libc::sigaction(libc::SIGURG, &action, std::ptr::null_mut()) == 0
    }
}

/// Interrupts thread `thread` of this process so it submits its ring and
/// runs its task work.
pub(crate) fn interrupt(thread: i32) {
    static INSTALLED: OnceLock<bool> = OnceLock::new();
    if thread <= 0 || !*INSTALLED.get_or_init(install) {
        return;
    }
    // SAFETY: tgkill with our own pid; a thread that exited meanwhile
    // makes it fail with ESRCH, which is harmless (thread ids are only
    // reused after the worker's thread is gone, and the worker's driver,
    // through which we got here, lives until its thread exits).
    unsafe {
        libc::syscall(libc::SYS_tgkill, libc::getpid(), thread, libc::SIGURG);
    }
}
