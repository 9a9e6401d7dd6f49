//! # ferrio
//!
//! A multi-threaded, work-stealing async runtime for Linux whose user-facing
//! API speaks the vocabulary of Python's asyncio.
//!
//! ```
//! let total = ferrio::run(async {
//!     let tasks: Vec<_> = (1..=10u64).map(|i| ferrio::spawn(async move { i * i })).collect();
//!     let mut sum = 0;
//!     for t in tasks {
//!         sum += t.await.unwrap();
//!     }
//!     sum
//! });
//! assert_eq!(total, 385);
//! ```
//!
//! ## From asyncio to ferrio
//! | asyncio | ferrio |
//! | --- | --- |
//! | `asyncio.run(main())` | [`run`] |
//! | `asyncio.create_task(coro)` | [`spawn`], [`Handle::spawn`], [`task::Builder`] |
//! | `await task` | `task.await` → `Result<T, TaskError>` |
//! | `task.cancel()` | [`Task::cancel`] (drops the future; see [`task`]) |
//! | `asyncio.sleep(0)` | [`yield_now`] |
//! | `current_task()`, `all_tasks()` | [`current_task`], [`all_tasks`] |
//! | `loop.call_soon_threadsafe(f)` | [`Handle::call_soon_threadsafe`] |
//!
//! Cancellation in Rust is dropping a future: "cancel a task" means its
//! future is dropped and its [`Task`] resolves to `Err(TaskError::Cancelled)`.
//! Dropping a [`Task`] handle detaches the task; it keeps running.
//!
//! ## Conventions
//!
//! - **Error names.** An error type is named `<What>Error` after the
//!   operation or condition it reports ([`TimeoutError`],
//!   [`sync::BrokenBarrierError`]). It is an enum when callers act on the
//!   cause ([`sync::QueueError`]: full, empty, shut down; [`TaskError`]:
//!   cancelled or panicked), a struct otherwise. Every one implements
//!   `std::error::Error`. An enum that may gain variants is
//!   `#[non_exhaustive]`, as are structs with public fields that may grow
//!   ([`runtime::RuntimeMetrics`]); [`TaskError`] and [`Outcome`] are not:
//!   a task ends in exactly these ways.
//! - **The crate root** re-exports what asyncio spells at its top level:
//!   [`run`], [`spawn`] (`create_task`), the combinators ([`gather()`], [`gather!`],
//!   [`wait`], [`wait_for`], [`shield`], [`as_completed`], [`TaskGroup`]),
//!   [`sleep`] and [`timeout`], [`to_thread`], [`run_coroutine_threadsafe`],
//!   the Streams functions ([`open_connection`], [`start_server`]), with the
//!   types their signatures name ([`Task`], [`TaskError`], [`ReturnWhen`],
//!   [`TimeoutError`], ...), and the runtime itself ([`Runtime`],
//!   [`Handle`], [`IoDriver`]); and the macros, which `#[macro_export]`
//!   puts there: [`gather!`], [`select!`], [`task_local!`]. Everything else is reached through its
//!   module: [`sync`], [`net`], [`fs`], [`process`], [`io`], [`signal`],
//!   [`streams`], [`time`], [`task`], [`runtime`].
#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms)]
#![deny(unsafe_op_in_unsafe_fn)]

pub(crate) mod loom;

mod blocking;
pub mod combinators;
mod coop;
mod driver;
#[cfg(not(ferrio_loom))]
pub mod fs;
#[cfg(all(feature = "hyper", not(ferrio_loom)))]
pub mod hyper;
#[cfg(not(ferrio_loom))]
pub mod io;
#[cfg(not(ferrio_loom))]
pub mod net;
mod owner_lock;
mod park;
mod poll_state;
#[cfg(not(ferrio_loom))]
pub mod process;
pub mod runtime;
mod scheduler;
#[cfg(not(ferrio_loom))]
pub mod signal;
#[cfg(all(feature = "sim", not(ferrio_loom)))]
pub mod sim;
#[cfg(not(ferrio_loom))]
pub mod streams;
pub mod sync;
pub mod task;
mod threads;
pub mod time;
mod wake_set;
mod weak_list;

#[cfg(ferrio_loom)]
#[doc(hidden)]
pub mod loom_models;

// Lets the in-crate behaviour tests spell paths as users do.
#[cfg(all(test, not(ferrio_loom)))]
extern crate self as ferrio;

#[cfg(all(test, not(ferrio_loom)))]
mod tests;

use std::future::Future;

pub use combinators::{
    as_completed, gather, shield, try_gather, wait, wait_results, GroupError, ReturnWhen, TaskGroup,
};
#[cfg(not(ferrio_loom))]
pub use driver::{IoBackend, IoDriver, IoDriverInfo};
pub use runtime::{Handle, Runtime};
#[cfg(not(ferrio_loom))]
pub use streams::{
    open_connection, open_unix_connection, start_server, start_unix_server, IncompleteReadError,
    LimitOverrunError, Server, StreamReader, StreamWriter,
};
pub use task::{current_task, yield_now, Outcome, Task, TaskError, TaskId, TaskInfo, TaskState};
pub use threads::{run_coroutine_threadsafe, to_thread, ConcurrentError, ConcurrentFuture};
pub use time::{
    interval, sleep, sleep_until, timeout, timeout_at, wait_for, Interval, Sleep, TimeoutError,
    TimeoutScope,
};

/// Runs `future` on a fresh runtime and shuts it down (asyncio's
/// `asyncio.run`). Every task still alive at the end is cancelled.
///
/// # Panics
/// When the runtime cannot start (use [`Runtime::new`] to handle that
/// error), when called from inside a runtime, or when `future` panics.
///
/// ```
/// assert_eq!(ferrio::run(async { 1 + 1 }), 2);
/// ```
pub fn run<F: Future>(future: F) -> F::Output {
    let rt = Runtime::new().unwrap_or_else(|e| panic!("ferrio::run: cannot start a runtime: {e}"));
    rt.block_on(future)
}

/// Spawns a task onto the current runtime (asyncio's `create_task`).
///
/// The task starts running on a worker right away, whether or not the
/// returned [`Task`] is awaited. Dropping the handle detaches the task.
///
/// # Panics
/// Outside a runtime; spawn through a [`Handle`] from other threads.
///
/// ```
/// ferrio::run(async {
///     let t = ferrio::spawn(async { "hello" });
///     assert_eq!(t.await.unwrap(), "hello");
/// });
/// ```
#[track_caller]
pub fn spawn<F>(future: F) -> Task<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    spawn_at(future, std::panic::Location::caller())
}

/// [`spawn`] with the spawn location given (a caller that is itself
/// `#[track_caller]` but spawns through a closure).
pub(crate) fn spawn_at<F>(
    future: F,
    location: &'static std::panic::Location<'static>,
) -> Task<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    runtime::context::with_current_handle(|h| match h {
        Some(h) => h.spawn_named_at(future, None, location),
        None => panic!(
            "ferrio::spawn called outside a ferrio runtime: call it from a task or inside \
             Runtime::block_on / ferrio::run, or use Handle::spawn from other threads"
        ),
    })
}

/// Every live task of the current runtime (asyncio's `all_tasks()`).
///
/// # Panics
/// Outside a runtime.
pub fn all_tasks() -> Vec<TaskInfo> {
    Handle::current().all_tasks()
}
