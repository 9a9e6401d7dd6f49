//! `TaskGroup`: structured concurrency (asyncio's `TaskGroup`).

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::mem::ManuallyDrop;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

// The group's lock comes from the shim, so the loom model of spawn-vs-drop
// (loom-tests/tests/group.rs) sees every interleaving of the shipped code.
use crate::loom::sync::{Mutex, MutexGuard};
use crate::task::core::groups::{self, GroupMembers};
use crate::task::core::wait::{self, At, WaitKind};
use crate::task::{Task, TaskId};

/// One child's failure.
pub enum ChildFailure<E> {
    /// The child returned `Err`.
    Error(E),
    /// The child panicked; the payload is kept.
    Panic(Box<dyn Any + Send>),
}

impl<E: fmt::Debug> fmt::Debug for ChildFailure<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChildFailure::Error(e) => f.debug_tuple("Error").field(e).finish(),
            ChildFailure::Panic(p) => match crate::task::core::panic_message(p.as_ref()) {
                Some(m) => write!(f, "Panic({m:?})"),
                None => f.write_str("Panic(..)"),
            },
        }
    }
}

/// What `TaskGroup::join` reports when children failed (asyncio's
/// `ExceptionGroup`): every failure other than cancellation, in the order
/// they happened. A child that panics while it is being cancelled (its
/// future's destructor panics when the group drops it) counts as a
/// [`ChildFailure::Panic`] of that child, as asyncio collects an error a
/// task raises from its `finally` while cancelled.
pub struct GroupError<E> {
    /// The failures, first one first.
    pub failures: Vec<ChildFailure<E>>,
}

impl<E: fmt::Debug> fmt::Debug for GroupError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GroupError")
            .field("failures", &self.failures)
            .finish()
    }
}

impl<E: fmt::Debug> fmt::Display for GroupError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} task(s) in the group failed", self.failures.len())
    }
}

impl<E: fmt::Debug> std::error::Error for GroupError<E> {}

/// Spawning into a group that finished or is aborting (asyncio's
/// `RuntimeError`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GroupClosedError;

/// The former name of [`GroupClosedError`].
#[deprecated(note = "renamed `GroupClosedError` (errors are named `<What>Error`)")]
#[doc(hidden)]
pub type GroupClosed = GroupClosedError;

impl fmt::Display for GroupClosedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the task group is closed or aborting")
    }
}

impl std::error::Error for GroupClosedError {}

struct State<E> {
    /// Handles of children, for cancelling them.
    children: Vec<Task<()>>,
    /// Children not finished yet.
    live: usize,
    failures: Vec<ChildFailure<E>>,
    aborting: bool,
    /// Joined, or dropped: no new child.
    closed: bool,
    /// The group was dropped: every child goes, including one whose spawn
    /// was under way when `Drop` took the list.
    dropped: bool,
    joiner: Option<Waker>,
}

struct Inner<E> {
    state: Mutex<State<E>>,
    /// The task that created the group (a task dump shows the children
    /// under it).
    owner: Option<TaskId>,
}

impl<E: Send + 'static> GroupMembers for Inner<E> {
    fn members(&self, f: &mut dyn FnMut(Option<TaskId>, TaskId)) {
        for child in self.lock().children.iter().filter(|t| !t.is_done()) {
            f(self.owner, child.id());
        }
    }
}

impl<E> Inner<E> {
    fn lock(&self) -> MutexGuard<'_, State<E>> {
        self.state.lock()
    }

    /// Records a failure; the first one cancels every other child.
    fn fail(&self, failure: ChildFailure<E>) {
        let to_cancel = {
            let mut st = self.lock();
            st.failures.push(failure);
            if st.aborting {
                Vec::new()
            } else {
                st.aborting = true;
                std::mem::take(&mut st.children)
            }
        };
        // Outside the lock: a cancel may drop a child at once, and its
        // exit guard takes the lock.
        for t in &to_cancel {
            t.cancel();
        }
    }

    fn cancel_all(&self) {
        let to_cancel = std::mem::take(&mut self.lock().children);
        for t in &to_cancel {
            t.cancel();
        }
    }
}

/// Counts a child out when its future ends, however it ends (completion,
/// cancellation, panic).
struct ExitGuard<E>(Arc<Inner<E>>);

