//! The runtime entered on this thread: a worker's for its life, or the
//! caller's for the span of `block_on`. Entering also sets the floors'
//! own parts of the thread context: the worker (`scheduler/current.rs`)
//! and the driver's view (`driver/context.rs`).
//!
//! # Entering and shutdown
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

use std::cell::RefCell;

use super::Handle;
use crate::scheduler::current::{self as worker_context, WorkerGuard};
use crate::scheduler::Worker;
use crate::task::core::current::{self as task_context, TaskGuard};

crate::loom::thread_local! {
    static HANDLE: RefCell<Option<Handle>> = RefCell::new(None);
}

/// Marks this thread as inside a runtime until the guard drops.
pub(crate) struct EnterGuard {
    #[cfg(not(ferrio_loom))]
    _io: crate::driver::context::IoGuard,
    _worker: WorkerGuard,
}

/// Enters `handle`'s runtime on this thread, as `worker` (null: not a
/// worker thread). Fails when this thread is already inside a runtime (a
/// worker, or another `block_on`).
///
/// `worker`, if not null, must stay valid and on this thread until the
/// guard drops (the worker's run loop holds the guard).
pub(crate) fn try_enter(handle: &Handle, worker: *const Worker) -> Result<EnterGuard, ()> {
    let entered = HANDLE.with(|h| {
        let mut h = h.borrow_mut();
        if h.is_some() {
            return false;
        }
        *h = Some(handle.clone());
        true
    });
    if !entered {
        return Err(());
    }
    #[cfg(not(ferrio_loom))]
    let io = {
        // SAFETY: `worker` (hence its driver) outlives the guard, on this
        // thread: this function's contract.
        let local = unsafe { worker.as_ref() }.map_or(std::ptr::null(), |w| w.driver() as *const _);
        // SAFETY: as above.
        unsafe { crate::driver::context::enter(local, Box::new(handle.clone())) }
    };
    Ok(EnterGuard {
        #[cfg(not(ferrio_loom))]
        _io: io,
        // SAFETY: as above.
        _worker: unsafe { worker_context::enter_worker(worker) },
    })
}

impl Drop for EnterGuard {
    fn drop(&mut self) {
        let handle = HANDLE.try_with(|h| h.borrow_mut().take()).ok().flatten();
        drop(handle);
    }
}

/// The handle of the runtime entered on this thread.
pub(crate) fn current_handle() -> Option<Handle> {
    HANDLE.try_with(|h| h.borrow().clone()).ok().flatten()
}

/// Runs `f` with the handle of the runtime entered on this thread, without
/// cloning it.
pub(crate) fn with_current_handle<R>(f: impl FnOnce(Option<&Handle>) -> R) -> R {
    let mut f = Some(f);
    let res = HANDLE.try_with(|h| {
        let h = h.borrow();
        (f.take().expect("called once"))(h.as_ref())
    });
    match res {
        Ok(r) => r,
        Err(_) => (f.take().expect("called once"))(None),
    }
}

/// A fresh poll state for a `block_on` poll (no task).
pub(crate) fn enter_block_on_poll() -> TaskGuard {
    task_context::enter_task(None)
}
