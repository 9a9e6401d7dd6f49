//! The task being polled on this thread (`task::current_task`), set by
//! the harness around each poll with a fresh poll state (`poll_state.rs`).

// loom's `thread_local!` takes no `const` initialisers.
#![allow(clippy::missing_const_for_thread_local)]

use std::cell::Cell;

use super::RawTask;
use crate::poll_state::{self, PollGuard};

crate::loom::thread_local! {
    static CURRENT_TASK: Cell<Option<RawTask>> = Cell::new(None);
}

/// Sets the current task (`None`: a `block_on` poll) and a fresh poll
/// state until the guard drops.
pub(crate) struct TaskGuard {
    prev: Option<RawTask>,
    _poll: PollGuard,
}

pub(crate) fn enter_task(task: Option<RawTask>) -> TaskGuard {
    TaskGuard {
        prev: CURRENT_TASK.try_with(|c| c.replace(task)).unwrap_or(None),
        _poll: poll_state::enter_poll(),
    }
}

impl Drop for TaskGuard {
    fn drop(&mut self) {
        let _ = CURRENT_TASK.try_with(|c| c.set(self.prev));
    }
}

/// The task being polled on this thread.
pub(crate) fn current_task() -> Option<RawTask> {
    CURRENT_TASK.try_with(|c| c.get()).ok().flatten()
}
