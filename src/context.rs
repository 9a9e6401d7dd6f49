//! Thread-local context: which runtime this thread belongs to, which worker
//! runs here, which task is being polled, and its cooperative budget.
//!
//! # Runtime, entering, shutdown
//!
//! - `block_on` polls its future on the calling thread (no `Send` needed) with
//!   the runtime entered, so `spawn` and `Handle::current` work. Entering twice
//!   (`block_on` on a worker or inside `block_on`) panics with a message
//!   instead of deadlocking.
//! - **Shutdown** (drop, `shutdown_timeout`, end of `run`): set the flag, close
//!   the owned list (spawns after that return an already-cancelled task), wake
//!   every worker. Each worker drains the owned list's shards (shared work:
//!   whoever pops a task shuts it down, so every future is dropped exactly
//!   once), drops its queued notifications and exits. The owner joins the
//!   workers (or gives up after the timeout) and drains the injector; the last
//!   worker out drains it too, and a remote schedule that sees the flag drains
//!   it itself, so no notification can keep the runtime alive through a task
//!   (task → `Arc<Shared>` → injector → task).
//! - Dropping a runtime on a worker thread does not join (it would wait on
//!   itself); the workers finish shutdown on their own.

// loom's `thread_local!` takes no `const` initialisers.
#![allow(clippy::missing_const_for_thread_local)]

use std::cell::{Cell, RefCell};
use std::time::Instant;

use crate::runtime::Handle;
use crate::scheduler::Worker;
use crate::task::core::RawTask;

struct Context {
    /// The runtime entered on this thread (a worker, or inside `block_on`).
    handle: RefCell<Option<Handle>>,
    /// The worker running on this thread, if it is a worker thread.
    worker: Cell<*const Worker>,
    /// The task being polled right now.
    task: Cell<Option<RawTask>>,
    /// Operations left before the current task must yield; `None` when no
    /// ferrio poll is on the stack (unconstrained).
    budget: Cell<Option<u8>>,
    /// The earliest deadline of the timeout scopes whose bodies are being
    /// polled right now (`time::Scoped`): a nested scope that expired
    /// leaves the report to an enclosing one that expired too.
    scope_deadline: Cell<Option<Instant>>,
}

crate::loom::thread_local! {
    static CONTEXT: Context = Context {
        handle: RefCell::new(None),
        worker: Cell::new(std::ptr::null()),
        task: Cell::new(None),
        budget: Cell::new(None),
        scope_deadline: Cell::new(None),
    };
}

/// Operations a task may complete in one poll before it is made to yield.
pub(crate) const BUDGET: u8 = 128;

/// Marks this thread as inside a runtime until the guard drops.
pub(crate) struct EnterGuard {
    _not_send: std::marker::PhantomData<*const ()>,
}

/// Enters `handle`'s runtime on this thread. Fails when this thread is
/// already inside a runtime (a worker, or another `block_on`).
pub(crate) fn try_enter(handle: &Handle, worker: *const Worker) -> Result<EnterGuard, ()> {
    CONTEXT.with(|c| {
        let mut h = c.handle.borrow_mut();
        if h.is_some() {
            return Err(());
        }
        *h = Some(handle.clone());
        c.worker.set(worker);
        Ok(EnterGuard {
            _not_send: std::marker::PhantomData,
        })
    })
}

impl Drop for EnterGuard {
    fn drop(&mut self) {
        let _ = CONTEXT.try_with(|c| {
            c.worker.set(std::ptr::null());
            c.handle.borrow_mut().take()
        });
    }
}

/// The handle of the runtime entered on this thread.
pub(crate) fn current_handle() -> Option<Handle> {
    CONTEXT
        .try_with(|c| c.handle.borrow().clone())
        .ok()
        .flatten()
}

/// Runs `f` with the worker running on this thread, if any.
pub(crate) fn with_worker<R>(f: impl FnOnce(Option<&Worker>) -> R) -> R {
    let ptr = CONTEXT
        .try_with(|c| c.worker.get())
        .unwrap_or(std::ptr::null());
    // SAFETY: the pointer is set by the worker for the span of its run loop
    // (which outlives every call made from inside it) and cleared before
    // the worker is dropped; it is only ever read on its own thread.
    f(unsafe { ptr.as_ref() })
}

/// Sets the current task and a fresh budget while polling it.
/// (A task's poll starts outside every timeout scope.)
pub(crate) struct TaskGuard {
    prev_task: Option<RawTask>,
    prev_budget: Option<u8>,
    prev_scope: Option<Instant>,
}

pub(crate) fn enter_task(task: RawTask) -> TaskGuard {
    CONTEXT
        .try_with(|c| TaskGuard {
            prev_task: c.task.replace(Some(task)),
            prev_budget: c.budget.replace(Some(BUDGET)),
            prev_scope: c.scope_deadline.replace(None),
        })
        .unwrap_or_else(|_| TaskGuard {
            prev_task: None,
            prev_budget: None,
            prev_scope: None,
        })
}

impl Drop for TaskGuard {
    fn drop(&mut self) {
        let _ = CONTEXT.try_with(|c| {
            c.task.set(self.prev_task);
            c.budget.set(self.prev_budget);
            c.scope_deadline.set(self.prev_scope);
        });
    }
}

/// A fresh budget for a `block_on` poll (no task).
pub(crate) fn enter_block_on_poll() -> TaskGuard {
    CONTEXT
        .try_with(|c| TaskGuard {
            prev_task: c.task.replace(None),
            prev_budget: c.budget.replace(Some(BUDGET)),
            prev_scope: c.scope_deadline.replace(None),
        })
        .unwrap_or_else(|_| TaskGuard {
            prev_task: None,
            prev_budget: None,
            prev_scope: None,
        })
}

/// Marks the body of a timeout scope with `deadline` as being polled,
/// until the guard drops.
pub(crate) struct ScopeGuard {
    prev: Option<Instant>,
}

pub(crate) fn enter_timeout_scope(deadline: Option<Instant>) -> ScopeGuard {
    let prev = CONTEXT
        .try_with(|c| {
            let prev = c.scope_deadline.get();
            let earliest = match (prev, deadline) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            c.scope_deadline.set(earliest);
            prev
        })
        .unwrap_or(None);
    ScopeGuard { prev }
}

impl Drop for ScopeGuard {
    fn drop(&mut self) {
        let _ = CONTEXT.try_with(|c| c.scope_deadline.set(self.prev));
    }
}

/// The earliest deadline of the timeout scopes enclosing the current poll.
pub(crate) fn enclosing_scope_deadline() -> Option<Instant> {
    CONTEXT.try_with(|c| c.scope_deadline.get()).unwrap_or(None)
}

pub(crate) fn current_task() -> Option<RawTask> {
    CONTEXT.try_with(|c| c.task.get()).ok().flatten()
}

/// Spends one unit of budget; false when it is exhausted.
pub(crate) fn consume_budget() -> bool {
    CONTEXT
        .try_with(|c| match c.budget.get() {
            None => true,
            Some(0) => false,
            Some(n) => {
                c.budget.set(Some(n - 1));
                true
            }
        })
        .unwrap_or(true)
}

/// Runs `f` with the handle of the runtime entered on this thread, without
/// cloning it.
pub(crate) fn with_current_handle<R>(f: impl FnOnce(Option<&Handle>) -> R) -> R {
    let mut f = Some(f);
    let res = CONTEXT.try_with(|c| {
        let h = c.handle.borrow();
        (f.take().unwrap())(h.as_ref())
    });
    match res {
        Ok(r) => r,
        Err(_) => (f.take().unwrap())(None),
    }
}
