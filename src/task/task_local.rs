//! Task-local values: [`task_local!`](crate::task_local) and [`LocalKey`]
//! (tokio's `task_local!`; asyncio's `contextvars` as a task sees them).
//!
//! A task-local lives in the future that [`LocalKey::scope`] returns, not
//! in the task: around each poll of the inner future the value is swapped
//! into a thread-local slot and swapped back out when the poll returns
//! (also when it panics). So it follows the future across `.await`s and
//! across workers, and two tasks interleaving on one thread never see each
//! other's value. The inner future is dropped inside the scope too, so its
//! destructors can read the value.

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Declares task-local keys: statics of type [`LocalKey`], set for the
/// span of a future with [`LocalKey::scope`] (or of a closure with
/// [`LocalKey::sync_scope`]).
///
/// ```
/// ferrio::task_local! {
///     /// The id of the request being served.
///     static REQUEST_ID: u64;
///     pub static USER: String;
/// }
///
/// ferrio::run(async {
///     let task = ferrio::spawn(REQUEST_ID.scope(7, async {
///         ferrio::yield_now().await; // the value survives the await
///         REQUEST_ID.get()
///     }));
///     assert_eq!(task.await.unwrap(), 7);
///     // Outside any scope it is not set.
///     assert!(REQUEST_ID.try_get().is_err());
///     # let _ = &USER;
/// });
/// ```
#[macro_export]
macro_rules! task_local {
    ($($(#[$attr:meta])* $vis:vis static $name:ident: $t:ty);* $(;)?) => {
        $(
            $(#[$attr])*
            $vis static $name: $crate::task::LocalKey<$t> = {
                ::std::thread_local! {
                    static __FERRIO_TASK_LOCAL: ::std::cell::RefCell<::std::option::Option<$t>> =
                        const { ::std::cell::RefCell::new(::std::option::Option::None) };
                }
                $crate::task::LocalKey::__new(__FERRIO_TASK_LOCAL)
            };
        )*
    };
}

/// A task-local key, declared with [`task_local!`](crate::task_local)
/// (tokio's `task::LocalKey`).
///
/// The value is set for the span of a future by [`scope`](Self::scope)
/// and read with [`with`](Self::with), [`try_with`](Self::try_with) or
/// [`get`](Self::get) by code that future runs.
pub struct LocalKey<T: 'static> {
    inner: std::thread::LocalKey<RefCell<Option<T>>>,
}

/// Reading a task-local outside every scope that sets it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AccessError {
    _private: (),
}

impl fmt::Display for AccessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ferrio: the task-local value is not set (not inside its scope)")
    }
}

impl std::error::Error for AccessError {}

/// Why a scope could not be entered (each one a misuse: it panics).
enum ScopeError {
    /// A `with` closure is borrowing the value on this thread.
    Borrowed,
    /// The thread is tearing its thread-locals down.
    Destroyed,
}

impl ScopeError {
    #[track_caller]
    fn panic(self) -> ! {
        match self {
            ScopeError::Borrowed => panic!(
                "ferrio: cannot enter a task-local scope while the value is borrowed \
                 (a LocalKey::with closure on this thread is still running)"
            ),
            ScopeError::Destroyed => panic!(
                "ferrio: cannot enter a task-local scope while the thread's locals are \
                 being destroyed"
            ),
        }
    }
}

