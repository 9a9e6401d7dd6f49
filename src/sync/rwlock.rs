//! `RwLock<T>`: an async reader-writer lock, FIFO-fair (tokio's
//! `RwLock`).
//!
//! Built on the crate's semaphore with `max_readers` permits: a reader
//! takes one, a writer all of them in a single request. The semaphore
//! serves requests in arrival order and a request at the front holds back
//! everyone behind it, so a waiting writer blocks readers that come after
//! it (no writer starvation), and the readers queued behind a writer get
//! in together once it leaves. Cancellation is the semaphore's: a dropped
//! `read`/`write` future leaves the queue, and permits granted to it go on
//! to the next waiter. Guards give their permits back on drop; the owned
//! guards hold the lock through an `Arc`.

use std::cell::UnsafeCell;
use std::fmt;
use std::future::Future;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use super::semaphore::{Semaphore, SemaphorePermit};
use crate::task::core::wait::{At, WaitKind};

/// The most readers an [`RwLock`] admits at once (tokio's bound), and the
/// default.
const MAX_READS: u32 = u32::MAX >> 3;

/// An async reader-writer lock around a value (tokio's `RwLock`):
/// many readers or one writer at a time.
///
/// Fair: requests are served in arrival order (FIFO), and a writer waiting
/// for the readers to leave blocks every reader that comes after it, so a
/// stream of readers cannot starve a writer. Dropping a waiting `read()` or
/// `write()` future leaves the queue and loses nothing.
///
/// ```
/// use std::sync::Arc;
/// ferrio::run(async {
///     let lock = Arc::new(ferrio::sync::RwLock::new(5));
///     {
///         // Readers share the lock.
///         let r1 = lock.read().await;
///         let r2 = lock.read().await;
///         assert_eq!(*r1 + *r2, 10);
///         // A writer must wait for them.
///         assert!(lock.try_write().is_err());
///     }
///     *lock.write().await += 1;
///     assert_eq!(*lock.read().await, 6);
/// });
/// ```
///
/// `Send` for a `Send` value, and shared between tasks when the value is
/// also `Sync` (readers on several threads see it at once), as std's and
/// tokio's `RwLock`:
///
/// ```compile_fail
/// fn assert_sync<T: Sync>(_: &T) {}
/// assert_sync(&ferrio::sync::RwLock::new(std::cell::Cell::new(0)));
/// ```
pub struct RwLock<T: ?Sized> {
    max_readers: u32,
    sem: Semaphore,
    value: UnsafeCell<T>,
}

// SAFETY: the value is reached only through guards, whose permits keep
// writers exclusive; moving the lock moves `T`.
unsafe impl<T: ?Sized + Send> Send for RwLock<T> {}
// SAFETY: `&RwLock` hands out `&mut T` to one writer (needs `T: Send`: the
// writer may be on another thread) or `&T` to several readers on several
// threads at once (needs `T: Sync`).
unsafe impl<T: ?Sized + Send + Sync> Sync for RwLock<T> {}

/// The error of [`RwLock::try_read`] and [`RwLock::try_write`]: the lock
/// is held in the other mode, or others wait for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TryLockError(());

impl fmt::Display for TryLockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the lock is held, or others wait for it")
    }
}

impl std::error::Error for TryLockError {}

impl<T> RwLock<T> {
    /// An unlocked lock around `value`.
    pub fn new(value: T) -> RwLock<T> {
        RwLock {
            max_readers: MAX_READS,
            sem: Semaphore::new(MAX_READS as usize),
            value: UnsafeCell::new(value),
        }
    }

    /// An unlocked lock around `value` that admits at most `max_readers`
    /// readers at once (a writer then waits for those).
    ///
    /// # Panics
    /// When `max_readers` is 0 or above `u32::MAX >> 3` (tokio's bound).
    ///
    /// ```
    /// let lock = ferrio::sync::RwLock::with_max_readers(0u8, 2);
    /// let _a = lock.try_read().unwrap();
    /// let _b = lock.try_read().unwrap();
    /// assert!(lock.try_read().is_err());
    /// ```
    #[track_caller]
    pub fn with_max_readers(value: T, max_readers: u32) -> RwLock<T> {
        assert!(
            (1..=MAX_READS).contains(&max_readers),
            "ferrio: RwLock::with_max_readers: max_readers is {max_readers}, must be in \
             1..={MAX_READS}"
        );
        RwLock {
            max_readers,
            sem: Semaphore::new(max_readers as usize),
            value: UnsafeCell::new(value),
        }
    }

    /// An unlocked lock around `value`, in a `const` context (a
    /// `static`).
    ///
    /// ```
    /// static CONFIG: ferrio::sync::RwLock<&str> = ferrio::sync::RwLock::const_new("v1");
    /// assert_eq!(*CONFIG.try_read().unwrap(), "v1");
    /// ```
    #[cfg(not(ferrio_loom))]
    pub const fn const_new(value: T) -> RwLock<T> {
        RwLock {
            max_readers: MAX_READS,
            sem: Semaphore::const_new(MAX_READS as usize),
            value: UnsafeCell::new(value),
        }
    }

