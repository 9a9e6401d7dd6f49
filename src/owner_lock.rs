//! [`OwnerLock`]: the lock on state one thread uses all the time and
//! another only rarely tries (a worker's wheel, which the watchdog fires
//! while the worker is stuck in a poll).
//!
//! Locking is one swap, unlocking one release store: half the atomic
//! read-modify-writes of a general mutex, on a path the owner takes for
//! every timer it registers or cancels. Nobody sleeps on it: the rare
//! contender, the owner waiting out a watchdog round of a few
//! microseconds, yields its thread and retries; the watchdog only ever
//! tries. Access is through closures.
//!
//! Under loom the lock is loom's mutex behind the same face, as the shim
//! swaps every std lock: loom cannot explore a spin loop (each retry is a
//! branch, and the two-worker models exceed its branch limit), and what
//! the models check is the protocol of the wheel's users under a lock
//! (loom-tests/tests/time.rs, runtime.rs), not how a swap excludes.

#[cfg(not(ferrio_loom))]
use crate::loom::cell::UnsafeCell;
#[cfg(not(ferrio_loom))]
use crate::loom::sync::atomic::{AtomicBool, Ordering};

#[cfg(ferrio_loom)]
pub(crate) struct OwnerLock<T>(crate::loom::FastMutex<T>);

#[cfg(ferrio_loom)]
impl<T> OwnerLock<T> {
    pub(crate) fn new(value: T) -> OwnerLock<T> {
        OwnerLock(crate::loom::FastMutex::new(value))
    }

    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        f(&mut self.0.lock())
    }

    pub(crate) fn try_with<R>(&self, f: impl FnOnce(&mut T) -> R) -> Option<R> {
        self.0.try_lock().map(|mut v| f(&mut v))
    }
}

#[cfg(not(ferrio_loom))]
pub(crate) struct OwnerLock<T> {
    locked: AtomicBool,
    value: UnsafeCell<T>,
}

// SAFETY: the value is only reached while `locked` is held by the caller
// (acquired by a swap, released by a store), so one thread at a time.
#[cfg(not(ferrio_loom))]
unsafe impl<T: Send> Sync for OwnerLock<T> {}
// SAFETY: owning the lock owns the value.
#[cfg(not(ferrio_loom))]
unsafe impl<T: Send> Send for OwnerLock<T> {}

#[cfg(not(ferrio_loom))]
impl<T> OwnerLock<T> {
    pub(crate) fn new(value: T) -> OwnerLock<T> {
        OwnerLock {
            locked: AtomicBool::new(false),
            value: UnsafeCell::new(value),
        }
    }

    /// Runs `f` with the value, waiting for a holder to let go.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        while self.locked.swap(true, Ordering::Acquire) {
            crate::loom::thread::yield_now();
        }
        self.run_locked(f)
    }

    /// Runs `f` with the value unless someone holds it.
    pub(crate) fn try_with<R>(&self, f: impl FnOnce(&mut T) -> R) -> Option<R> {
        if self.locked.swap(true, Ordering::Acquire) {
            return None;
        }
        Some(self.run_locked(f))
    }

    fn run_locked<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        // Released even if `f` panics.
        struct Unlock<'a>(&'a AtomicBool);
        impl Drop for Unlock<'_> {
            fn drop(&mut self) {
                self.0.store(false, Ordering::Release);
            }
        }
        let _unlock = Unlock(&self.locked);
        // SAFETY: we hold the lock (see the `Sync` impl).
        self.value.with_mut(|v| f(unsafe { &mut *v }))
    }
}
