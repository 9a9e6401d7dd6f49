//! `OnceCell<T>`: a value set once, by the first of many tasks (tokio's
//! `OnceCell`).
//!
//! # Synchronisation
//!
//! A one-permit semaphore elects the initialiser: whoever holds the permit
//! runs its initialising future, the others wait in FIFO order behind it.
//! Success writes the value, publishes it (`value_set`, release; readers
//! load it acquire), then closes the semaphore, which turns every waiter
//! away to read the value; the permit is forgotten, so nobody is ever
//! granted it again. Failure, a panic or cancellation (the initialising
//! future dropped) drops the permit instead: the semaphore hands it to the
//! next waiter, whose initialiser runs next. A waiter dropped while queued
//! or after being handed the permit passes it on (the semaphore's rule),
//! so no hand-over is lost and no waiter is left behind. `set` is a
//! `try_acquire` of the same permit.

use std::cell::UnsafeCell;
use std::fmt;
use std::future::Future;
use std::mem::MaybeUninit;
use std::panic::Location;

use crate::loom::sync::atomic::{AtomicBool, Ordering};

use super::semaphore::{Semaphore, SemaphorePermit};
use crate::task::core::wait::{Leaf, WaitKind};

/// A cell set at most once, asynchronously (tokio's `OnceCell`).
///
/// [`get_or_init`](Self::get_or_init) runs one initialiser at a time:
/// concurrent callers wait for it and then share its value. If the
/// initialiser fails ([`get_or_try_init`](Self::get_or_try_init)), panics
/// or is cancelled (its future dropped), the next waiter in line runs its
/// own.
///
/// ```
/// use std::sync::Arc;
/// ferrio::run(async {
///     let cell = Arc::new(ferrio::sync::OnceCell::new());
///     let tasks: Vec<_> = (0..4)
///         .map(|i| {
///             let cell = cell.clone();
///             ferrio::spawn(async move { *cell.get_or_init(|| async move { i }).await })
///         })
///         .collect();
///     let mut seen = Vec::new();
///     for t in tasks {
///         seen.push(t.await.unwrap());
///     }
///     // Exactly one initialiser ran; everybody saw its value.
///     assert!(seen.iter().all(|v| *v == seen[0]));
///     assert_eq!(cell.get(), Some(&seen[0]));
/// });
/// ```
///
/// In a `static`:
///
/// ```
/// static GREETING: ferrio::sync::OnceCell<String> = ferrio::sync::OnceCell::const_new();
/// ferrio::run(async {
///     let g = GREETING.get_or_init(|| async { "hello".to_string() }).await;
///     assert_eq!(g, "hello");
/// });
/// ```
pub struct OnceCell<T> {
    value_set: AtomicBool,
    value: UnsafeCell<MaybeUninit<T>>,
    sem: Semaphore,
}

// SAFETY: the cell owns a `T` and moving the cell moves it.
unsafe impl<T: Send> Send for OnceCell<T> {}
// SAFETY: `&OnceCell` hands `&T` to many threads (needs `T: Sync`) and lets
// any of them write the value, which another thread later reads or drops
// (needs `T: Send`). The write happens once, by the permit holder, before
// `value_set` is published; readers read only after seeing it.
unsafe impl<T: Send + Sync> Sync for OnceCell<T> {}

/// The error of [`OnceCell::set`]; it gives the value back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetError<T> {
    /// The cell already holds a value (tokio's `AlreadyInitializedError`).
    AlreadyInitialized(T),
    /// An initialiser is running (tokio's `InitializingError`).
    Initializing(T),
}

impl<T> SetError<T> {
    /// True for [`SetError::AlreadyInitialized`].
    pub fn is_already_init_err(&self) -> bool {
        matches!(self, SetError::AlreadyInitialized(_))
    }

    /// True for [`SetError::Initializing`].
    pub fn is_initializing_err(&self) -> bool {
        matches!(self, SetError::Initializing(_))
    }

    /// The value that was not stored.
    pub fn into_value(self) -> T {
        match self {
            SetError::AlreadyInitialized(v) | SetError::Initializing(v) => v,
        }
    }
}

impl<T> fmt::Display for SetError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SetError::AlreadyInitialized(_) => "the OnceCell already holds a value",
            SetError::Initializing(_) => "the OnceCell is being initialised",
        })
    }
}

impl<T: fmt::Debug> std::error::Error for SetError<T> {}

impl<T> OnceCell<T> {
    /// An empty cell.
    pub fn new() -> OnceCell<T> {
        OnceCell {
            value_set: AtomicBool::new(false),
            value: UnsafeCell::new(MaybeUninit::uninit()),
            sem: Semaphore::new(1),
        }
    }

    /// An empty cell, in a `const` context (a `static`).
    #[cfg(not(ferrio_loom))]
    pub const fn const_new() -> OnceCell<T> {
        OnceCell {
            value_set: AtomicBool::new(false),
            value: UnsafeCell::new(MaybeUninit::uninit()),
            sem: Semaphore::const_new(1),
        }
    }

    /// A cell holding `value` when it is `Some`.
    pub fn new_with(value: Option<T>) -> OnceCell<T> {
        let cell = OnceCell::new();
        if let Some(v) = value {
            // A fresh cell: the permit is free.
            let _ = cell.set(v);
        }
        cell
    }

    /// True once the cell holds a value.
    pub fn initialized(&self) -> bool {
        self.value_set.load(Ordering::Acquire)
    }

    /// The value, if set.
    pub fn get(&self) -> Option<&T> {
        if self.initialized() {
            // SAFETY: `value_set` (acquire) is published after the value
            // was written, and the value is never written again.
            Some(unsafe { (*self.value.get()).assume_init_ref() })
        } else {
            None
        }
    }

