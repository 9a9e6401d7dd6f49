//! The one door from these tests to ferrio's internals: every test-only
//! hook (`cfg(test)` accessors and switches in the runtime, scheduler,
//! driver, time, task, combinator and stream layers) is reached through
//! this file, and the tests use public paths for everything else.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::runtime::Builder;
use crate::time::MissedTickBehavior;
use crate::{Handle, StreamWriter, Task};

/// Makes io_uring setup fail with the OS error `errno`, as it would where
/// io_uring is disabled.
pub(crate) fn simulate_io_uring_setup_error(builder: Builder, errno: i32) -> Builder {
    builder.simulate_io_uring_setup_error(errno)
}

/// Resolves the I/O driver as `Builder::build` does, with `env` standing
/// for `FERRIO_IO_DRIVER`.
pub(crate) fn resolve_io_driver(
    chosen: Option<crate::IoDriver>,
    env: Option<String>,
) -> std::io::Result<crate::IoDriverInfo> {
    crate::driver::resolve(chosen, env, None)
}

/// True when the runtime runs the epoll driver; tests of io_uring-only
/// behaviour skip themselves then, saying so.
pub(crate) fn skip_unless_io_uring(handle: &Handle, what: &str) -> bool {
    if handle.io_driver().driver() == crate::IoBackend::Epoll {
        // Written to the process's stderr directly, past the test
        // harness's capture, so that every skip shows in the log.
        use std::io::Write as _;
        let _ = writeln!(
            std::io::stderr().lock(),
            "skipped under the epoll driver (io_uring only): {what}"
        );
        return true;
    }
    false
}

/// Timers in the runtime's wheels or queued for them.
pub(crate) fn timers_registered(handle: &Handle) -> usize {
    handle.shared.timers_registered()
}

/// Makes every ring cancel at shutdown as on kernels before 5.19, which
/// reject `IORING_ASYNC_CANCEL_ANY`.
pub(crate) fn cancel_without_cancel_any(handle: &Handle, without: bool) {
    for ring in handle.shared.each_ring() {
        if let crate::driver::DriverShared::Uring(ring) = ring {
            ring.without_cancel_any.store(without, Ordering::Relaxed);
        }
    }
}

/// Makes every ring act as on Linux 5.11, without the opcodes added since
/// (`mkdirat`, `linkat`, `symlinkat`, `ftruncate`): their calls run on
/// the blocking pool.
pub(crate) fn baseline_opcodes_only(handle: &Handle, only: bool) {
    for ring in handle.shared.each_ring() {
        if let crate::driver::DriverShared::Uring(ring) = ring {
            ring.baseline_opcodes_only.store(only, Ordering::Relaxed);
        }
    }
}

/// How many of the opcodes newer than 5.11 that `fs` uses (`mkdirat`,
/// `linkat`, `symlinkat`, `ftruncate`) the first ring's probe found.
pub(crate) fn newer_opcodes_present(handle: &Handle) -> usize {
    use io_uring::opcode;
    let codes = [
        opcode::MkDirAt::CODE,
        opcode::LinkAt::CODE,
        opcode::SymlinkAt::CODE,
        opcode::Ftruncate::CODE,
    ];
    match handle.shared.each_ring().next() {
        Some(crate::driver::DriverShared::Uring(ring)) => {
            codes.iter().filter(|&&c| ring.has_opcode(c)).count()
        }
        _ => 0,
    }
}

/// True when a shutdown gave up on the kernel and leaked some ring.
pub(crate) fn any_ring_leaked(handle: &Handle) -> bool {
    handle.shared.each_ring().any(|ring| match ring {
        crate::driver::DriverShared::Uring(ring) => ring.stats.leaked.load(Ordering::Relaxed),
        _ => false,
    })
}

/// Done-callbacks registered on `task` and not yet run or removed.
pub(crate) fn pending_done_callbacks<T>(task: &Task<T>) -> usize {
    task.pending_done_callbacks()
}

/// Resets this thread's count of tasks `wait` looked at.
pub(crate) fn reset_wait_tasks_examined() {
    crate::combinators::WAIT_TASKS_EXAMINED.with(|c| c.set(0));
}

/// Tasks `wait` looked at on this thread since the last reset.
pub(crate) fn wait_tasks_examined() -> u64 {
    crate::combinators::WAIT_TASKS_EXAMINED.with(|c| c.get())
}

/// Resets this thread's count of task handles `JoinSet`s polled.
pub(crate) fn reset_join_set_polls() {
    crate::task::JOIN_SET_TASK_POLLS.with(|c| c.set(0));
}

/// Task handles `JoinSet`s polled on this thread since the last reset.
pub(crate) fn join_set_polls() -> u64 {
    crate::task::JOIN_SET_TASK_POLLS.with(|c| c.get())
}

/// The capacity of a writer's send queue (to see it shrink).
pub(crate) fn writer_queue_capacity(writer: &StreamWriter) -> usize {
    writer.queue_capacity()
}

/// `Interval`'s next tick after a missed one.
pub(crate) fn next_tick(
    behavior: MissedTickBehavior,
    scheduled: Instant,
    now: Instant,
    period: Duration,
) -> Instant {
    crate::time::next_tick(behavior, scheduled, now, period)
}

/// The name of the thread that ran the last name lookup.
pub(crate) fn last_lookup_thread() -> Option<String> {
    crate::net::LAST_LOOKUP_THREAD.lock().clone()
}

/// Children a cancellation token still lists (a dropped child must
/// leave the list).
pub(crate) fn token_children(token: &crate::sync::CancellationToken) -> usize {
    token.listed_children()
}

/// Splices made so far by `io::copy` and `io::copy_bidirectional`, in
/// every runtime of the process.
pub(crate) fn io_copy_splices() -> u64 {
    crate::io::copy::splices()
}

/// The seed `FERRIO_SIM_SEED`'s value stands for (`None`: unset).
#[cfg(feature = "sim")]
pub(crate) fn sim_seed_from(var: Option<String>) -> Result<u64, crate::sim::SeedError> {
    crate::sim::seed_from(var)
}

/// The size of a task's header (the wait record is three of its words).
pub(crate) fn task_header_size() -> usize {
    std::mem::size_of::<crate::task::core::raw::Header>()
}

/// How many ops wait on a simulated socket (`sim/world.rs`).
#[cfg(feature = "sim")]
pub(crate) fn sim_waiters(net: &crate::sim::Net, fd: std::os::fd::RawFd) -> usize {
    crate::sim::waiters(net, fd)
}
