//! [`Task`]: the handle of a spawned task (asyncio's `Task`), itself a
//! future of the task's output.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::harness;
use super::{
    info_of, name_of, Callback, CallbackKey, Outcome, RawTask, TaskError, TaskId, TaskInfo,
};

/// A handle to a spawned task (asyncio's `Task`): await it for the output.
///
/// `Task<T>` is a `Future<Output = Result<T, TaskError>>`. Dropping it
/// detaches the task (it keeps running). See the [module docs](crate::task) for how
/// cancellation maps from asyncio.
///
/// ```
/// let out = ferrio::run(async {
///     let task = ferrio::spawn(async { 6 * 7 });
///     task.await
/// });
/// assert_eq!(out.unwrap(), 42);
/// ```
#[must_use = "a dropped Task detaches; await it to get the output"]
pub struct Task<T> {
    pub(super) raw: RawTask,
    pub(super) _output: PhantomData<T>,
}

// SAFETY: the handle only moves T (which is Send) out of the task, and the
// task itself is Send + Sync (see RawTask).
unsafe impl<T: Send> Send for Task<T> {}
// SAFETY: &Task only reads the atomic state and immutable fields.
unsafe impl<T: Send> Sync for Task<T> {}

impl<T> Unpin for Task<T> {}

impl<T> Task<T> {
    /// Requests cancellation (asyncio's `Task.cancel()`).
    ///
    /// Returns `false` when the task is already done, `true` otherwise. An
    /// idle task's future is dropped before this returns (on this thread);
    /// a task being polled right now has its future dropped as soon as the
    /// poll ends. Either way the handle resolves to
    /// `Err(TaskError::Cancelled)` — unless the future panics while being
    /// dropped, which is reported as `Panicked`. If the cancel lands while
    /// the task is returning its output, the output is dropped and the task
    /// counts as cancelled, as in asyncio.
    ///
    /// ```
    /// ferrio::run(async {
    ///     let task = ferrio::spawn(std::future::pending::<()>());
    ///     assert!(task.cancel());
    ///     assert!(task.await.unwrap_err().is_cancelled());
    /// });
    /// ```
    pub fn cancel(&self) -> bool {
        // The handle's reference outlives the call.
        super::abort::cancel(self.raw)
    }

    /// True once the task has finished (completed, cancelled or panicked).
    pub fn is_done(&self) -> bool {
        self.raw.header().state.load().is_complete()
    }

    /// True once the task has finished by being cancelled.
    pub fn is_cancelled(&self) -> bool {
        let s = self.raw.header().state.load();
        s.is_complete() && s.is_cancelled() && !s.is_panicked()
    }

    /// The task's id.
    pub fn id(&self) -> TaskId {
        self.raw.id()
    }

    /// The task's name (`Task-<id>` unless given with [`Builder::name`](crate::task::Builder::name)).
    pub fn name(&self) -> String {
        name_of(self.raw)
    }

    /// A snapshot of id, name and state.
    pub fn info(&self) -> TaskInfo {
        info_of(self.raw)
    }

    /// Registers `waker` to be woken when the task completes, as a poll
    /// would, without taking the output or spending the coop budget
    /// (`JoinSet` registers each task's waker when it is inserted). True
    /// when the task is already complete; the waker is then not kept.
    pub(crate) fn register_join_waker(&mut self, waker: &std::task::Waker) -> bool {
        super::join_waker::can_read_output(self.raw.header(), self.raw.trailer(), waker)
    }

    /// Looks at the output of a finished task without taking it.
    pub(crate) fn peek_output<R>(&self, f: impl FnOnce(&Result<T, TaskError>) -> R) -> Option<R> {
        let mut f = Some(f);
        let mut out = None;
        let mut call = |p: *const ()| {
            // SAFETY: the harness passes a pointer to this task's
            // `Result<T, TaskError>`, valid for the call.
            let r = unsafe { &*(p as *const Result<T, TaskError>) };
            if let Some(f) = f.take() {
                out = Some(f(r));
            }
        };
        // SAFETY: our reference keeps the task alive; the closure casts to
        // the output type the vtable's harness stores.
        unsafe { self.raw.peek_output(&mut call) };
        out
    }

