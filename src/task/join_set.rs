//! [`JoinSet`]: a set of spawned tasks joined in completion order
//! (tokio's `JoinSet`).
//!
//! Each task in the set has a slot with its own waker (`wake_set.rs`),
//! registered as the task's join waker when the task is inserted, without
//! polling it. A task that completes wakes its slot's waker, which pushes
//! the slot's index onto the set's ready list and wakes the task joining
//! the set; `join_next` polls only the slots named there, so a join costs
//! O(1) whatever the size of the set. A task that was already complete
//! when inserted goes straight onto a local ready queue.
//!
//! Slots and their wakers are reused after a task leaves the set. A wake-up
//! can name a slot whose task left meanwhile (a detached task completing as
//! its handle drops): the slot is then empty, or its new task is polled
//! once for nothing; both are harmless.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use super::core::wait::{self, At, WaitKind};
use super::core::{AbortHandle, Task, TaskError, TaskId};
use crate::runtime::Handle;
use crate::wake_set::WakeSet;

/// A set of tasks spawned on the runtime, joined **in the order they
/// complete** (tokio's `JoinSet`; close to asyncio's `as_completed` over
/// tasks).
///
/// [`join_next`](Self::join_next) waits for the next task to finish and
/// returns its result, `None` once the set is empty. **Dropping the set
/// cancels every task still in it**; [`detach_all`](Self::detach_all) lets
/// them run on instead. Unlike [`TaskGroup`](crate::TaskGroup), a failing
/// task does not cancel its siblings: the set hands back every outcome.
///
/// ```
/// use std::time::Duration;
/// use ferrio::task::JoinSet;
///
/// ferrio::run(async {
///     let mut set = JoinSet::new();
///     for ms in [30u64, 10, 20] {
///         set.spawn(async move {
///             ferrio::sleep(Duration::from_millis(ms)).await;
///             ms
///         });
///     }
///     let mut finished = Vec::new();
///     while let Some(result) = set.join_next().await {
///         finished.push(result.unwrap());
///     }
///     assert_eq!(finished, vec![10, 20, 30]);
/// });
/// ```
pub struct JoinSet<T> {
    slots: Vec<Slot<T>>,
    /// Indices of empty slots.
    free: Vec<usize>,
    /// Tasks in the set.
    len: usize,
    /// Slots whose task woke (completed), shared with the slots' wakers.
    wakes: WakeSet<usize>,
    /// Slots to look at before asking `wakes`.
    ready: VecDeque<usize>,
    /// A joiner's waker is registered in `wakes`.
    registered: bool,
}

struct Slot<T> {
    task: Option<Task<T>>,
    /// Pushes this slot's index onto `wakes`; the task's join waker.
    waker: Waker,
}

impl<T> JoinSet<T> {
    /// An empty set.
    pub fn new() -> JoinSet<T> {
        JoinSet {
            slots: Vec::new(),
            free: Vec::new(),
            len: 0,
            wakes: WakeSet::new(),
            ready: VecDeque::new(),
            registered: false,
        }
    }

    /// How many tasks are in the set: running, or finished and not yet
    /// joined.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when the set holds no task.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Adds a task that was spawned elsewhere (say with a name, through
    /// [`Builder`](crate::task::Builder)); the set now owns its handle.
    ///
    /// ```
    /// ferrio::run(async {
    ///     let mut set = ferrio::task::JoinSet::new();
    ///     set.insert(ferrio::task::Builder::new().name("worker").spawn(async { 7 }));
    ///     assert_eq!(set.join_next().await.unwrap().unwrap(), 7);
    /// });
    /// ```
    pub fn insert(&mut self, mut task: Task<T>) -> AbortHandle {
        let abort = task.abort_handle();
        let index = match self.free.pop() {
            Some(index) => index,
            None => {
                let index = self.slots.len();
                self.slots.push(Slot {
                    task: None,
                    waker: self.wakes.waker(index),
                });
                index
            }
        };
        let slot = &mut self.slots[index];
        // Register the slot's waker now, so the first join looks at no
        // task that has not finished. Already complete: it is ready.
        if task.register_join_waker(&slot.waker) {
            self.ready.push_back(index);
        }
        slot.task = Some(task);
        self.len += 1;
        abort
    }

    /// Cancels every task in the set (tokio's `abort_all`). They stay in
    /// the set: each comes out of [`join_next`](Self::join_next) as
    /// `Err(TaskError::Cancelled)` (or with its output, if it finished
    /// first).
    pub fn abort_all(&mut self) {
        for task in self.slots.iter().filter_map(|s| s.task.as_ref()) {
            task.cancel();
        }
    }

