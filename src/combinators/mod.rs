// Over 500 lines: `gather`, `try_gather`, `shield`, `as_completed` and `wait`
// are thin layers over `join.rs`; most of the length is their doc examples.
//! asyncio's combinators: `gather`, `wait`, `shield`, `as_completed`,
//! `TaskGroup`; and tokio's [`select!`](crate::select).
//!
//! Futures handed to `gather`, `try_gather` and `as_completed` run
//! concurrently **inside the caller's task** (no `'static` or `Send`
//! bound, no spawn). Passing [`Task`]s instead runs them on the workers;
//! dropping the combinator then drops the `Task` handles, which detaches
//! the tasks: they keep running, as asyncio leaves the siblings of a
//! cancelled `gather` running. Cancellation maps as everywhere in ferrio:
//! dropping a future cancels it.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::loom::plain::Mutex;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use crate::task::core::{CallbackKey, Outcome, Task};
use crate::time::{Sleep, TimeoutError};

mod group;
mod join;
mod select;
mod tuple;

#[allow(deprecated)]
pub use group::GroupClosed;
pub use group::{ChildFailure, GroupClosedError, GroupError, GroupSpawner, TaskGroup};

use join::JoinSet;
#[doc(hidden)]
pub use select::__private;
pub use tuple::{
    Gather1, Gather2, Gather3, Gather4, Gather5, Gather6, Gather7, Gather8, IntoGather,
};

/// Runs the futures concurrently and returns their outputs **in argument
/// order**, whatever order they finish in (asyncio's `gather(*aws)`).
///
/// For a fixed set of futures of different types, use [`gather!`](macro@crate::gather).
///
/// ```
/// use std::time::Duration;
/// ferrio::run(async {
///     let slow_first = [30u64, 10, 20].map(|ms| async move {
///         ferrio::sleep(Duration::from_millis(ms)).await;
///         ms
///     });
///     assert_eq!(ferrio::gather(slow_first).await, vec![30, 10, 20]);
/// });
/// ```
pub fn gather<I>(futures: I) -> Gather<I::Item>
where
    I: IntoIterator,
    I::Item: Future,
{
    Gather {
        set: JoinSet::new(futures),
    }
}

/// The future returned by [`gather`].
#[must_use = "futures do nothing unless awaited"]
pub struct Gather<F: Future> {
    set: JoinSet<F>,
}

impl<F: Future> fmt::Debug for Gather<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gather")
            .field("futures", &self.set.len())
            .finish_non_exhaustive()
    }
}

impl<F: Future> Unpin for Gather<F> {}

impl<F: Future> Future for Gather<F> {
    type Output = Vec<F::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Vec<F::Output>> {
        let set = &mut self.set;
        set.poll_progress(cx, |_| {});
        if set.remaining() > 0 {
            return Poll::Pending;
        }
        let n = set.len();
        Poll::Ready((0..n).map(|i| set.take(i).expect("done")).collect())
    }
}

/// Runs futures returning `Result` concurrently; the first `Err` (in
/// completion order) is returned at once and the other futures are dropped
/// (asyncio's `gather(..., return_exceptions=False)`). Otherwise returns
/// every value in argument order.
///
/// ```
/// ferrio::run(async {
///     let ok = ferrio::try_gather([1, 2].map(|v| async move { Ok::<_, String>(v) })).await;
///     assert_eq!(ok, Ok(vec![1, 2]));
/// });
/// ```
pub fn try_gather<I, T, E>(futures: I) -> TryGather<I::Item>
where
    I: IntoIterator,
    I::Item: Future<Output = Result<T, E>>,
{
    TryGather {
        set: JoinSet::new(futures),
    }
}

/// The future returned by [`try_gather`].
#[must_use = "futures do nothing unless awaited"]
pub struct TryGather<F: Future> {
    set: JoinSet<F>,
}

impl<F: Future> fmt::Debug for TryGather<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TryGather")
            .field("futures", &self.set.len())
            .finish_non_exhaustive()
    }
}

impl<F: Future> Unpin for TryGather<F> {}

impl<F, T, E> Future for TryGather<F>
where
    F: Future<Output = Result<T, E>>,
{
    type Output = Result<Vec<T>, E>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let set = &mut self.set;
        let mut newly = Vec::new();
        set.poll_progress(cx, |i| newly.push(i));
        // The first error in completion order wins; the rest are dropped
        // with the set.
        for i in newly {
            if matches!(set.output(i), Some(Err(_))) {
                if let Some(Err(e)) = set.take(i) {
                    return Poll::Ready(Err(e));
                }
            }
        }
        if set.remaining() > 0 {
            return Poll::Pending;
        }
        let n = set.len();
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            match set.take(i).expect("done") {
                Ok(v) => out.push(v),
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
        Poll::Ready(Ok(out))
    }
}