    /// Runs `f` once the task is done, with how it ended (asyncio's
    /// `add_done_callback`). Callbacks run in registration order on the
    /// thread that finishes the task; one added after the task finished
    /// runs at once on the calling thread. A panicking callback is
    /// contained. The callback outlives the handle: dropping the `Task`
    /// does not unregister it.
    pub fn add_done_callback(&self, f: impl FnOnce(Outcome) + Send + 'static) {
        self.push_done_callback(CallbackKey::UNREMOVABLE, Box::new(f));
    }

    /// [`add_done_callback`](Self::add_done_callback), returning a key to
    /// take the callback back with
    /// [`remove_done_callback`](Self::remove_done_callback) (asyncio's
    /// `remove_done_callback`, which `wait` uses so that it leaves nothing
    /// behind).
    pub(crate) fn add_removable_done_callback(
        &self,
        f: impl FnOnce(Outcome) + Send + 'static,
    ) -> CallbackKey {
        let key = CallbackKey::next();
        self.push_done_callback(key, Box::new(f));
        key
    }

    /// Unregisters (and drops) a callback that has not run yet. False when
    /// it already ran or is running (the task finished).
    pub(crate) fn remove_done_callback(&self, key: CallbackKey) -> bool {
        let removed = {
            let mut list = self.raw.trailer().callbacks.lock();
            list.iter()
                .position(|(k, _)| *k == key)
                .map(|at| list.remove(at))
        };
        // Dropped outside the lock: the closure's captures are user code.
        match removed {
            Some(entry) => {
                harness::contain(move || drop(entry));
                true
            }
            None => false,
        }
    }

    /// Done-callbacks waiting for this task to finish (tests: nothing
    /// left behind).
    #[cfg(test)]
    pub(crate) fn pending_done_callbacks(&self) -> usize {
        self.raw.trailer().callbacks.lock().len()
    }

    fn push_done_callback(&self, key: CallbackKey, f: Callback) {
        let trailer = self.raw.trailer();
        let mut list = trailer.callbacks.lock();
        list.push((key, f));
        if let Err(s) = self.raw.header().state.set_has_callbacks() {
            // Already complete: the completer has run (or will find empty)
            // the list; run everything still pending here, in order.
            let pending = std::mem::take(&mut *list);
            drop(list);
            let outcome = if s.is_panicked() {
                Outcome::Panicked
            } else if s.is_cancelled() {
                Outcome::Cancelled
            } else {
                Outcome::Completed
            };
            for (_, cb) in pending {
                harness::contain(move || cb(outcome));
            }
        }
    }
}

impl<T> Future for Task<T> {
    type Output = Result<T, TaskError>;

    #[track_caller]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if !crate::coop::poll_proceed(cx) {
            return Poll::Pending;
        }
        let mut out: Poll<Result<T, TaskError>> = Poll::Pending;
        // SAFETY: `out` has the type the vtable's harness writes (T is this
        // task's output type), and we hold the join handle's reference.
        unsafe {
            self.raw
                .try_read_output(&mut out as *mut _ as *mut (), cx.waker())
        };
        if out.is_pending() {
            super::wait::record(super::wait::WaitKind::Join, self.raw.id().as_u64());
        }
        out
    }
}

impl<T> Drop for Task<T> {
    fn drop(&mut self) {
        if self.raw.header().state.drop_join_handle_fast() {
            return;
        }
        // SAFETY: we own the join handle's reference.
        unsafe { self.raw.drop_join_handle_slow() }
    }
}

impl<T> fmt::Debug for Task<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let info = self.info();
        f.debug_struct("Task")
            .field("id", &info.id)
            .field("name", &info.name)
            .field("state", &info.state)
            .finish()
    }
}