impl<T: 'static> LocalKey<T> {
    #[doc(hidden)]
    pub const fn __new(inner: std::thread::LocalKey<RefCell<Option<T>>>) -> LocalKey<T> {
        LocalKey { inner }
    }

    /// Runs `future` with the key set to `value` while it is polled; the
    /// returned future yields the future's output.
    ///
    /// ```
    /// ferrio::task_local! { static DEPTH: u32; }
    ///
    /// ferrio::run(async {
    ///     let seen = DEPTH.scope(1, async {
    ///         let outer = DEPTH.get();
    ///         let inner = DEPTH.scope(2, async { DEPTH.get() }).await;
    ///         (outer, inner, DEPTH.get())
    ///     }).await;
    ///     assert_eq!(seen, (1, 2, 1));
    /// });
    /// ```
    pub fn scope<F: Future>(&'static self, value: T, future: F) -> TaskLocalFuture<T, F> {
        TaskLocalFuture {
            key: self,
            slot: Some(value),
            future: Some(future),
        }
    }

    /// Runs `f` with the key set to `value`.
    ///
    /// ```
    /// ferrio::task_local! { static NAME: &'static str; }
    /// assert_eq!(NAME.sync_scope("ada", || NAME.get()), "ada");
    /// ```
    ///
    /// # Panics
    /// When called inside a [`with`](Self::with) closure of the same key.
    #[track_caller]
    pub fn sync_scope<F, R>(&'static self, value: T, f: F) -> R
    where
        F: FnOnce() -> R,
    {
        let mut slot = Some(value);
        match self.scope_inner(&mut slot, f) {
            Ok(r) => r,
            Err(e) => e.panic(),
        }
    }

    /// Runs `f` with a reference to the value.
    ///
    /// # Panics
    /// Outside every scope of this key; [`try_with`](Self::try_with) asks.
    #[track_caller]
    pub fn with<F, R>(&'static self, f: F) -> R
    where
        F: FnOnce(&T) -> R,
    {
        match self.try_with(f) {
            Ok(r) => r,
            Err(_) => panic!(
                "ferrio: cannot read a task-local value outside its scope (set it with \
                 LocalKey::scope or LocalKey::sync_scope first)"
            ),
        }
    }

    /// Runs `f` with a reference to the value; [`AccessError`] outside
    /// every scope of this key.
    pub fn try_with<F, R>(&'static self, f: F) -> Result<R, AccessError>
    where
        F: FnOnce(&T) -> R,
    {
        let mut f = Some(f);
        let r = self.inner.try_with(|cell| {
            let value = cell.try_borrow().ok()?;
            let f = f.take()?;
            value.as_ref().map(f)
        });
        match r {
            Ok(Some(r)) => Ok(r),
            _ => Err(AccessError { _private: () }),
        }
    }

    /// A copy of the value.
    ///
    /// # Panics
    /// Outside every scope of this key; [`try_get`](Self::try_get) asks.
    #[track_caller]
    pub fn get(&'static self) -> T
    where
        T: Clone,
    {
        self.with(T::clone)
    }

    /// A copy of the value; [`AccessError`] outside every scope of this key.
    pub fn try_get(&'static self) -> Result<T, AccessError>
    where
        T: Clone,
    {
        self.try_with(T::clone)
    }

    /// Swaps `slot` into the thread's slot, runs `f`, and swaps back (also
    /// when `f` panics). Nested scopes nest: each puts back what it found.
    fn scope_inner<R>(
        &'static self,
        slot: &mut Option<T>,
        f: impl FnOnce() -> R,
    ) -> Result<R, ScopeError> {
        struct Restore<'a, T: 'static> {
            key: &'static LocalKey<T>,
            slot: &'a mut Option<T>,
        }

        impl<T: 'static> Drop for Restore<'_, T> {
            fn drop(&mut self) {
                // Cannot fail: entering worked, and every borrow taken
                // inside `f` has ended by now.
                let _ = self.key.inner.try_with(|cell| {
                    if let Ok(mut value) = cell.try_borrow_mut() {
                        std::mem::swap(self.slot, &mut *value);
                    }
                });
            }
        }

        self.inner
            .try_with(|cell| {
                let mut value = cell.try_borrow_mut().map_err(|_| ScopeError::Borrowed)?;
                std::mem::swap(slot, &mut *value);
                Ok(())
            })
            .map_err(|_| ScopeError::Destroyed)??;
        let restore = Restore { key: self, slot };
        let r = f();
        drop(restore);
        Ok(r)
    }
}

impl<T: 'static> fmt::Debug for LocalKey<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalKey").finish_non_exhaustive()
    }
}

/// The future of [`LocalKey::scope`]: polls the inner future with the key
/// set.
#[must_use = "futures do nothing unless awaited"]
pub struct TaskLocalFuture<T: 'static, F> {
    key: &'static LocalKey<T>,
    /// The value while the inner future is not being polled.
    slot: Option<T>,
    /// Structurally pinned; `None` once it finished (dropped in place).
    future: Option<F>,
}

impl<T: 'static, F> TaskLocalFuture<T, F> {
    /// Takes the value out (tokio's `take_value`): `None` when it was
    /// taken already. Polling the future afterwards runs it with the key
    /// unset.
    pub fn take_value(self: Pin<&mut Self>) -> Option<T> {
        // SAFETY: `slot` is not structurally pinned; nothing is moved but
        // the value.
        unsafe { self.get_unchecked_mut() }.slot.take()
    }
}

impl<T: 'static, F: Future> Future for TaskLocalFuture<T, F> {
    type Output = F::Output;

    #[track_caller]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: `future` is structurally pinned: it is polled in place
        // and dropped in place (set to `None`), never moved; `key` and
        // `slot` are not pinned.
        let this = unsafe { self.get_unchecked_mut() };
        let future = &mut this.future;
        let polled = this.key.scope_inner(&mut this.slot, || {
            let Some(inner) = future.as_mut() else {
                panic!("ferrio: TaskLocalFuture polled after it completed");
            };
            // SAFETY: as above: the inner future never moves.
            let out = unsafe { Pin::new_unchecked(inner) }.poll(cx);
            if out.is_ready() {
                // Dropped inside the scope: its destructor sees the value.
                *future = None;
            }
            out
        });
        match polled {
            Ok(out) => out,
            Err(e) => e.panic(),
        }
    }
}

impl<T: 'static, F> Drop for TaskLocalFuture<T, F> {
    fn drop(&mut self) {
        if self.future.is_none() {
            return;
        }
        // Drop the unfinished future in place inside the scope, so its
        // destructors can read the value. When the scope cannot be entered
        // (inside a `with` of this key, or thread teardown) it is dropped
        // after this, outside.
        let future = &mut self.future;
        let _ = self.key.scope_inner(&mut self.slot, || *future = None);
    }
}

impl<T: 'static, F> fmt::Debug for TaskLocalFuture<T, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskLocalFuture")
            .field("finished", &self.future.is_none())
            .finish_non_exhaustive()
    }
}