/// Runs a fixed set of futures of **different types** concurrently in the
/// caller's task and returns their outputs as a tuple, in argument order
/// (asyncio's `gather(a, b, c)`). Up to 8 futures.
///
/// ```
/// ferrio::run(async {
///     let (n, s) = ferrio::gather!(async { 1 }, async { "two" }).await;
///     assert_eq!((n, s), (1, "two"));
/// });
/// ```
#[macro_export]
macro_rules! gather {
    ($($fut:expr),+ $(,)?) => {
        $crate::combinators::IntoGather::into_gather(($($fut,)+))
    };
}

/// Runs `future` as its own task so that cancelling the caller does not
/// cancel it (asyncio's `shield`).
///
/// The returned [`Task`] detaches when dropped, so an outer timeout or
/// cancellation leaves the inner work running. To await it after a timeout,
/// keep the task and wait on a reference (a `&mut Task` is a future too):
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// ferrio::run(async {
///     let release = Arc::new(ferrio::sync::Event::new());
///     let mut inner = ferrio::shield({
///         let release = release.clone();
///         async move {
///             release.wait().await;
///             "finished anyway"
///         }
///     });
///     let early = ferrio::wait_for(&mut inner, Duration::from_millis(1)).await;
///     assert!(early.is_err()); // timed out; the inner task lives on
///     release.set();
///     assert_eq!(inner.await.unwrap(), "finished anyway");
/// });
/// ```
///
/// # Panics
/// Outside a runtime (it spawns).
pub fn shield<F>(future: F) -> Task<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    crate::spawn(future)
}

/// Yields outputs in **completion order** (asyncio's `as_completed`).
///
/// Call [`next`](AsCompleted::next) until it returns `None`; it is also a
/// `futures_core::Stream`. With [`with_timeout`](AsCompleted::with_timeout),
/// once the overall deadline passes every remaining item comes out as
/// `Err(TimeoutError)` (nothing is cancelled by the timeout itself: the
/// futures are dropped with the `AsCompleted`, and `Task`s then detach).
///
/// ```
/// ferrio::run(async {
///     let gates = [(), (), ()].map(|_| ferrio::sync::Event::new());
///     let mut it = ferrio::as_completed(gates.iter().enumerate().map(|(i, gate)| async move {
///         gate.wait().await;
///         i
///     }));
///     // Finish them in the order 1, 2, 0: that is the order they come out.
///     gates[1].set();
///     assert_eq!(it.next().await, Some(1));
///     gates[2].set();
///     assert_eq!(it.next().await, Some(2));
///     gates[0].set();
///     assert_eq!(it.next().await, Some(0));
///     assert_eq!(it.next().await, None);
/// });
/// ```
pub fn as_completed<I>(futures: I) -> AsCompleted<I::Item>
where
    I: IntoIterator,
    I::Item: Future,
{
    AsCompleted {
        set: JoinSet::new(futures),
        done: VecDeque::new(),
        timeout: None,
        timed_out: false,
        yielded: 0,
    }
}

/// See [`as_completed`].
#[must_use = "streams do nothing unless polled"]
pub struct AsCompleted<F: Future> {
    set: JoinSet<F>,
    done: VecDeque<usize>,
    timeout: Option<Sleep>,
    timed_out: bool,
    yielded: usize,
}

impl<F: Future> fmt::Debug for AsCompleted<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsCompleted")
            .field("futures", &self.set.len())
            .finish_non_exhaustive()
    }
}

impl<F: Future> Unpin for AsCompleted<F> {}

impl<F: Future> AsCompleted<F> {
    /// Gives up on everything not finished within `timeout` (from now):
    /// items then come out as `Err(TimeoutError)`.
    pub fn with_timeout(self, timeout: Duration) -> AsCompletedTimeout<F> {
        AsCompletedTimeout(AsCompleted {
            timeout: Some(crate::time::sleep(timeout)),
            ..self
        })
    }