impl<E> Drop for ExitGuard<E> {
    fn drop(&mut self) {
        let waker = {
            let mut st = self.0.lock();
            st.live -= 1;
            if st.live == 0 {
                st.joiner.take()
            } else {
                None
            }
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

/// A child's future as its task runs it: a panic from any poll, and a
/// panic from dropping the future (on completion or when the task is
/// cancelled), is caught and recorded as the child's failure, so it
/// reaches `join` rather than the runtime's unhandled-panic handler.
pub(crate) struct Child<F, E> {
    /// Structurally pinned; dropped in place exactly once (see `live`).
    future: ManuallyDrop<F>,
    /// The future has not been dropped yet.
    live: bool,
    group: Arc<Inner<E>>,
    /// Dropped after the future (fields drop after `Drop::drop`), so a
    /// failure recorded while dropping it is in before `live` reaches 0.
    _exit: ExitGuard<E>,
}

impl<F, E> Child<F, E> {
    /// Drops the future in place, recording a panic of its destructor.
    fn drop_future(&mut self) {
        if !self.live {
            return;
        }
        // Cleared first: a panicking destructor must not run twice.
        self.live = false;
        let future = &mut self.future;
        // SAFETY: `live` was set, so the future was never dropped; it is
        // dropped here in place (no move, as pinning requires) and never
        // touched again now that `live` is false.
        let dropped = catch_unwind(AssertUnwindSafe(|| unsafe { ManuallyDrop::drop(future) }));
        if let Err(panic) = dropped {
            self.group.fail(ChildFailure::Panic(panic));
        }
    }
}

impl<F, E> Future for Child<F, E>
where
    F: Future<Output = Result<(), E>>,
{
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // SAFETY: `future` is structurally pinned: it is only polled
        // through this pin and dropped in place; `Child` never moves it.
        let this = unsafe { self.get_unchecked_mut() };
        if !this.live {
            return Poll::Ready(());
        }
        // SAFETY: as above; `live` says the future is still there.
        let future = unsafe { Pin::new_unchecked(&mut *this.future) };
        let outcome = match catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(result)) => Ok(result),
            Err(panic) => Err(panic),
        };
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(e)) => this.group.fail(ChildFailure::Error(e)),
            Err(panic) => this.group.fail(ChildFailure::Panic(panic)),
        }
        this.drop_future();
        Poll::Ready(())
    }
}

impl<F, E> Drop for Child<F, E> {
    fn drop(&mut self) {
        self.drop_future();
    }
}

/// Structured concurrency (asyncio's `TaskGroup`).
///
/// Children are tasks returning `Result<(), E>`. [`join`](Self::join)
/// waits for every child, including children spawned (through a
/// [`GroupSpawner`]) by other children while the group is open. The first
/// failure (an `Err` or a panic) cancels every other child; `join` then
/// returns a [`GroupError`] with every failure that is not a cancellation.
/// A child that is merely cancelled does not fail the group, but one that
/// panics while it is being cancelled (its future's destructor panics) does:
/// the panic joins the [`GroupError`] as that child's
/// [`ChildFailure::Panic`] and is not reported as a never-retrieved task
/// panic (asyncio adds an error raised in a cancelled task's `finally` to
/// its `ExceptionGroup`). Spawning into an aborting or joined group is an
/// error. **Dropping the group without
/// joining cancels its children**: no child outlives its group.
///
/// ```
/// ferrio::run(async {
///     let group = ferrio::TaskGroup::<String>::new();
///     let (tx, rx) = std::sync::mpsc::channel();
///     for i in 0..3 {
///         let tx = tx.clone();
///         group.spawn(async move {
///             tx.send(i).unwrap();
///             Ok(())
///         }).unwrap();
///     }
///     group.join().await.unwrap();
///     let mut got: Vec<i32> = rx.try_iter().collect();
///     got.sort();
///     assert_eq!(got, vec![0, 1, 2]);
/// });
/// ```
pub struct TaskGroup<E: Send + 'static> {
    inner: Arc<Inner<E>>,
}

/// A cloneable handle children use to spawn siblings into their group.
pub struct GroupSpawner<E: Send + 'static> {
    inner: Arc<Inner<E>>,
}

impl<E: Send + 'static> fmt::Debug for GroupSpawner<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GroupSpawner").finish_non_exhaustive()
    }
}

impl<E: Send + 'static> Clone for GroupSpawner<E> {
    fn clone(&self) -> Self {
        GroupSpawner {
            inner: self.inner.clone(),
        }
    }
}

impl<E: Send + 'static> fmt::Debug for TaskGroup<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.inner.lock();
        f.debug_struct("TaskGroup")
            .field("live", &st.live)
            .field("aborting", &st.aborting)
            .finish()
    }
}

impl<E: Send + 'static> Default for TaskGroup<E> {
    fn default() -> Self {
        Self::new()
    }
}

