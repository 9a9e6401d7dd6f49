//! `TaskGroup`: structured concurrency (asyncio's `TaskGroup`).

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use crate::task::Task;

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
            ChildFailure::Panic(p) => match crate::task::panic_message(p.as_ref()) {
                Some(m) => write!(f, "Panic({m:?})"),
                None => f.write_str("Panic(..)"),
            },
        }
    }
}

/// What `TaskGroup::join` reports when children failed (asyncio's
/// `ExceptionGroup`): every failure other than cancellation, in the order
/// they happened.
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
pub struct GroupClosed;

impl fmt::Display for GroupClosed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the task group is closed or aborting")
    }
}

impl std::error::Error for GroupClosed {}

struct State<E> {
    /// Handles of children, for cancelling them.
    children: Vec<Task<()>>,
    /// Children not finished yet.
    live: usize,
    failures: Vec<ChildFailure<E>>,
    aborting: bool,
    closed: bool,
    joiner: Option<Waker>,
}

struct Inner<E> {
    state: Mutex<State<E>>,
}

impl<E> Inner<E> {
    fn lock(&self) -> MutexGuard<'_, State<E>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
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

/// Runs a future, catching a panic from any of its polls.
struct CatchUnwind<F>(F);

impl<F: Future> Future for CatchUnwind<F> {
    type Output = std::thread::Result<F::Output>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: structural pinning of the only field; never moved.
        let fut = unsafe { self.map_unchecked_mut(|s| &mut s.0) };
        match catch_unwind(AssertUnwindSafe(|| fut.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Err(p) => Poll::Ready(Err(p)),
        }
    }
}

/// Structured concurrency (asyncio's `TaskGroup`).
///
/// Children are tasks returning `Result<(), E>`. [`join`](Self::join)
/// waits for every child, including children spawned (through a
/// [`GroupSpawner`]) by other children while the group is open. The first
/// failure (an `Err` or a panic) cancels every other child; `join` then
/// returns a [`GroupError`] with every failure that is not a cancellation.
/// A child that is merely cancelled does not fail the group. Spawning into
/// an aborting or joined group is an error. **Dropping the group without
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

fn spawn_into<E, F>(inner: &Arc<Inner<E>>, future: F) -> Result<(), GroupClosed>
where
    E: Send + 'static,
    F: Future<Output = Result<(), E>> + Send + 'static,
{
    {
        let mut st = inner.lock();
        if st.closed || st.aborting {
            return Err(GroupClosed);
        }
        st.live += 1;
    }
    // Spawn outside the group's lock: a spawn into a runtime that is
    // shutting down drops the child at once, and its exit guard locks.
    let guard = ExitGuard(inner.clone());
    let group = inner.clone();
    let task = crate::spawn(async move {
        let _guard = guard;
        match CatchUnwind(future).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => group.fail(ChildFailure::Error(e)),
            Err(panic) => group.fail(ChildFailure::Panic(panic)),
        }
    });
    let mut st = inner.lock();
    if st.aborting {
        // The group aborted while we spawned: this child goes too.
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
        TaskGroup {
            inner: Arc::new(Inner {
                state: Mutex::new(State {
                    children: Vec::new(),
                    live: 0,
                    failures: Vec::new(),
                    aborting: false,
                    closed: false,
                    joiner: None,
                }),
            }),
        }
    }

    /// Spawns a child (on the current runtime).
    ///
    /// # Errors
    /// [`GroupClosed`] when the group is aborting or joined.
    ///
    /// # Panics
    /// Outside a runtime.
    pub fn spawn<F>(&self, future: F) -> Result<(), GroupClosed>
    where
        F: Future<Output = Result<(), E>> + Send + 'static,
    {
        spawn_into(&self.inner, future)
    }

    /// A handle for children to spawn siblings.
    pub fn spawner(&self) -> GroupSpawner<E> {
        GroupSpawner {
            inner: self.inner.clone(),
        }
    }

    /// Waits for every child; `Err` with every failure if any failed.
    pub async fn join(self) -> Result<(), GroupError<E>> {
        std::future::poll_fn(|cx| {
            let mut st = self.inner.lock();
            if st.live == 0 {
                st.closed = true;
                Poll::Ready(())
            } else {
                st.joiner = Some(cx.waker().clone());
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
    }
}

impl<E: Send + 'static> GroupSpawner<E> {
    /// Spawns a sibling into the group; see [`TaskGroup::spawn`].
    pub fn spawn<F>(&self, future: F) -> Result<(), GroupClosed>
    where
        F: Future<Output = Result<(), E>> + Send + 'static,
    {
        spawn_into(&self.inner, future)
    }
}

impl<E: Send + 'static> Drop for TaskGroup<E> {
    fn drop(&mut self) {
        // Joined groups have no live children; otherwise cancel them all.
        let open = {
            let mut st = self.inner.lock();
            st.closed = true;
            st.live > 0
        };
        if open {
            self.inner.cancel_all();
        }
    }
}
