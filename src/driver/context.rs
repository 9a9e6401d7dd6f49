//! The driver's part of the thread context: the worker's own driver on a
//! worker thread, and what ops need of the runtime this thread entered
//! ([`RuntimeIo`]: a worker's driver for ops started off the workers, the
//! blocking pool). The runtime sets both when a thread enters it
//! (`runtime/context.rs`); the driver names no scheduler or runtime type.

// loom's `thread_local!` takes no `const` initialisers.
#![allow(clippy::missing_const_for_thread_local)]

use std::cell::{Cell, RefCell};
use std::io;
use std::sync::Arc;

use super::worker_driver::{Driver, DriverShared};
use crate::blocking::BlockingPool;

/// What an op needs of the runtime entered on its thread, beyond the
/// thread's own driver. The runtime implements it.
pub(crate) trait RuntimeIo {
    /// A worker's driver for an op started off the workers (the worker is
    /// the runtime's pick); the shutdown error once the runtime shuts down.
    fn remote_driver(&self) -> io::Result<DriverShared>;
    /// The runtime's blocking pool.
    fn blocking_pool(&self) -> Arc<BlockingPool>;
    /// The simulated world the runtime's drivers answer from, if it runs
    /// one (feature `sim`: `sim_hook.rs`).
    #[cfg(feature = "sim")]
    fn sim_backend(&self) -> Option<Arc<dyn super::sim_hook::SimBackend>>;
}

struct IoContext {
    /// This worker's driver (null off the workers).
    local: Cell<*const Driver>,
    runtime: RefCell<Option<Box<dyn RuntimeIo>>>,
}

crate::loom::thread_local! {
    static IO: IoContext = IoContext {
        local: Cell::new(std::ptr::null()),
        runtime: RefCell::new(None),
    };
}

/// The driver context of this thread until the guard drops, which puts
/// back the context it replaced (entering nests: `Handle::enter`).
pub(crate) struct IoGuard {
    prev_local: *const Driver,
    prev_runtime: Option<Box<dyn RuntimeIo>>,
}

/// Enters `runtime` (and, on a worker thread, its driver `local`).
///
/// # Safety
/// A non-null `local` must stay valid, and be used only on this thread,
/// until the guard drops.
pub(crate) unsafe fn enter(local: *const Driver, runtime: Box<dyn RuntimeIo>) -> IoGuard {
    let (prev_local, prev_runtime) = IO
        .try_with(|c| (c.local.replace(local), c.runtime.replace(Some(runtime))))
        .unwrap_or((std::ptr::null(), None));
    IoGuard {
        prev_local,
        prev_runtime,
    }
}

/// Enters `runtime` for ops started on this thread, keeping the thread's
/// own driver (a worker's ops still go to its driver).
pub(crate) fn enter_runtime(runtime: Box<dyn RuntimeIo>) -> IoGuard {
    let local = IO.try_with(|c| c.local.get()).unwrap_or(std::ptr::null());
    // SAFETY: `local` is the pointer already set on this thread, whose
    // setter's guard outlives ours (guards drop in reverse order).
    unsafe { enter(local, runtime) }
}

impl Drop for IoGuard {
    fn drop(&mut self) {
        let prev_runtime = self.prev_runtime.take();
        let replaced = IO
            .try_with(|c| {
                c.local.set(self.prev_local);
                c.runtime.replace(prev_runtime)
            })
            .ok()
            .flatten();
        // Dropped outside the borrow: the runtime's handle may be the last.
        drop(replaced);
    }
}

/// Runs `f` with this worker's driver, if this is a worker thread.
pub(crate) fn with_local<R>(f: impl FnOnce(Option<&Driver>) -> R) -> R {
    let ptr = IO.try_with(|c| c.local.get()).unwrap_or(std::ptr::null());
    // SAFETY: a non-null pointer was set by `enter`, whose caller keeps
    // the driver alive until the guard clears it; it is only read on its
    // own thread.
    f(unsafe { ptr.as_ref() })
}

/// Runs `f` with the runtime entered on this thread, if any.
pub(crate) fn with_runtime<R>(f: impl FnOnce(Option<&dyn RuntimeIo>) -> R) -> R {
    let mut f = Some(f);
    let res = IO.try_with(|c| {
        let r = c.runtime.borrow();
        (f.take().expect("called once"))(r.as_deref())
    });
    match res {
        Ok(r) => r,
        Err(_) => (f.take().expect("called once"))(None),
    }
}
