//! The runtime: building it, entering it, shutting it down (asyncio's event
//! loop).
//!
//! | ferrio | asyncio |
//! | --- | --- |
//! | [`run`](crate::run) | `asyncio.run(main())` |
//! | [`Runtime::new`], [`Runtime::builder`] | `new_event_loop()` |
//! | [`Runtime::block_on`] | `loop.run_until_complete` |
//! | [`Handle::current`], [`Handle::try_current`] | `get_running_loop()` |
//! | [`Runtime::shutdown_timeout`], `Drop` | `loop.close()` |
//! | [`Handle::call_soon_threadsafe`] | `loop.call_soon_threadsafe` |
//! | [`Handle::enter`], [`Runtime::enter`] | (tokio's `enter`: a runtime current outside `block_on`) |
//!
//! - `builder.rs`: [`Builder`], the settings and the start of the workers;
//! - `handle.rs`: [`Handle`], spawning, `block_on`, the blocking pool;
//! - `metrics.rs`: [`RuntimeMetrics`].
//!
//! The runtime is built on the scheduler (`scheduler::Shared`, whose
//! `Schedule` implementation every task holds) and owns what sits beside
//! it: the blocking pool and the worker threads' lifetime.

use std::fmt;
use std::future::Future;
use std::io;
use std::time::Duration;

use crate::scheduler::Workers;
use crate::task::core::Task;

mod builder;
pub(crate) mod context;
mod handle;
#[cfg(all(feature = "test-util", not(ferrio_loom)))]
mod held_wake;
mod metrics;
#[cfg(not(ferrio_loom))]
pub(crate) mod simulated;

#[cfg(not(ferrio_loom))]
pub use crate::driver::{IoBackend, IoDriver, IoDriverInfo};
pub use crate::scheduler::watchdog::BlockedWorker;
pub use builder::Builder;
pub use handle::{EnterGuard, Handle};
pub use metrics::RuntimeMetrics;

/// A multi-threaded, work-stealing runtime.
///
/// ```
/// let rt = ferrio::Runtime::new().unwrap();
/// let answer = rt.block_on(async {
///     let task = ferrio::spawn(async { 40 + 2 });
///     task.await.unwrap()
/// });
/// assert_eq!(answer, 42);
/// ```
pub struct Runtime {
    handle: Handle,
    workers: Workers,
}

impl Runtime {
    /// A runtime with default settings (one worker per CPU).
    pub fn new() -> io::Result<Runtime> {
        Builder::new().build()
    }

    /// A [`Builder`] to configure a runtime.
    pub fn builder() -> Builder {
        Builder::new()
    }

    /// A handle to this runtime.
    pub fn handle(&self) -> Handle {
        self.handle.clone()
    }

    /// Spawns a task onto this runtime (see [`spawn`](crate::spawn)).
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> Task<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.handle.spawn(future)
    }

    /// Enters this runtime on the current thread until the guard drops;
    /// see [`Handle::enter`].
    ///
    /// ```
    /// let rt = ferrio::Runtime::new().unwrap();
    /// let task = {
    ///     let _guard = rt.enter();
    ///     ferrio::spawn(async { "spawned outside block_on" })
    /// };
    /// assert!(ferrio::Handle::try_current().is_none());
    /// assert_eq!(rt.block_on(task).unwrap(), "spawned outside block_on");
    /// ```
    pub fn enter(&self) -> EnterGuard<'_> {
        self.handle.enter()
    }

    /// Runs `future` to completion on the calling thread, with this runtime
    /// entered: [`spawn`](crate::spawn) and [`Handle::current`] work inside
    /// it (asyncio's `run_until_complete`). The future itself does not
    /// need to be `Send`; the tasks it spawns run on the workers.
    ///
    /// # Panics
    /// When called from inside a runtime (a worker thread, or inside
    /// another `block_on`): blocking there would deadlock the worker.
    /// Await the future instead. A runtime merely entered with
    /// [`Handle::enter`] does not count. A panic of `future` propagates.
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.handle.block_on(future)
    }

    /// Shuts down, waiting at most `timeout` for the workers to stop.
    ///
    /// Every task's future is dropped exactly once and every awaited
    /// [`Task`] resolves to `Cancelled`. A worker stuck in a long poll is
    /// abandoned after `timeout` (its thread is detached and finishes the
    /// shutdown on its own when the poll returns).
    pub fn shutdown_timeout(mut self, timeout: Duration) {
        self.shutdown(Some(timeout));
    }

    fn shutdown(&mut self, timeout: Option<Duration>) {
        let shared = &self.handle.shared;
        shared.begin_shutdown();
        self.handle.shutdown_blocking_pool();
        let on_worker = crate::scheduler::current::with_worker(|w| w.is_some());
        if on_worker {
            // Dropped from inside a worker: blocking here could wait on
            // ourselves. The workers finish the shutdown on their own.
            self.workers.detach();
            return;
        }
        if self.workers.join(timeout) {
            shared.shutdown_tasks(0);
            shared.drain_injector();
        }
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.shutdown(None);
    }
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime")
            .field("workers", &self.handle.num_workers())
            .finish_non_exhaustive()
    }
}
