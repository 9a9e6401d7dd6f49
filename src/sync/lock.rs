//! `Lock<T>`: an async mutex, FIFO-fair (asyncio's `Lock`, tokio's
//! `Mutex`), with borrowed and owned (`Arc`-held) guards.

use std::cell::UnsafeCell;
use std::fmt;
use std::future::Future;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use super::semaphore::{Semaphore, SemaphorePermit};
use crate::task::core::wait::{At, WaitKind};

/// An async mutual-exclusion lock around a value (asyncio's `Lock`,
/// holding the data it protects, as Rust locks do: tokio's `Mutex`).
///
/// Waiters get the lock in arrival order; a newcomer queues behind them
/// even when the lock is momentarily free (no barging). Dropping a waiting
/// `lock()` future leaves the queue without losing the lock for others.
///
/// ```
/// ferrio::run(async {
///     let counter = std::sync::Arc::new(ferrio::sync::Lock::new(0));
///     let tasks: Vec<_> = (0..10)
///         .map(|_| {
///             let c = counter.clone();
///             ferrio::spawn(async move { *c.lock().await += 1 })
///         })
///         .collect();
///     for t in tasks {
///         t.await.unwrap();
///     }
///     assert_eq!(*counter.lock().await, 10);
/// });
/// ```
///
/// Like `std::sync::Mutex`, a `Lock` is `Send` and `Sync` when its value
/// is `Send`; a value that cannot leave its thread cannot be shared:
///
/// ```compile_fail
/// fn assert_sync<T: Sync>(_: &T) {}
/// assert_sync(&ferrio::sync::Lock::new(std::rc::Rc::new(0)));
/// ```
#[doc(alias = "Mutex")]
pub struct Lock<T: ?Sized> {
    sem: Semaphore,
    value: UnsafeCell<T>,
}

// SAFETY: the value is only reached through a guard, and one guard exists
// at a time (the semaphore has one permit); T moves between threads.
unsafe impl<T: ?Sized + Send> Send for Lock<T> {}
// SAFETY: as above: &Lock gives at most one &mut T at a time.
unsafe impl<T: ?Sized + Send> Sync for Lock<T> {}

impl<T> Lock<T> {
    /// An unlocked lock around `value`.
    pub fn new(value: T) -> Lock<T> {
        Lock {
            sem: Semaphore::new(1),
            value: UnsafeCell::new(value),
        }
    }

    /// An unlocked lock around `value`, in a `const` context (a
    /// `static`).
    ///
    /// ```
    /// static HITS: ferrio::sync::Lock<u64> = ferrio::sync::Lock::const_new(0);
    /// ferrio::run(async {
    ///     *HITS.lock().await += 1;
    ///     assert_eq!(*HITS.lock().await, 1);
    /// });
    /// ```
    #[cfg(not(ferrio_loom))]
    pub const fn const_new(value: T) -> Lock<T> {
        Lock {
            sem: Semaphore::const_new(1),
            value: UnsafeCell::new(value),
        }
    }

    /// The value, once nobody can hold the lock.
    pub fn into_inner(self) -> T {
        self.value.into_inner()
    }
}

impl<T: ?Sized> Lock<T> {
    /// Waits for the lock (FIFO).
    #[track_caller]
    pub fn lock(&self) -> impl Future<Output = LockGuard<'_, T>> + '_ {
        At::waiting_on(WaitKind::Lock, async move {
            let permit = self.sem.acquire().await;
            LockGuard {
                lock: self,
                _permit: permit,
            }
        })
    }

    /// Takes the lock if it is free and nobody waits.
    pub fn try_lock(&self) -> Option<LockGuard<'_, T>> {
        self.sem.try_acquire().map(|p| LockGuard {
            lock: self,
            _permit: p,
        })
    }

    /// Waits for the lock (FIFO), holding it through an `Arc`: the guard
    /// is `'static`, so it can move into a spawned task or be stored.
    /// Dropping the future while waiting loses nothing.
    ///
    /// ```
    /// use std::sync::Arc;
    /// ferrio::run(async {
    ///     let lock = Arc::new(ferrio::sync::Lock::new(Vec::new()));
    ///     let mut guard = lock.clone().lock_owned().await;
    ///     let task = ferrio::spawn(async move {
    ///         guard.push(1); // the guard moved into the task
    ///     });
    ///     task.await.unwrap();
    ///     assert_eq!(*lock.lock().await, [1]);
    /// });
    /// ```
    #[track_caller]
    pub fn lock_owned(self: Arc<Self>) -> impl Future<Output = OwnedLockGuard<T>> {
        At::waiting_on(WaitKind::Lock, async move {
            // The borrowed permit is given up; the owned guard returns it.
            self.sem.acquire().await.forget();
            OwnedLockGuard { lock: self }
        })
    }

    /// Takes the lock through an `Arc` if it is free and nobody waits.
    pub fn try_lock_owned(self: Arc<Self>) -> Option<OwnedLockGuard<T>> {
        let permit = self.sem.try_acquire()?;
        permit.forget();
        Some(OwnedLockGuard { lock: self })
    }

    /// True while somebody holds the lock (asyncio's `locked()`).
    pub fn locked(&self) -> bool {
        self.sem.available_permits() == 0
    }

    /// The value through `&mut self` (no locking needed).
    pub fn get_mut(&mut self) -> &mut T {
        self.value.get_mut()
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for Lock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lock")
            .field("locked", &self.locked())
            .finish()
    }
}

