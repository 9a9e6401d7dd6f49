//! A worker's LIFO slot: the one task woken by the task running on the
//! worker, run next.
//!
//! The owner fills and empties it between polls; the watchdog
//! (`watchdog.rs`) empties it while the owner is stuck in a poll, so that
//! task runs on another worker instead of waiting for the stuck one. The
//! slot is one atomic pointer holding a notification's reference: a swap
//! hands that reference to exactly one taker, so a task is never run twice
//! or lost, whoever takes it. Modelled in `loom-tests/tests/runtime.rs`
//! (`rescue_of_a_worker_runs_each_task_once`).

use std::ptr::{self, NonNull};

use crate::loom::sync::atomic::{AtomicPtr, Ordering::AcqRel, Ordering::Acquire};
use crate::task::core::raw::Header;
use crate::task::core::{Notified, RawTask};

pub(crate) struct LifoSlot {
    task: AtomicPtr<Header>,
}

impl LifoSlot {
    pub(crate) fn new() -> LifoSlot {
        LifoSlot {
            task: AtomicPtr::new(ptr::null_mut()),
        }
    }

    /// Puts `task` in the slot; returns the task it displaced.
    pub(crate) fn replace(&self, task: Notified) -> Option<Notified> {
        let new = task.into_raw().header_ptr().as_ptr();
        // AcqRel: publishes the new task to a taker on another thread and
        // acquires the displaced one from whoever put it there.
        Self::from_ptr(self.task.swap(new, AcqRel))
    }

    /// Empties the slot (any thread).
    pub(crate) fn take(&self) -> Option<Notified> {
        // The owner looks first: an empty slot, the common case, costs a
        // load instead of a read-modify-write.
        if self.task.load(Acquire).is_null() {
            return None;
        }
        Self::from_ptr(self.task.swap(ptr::null_mut(), AcqRel))
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.task.load(Acquire).is_null()
    }

    fn from_ptr(ptr: *mut Header) -> Option<Notified> {
        let ptr = NonNull::new(ptr)?;
        // SAFETY: a non-null pointer in the slot came from `replace`, which
        // stored a notification's reference there; the swap that returned
        // it removed it from the slot, so this is its only owner.
        Some(unsafe { Notified::from_raw(RawTask::from_raw(ptr)) })
    }
}

impl Drop for LifoSlot {
    fn drop(&mut self) {
        drop(self.take());
    }
}
