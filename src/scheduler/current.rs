//! The worker running on this thread, if it is a worker thread: set by
//! the runtime for the span of the worker's run loop (`runtime/context.rs`).

// loom's `thread_local!` takes no `const` initialisers.
#![allow(clippy::missing_const_for_thread_local)]

use std::cell::Cell;

use super::Worker;

crate::loom::thread_local! {
    static WORKER: Cell<*const Worker> = Cell::new(std::ptr::null());
}

/// Makes `worker` this thread's worker until the guard drops.
pub(crate) struct WorkerGuard {
    _not_send: std::marker::PhantomData<*const ()>,
}

/// Sets this thread's worker (null: none, a `block_on` thread).
///
/// # Safety
/// A non-null `worker` must stay valid, and be used only on this thread,
/// until the guard drops.
pub(crate) unsafe fn enter_worker(worker: *const Worker) -> WorkerGuard {
    let _ = WORKER.try_with(|w| w.set(worker));
    WorkerGuard {
        _not_send: std::marker::PhantomData,
    }
}

impl Drop for WorkerGuard {
    fn drop(&mut self) {
        let _ = WORKER.try_with(|w| w.set(std::ptr::null()));
    }
}

/// Runs `f` with the worker running on this thread, if any.
pub(crate) fn with_worker<R>(f: impl FnOnce(Option<&Worker>) -> R) -> R {
    let ptr = WORKER.try_with(|w| w.get()).unwrap_or(std::ptr::null());
    // SAFETY: a non-null pointer was set by `enter_worker`, whose caller
    // keeps the worker alive until the guard clears it, and it is only
    // read on its own thread.
    f(unsafe { ptr.as_ref() })
}