    fn poll_item(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<F::Output, TimeoutError>>> {
        if self.yielded == self.set.len() {
            return Poll::Ready(None);
        }
        if self.done.is_empty() && !self.timed_out {
            let done = &mut self.done;
            self.set.poll_progress(cx, |i| done.push_back(i));
        }
        if let Some(i) = self.done.pop_front() {
            self.yielded += 1;
            return Poll::Ready(Some(Ok(self.set.take(i).expect("done"))));
        }
        if !self.timed_out {
            if let Some(t) = &mut self.timeout {
                if Pin::new(t).poll(cx).is_ready() {
                    self.timed_out = true;
                }
            }
        }
        if self.timed_out {
            self.yielded += 1;
            return Poll::Ready(Some(Err(TimeoutError::new())));
        }
        Poll::Pending
    }

    /// The next output to complete; `None` when all were yielded.
    pub async fn next(&mut self) -> Option<F::Output> {
        std::future::poll_fn(|cx| {
            self.poll_item(cx)
                .map(|o| o.map(|r| r.expect("no timeout is set")))
        })
        .await
    }
}

impl<F: Future> futures_core::Stream for AsCompleted<F> {
    type Item = F::Output;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<F::Output>> {
        self.poll_item(cx)
            .map(|o| o.map(|r| r.expect("no timeout is set")))
    }
}

/// [`as_completed`] with an overall deadline; items are
/// `Result<T, TimeoutError>`.
#[must_use = "streams do nothing unless polled"]
pub struct AsCompletedTimeout<F: Future>(AsCompleted<F>);

impl<F: Future> fmt::Debug for AsCompletedTimeout<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsCompletedTimeout")
            .field("inner", &self.0)
            .finish_non_exhaustive()
    }
}

impl<F: Future> Unpin for AsCompletedTimeout<F> {}

impl<F: Future> AsCompletedTimeout<F> {
    /// The next output to complete, `Err(TimeoutError)` for each one left
    /// after the deadline; `None` when all were yielded.
    pub async fn next(&mut self) -> Option<Result<F::Output, TimeoutError>> {
        std::future::poll_fn(|cx| self.0.poll_item(cx)).await
    }
}

impl<F: Future> futures_core::Stream for AsCompletedTimeout<F> {
    type Item = Result<F::Output, TimeoutError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0.poll_item(cx)
    }
}

/// When [`wait`] returns (asyncio's `return_when`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReturnWhen {
    /// As soon as any task finishes (every task finished by then counts).
    FirstCompleted,
    /// As soon as any task fails; if none does, when all finish. A
    /// panic is a failure; with [`wait_results`] (tasks returning
    /// `Result`), so is an `Err` output. A cancelled task is not a
    /// failure. (Plain [`wait`] cannot ask a generic output whether it is
    /// an error.)
    FirstException,
    /// When every task has finished.
    AllCompleted,
}

/// The error of [`wait`] with no tasks (asyncio raises `ValueError`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EmptyWaitError;

/// The former name of [`EmptyWaitError`].
#[deprecated(note = "renamed `EmptyWaitError` (errors are named `<What>Error`)")]
#[doc(hidden)]
pub type EmptyWait = EmptyWaitError;

impl fmt::Display for EmptyWaitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ferrio::wait needs at least one task")
    }
}

impl std::error::Error for EmptyWaitError {}

/// Waits for tasks until `return_when` holds or `timeout` passes
/// (asyncio's `wait`). Returns `(done, pending)`; nothing is cancelled,
/// on timeout or otherwise. Await the done tasks for their outputs.
///
/// ```
/// use std::time::Duration;
/// use ferrio::ReturnWhen;
/// ferrio::run(async {
///     let fast = ferrio::spawn(async { 1 });
///     let slow = ferrio::spawn(ferrio::sleep(Duration::from_secs(60)));
///     let slow_id = slow.id();
///     # let _ = slow_id;
///     let (done, pending) =
///         ferrio::wait(vec![fast], ReturnWhen::AllCompleted, None).await.unwrap();
///     assert_eq!(done.len(), 1);
///     assert!(pending.is_empty());
///     let (done, pending) =
///         ferrio::wait(vec![slow], ReturnWhen::FirstCompleted, Some(Duration::from_millis(5)))
///             .await
///             .unwrap();
///     assert!(done.is_empty() && pending.len() == 1);
/// });
/// ```
pub async fn wait<T>(
    tasks: Vec<Task<T>>,
    return_when: ReturnWhen,
    timeout: Option<Duration>,
) -> Result<(Vec<Task<T>>, Vec<Task<T>>), EmptyWaitError> {
    wait_impl(tasks, return_when, timeout, |_| false).await
}

