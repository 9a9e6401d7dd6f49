//! The runtime entered on this thread: a worker's for its life, or the
//! caller's for the span of `block_on`. Entering also sets the floors'
//! own parts of the thread context: the worker (`scheduler/current.rs`)
//! and the driver's view (`driver/context.rs`).
//!
//! # Entering and shutdown
//!
//! - `block_on` polls its future on the calling thread (no `Send` needed) with
//!   the runtime entered, so `spawn` and `Handle::current` work. Running twice
//!   (`block_on` on a worker or inside `block_on`) panics with a message
//!   instead of deadlocking.
//! - **Entering is two things** (as in tokio): *running* a runtime (a worker's
//!   loop, `block_on`: the `running` flag, the worker, the worker's driver)
//!   and merely *entering* one (`Handle::enter`: the current handle and the
//!   driver's `RuntimeIo` view only). Only running refuses to nest. Every
//!   guard saves what it replaced and puts it back, so entering nests
//!   anywhere (a `block_on` inside an entered handle, an `enter` inside a
//!   task), and a depth count catches guards dropped out of order.
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

use super::Handle;
use crate::scheduler::current::{self as worker_context, WorkerGuard};
use crate::scheduler::Worker;
use crate::task::core::current::{self as task_context, TaskGuard};

struct Context {
    /// The runtime `spawn` and `Handle::current` use on this thread.
    handle: RefCell<Option<Handle>>,
    /// Inside `block_on` or a worker's run loop: a `block_on` here would
    /// block the thread that drives this runtime's work.
    running: Cell<bool>,
    /// Guards alive on this thread (they must drop in reverse order).
    depth: Cell<usize>,
}

crate::loom::thread_local! {
    static CONTEXT: Context = Context {
        handle: RefCell::new(None),
        running: Cell::new(false),
        depth: Cell::new(0),
    };
}

/// Puts back the handle a guard replaced, checking that guards drop in
/// reverse order.
struct HandleGuard {
    prev: Option<Handle>,
    depth: usize,
    /// Set `running` on entry (a `block_on` or a worker).
    running: bool,
}

impl HandleGuard {
    fn enter(handle: &Handle, running: bool) -> HandleGuard {
        CONTEXT
            .try_with(|c| {
                let depth = c.depth.get() + 1;
                c.depth.set(depth);
                if running {
                    c.running.set(true);
                }
                HandleGuard {
                    prev: c.handle.replace(Some(handle.clone())),
                    depth,
                    running,
                }
            })
            // Not `unwrap_or(HandleGuard { .. })`: that guard would be
            // built, and dropped, on every call.
            .unwrap_or_else(|_| HandleGuard {
                prev: None,
                depth: 0,
                running,
            })
    }
}

impl Drop for HandleGuard {
    fn drop(&mut self) {
        if self.depth == 0 {
            // Made during thread teardown: it entered nothing.
            return;
        }
        let prev = self.prev.take();
        let replaced = CONTEXT.try_with(|c| {
            if c.depth.get() != self.depth {
                // Not the innermost guard: putting back its handle would
                // leave a runtime entered that the inner guard owns.
                if std::thread::panicking() {
                    return None;
                }
                panic!(
                    "ferrio: runtime EnterGuards dropped out of order: the guards \
                     Handle::enter returns must be dropped in the reverse order they were \
                     made (and one made inside block_on must drop before block_on returns)"
                );
            }
            c.depth.set(self.depth - 1);
            if self.running {
                c.running.set(false);
            }
            c.handle.replace(prev)
        });
        // Dropped outside the borrow: it may be the runtime's last handle.
        drop(replaced);
    }
}

/// Marks this thread as running `handle`'s runtime (a worker, or a
/// `block_on`) until the guard drops.
pub(crate) struct RunningGuard {
    // Fields drop in order: the driver's and the worker's parts go first,
    // then the handle.
    #[cfg(not(ferrio_loom))]
    _io: crate::driver::context::IoGuard,
    _worker: WorkerGuard,
    _handle: HandleGuard,
}

/// Enters `handle`'s runtime on this thread, as `worker` (null: not a
/// worker thread). Fails when this thread already runs a runtime (a
/// worker, or another `block_on`); a handle merely entered with
/// [`Handle::enter`] does not count, and is put back when the guard drops.
///
/// `worker`, if not null, must stay valid and on this thread until the
/// guard drops (the worker's run loop holds the guard).
pub(crate) fn try_enter(handle: &Handle, worker: *const Worker) -> Result<RunningGuard, ()> {
    let running = CONTEXT.try_with(|c| c.running.get()).unwrap_or(true);
    if running {
        return Err(());
    }
    let handle_guard = HandleGuard::enter(handle, true);
    #[cfg(not(ferrio_loom))]
    let io = {
        // SAFETY: `worker` (hence its driver) outlives the guard, on this
        // thread: this function's contract.
        let local = unsafe { worker.as_ref() }.map_or(std::ptr::null(), |w| w.driver() as *const _);
        // SAFETY: as above.
        unsafe { crate::driver::context::enter(local, Box::new(handle.clone())) }
    };
    Ok(RunningGuard {
        #[cfg(not(ferrio_loom))]
        _io: io,
        // SAFETY: as above.
        _worker: unsafe { worker_context::enter_worker(worker) },
        _handle: handle_guard,
    })
}

/// Makes `handle` this thread's current runtime until the guard drops
/// (`Handle::enter`): `spawn`, `Handle::current` and ops started off the
/// workers use it. Nests anywhere; a worker keeps its own worker and
/// driver parts.
pub(crate) struct HandleEnterGuard {
    #[cfg(not(ferrio_loom))]
    _io: crate::driver::context::IoGuard,
    _handle: HandleGuard,
}

pub(crate) fn enter_handle(handle: &Handle) -> HandleEnterGuard {
    let handle_guard = HandleGuard::enter(handle, false);
    HandleEnterGuard {
        #[cfg(not(ferrio_loom))]
        _io: crate::driver::context::enter_runtime(Box::new(handle.clone())),
        _handle: handle_guard,
    }
}

/// The handle of the runtime entered on this thread.
pub(crate) fn current_handle() -> Option<Handle> {
    CONTEXT
        .try_with(|c| c.handle.borrow().clone())
        .ok()
        .flatten()
}

/// Runs `f` with the handle of the runtime entered on this thread, without
/// cloning it.
pub(crate) fn with_current_handle<R>(f: impl FnOnce(Option<&Handle>) -> R) -> R {
    let mut f = Some(f);
    let res = CONTEXT.try_with(|c| {
        let h = c.handle.borrow();
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
