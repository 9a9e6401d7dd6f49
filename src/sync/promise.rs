//! `Promise<T>`: a one-shot result many tasks can await (asyncio's
//! `Future`).

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use crate::loom::sync::{Mutex, MutexGuard};

enum Value<T> {
    Pending,
    Done(T),
    Cancelled,
}

type Callback<T> = Box<dyn FnOnce(&Promise<T>) + Send>;

struct State<T> {
    value: Value<T>,
    next_id: u64,
    waiters: HashMap<u64, Waker>,
    callbacks: Vec<Callback<T>>,
}

/// Why a promise has no result to give.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PromiseError {
    /// `result()` was asked before the promise was done (asyncio's
    /// `InvalidStateError`).
    NotDone,
    /// The promise was cancelled (asyncio's `CancelledError`).
    Cancelled,
}

impl fmt::Display for PromiseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PromiseError::NotDone => f.write_str("the promise is not done yet"),
            PromiseError::Cancelled => f.write_str("the promise was cancelled"),
        }
    }
}

impl std::error::Error for PromiseError {}

/// `set_result` or `cancel` on a promise that is already done (asyncio's
/// `InvalidStateError`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AlreadyDoneError;

/// The former name of [`AlreadyDoneError`].
#[deprecated(note = "renamed `AlreadyDoneError` (errors are named `<What>Error`)")]
#[doc(hidden)]
pub type AlreadyDone = AlreadyDoneError;

impl fmt::Display for AlreadyDoneError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the promise is already done")
    }
}

impl std::error::Error for AlreadyDoneError {}

/// A result set once and awaited by any number of tasks (asyncio's
/// `Future`, named after its role so it is not confused with Rust's
/// `Future` trait).
///
/// Clones share the same promise. Awaiting a clone yields
/// `Ok(value.clone())` once it is set, or `Err(PromiseError::Cancelled)`.
///
/// ```
/// ferrio::run(async {
///     let p = ferrio::sync::Promise::new();
///     let waiter = ferrio::spawn(p.clone());
///     p.set_result(7).unwrap();
///     assert_eq!(waiter.await.unwrap(), Ok(7));
///     assert_eq!(p.result(), Ok(7));
///     assert!(p.set_result(8).is_err());
/// });
/// ```
///
/// Its value crosses threads, so only `Send` values:
///
/// ```compile_fail
/// fn assert_send<T: Send>(_: &T) {}
/// assert_send(&ferrio::sync::Promise::<std::rc::Rc<u8>>::new());
/// ```
pub struct Promise<T> {
    shared: Arc<Mutex<State<T>>>,
    /// This handle's place among the waiters, while it is awaited.
    waiter: Option<u64>,
}

impl<T> Clone for Promise<T> {
    fn clone(&self) -> Promise<T> {
        Promise {
            shared: self.shared.clone(),
            waiter: None,
        }
    }
}

impl<T> Default for Promise<T> {
    fn default() -> Promise<T> {
        Promise::new()
    }
}

impl<T> fmt::Debug for Promise<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.lock();
        let state = match st.value {
            Value::Pending => "pending",
            Value::Done(_) => "done",
            Value::Cancelled => "cancelled",
        };
        f.debug_struct("Promise").field("state", &state).finish()
    }
}

impl<T> Promise<T> {
    /// A pending promise.
    pub fn new() -> Promise<T> {
        Promise {
            shared: Arc::new(Mutex::new(State {
                value: Value::Pending,
                next_id: 0,
                waiters: HashMap::new(),
                callbacks: Vec::new(),
            })),
            waiter: None,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.shared.lock()
    }

    fn finish(&self, value: Value<T>) -> Result<(), AlreadyDoneError> {
        let (wakers, callbacks) = {
            let mut st = self.lock();
            if !matches!(st.value, Value::Pending) {
                return Err(AlreadyDoneError);
            }
            st.value = value;
            let wakers: Vec<Waker> = st.waiters.drain().map(|(_, w)| w).collect();
            (wakers, std::mem::take(&mut st.callbacks))
        };
        for w in wakers {
            w.wake();
        }
        for cb in callbacks {
            // Contained, as for `Task` callbacks: one callback's panic
            // neither escapes `set_result`/`cancel` nor skips the others.
            crate::task::core::contain(|| cb(self));
        }
        Ok(())
    }

    /// Sets the result and wakes every waiter. Fails when already done.
    pub fn set_result(&self, value: T) -> Result<(), AlreadyDoneError> {
        self.finish(Value::Done(value))
    }

    /// Cancels the promise (asyncio's `Future.cancel()`): waiters get
    /// `Err(PromiseError::Cancelled)`. Returns false when already done.
    pub fn cancel(&self) -> bool {
        self.finish(Value::Cancelled).is_ok()
    }

    /// True once set or cancelled.
    pub fn is_done(&self) -> bool {
        !matches!(self.lock().value, Value::Pending)
    }

    /// True once cancelled.
    pub fn is_cancelled(&self) -> bool {
        matches!(self.lock().value, Value::Cancelled)
    }

    /// Runs `f` once the promise is done, in registration order, on the
    /// thread that completes it; at once when it is already done. A
    /// panicking callback is contained (the panic is dropped; later
    /// callbacks still run), as for [`Task`](crate::Task) callbacks.
    pub fn add_done_callback(&self, f: impl FnOnce(&Promise<T>) + Send + 'static) {
        let mut st = self.lock();
        if matches!(st.value, Value::Pending) {
            st.callbacks.push(Box::new(f));
        } else {
            drop(st);
            crate::task::core::contain(|| f(self));
        }
    }
}

impl<T: Clone> Promise<T> {
    /// The result (asyncio's `Future.result()`): `Err(NotDone)` while
    /// pending, `Err(Cancelled)` after a cancel.
    pub fn result(&self) -> Result<T, PromiseError> {
        match &self.lock().value {
            Value::Pending => Err(PromiseError::NotDone),
            Value::Done(v) => Ok(v.clone()),
            Value::Cancelled => Err(PromiseError::Cancelled),
        }
    }
}

impl<T: Clone> Future for Promise<T> {
    type Output = Result<T, PromiseError>;

    #[track_caller]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let mut st = this.shared.lock();
        let out = match &st.value {
            Value::Done(v) => Ok(v.clone()),
            Value::Cancelled => Err(PromiseError::Cancelled),
            Value::Pending => {
                let id = match this.waiter {
                    Some(id) => id,
                    None => {
                        let id = st.next_id;
                        st.next_id += 1;
                        id
                    }
                };
                st.waiters.insert(id, cx.waker().clone());
                drop(st);
                this.waiter = Some(id);
                crate::task::core::wait::record(crate::task::core::wait::WaitKind::Promise, 0);
                return Poll::Pending;
            }
        };
        if let Some(id) = this.waiter.take() {
            st.waiters.remove(&id);
        }
        Poll::Ready(out)
    }
}

impl<T> Drop for Promise<T> {
    fn drop(&mut self) {
        if let Some(id) = self.waiter.take() {
            self.lock().waiters.remove(&id);
        }
    }
}
