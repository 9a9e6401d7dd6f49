//! The public spawn API above the runtime: [`Builder`] (named tasks) and
//! [`current_task`].

use std::future::Future;

use crate::runtime::Handle;

use super::core::{info_of, Task, TaskInfo};

/// Spawns with options (asyncio's `create_task(coro, name=...)`).
///
/// ```
/// ferrio::run(async {
///     let task = ferrio::task::Builder::new().name("fetcher").spawn(async { 1 });
///     assert_eq!(task.name(), "fetcher");
///     assert_eq!(task.await.unwrap(), 1);
/// });
/// ```
#[derive(Debug, Default)]
pub struct Builder {
    name: Option<String>,
}

impl Builder {
    /// A builder with no options set.
    pub fn new() -> Builder {
        Builder::default()
    }

    /// Names the task (shown by `Task::name`, `all_tasks`, panic reports).
    pub fn name(mut self, name: impl Into<String>) -> Builder {
        self.name = Some(name.into());
        self
    }

    /// Spawns onto the current runtime.
    ///
    /// # Panics
    /// Outside a runtime (see [`spawn`](crate::spawn)).
    #[track_caller]
    pub fn spawn<F>(self, future: F) -> Task<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.spawn_on(future, &Handle::current())
    }

    /// Spawns onto the runtime behind `handle`; works from any thread.
    #[track_caller]
    pub fn spawn_on<F>(self, future: F, handle: &Handle) -> Task<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        handle.spawn_named_at(
            future,
            self.name.map(String::into_boxed_str),
            std::panic::Location::caller(),
        )
    }
}

/// The task being polled on this thread, if any (asyncio's
/// `current_task()`).
///
/// ```
/// ferrio::run(async {
///     let t = ferrio::task::Builder::new()
///         .name("me")
///         .spawn(async { ferrio::current_task().unwrap().name });
///     assert_eq!(t.await.unwrap(), "me");
/// });
/// ```
pub fn current_task() -> Option<TaskInfo> {
    crate::task::core::current::current_task().map(info_of)
}