/// Spawns `future` into the group with `spawn` (the runtime's `spawn`;
/// a test scheduler's under loom).
fn spawn_into<E, F>(
    inner: &Arc<Inner<E>>,
    future: F,
    spawn: impl FnOnce(Child<F, E>) -> Task<()>,
) -> Result<(), GroupClosedError>
where
    E: Send + 'static,
    F: Future<Output = Result<(), E>> + Send + 'static,
{
    {
        let mut st = inner.lock();
        if st.closed || st.aborting {
            return Err(GroupClosedError);
        }
        st.live += 1;
    }
    // Spawn outside the group's lock: a spawn into a runtime that is
    // shutting down drops the child at once, and its exit guard locks.
    let task = spawn(Child {
        future: ManuallyDrop::new(future),
        live: true,
        group: inner.clone(),
        _exit: ExitGuard(inner.clone()),
    });
    let mut st = inner.lock();
    if st.aborting || st.dropped {
        // The group aborted, or was dropped (and `Drop` already took the
        // list), while we spawned: this child goes too.
        drop(st);
        task.cancel();
        return Ok(());
    }
    // Forget finished children now and then, so a long-lived group does
    // not grow without bound.
    if st.children.len() > 2 * st.live + 16 {
        st.children.retain(|t| !t.is_done());
    }
    st.children.push(task);
    Ok(())
}

impl<E: Send + 'static> TaskGroup<E> {
    /// An empty, open group.
    pub fn new() -> TaskGroup<E> {
        let group = TaskGroup {
            inner: Arc::new(Inner {
                owner: crate::task::core::current::current_task().map(|t| t.id()),
                state: Mutex::new(State {
                    children: Vec::new(),
                    live: 0,
                    failures: Vec::new(),
                    aborting: false,
                    closed: false,
                    dropped: false,
                    joiner: None,
                }),
            }),
        };
        let members: Arc<dyn GroupMembers> = group.inner.clone();
        groups::register(&members);
        group
    }

    /// Spawns a child (on the current runtime).
    ///
    /// # Errors
    /// [`GroupClosedError`] when the group is aborting or joined.
    ///
    /// # Panics
    /// Outside a runtime.
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> Result<(), GroupClosedError>
    where
        F: Future<Output = Result<(), E>> + Send + 'static,
    {
        let location = std::panic::Location::caller();
        spawn_into(&self.inner, future, move |child| {
            crate::spawn_at(child, location)
        })
    }

    /// A handle for children to spawn siblings.
    pub fn spawner(&self) -> GroupSpawner<E> {
        GroupSpawner {
            inner: self.inner.clone(),
        }
    }

    /// Waits for every child; `Err` with every failure if any failed.
    #[track_caller]
    pub fn join(self) -> impl Future<Output = Result<(), GroupError<E>>> {
        At::here(async move {
            std::future::poll_fn(|cx| {
                let mut st = self.inner.lock();
                if st.live == 0 {
                    st.closed = true;
                    Poll::Ready(())
                } else {
                    st.joiner = Some(cx.waker().clone());
                    wait::record(WaitKind::Group, 0);
                    Poll::Pending
                }
            })
            .await;
            let failures = std::mem::take(&mut self.inner.lock().failures);
            if failures.is_empty() {
                Ok(())
            } else {
                Err(GroupError { failures })
            }
        })
    }
}

impl<E: Send + 'static> GroupSpawner<E> {
    /// Spawns a sibling into the group; see [`TaskGroup::spawn`].
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> Result<(), GroupClosedError>
    where
        F: Future<Output = Result<(), E>> + Send + 'static,
    {
        let location = std::panic::Location::caller();
        spawn_into(&self.inner, future, move |child| {
            crate::spawn_at(child, location)
        })
    }
}

#[cfg(ferrio_loom)]
impl<E: Send + 'static> GroupSpawner<E> {
    /// [`spawn`](Self::spawn) through another spawner: the loom model runs
    /// the shipped group on a test scheduler (the runtime cannot start
    /// under loom).
    pub(crate) fn spawn_with<F>(
        &self,
        future: F,
        spawn: impl FnOnce(Child<F, E>) -> Task<()>,
    ) -> Result<(), GroupClosedError>
    where
        F: Future<Output = Result<(), E>> + Send + 'static,
    {
        spawn_into(&self.inner, future, spawn)
    }
}

impl<E: Send + 'static> Drop for TaskGroup<E> {
    fn drop(&mut self) {
        // Joined groups have no live children; otherwise cancel them all.
        let open = {
            let mut st = self.inner.lock();
            st.closed = true;
            st.dropped = true;
            // A dropped `join` leaves its waker here; children still
            // finishing hold the state a while, the waker need not wait.
            st.joiner = None;
            st.live > 0
        };
        if open {
            self.inner.cancel_all();
        }
    }
}