    /// The value, once nobody can hold the lock.
    pub fn into_inner(self) -> T {
        self.value.into_inner()
    }
}

impl<T: ?Sized> RwLock<T> {
    fn all(&self) -> usize {
        self.max_readers as usize
    }

    /// Waits for shared access (FIFO: behind any writer already waiting).
    /// Dropping the future while waiting loses nothing.
    #[track_caller]
    pub fn read(&self) -> impl Future<Output = RwLockReadGuard<'_, T>> + '_ {
        At::waiting_on(WaitKind::RwLockRead, async move {
            let permit = self.sem.acquire().await;
            RwLockReadGuard {
                lock: self,
                _permit: permit,
            }
        })
    }

    /// Waits for exclusive access (FIFO). Dropping the future while
    /// waiting loses nothing, and lets the readers queued behind it in.
    #[track_caller]
    pub fn write(&self) -> impl Future<Output = RwLockWriteGuard<'_, T>> + '_ {
        At::waiting_on(WaitKind::RwLockWrite, async move {
            let permit = self.sem.acquire_many(self.all()).await;
            RwLockWriteGuard { lock: self, permit }
        })
    }

    /// Takes shared access if nobody writes and nobody waits.
    pub fn try_read(&self) -> Result<RwLockReadGuard<'_, T>, TryLockError> {
        match self.sem.try_acquire() {
            Some(permit) => Ok(RwLockReadGuard {
                lock: self,
                _permit: permit,
            }),
            None => Err(TryLockError(())),
        }
    }

    /// Takes exclusive access if nobody holds the lock and nobody waits.
    pub fn try_write(&self) -> Result<RwLockWriteGuard<'_, T>, TryLockError> {
        match self.sem.try_acquire_many(self.all()) {
            Some(permit) => Ok(RwLockWriteGuard { lock: self, permit }),
            None => Err(TryLockError(())),
        }
    }

    /// [`read`](Self::read) through an `Arc`: the guard is `'static`, so
    /// it can move into a spawned task or be stored.
    ///
    /// ```
    /// use std::sync::Arc;
    /// ferrio::run(async {
    ///     let lock = Arc::new(ferrio::sync::RwLock::new(String::from("shared")));
    ///     let guard = lock.clone().read_owned().await;
    ///     let task = ferrio::spawn(async move { guard.len() });
    ///     assert_eq!(task.await.unwrap(), 6);
    /// });
    /// ```
    #[track_caller]
    pub fn read_owned(self: Arc<Self>) -> impl Future<Output = OwnedRwLockReadGuard<T>> {
        At::waiting_on(WaitKind::RwLockRead, async move {
            self.sem.acquire().await.forget();
            OwnedRwLockReadGuard {
                hold: Hold { lock: self, n: 1 },
            }
        })
    }

    /// [`write`](Self::write) through an `Arc`.
    #[track_caller]
    pub fn write_owned(self: Arc<Self>) -> impl Future<Output = OwnedRwLockWriteGuard<T>> {
        At::waiting_on(WaitKind::RwLockWrite, async move {
            let n = self.all();
            self.sem.acquire_many(n).await.forget();
            OwnedRwLockWriteGuard {
                hold: Hold { lock: self, n },
            }
        })
    }

    /// [`try_read`](Self::try_read) through an `Arc`.
    pub fn try_read_owned(self: Arc<Self>) -> Result<OwnedRwLockReadGuard<T>, TryLockError> {
        if !self.sem.try_take(1) {
            return Err(TryLockError(()));
        }
        Ok(OwnedRwLockReadGuard {
            hold: Hold { lock: self, n: 1 },
        })
    }

    /// [`try_write`](Self::try_write) through an `Arc`.
    pub fn try_write_owned(self: Arc<Self>) -> Result<OwnedRwLockWriteGuard<T>, TryLockError> {
        let n = self.all();
        if !self.sem.try_take(n) {
            return Err(TryLockError(()));
        }
        Ok(OwnedRwLockWriteGuard {
            hold: Hold { lock: self, n },
        })
    }

    /// The value through `&mut self` (no locking needed).
    pub fn get_mut(&mut self) -> &mut T {
        self.value.get_mut()
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("RwLock");
        match self.try_read() {
            Ok(guard) => d.field("value", &&*guard),
            Err(_) => d.field("value", &format_args!("<locked>")),
        };
        d.field("max_readers", &self.max_readers).finish()
    }
}

impl<T: Default> Default for RwLock<T> {
    fn default() -> RwLock<T> {
        RwLock::new(T::default())
    }
}

impl<T> From<T> for RwLock<T> {
    fn from(value: T) -> RwLock<T> {
        RwLock::new(value)
    }
}