/// [`wait`] for tasks returning `Result`: with
/// [`ReturnWhen::FirstException`], an `Err` output counts as a failure
/// (asyncio's exception), as well as a panic.
///
/// ```
/// use ferrio::ReturnWhen;
/// ferrio::run(async {
///     let ok = ferrio::spawn(std::future::pending::<Result<(), String>>());
///     let bad = ferrio::spawn(async { Err::<(), _>("nope".to_string()) });
///     let (done, pending) =
///         ferrio::wait_results(vec![ok, bad], ReturnWhen::FirstException, None).await.unwrap();
///     assert_eq!((done.len(), pending.len()), (1, 1));
///     pending[0].cancel();
/// });
/// ```
pub async fn wait_results<T, E>(
    tasks: Vec<Task<Result<T, E>>>,
    return_when: ReturnWhen,
    timeout: Option<Duration>,
) -> Result<(Vec<Task<Result<T, E>>>, Vec<Task<Result<T, E>>>), EmptyWaitError> {
    wait_impl(tasks, return_when, timeout, |r: &Result<T, E>| r.is_err()).await
}

/// What the tasks' done-callbacks tell a waiting [`wait`]: which tasks
/// finished (each index once), whether one panicked, and whom to wake.
struct WaitSignals {
    finished: Vec<usize>,
    panicked: bool,
    waker: Option<Waker>,
}

/// The tasks of one [`wait`] call with one removable done-callback each.
/// The callbacks are taken back when the wait returns or is dropped, so a
/// call leaves nothing registered on tasks that are still running.
struct WaitRegistration<T> {
    tasks: Vec<Task<T>>,
    keys: Vec<CallbackKey>,
}

impl<T> WaitRegistration<T> {
    fn unregister(&mut self) {
        for (task, key) in self.tasks.iter().zip(self.keys.drain(..)) {
            task.remove_done_callback(key);
        }
    }
}

impl<T> Drop for WaitRegistration<T> {
    fn drop(&mut self) {
        self.unregister();
    }
}

#[cfg(test)]
thread_local! {
    /// Tasks looked at by `wait` on this thread (the complexity test
    /// counts work, not time).
    pub(crate) static WAIT_TASKS_EXAMINED: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

#[inline]
fn count_examined(_n: usize) {
    #[cfg(test)]
    WAIT_TASKS_EXAMINED.with(|c| c.set(c.get() + _n as u64));
}

async fn wait_impl<T>(
    tasks: Vec<Task<T>>,
    return_when: ReturnWhen,
    timeout: Option<Duration>,
    is_failure: impl Fn(&T) -> bool,
) -> Result<(Vec<Task<T>>, Vec<Task<T>>), EmptyWaitError> {
    if tasks.is_empty() {
        return Err(EmptyWaitError);
    }
    let n = tasks.len();
    // Each task's callback records its own index, so a wake-up looks only
    // at the tasks that finished since the last poll: O(n) over the whole
    // wait, however the finishes are spread out.
    let signals = Arc::new(Mutex::new(WaitSignals {
        finished: Vec::new(),
        panicked: false,
        waker: None,
    }));
    let mut reg = WaitRegistration {
        keys: Vec::with_capacity(n),
        tasks,
    };
    for (index, t) in reg.tasks.iter().enumerate() {
        let signals = signals.clone();
        let key = t.add_removable_done_callback(move |outcome| {
            let waker = {
                let mut s = signals.lock();
                s.finished.push(index);
                s.panicked |= outcome == Outcome::Panicked;
                s.waker.take()
            };
            // Let go of the wait's state before waking it, so a wait that
            // returns at once finds it freed.
            drop(signals);
            if let Some(w) = waker {
                w.wake();
            }
        });
        reg.keys.push(key);
    }
    count_examined(n);
    let mut finished = 0;
    let mut failed = false;
    let mut deadline = timeout.map(crate::time::sleep);
    std::future::poll_fn(|cx| {
        let (newly, panicked) = {
            let mut s = signals.lock();
            match &s.waker {
                Some(w) if w.will_wake(cx.waker()) => {}
                _ => s.waker = Some(cx.waker().clone()),
            }
            (std::mem::take(&mut s.finished), s.panicked)
        };
        count_examined(newly.len());
        finished += newly.len();
        failed |= panicked;
        if return_when == ReturnWhen::FirstException && !failed {
            failed = newly.iter().any(|&i| {
                reg.tasks[i]
                    .peek_output(|r| matches!(r, Ok(v) if is_failure(v)))
                    .unwrap_or(false)
            });
        }
        let ready = match return_when {
            ReturnWhen::FirstCompleted => finished > 0,
            ReturnWhen::FirstException => finished == n || failed,
            ReturnWhen::AllCompleted => finished == n,
        };
        if ready {
            return Poll::Ready(());
        }
        if let Some(d) = &mut deadline {
            if Pin::new(d).poll(cx).is_ready() {
                return Poll::Ready(());
            }
        }
        Poll::Pending
    })
    .await;
    reg.unregister();
    count_examined(n);
    let (done, pending) = std::mem::take(&mut reg.tasks)
        .into_iter()
        .partition(|t| t.is_done());
    Ok((done, pending))
}