    /// The value, if set, through `&mut self`.
    pub fn get_mut(&mut self) -> Option<&mut T> {
        if self.initialized() {
            // SAFETY: set (see `get`), and `&mut self` makes it unique.
            Some(unsafe { self.value.get_mut().assume_init_mut() })
        } else {
            None
        }
    }

    /// Stores `value` unless the cell holds one or an initialiser runs.
    ///
    /// ```
    /// use ferrio::sync::{OnceCell, SetError};
    /// let cell = OnceCell::new();
    /// assert_eq!(cell.set(1), Ok(()));
    /// assert_eq!(cell.set(2), Err(SetError::AlreadyInitialized(2)));
    /// assert_eq!(cell.get(), Some(&1));
    /// ```
    pub fn set(&self, value: T) -> Result<(), SetError<T>> {
        if self.initialized() {
            return Err(SetError::AlreadyInitialized(value));
        }
        match self.sem.try_acquire() {
            Some(permit) => {
                self.store(value, permit);
                Ok(())
            }
            // Closed (set meanwhile) or held (an initialiser runs).
            None if self.initialized() => Err(SetError::AlreadyInitialized(value)),
            None => Err(SetError::Initializing(value)),
        }
    }

    /// The value, running `init` to make it if the cell is empty. Callers
    /// that find an initialiser running wait for it (FIFO); if it panics
    /// or is cancelled, the next caller's `init` runs.
    #[track_caller]
    pub fn get_or_init<F, Fut>(&self, init: F) -> impl Future<Output = &T> + use<'_, T, F, Fut>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = T>,
    {
        let at = Location::caller();
        async move {
            let init = || async { Ok::<T, std::convert::Infallible>(init().await) };
            match self.try_init(at, init).await {
                Ok(v) => v,
                Err(never) => match never {},
            }
        }
    }

    /// The value, running the fallible `init` to make it if the cell is
    /// empty. An error is returned to this caller only, the cell stays
    /// empty, and the next waiter's `init` runs.
    ///
    /// ```
    /// ferrio::run(async {
    ///     let cell = ferrio::sync::OnceCell::new();
    ///     let failed = cell.get_or_try_init(|| async { Err::<u8, _>("down") }).await;
    ///     assert_eq!(failed, Err("down"));
    ///     assert!(!cell.initialized());
    ///     let ok = cell.get_or_try_init(|| async { Ok::<_, &str>(7) }).await;
    ///     assert_eq!(ok, Ok(&7));
    /// });
    /// ```
    #[track_caller]
    pub fn get_or_try_init<E, F, Fut>(
        &self,
        init: F,
    ) -> impl Future<Output = Result<&T, E>> + use<'_, T, E, F, Fut>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        self.try_init(Location::caller(), init)
    }

    /// `get_or_try_init` called from `at` (where a wait for another
    /// caller's initialiser shows in a task dump; `init`'s own waits show
    /// where they are).
    async fn try_init<E, F, Fut>(&self, at: &'static Location<'static>, init: F) -> Result<&T, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        if let Some(v) = self.get() {
            return Ok(v);
        }
        // `None`: closed, so the value is set.
        let acquire = Leaf::new(WaitKind::OnceCell, 0, at, self.sem.acquire_or_closed(1));
        if let Some(permit) = acquire.await {
            // The permit is handed out only while the cell is empty: the
            // one who sets the value keeps it forever.
            let value = init().await?;
            self.store(value, permit);
        }
        match self.get() {
            Some(v) => Ok(v),
            None => unreachable!("ferrio: OnceCell closed without a value"),
        }
    }

    /// Writes the value (the caller holds the permit), publishes it and
    /// turns every waiter away to read it.
    fn store(&self, value: T, permit: SemaphorePermit<'_>) {
        // SAFETY: the permit holder is the only writer, and nobody reads
        // before `value_set` is published below.
        unsafe { (*self.value.get()).write(value) };
        self.value_set.store(true, Ordering::Release);
        self.sem.close();
        permit.forget();
    }

    /// The value, if set, consuming the cell.
    pub fn into_inner(mut self) -> Option<T> {
        self.take()
    }

    /// Takes the value out, leaving the cell empty (and settable again).
    pub fn take(&mut self) -> Option<T> {
        if !self.initialized() {
            return None;
        }
        self.value_set.store(false, Ordering::Relaxed);
        // A fresh, open semaphore: nobody waits (`&mut self`).
        self.sem = Semaphore::new(1);
        // SAFETY: the value was set; the flag is cleared, so neither `get`
        // nor `drop` touches it again.
        Some(unsafe { self.value.get_mut().assume_init_read() })
    }
}

impl<T> Drop for OnceCell<T> {
    fn drop(&mut self) {
        if self.initialized() {
            // SAFETY: set, and dropped once (the cell is going away).
            unsafe { self.value.get_mut().assume_init_drop() };
        }
    }
}

impl<T> Default for OnceCell<T> {
    fn default() -> OnceCell<T> {
        OnceCell::new()
    }
}

impl<T> From<T> for OnceCell<T> {
    fn from(value: T) -> OnceCell<T> {
        OnceCell::new_with(Some(value))
    }
}

impl<T: Clone> Clone for OnceCell<T> {
    fn clone(&self) -> OnceCell<T> {
        OnceCell::new_with(self.get().cloned())
    }
}

impl<T: PartialEq> PartialEq for OnceCell<T> {
    fn eq(&self, other: &OnceCell<T>) -> bool {
        self.get() == other.get()
    }
}

impl<T: Eq> Eq for OnceCell<T> {}

impl<T: fmt::Debug> fmt::Debug for OnceCell<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OnceCell")
            .field("value", &self.get())
            .finish()
    }
}