impl<T: Default> Default for Lock<T> {
    fn default() -> Lock<T> {
        Lock::new(T::default())
    }
}

/// Holds the lock; releases it on drop (to the next waiter in line).
///
/// Like `std::sync::MutexGuard`, a guard can be shared between threads
/// only when the value can: `&LockGuard<T>` hands out `&T`, so it is
/// `Sync` only for `T: Sync`. Sending a guard to another thread (an await
/// on a work-stealing runtime) needs only `T: Send`.
///
/// ```compile_fail
/// // A guard over a `Cell` is not `Sync`: two threads sharing it could
/// // race on the cell.
/// fn assert_sync<T: Sync>(_: &T) {}
/// let lock = ferrio::sync::Lock::new(std::cell::Cell::new(0u64));
/// let guard = lock.try_lock().unwrap();
/// assert_sync(&guard);
/// ```
///
/// ```
/// // Over a `Sync` value it is.
/// fn assert_sync<T: Sync>(_: &T) {}
/// let lock = ferrio::sync::Lock::new(0u64);
/// let guard = lock.try_lock().unwrap();
/// assert_sync(&guard);
/// ```
#[must_use = "the lock is released when the guard drops"]
pub struct LockGuard<'a, T: ?Sized> {
    lock: &'a Lock<T>,
    _permit: SemaphorePermit<'a>,
}

impl<T: ?Sized> LockGuard<'_, T> {
    /// True if this guard holds `lock`.
    pub(crate) fn is_of(&self, lock: &Lock<T>) -> bool {
        std::ptr::eq(self.lock, lock)
    }
}

// SAFETY: this impl replaces the derived one, which followed `&Lock<T>`
// (`Sync` for any `T: Send`) and so let `&LockGuard<Cell<_>>` give `&Cell`
// to several threads. Through `&LockGuard` one gets only `&T` (`Deref`) and
// nothing that mutates the lock, so sharing the guard is sound exactly when
// sharing `&T` is: `T: Sync` (as for `std::sync::MutexGuard`). `Send` stays
// derived: moving the guard moves the right to `&mut T`, which needs
// `Lock<T>: Sync`, i.e. `T: Send`.
unsafe impl<T: ?Sized + Sync> Sync for LockGuard<'_, T> {}

impl<T: ?Sized> Deref for LockGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds the only permit: no other reference to
        // the value exists while it lives.
        unsafe { &*self.lock.value.get() }
    }
}

impl<T: ?Sized> DerefMut for LockGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`, and `&mut self` makes it unique.
        unsafe { &mut *self.lock.value.get() }
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for LockGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self).fmt(f)
    }
}

/// Holds the lock through an `Arc` of it ([`Lock::lock_owned`]); releases
/// it on drop, to the next waiter in line.
///
/// `Send` when the value is (as the borrowed guard); shared between
/// threads only when the value may be reached from several (`T: Send +
/// Sync`, as tokio's `OwnedMutexGuard`).
///
/// ```compile_fail
/// fn assert_sync<T: Sync>(_: &T) {}
/// let lock = std::sync::Arc::new(ferrio::sync::Lock::new(std::cell::Cell::new(0u64)));
/// let guard = lock.try_lock_owned().unwrap();
/// assert_sync(&guard);
/// ```
#[must_use = "the lock is released when the guard drops"]
pub struct OwnedLockGuard<T: ?Sized> {
    lock: Arc<Lock<T>>,
}

// SAFETY: replaces the derived impl, which followed `Arc<Lock<T>>` (`Sync`
// for any `T: Send`). `&OwnedLockGuard` gives `&T` only, so sharing it needs
// `T: Sync`; `T: Send` is kept as tokio's `OwnedMutexGuard` has it (the
// guard, and with it the last `Arc`, may be dropped on any thread). `Send`
// stays derived: `Arc<Lock<T>>` is `Send` for `T: Send`.
unsafe impl<T: ?Sized + Send + Sync> Sync for OwnedLockGuard<T> {}

impl<T: ?Sized> Drop for OwnedLockGuard<T> {
    fn drop(&mut self) {
        self.lock.sem.add_permits(1);
    }
}

impl<T: ?Sized> Deref for OwnedLockGuard<T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds the lock's only permit (forgotten at
        // acquisition, returned in `drop`): no other reference exists.
        unsafe { &*self.lock.value.get() }
    }
}

impl<T: ?Sized> DerefMut for OwnedLockGuard<T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`, and `&mut self` makes it unique.
        unsafe { &mut *self.lock.value.get() }
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for OwnedLockGuard<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self).fmt(f)
    }
}
