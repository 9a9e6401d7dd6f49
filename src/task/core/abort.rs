//! [`AbortHandle`]: cancels a task without owning its output (tokio's
//! `AbortHandle`); returned by `JoinSet::spawn` and [`Task::abort_handle`].

use std::fmt;

use super::state::ToCancelled;
use super::{RawTask, Task, TaskId};

/// Cancels a task without joining it: it holds a reference to the task,
/// not its output. Dropping it does nothing to the task.
///
/// Cloneable, `Send` and `Sync`; made by [`Task::abort_handle`] and
/// returned by [`JoinSet::spawn`](crate::task::JoinSet::spawn).
///
/// ```
/// ferrio::run(async {
///     let task = ferrio::spawn(std::future::pending::<()>());
///     let abort = task.abort_handle();
///     assert!(abort.abort());
///     assert!(abort.is_finished());
///     assert!(task.await.unwrap_err().is_cancelled());
/// });
/// ```
pub struct AbortHandle {
    /// Owns one reference of the task.
    raw: RawTask,
}

// SAFETY: the handle touches only the task's atomic state and, to cancel,
// the vtable's `cancel_locked` under the lock the state word gives it; it
// never reads the output, so the output type does not matter.
unsafe impl Send for AbortHandle {}
// SAFETY: as above; every method takes `&self` and goes through atomics.
unsafe impl Sync for AbortHandle {}

impl AbortHandle {
    /// A handle owning a new reference of `raw`.
    pub(super) fn new(raw: RawTask) -> AbortHandle {
        raw.ref_inc();
        AbortHandle { raw }
    }

    /// Cancels the task, as [`Task::cancel`] does: `false` when it is
    /// already done. Its [`Task`] (or `JoinSet`) then yields
    /// `Err(TaskError::Cancelled)`.
    ///
    /// [`TaskError::Cancelled`]: crate::TaskError::Cancelled
    pub fn abort(&self) -> bool {
        cancel(self.raw)
    }

    /// True once the task has finished (completed, cancelled or panicked).
    pub fn is_finished(&self) -> bool {
        self.raw.header().state.load().is_complete()
    }

    /// The task's id.
    pub fn id(&self) -> TaskId {
        self.raw.id()
    }
}

/// Cancels `raw` (see [`Task::cancel`]); false when it is already done.
/// The caller holds a reference of `raw` for the span of the call.
pub(super) fn cancel(raw: RawTask) -> bool {
    match raw.header().state.transition_to_cancelled() {
        ToCancelled::AlreadyDone => false,
        ToCancelled::Marked => true,
        ToCancelled::CancelNow => {
            // SAFETY: we won the lock; the caller's reference outlives the
            // call.
            unsafe { raw.cancel_locked() };
            true
        }
    }
}

impl Clone for AbortHandle {
    fn clone(&self) -> AbortHandle {
        AbortHandle::new(self.raw)
    }
}

impl Drop for AbortHandle {
    fn drop(&mut self) {
        self.raw.drop_reference();
    }
}

impl fmt::Debug for AbortHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AbortHandle")
            .field("id", &self.id())
            .field("finished", &self.is_finished())
            .finish()
    }
}

impl<T> Task<T> {
    /// A handle that can cancel this task without joining it (tokio's
    /// `JoinHandle::abort_handle`); it outlives the `Task` if kept.
    pub fn abort_handle(&self) -> AbortHandle {
        AbortHandle::new(self.raw)
    }
}
