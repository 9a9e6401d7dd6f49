//! [`block_in_place`]: running blocking code on a worker without stalling
//! what the worker owns.

/// Runs `f`, which is about to block its thread (a std `Mutex`, a slow
/// system call, a CPU-heavy parse), on the current worker, handing the
/// worker's queued tasks, due timers and ready I/O to other threads for
/// as long as `f` runs (tokio's `block_in_place`).
///
/// The runtime's watchdog does this by itself for any poll that runs
/// longer than a few milliseconds; `block_in_place` says so up front, so
/// the hand-over starts at once and the poll is not reported as stuck
/// (see [`Builder::blocked_worker_threshold`]). The task itself stays on
/// this thread: `f` may borrow from it. Outside a worker it just runs `f`.
///
/// ```
/// use std::time::Duration;
///
/// ferrio::run(async {
///     let other = ferrio::spawn(async {
///         ferrio::sleep(Duration::from_millis(5)).await;
///         "on time"
///     });
///     let sum = ferrio::task::block_in_place(|| {
///         std::thread::sleep(Duration::from_millis(50));
///         2 + 2
///     });
///     assert_eq!(sum, 4);
///     assert_eq!(other.await.unwrap(), "on time");
/// });
/// ```
///
/// [`Builder::blocked_worker_threshold`]: crate::runtime::Builder::blocked_worker_threshold
pub fn block_in_place<R>(f: impl FnOnce() -> R) -> R {
    crate::scheduler::current::with_worker(|worker| match worker {
        Some(worker) => {
            let _blocking = worker.begin_blocking();
            f()
        }
        None => f(),
    })
}
