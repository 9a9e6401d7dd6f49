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
//!   puts there: [`gather!`], [`select!`], [`task_local!`], and the attributes
//!   [`#[ferrio::main]`](macro@main) and [`#[ferrio::test]`](macro@test) (feature `macros`). Everything else is reached through its
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

/// Runs an `async fn` as the program's entry point on a fresh ferrio
/// runtime (tokio's `#[tokio::main]`; feature `macros`, on by default).
///
/// The function becomes a plain `fn` that builds a [`Runtime`] with the
/// arguments' settings, [`block_on`](Runtime::block_on)s the body on the
/// calling thread and shuts the runtime down when the body returns (tasks
/// still running are cancelled, as [`run`] does). A runtime that cannot
/// start panics with the reason.
///
/// ```
/// #[ferrio::main(workers = 2)]
/// async fn main() {
///     assert_eq!(ferrio::Handle::current().num_workers(), 2);
///     let task = ferrio::spawn(async { 6 * 7 });
///     assert_eq!(task.await.unwrap(), 42);
/// }
/// ```
///
/// The return type is the function's: `?` converts errors into it.
///
/// ```
/// #[ferrio::main]
/// async fn main() -> Result<(), Box<dyn std::error::Error>> {
///     let listener = ferrio::net::TcpListener::bind("127.0.0.1:0")?;
///     println!("listening on {}", listener.local_addr()?);
///     Ok(())
/// }
/// ```
///
/// | argument | meaning | default |
/// | --- | --- | --- |
/// | `workers = N` (tokio's `worker_threads = N` too) | `N` worker threads, [`runtime::Builder::worker_threads`] | one per CPU |
/// | `flavor = "multi_thread"` | several workers (the default of `main`) | |
/// | `flavor = "current_thread"` | one worker thread (see below) | |
/// | `crate = "path"` | where ferrio is, for a crate that re-exports it | `::ferrio` |
/// | `start_paused = true` | the clock starts paused (`Builder::start_paused`; feature `test-util`, one worker) | `false` |
///
/// ferrio has no runtime without worker threads: `current_thread` builds
/// one worker. The body still runs on the calling thread (inside
/// `block_on`, so it need not be `Send`); tasks it spawns run on the
/// worker, one at a time, as they would on tokio's current-thread runtime,
/// but on another thread (`spawn` needs `Send` futures either way).
///
/// A bad argument is a compile error that says what is wrong, at the
/// argument:
///
/// ```compile_fail
/// #[ferrio::main(workers = 0)] // ferrio::main: `workers` must be at least 1
/// async fn main() {}
/// ```
///
/// ```compile_fail
/// #[ferrio::main(threads = 4)] // ferrio::main: unknown argument `threads`; expected one of ...
/// async fn main() {}
/// ```
///
/// ```compile_fail
/// #[ferrio::main(flavor = "current_thread", workers = 2)] // `workers` needs `flavor = "multi_thread"`
/// async fn main() {}
/// ```
///
/// ```compile_fail
/// #[ferrio::main] // ferrio::main: the function must be `async` (write `async fn`)
/// fn main() {}
/// ```
#[cfg(feature = "macros")]
#[doc(inline)]
pub use ferrio_macros::main;

/// Runs an `async fn` test on a fresh ferrio runtime (tokio's
/// `#[tokio::test]`; feature `macros`, on by default).
///
/// It adds `#[test]` (do not write it too) and expands as [`main`], with
/// tokio's test default: **one worker** (`flavor = "current_thread"`).
/// `workers = N` or `flavor = "multi_thread"` (one worker per CPU) gives
/// more; the arguments are [`main`]'s. Other attributes (`#[should_panic]`,
/// `#[ignore]`) stay on the test. Each test gets its own runtime, shut down
/// when the test returns.
///
/// ```
/// #[ferrio::test]
/// async fn one_worker_by_default() {
///     assert_eq!(ferrio::Handle::current().num_workers(), 1);
/// }
///
/// #[ferrio::test(workers = 2)]
/// async fn returns_a_result() -> std::io::Result<()> {
///     let listener = ferrio::net::TcpListener::bind("127.0.0.1:0")?;
///     assert_eq!(ferrio::Handle::current().num_workers(), 2);
///     drop(listener);
///     Ok(())
/// }
/// # fn main() {}
/// ```
///
/// ```compile_fail
/// #[ferrio::test]
/// #[test] // ferrio::test: remove this `#[test]`: `#[ferrio::test]` adds it
/// async fn twice() {}
/// # fn main() {}
/// ```
///
/// ```compile_fail
/// #[ferrio::test(workers = "2")] // ferrio::test: `workers` takes a number, not `"2"`
/// async fn quoted() {}
/// # fn main() {}
/// ```
///
/// ```compile_fail
/// #[ferrio::test]
/// async fn with_argument(n: u32) {} // ferrio::test: a test takes no arguments
/// # fn main() {}
/// ```
#[cfg(feature = "macros")]
#[doc(inline)]
pub use ferrio_macros::test;

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
