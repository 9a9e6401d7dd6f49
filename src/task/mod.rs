//! Tasks: allocation, state, handles (asyncio's `Task`).
//!
//! A task is a spawned future. [`spawn`](crate::spawn) returns a [`Task`]
//! handle, which is itself a future resolving to `Result<T, TaskError>`.
//!
//! # Cancellation, the Rust way
//! In asyncio, `task.cancel()` throws `CancelledError` into the coroutine,
//! which may catch it. In Rust a future cannot observe its own cancellation:
//! cancelling a task **drops its future**. [`Task::cancel`] does this at
//! once when the task is idle (not being polled), on the calling thread, or
//! right after the current poll when the task is running on a worker. The
//! handle then resolves to `Err(TaskError::Cancelled)`. Clean-up belongs in
//! `Drop` implementations, which is where Rust puts it anyway.
//!
//! # Detaching
//! Dropping a [`Task`] handle **detaches** the task: it keeps running, and
//! its output is dropped when it finishes. (asyncio keeps only a weak
//! reference to tasks, so an unreferenced task can vanish mid-run; ferrio's
//! runtime owns every task until it completes.) A detached task that panics
//! is reported through [`Builder::on_task_panic`](crate::runtime::Builder::on_task_panic),
//! like asyncio's "Task exception was never retrieved".
//!
//! # Sets of tasks and task-locals
//! [`JoinSet`] holds spawned tasks and joins them in completion order;
//! dropping it cancels them. [`AbortHandle`] cancels one task without
//! owning its output. [`task_local!`](crate::task_local) declares
//! [`LocalKey`]s whose value follows a future across awaits and workers.
//!
//! # Where every task waits
//! [`dump()`] (and [`Handle::dump`](crate::Handle::dump)) lists every live
//! task: its state, where it was spawned, and the leaf it waits on (a
//! socket op with its fd, a sleep with its deadline, a `Lock`, a join...)
//! with the `file:line` of the `.await` that reached it. Nothing is
//! polled: each leaf records the wait as it returns `Pending`. With the
//! `tracing` feature each task also has a span (`task{id, name,
//! spawned_at}`) entered around each of its polls.
//!
//! The module is two layers: the task core, below the scheduler (the task
//! itself, generic over its scheduler) and, above the runtime, the spawn
//! API ([`Builder`]), [`JoinSet`], task-locals and [`yield_now`].

/// A dump of every live task of the current runtime: see
/// [`Handle::dump`](crate::Handle::dump).
///
/// # Panics
/// Outside a runtime.
pub fn dump() -> TaskDump {
    crate::Handle::current().dump()
}

/// Deep task dumps: with `on`, each leaf that returns `Pending` also
/// captures its thread's stack (the poll of the task down through the
/// chain of `async fn` frames to the leaf), kept whole in
/// [`DumpedTask::frames`]; [`DumpedTask::task_frames`] (what a dump
/// prints under the wait) keeps the frames from the leaf up to the task's
/// future, without the runtime's. Off by default.
///
/// Cost while on: a stack capture (an unwind, a few microseconds) and a
/// global lock per wait; symbols are resolved only when printed, and need
/// debug info (`debug = 1` or more in the profile) for file:line and
/// inlined frames. Turning it off drops what was captured. For a hang you
/// are chasing, not for production traffic.
///
/// ```
/// ferrio::task::capture_wait_frames(true);
/// ferrio::run(async {
///     let event = std::sync::Arc::new(ferrio::sync::Event::new());
///     let e = event.clone();
///     let task = ferrio::spawn(async move { e.wait().await });
///     ferrio::sleep(std::time::Duration::from_millis(5)).await;
///     let dump = ferrio::task::dump();
///     assert!(dump.get(task.id()).unwrap().frames.is_some());
///     event.set();
///     task.await.unwrap();
/// });
/// ferrio::task::capture_wait_frames(false);
/// ```
pub fn capture_wait_frames(on: bool) {
    self::core::wait::set_deep(on)
}

mod block_in_place;
mod builder;
pub(crate) mod core;
mod join_set;
mod task_local;
mod yield_now;

pub use self::core::{
    AbortHandle, DumpState, DumpedTask, Outcome, Task, TaskDump, TaskError, TaskId, TaskInfo,
    TaskState, Wait, WaitOn,
};
pub use block_in_place::block_in_place;
pub use builder::{current_task, Builder};
pub use join_set::JoinSet;
#[cfg(test)]
pub(crate) use join_set::TASK_POLLS as JOIN_SET_TASK_POLLS;
pub use task_local::{AccessError, LocalKey, TaskLocalFuture};
pub use yield_now::{yield_now, YieldNow};