    /// Removes every task from the set without cancelling it: they run on,
    /// detached, as a dropped [`Task`] does.
    pub fn detach_all(&mut self) {
        let tasks: Vec<Task<T>> = self
            .slots
            .iter_mut()
            .filter_map(|s| s.task.take())
            .collect();
        self.len = 0;
        self.ready.clear();
        self.free.clear();
        self.free.extend((0..self.slots.len()).rev());
        let mut stale = Vec::new();
        self.wakes.take_into(&mut stale);
        drop(tasks);
    }

    /// Waits for the next task to finish and returns its result; `None`
    /// when the set is empty. Results come in completion order.
    ///
    /// Cancel-safe: dropping the returned future loses no result (a
    /// finished task stays in the set until a join returns it) and leaves
    /// no waker behind.
    #[track_caller]
    pub fn join_next(&mut self) -> impl Future<Output = Option<Result<T, TaskError>>> + '_ {
        At::here(async move { self.join_next_with_id().await.map(|(_, result)| result) })
    }

    /// [`join_next`](Self::join_next), with the id of the task that
    /// finished.
    #[track_caller]
    pub fn join_next_with_id(
        &mut self,
    ) -> impl Future<Output = Option<(TaskId, Result<T, TaskError>)>> + '_ {
        At::here(async move {
            let joining = Joining(self);
            std::future::poll_fn(|cx| joining.0.poll_next_with_id(cx)).await
        })
    }

    /// Polls for the next finished task (for hand-written futures): as
    /// [`join_next`](Self::join_next), except that after `Pending` the
    /// waker stays registered until the set is polled again, joined from,
    /// or dropped.
    #[track_caller]
    pub fn poll_join_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<T, TaskError>>> {
        self.poll_next_with_id(cx)
            .map(|next| next.map(|(_, result)| result))
    }

    /// A finished task's result if one is ready now, without waiting;
    /// `None` when the set is empty or no task's completion has reached
    /// the set yet (a task that finishes on another worker wakes the set
    /// a moment after its `AbortHandle::is_finished` turns true).
    pub fn try_join_next(&mut self) -> Option<Result<T, TaskError>> {
        self.try_join_next_with_id().map(|(_, result)| result)
    }

    /// [`try_join_next`](Self::try_join_next), with the task's id.
    pub fn try_join_next_with_id(&mut self) -> Option<(TaskId, Result<T, TaskError>)> {
        if self.len == 0 {
            return None;
        }
        self.wakes.take_into(&mut self.ready);
        while let Some(index) = self.ready.pop_front() {
            // Not a poll, so it cannot yield: look without the budget.
            if let Poll::Ready(result) = crate::coop::unconstrained(|| self.poll_slot(index)) {
                return Some(result);
            }
        }
        None
    }

    /// Cancels every task and waits until each has finished (tokio's
    /// `shutdown`); the set is then empty. Their results are dropped.
    #[track_caller]
    pub fn shutdown(&mut self) -> impl Future<Output = ()> + '_ {
        At::here(async move {
            self.abort_all();
            while self.join_next().await.is_some() {}
        })
    }

    /// Waits for every task and returns their outputs in completion order.
    ///
    /// # Panics
    /// When a task panicked, its panic resumes here; when a task was
    /// cancelled, this panics with the error. The remaining tasks are
    /// cancelled as the set drops. Loop over
    /// [`join_next`](Self::join_next) to handle failures instead.
    #[track_caller]
    pub fn join_all(mut self) -> impl Future<Output = Vec<T>> {
        At::here(async move {
            let mut out = Vec::with_capacity(self.len);
            while let Some(result) = self.join_next().await {
                match result {
                    Ok(v) => out.push(v),
                    Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                    Err(e) => panic!("ferrio::task::JoinSet::join_all: {e}"),
                }
            }
            out
        })
    }

    /// The next finished task; a `Pending` is a wait on the set in a task
    /// dump, at the caller's line.
    #[track_caller]
    fn poll_next_with_id(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<(TaskId, Result<T, TaskError>)>> {
        let tasks = self.len as u64;
        wait::pending(self.poll_next_inner(cx), WaitKind::JoinSet, tasks)
    }

    fn poll_next_inner(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<(TaskId, Result<T, TaskError>)>> {
        if self.len == 0 {
            return Poll::Ready(None);
        }
        let mut took = false;
        loop {
            let index = match self.ready.pop_front() {
                Some(index) => index,
                // Take the ready list once per poll: a task re-queued
                // below (out of budget) waits for the next poll.
                None if took => return Poll::Pending,
                None => {
                    // Register before taking: a completion from now on
                    // wakes us.
                    self.ready.extend(self.wakes.register_and_take(cx.waker()));
                    self.registered = true;
                    took = true;
                    continue;
                }
            };
            if self.slots.get(index).is_none_or(|s| s.task.is_none()) {
                // Empty slot: a stale wake-up.
                continue;
            }
            match self.poll_slot(index) {
                Poll::Ready(result) => return Poll::Ready(Some(result)),
                Poll::Pending => {
                    // Woken but not finished: the budget ran out (the task
                    // re-queued itself), or a stale wake-up. Yield, as a
                    // task out of budget must.
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
            }
        }
    }

    /// Polls slot `index`'s task with the slot's waker; takes it out of
    /// the set when it finished.
    fn poll_slot(&mut self, index: usize) -> Poll<(TaskId, Result<T, TaskError>)> {
        let Some(slot) = self.slots.get_mut(index) else {
            return Poll::Pending;
        };
        let Some(task) = slot.task.as_mut() else {
            return Poll::Pending;
        };
        #[cfg(test)]
        TASK_POLLS.with(|c| c.set(c.get() + 1));
        let result = std::task::ready!(Pin::new(task).poll(&mut Context::from_waker(&slot.waker)));
        let task = slot.task.take().expect("polled just now");
        let id = task.id();
        drop(task);
        self.free.push(index);
        self.len -= 1;
        Poll::Ready((id, result))
    }
}

impl<T: Send + 'static> JoinSet<T> {
    /// Spawns `future` onto the current runtime, into the set; returns a
    /// handle to cancel that task alone.
    ///
    /// # Panics
    /// Outside a runtime (see [`spawn`](crate::spawn)); use
    /// [`spawn_on`](Self::spawn_on) from other threads.
    #[track_caller]
    pub fn spawn<F>(&mut self, future: F) -> AbortHandle
    where
        F: Future<Output = T> + Send + 'static,
    {
        let location = Location::caller();
        let task = crate::runtime::context::with_current_handle(|h| match h {
            Some(h) => h.spawn_named_at(future, None, location),
            None => panic!(
                "ferrio::task::JoinSet::spawn called outside a ferrio runtime: call it from a \
                 task or inside Runtime::block_on / ferrio::run, or use JoinSet::spawn_on"
            ),
        });
        self.insert(task)
    }

    /// Spawns `future` onto the runtime behind `handle`, into the set;
    /// works from any thread.
    #[track_caller]
    pub fn spawn_on<F>(&mut self, future: F, handle: &Handle) -> AbortHandle
    where
        F: Future<Output = T> + Send + 'static,
    {
        let task = handle.spawn_named_at(future, None, Location::caller());
        self.insert(task)
    }

    /// Runs the blocking function `f` on the current runtime's blocking
    /// pool, as a task of the set (see
    /// [`Handle::run_in_executor`]). Cancelling it does not stop `f`.
    ///
    /// # Panics
    /// Outside a runtime.
    pub fn spawn_blocking<F>(&mut self, f: F) -> AbortHandle
    where
        F: FnOnce() -> T + Send + 'static,
    {
        let task = Handle::current().run_in_executor(f);
        self.insert(task)
    }

    /// [`spawn_blocking`](Self::spawn_blocking) on the runtime behind
    /// `handle`.
    pub fn spawn_blocking_on<F>(&mut self, f: F, handle: &Handle) -> AbortHandle
    where
        F: FnOnce() -> T + Send + 'static,
    {
        let task = handle.run_in_executor(f);
        self.insert(task)
    }
}

#[cfg(test)]
thread_local! {
    /// Task handles a `JoinSet` polled on this thread (the complexity
    /// test counts work, not time).
    pub(crate) static TASK_POLLS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Unregisters the joiner's waker when a `join_next` future ends or is
/// dropped.
struct Joining<'a, T>(&'a mut JoinSet<T>);

impl<T> Drop for Joining<'_, T> {
    fn drop(&mut self) {
        if std::mem::take(&mut self.0.registered) {
            self.0.wakes.unregister();
        }
    }
}

impl<T> Default for JoinSet<T> {
    fn default() -> Self {
        JoinSet::new()
    }
}

impl<T> fmt::Debug for JoinSet<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinSet").field("len", &self.len).finish()
    }
}

impl<T> Drop for JoinSet<T> {
    /// Cancels every task still in the set.
    fn drop(&mut self) {
        self.abort_all();
        if self.registered {
            self.wakes.unregister();
        }
    }
}

/// Joins as [`JoinSet::join_next`] does: results in completion order; the
/// stream ends when the set is empty.
impl<T> futures_core::Stream for JoinSet<T> {
    type Item = Result<T, TaskError>;

    #[track_caller]
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.poll_join_next(cx)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.len, Some(self.len))
    }
}

/// Spawns every future onto the current runtime, into a new set.
///
/// # Panics
/// Outside a runtime.
impl<T, F> FromIterator<F> for JoinSet<T>
where
    F: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    #[track_caller]
    fn from_iter<I: IntoIterator<Item = F>>(iter: I) -> Self {
        let mut set = JoinSet::new();
        for future in iter {
            set.spawn(future);
        }
        set
    }
}