/// Shared access to an [`RwLock`]'s value; released on drop.
///
/// `Send` when the value is `Sync` (the thread it moves to only reads),
/// `Sync` when it is `Send + Sync`, as tokio's.
#[must_use = "the lock is released when the guard drops"]
pub struct RwLockReadGuard<'a, T: ?Sized> {
    lock: &'a RwLock<T>,
    _permit: SemaphorePermit<'a>,
}

// SAFETY: replaces the derived impl, which followed `&RwLock<T>` (`T: Send +
// Sync`). A read guard on another thread gives that thread `&T` only (needs
// `T: Sync`) and returns a permit to the semaphore, which is `Sync`; it
// never moves or drops the value (tokio's bound).
unsafe impl<T: ?Sized + Sync> Send for RwLockReadGuard<'_, T> {}

impl<T: ?Sized> Deref for RwLockReadGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds a read permit: no writer (who needs every
        // permit) exists while it lives, only other readers.
        unsafe { &*self.lock.value.get() }
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLockReadGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self).fmt(f)
    }
}

/// Exclusive access to an [`RwLock`]'s value; released on drop.
///
/// `Send` and `Sync` when the value is `Send + Sync`, as tokio's.
#[must_use = "the lock is released when the guard drops"]
pub struct RwLockWriteGuard<'a, T: ?Sized> {
    lock: &'a RwLock<T>,
    permit: SemaphorePermit<'a>,
}

impl<'a, T: ?Sized> RwLockWriteGuard<'a, T> {
    /// Turns the write access into read access without letting anyone in
    /// between: a writer waiting keeps waiting, readers queued before it
    /// get in.
    ///
    /// ```
    /// ferrio::run(async {
    ///     let lock = ferrio::sync::RwLock::new(1);
    ///     let mut w = lock.write().await;
    ///     *w = 2;
    ///     let r = w.downgrade();
    ///     assert_eq!(*lock.try_read().unwrap(), 2);
    ///     assert!(lock.try_write().is_err());
    ///     drop(r);
    /// });
    /// ```
    pub fn downgrade(self) -> RwLockReadGuard<'a, T> {
        let RwLockWriteGuard { lock, mut permit } = self;
        // Every permit but one goes back (to the queue, in order).
        drop(permit.split(lock.all() - 1));
        RwLockReadGuard {
            lock,
            _permit: permit,
        }
    }
}

impl<T: ?Sized> Deref for RwLockWriteGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds every permit: no other guard exists.
        unsafe { &*self.lock.value.get() }
    }
}

impl<T: ?Sized> DerefMut for RwLockWriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`, and `&mut self` makes it unique.
        unsafe { &mut *self.lock.value.get() }
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLockWriteGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self).fmt(f)
    }
}

/// `n` permits of an `Arc`-held lock's semaphore, returned on drop: the
/// state of both owned guards (so `downgrade` moves it, unsafe-free).
struct Hold<T: ?Sized> {
    lock: Arc<RwLock<T>>,
    n: usize,
}

impl<T: ?Sized> Drop for Hold<T> {
    fn drop(&mut self) {
        self.lock.sem.add_permits(self.n);
    }
}

/// Shared access to an [`RwLock`]'s value through an `Arc` of the lock
/// ([`RwLock::read_owned`]); released on drop.
///
/// `Send` and `Sync` when the value is `Send + Sync` (it may drop the
/// last `Arc`, and with it the value), as tokio's.
#[must_use = "the lock is released when the guard drops"]
pub struct OwnedRwLockReadGuard<T: ?Sized> {
    hold: Hold<T>,
}

impl<T: ?Sized> Deref for OwnedRwLockReadGuard<T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds a read permit: no writer exists while it
        // lives, only other readers.
        unsafe { &*self.hold.lock.value.get() }
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for OwnedRwLockReadGuard<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self).fmt(f)
    }
}

/// Exclusive access to an [`RwLock`]'s value through an `Arc` of the lock
/// ([`RwLock::write_owned`]); released on drop.
///
/// `Send` and `Sync` when the value is `Send + Sync`, as tokio's.
#[must_use = "the lock is released when the guard drops"]
pub struct OwnedRwLockWriteGuard<T: ?Sized> {
    hold: Hold<T>,
}

impl<T: ?Sized> OwnedRwLockWriteGuard<T> {
    /// Turns the write access into read access without letting anyone in
    /// between (see [`RwLockWriteGuard::downgrade`]).
    pub fn downgrade(self) -> OwnedRwLockReadGuard<T> {
        let mut hold = self.hold;
        let rest = hold.n - 1;
        hold.n = 1;
        hold.lock.sem.add_permits(rest);
        OwnedRwLockReadGuard { hold }
    }
}

impl<T: ?Sized> Deref for OwnedRwLockWriteGuard<T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds every permit: no other guard exists.
        unsafe { &*self.hold.lock.value.get() }
    }
}

impl<T: ?Sized> DerefMut for OwnedRwLockWriteGuard<T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`, and `&mut self` makes it unique.
        unsafe { &mut *self.hold.lock.value.get() }
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for OwnedRwLockWriteGuard<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self).fmt(f)
    }
}
