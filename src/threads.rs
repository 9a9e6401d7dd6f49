//! Bridges between plain threads and the runtime (asyncio's thread
//! bridges): [`to_thread`], which runs a blocking function on the
//! runtime's blocking pool, and [`run_coroutine_threadsafe`], with the
//! [`ConcurrentFuture`] a plain thread blocks on.
//!
//! `run_coroutine_threadsafe` spawns through a `Handle` and returns a
//! `ConcurrentFuture` that a plain thread blocks on with a thread-park
//! waker (`result(timeout)`; a timeout leaves the task running).

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crate::runtime::Handle;
use crate::task::{Outcome, Task, TaskError};

/// Runs `f` on the current runtime's blocking pool (asyncio's
/// `asyncio.to_thread`). See [`Handle::run_in_executor`]; inside a
/// `ferrio::sim` world, `f` runs inline, on the calling task.
///
/// ```
/// ferrio::run(async {
///     let t = ferrio::to_thread(|| std::thread::current().name().map(str::to_owned));
///     let name = t.await.unwrap().unwrap();
///     assert!(name.ends_with("-blocking"));
/// });
/// ```
///
/// # Panics
/// Outside a runtime.
#[track_caller]
pub fn to_thread<F, R>(f: F) -> Task<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let at = std::panic::Location::caller();
    crate::runtime::context::with_current_handle(|h| match h {
        Some(h) => h.run_in_executor_at(f, at),
        None => {
            panic!("ferrio::to_thread called outside a ferrio runtime; use Handle::run_in_executor")
        }
    })
}

/// Why [`ConcurrentFuture::result`] has no value.
#[non_exhaustive]
pub enum ConcurrentError {
    /// The timeout passed first; the task keeps running.
    Timeout,
    /// The task was cancelled.
    Cancelled,
    /// The task panicked; the payload is kept.
    Panicked(Box<dyn Any + Send>),
    /// The result was already taken by an earlier `result` call.
    Taken,
}

impl fmt::Debug for ConcurrentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConcurrentError::Timeout => "Timeout",
            ConcurrentError::Cancelled => "Cancelled",
            ConcurrentError::Panicked(_) => "Panicked(..)",
            ConcurrentError::Taken => "Taken",
        })
    }
}

impl fmt::Display for ConcurrentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConcurrentError::Timeout => "timed out waiting for the result",
            ConcurrentError::Cancelled => "the task was cancelled",
            ConcurrentError::Panicked(_) => "the task panicked",
            ConcurrentError::Taken => "the result was already taken",
        })
    }
}

impl std::error::Error for ConcurrentError {}

/// A task's result seen from a plain thread (asyncio's
/// `concurrent.futures.Future`, as returned by `run_coroutine_threadsafe`).
pub struct ConcurrentFuture<T> {
    task: Option<Task<T>>,
}

impl<T> fmt::Debug for ConcurrentFuture<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConcurrentFuture")
            .field("done", &self.done())
            .finish()
    }
}

/// Wakes the thread blocked in `ConcurrentFuture::result` (a loom thread
/// under loom, so the hand-off is model-checked).
struct ThreadWake(crate::loom::thread::Thread);

impl std::task::Wake for ThreadWake {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

#[cfg(not(ferrio_loom))]
fn park_timeout(d: Duration) {
    std::thread::park_timeout(d);
}

// loom has no timed park; models only use `result(None)`.
#[cfg(ferrio_loom)]
fn park_timeout(_: Duration) {
    crate::loom::thread::park();
}

impl<T> ConcurrentFuture<T> {
    pub(crate) fn from_task(task: Task<T>) -> ConcurrentFuture<T> {
        ConcurrentFuture { task: Some(task) }
    }

    /// Blocks this thread until the task finishes, or at most `timeout`
    /// (`None`: no limit). A timeout leaves the task running; call again.
    ///
    /// Do not call this on a runtime worker: it blocks the thread.
    pub fn result(&mut self, timeout: Option<Duration>) -> Result<T, ConcurrentError> {
        let Some(task) = self.task.as_mut() else {
            return Err(ConcurrentError::Taken);
        };
        let deadline = timeout.map(|t| Instant::now() + t);
        let waker = Waker::from(Arc::new(ThreadWake(crate::loom::thread::current())));
        let mut cx = Context::from_waker(&waker);
        loop {
            if let Poll::Ready(r) = Pin::new(&mut *task).poll(&mut cx) {
                self.task = None;
                return r.map_err(|e| match e {
                    TaskError::Cancelled => ConcurrentError::Cancelled,
                    TaskError::Panicked(p) => ConcurrentError::Panicked(p),
                });
            }
            match deadline {
                None => crate::loom::thread::park(),
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        return Err(ConcurrentError::Timeout);
                    }
                    park_timeout(d - now);
                }
            }
        }
    }

    /// Cancels the task in the runtime. False when already done.
    pub fn cancel(&self) -> bool {
        self.task.as_ref().is_some_and(|t| t.cancel())
    }

    /// True once the task finished.
    pub fn done(&self) -> bool {
        self.task.as_ref().is_none_or(|t| t.is_done())
    }

    /// True once the task finished by being cancelled.
    pub fn cancelled(&self) -> bool {
        self.task.as_ref().is_some_and(|t| t.is_cancelled())
    }

    /// Runs `f` when the task finishes (at once if it has).
    pub fn add_done_callback(&self, f: impl FnOnce(Outcome) + Send + 'static) {
        if let Some(t) = &self.task {
            t.add_done_callback(f);
        }
    }
}

/// Submits `future` to the runtime behind `handle` from any thread, and
/// returns a [`ConcurrentFuture`] to wait for it there (asyncio's
/// `run_coroutine_threadsafe`).
///
/// ```
/// let rt = ferrio::Runtime::new().unwrap();
/// let handle = rt.handle();
/// let from_thread = std::thread::spawn(move || {
///     let mut fut = ferrio::run_coroutine_threadsafe(async { 6 * 7 }, &handle);
///     fut.result(None).unwrap()
/// });
/// assert_eq!(from_thread.join().unwrap(), 42);
/// ```
pub fn run_coroutine_threadsafe<F>(future: F, handle: &Handle) -> ConcurrentFuture<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    ConcurrentFuture::from_task(handle.spawn(future))
}
