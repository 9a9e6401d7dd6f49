//! [`RuntimeMetrics`]: the counters of a runtime's I/O drivers, summed
//! over its workers.

#[cfg(not(ferrio_loom))]
use crate::driver::{DriverShared, IoBackend};

/// Counters of a runtime's I/O drivers, summed over its workers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RuntimeMetrics {
    /// The driver the workers run.
    #[cfg(not(ferrio_loom))]
    pub io_driver: IoBackend,
    /// `epoll_wait` system calls (0 on io_uring).
    pub epoll_waits: u64,
    /// `io_uring_enter` system calls (submits and waits; 0 on epoll).
    pub io_uring_enters: u64,
    /// Operations submitted to the rings (0 on epoll).
    pub ops_submitted: u64,
    /// Operations whose final completion was reaped (0 on epoll).
    pub ops_completed: u64,
    /// Times a worker went to sleep on its ring (or in `epoll_wait`).
    pub parks: u64,
    /// The rings were set up with `IORING_SETUP_SINGLE_ISSUER` (never
    /// since the watchdog reaps stuck workers' rings; kept for the field's
    /// users).
    pub single_issuer: bool,
    /// ... with `IORING_SETUP_DEFER_TASKRUN` (never, as above).
    pub defer_taskrun: bool,
    /// ... with `IORING_SETUP_COOP_TASKRUN` (5.19+).
    pub coop_taskrun: bool,
    /// The kernel takes a timeout with the wait (`IORING_FEAT_EXT_ARG`,
    /// 5.11+); otherwise parks arm an `IORING_OP_TIMEOUT`.
    pub ext_arg: bool,
    /// Each ring has a pool of receive buffers (`IORING_REGISTER_PBUF_RING`,
    /// 5.19+): socket reads that wait hold no memory.
    pub provided_buffers: bool,
}

#[cfg(not(ferrio_loom))]
impl RuntimeMetrics {
    /// Sums the counters of `rings` (the flags are the first ring's: every
    /// ring of a runtime is set up alike).
    pub(crate) fn collect<'a>(
        io_driver: IoBackend,
        rings: impl Iterator<Item = &'a DriverShared>,
    ) -> RuntimeMetrics {
        let mut m = RuntimeMetrics {
            io_driver,
            ..RuntimeMetrics::default()
        };
        for (i, ring) in rings.enumerate() {
            if i == 0 {
                let flags = ring.flags();
                m.single_issuer = flags.single_issuer;
                m.defer_taskrun = flags.defer_taskrun;
                m.coop_taskrun = flags.coop_taskrun;
                m.ext_arg = flags.ext_arg;
                m.provided_buffers = ring.has_pool();
            }
            let c = ring.counters();
            m.io_uring_enters += c.enters;
            m.ops_submitted += c.ops_submitted;
            m.ops_completed += c.ops_completed;
            m.parks += c.parks;
            m.epoll_waits += ring.epoll_waits();
        }
        m
    }
}
