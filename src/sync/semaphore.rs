//! A FIFO, cancellation-safe counting semaphore: the base of `Lock`.
//!
//! Waiters queue in arrival order; a newcomer never takes permits while
//! somebody queued before it waits (no barging). A waiter whose future is
//! dropped leaves the queue, and permits already handed to it go on to the
//! next waiter, so cancellation never loses or leaks a permit.
//!
//! # Synchronisation
//!
//! Queues hand over claims, not items: a `put` with getters waiting stores
//! its item and gives the longest-waiting getter a claim on one item, which
//! its next poll takes (a getter cancelled before that passes the claim on;
//! the item never left the store, so it keeps its place, counts against
//! `maxsize` and goes with `shutdown(immediate)`); a `get` that makes room
//! reserves it for the longest-waiting putter, whose next poll inserts
//! without queueing again (a putter cancelled before that inserts nothing
//! and passes the slot on). Invariants: getters wait only while every item
//! is claimed, putters only while the queue is full.
//! The queue's and the semaphore's state sit behind parking_lot's mutex:
//! its adaptive spinning beats std's futex mutex on the queue bench, one
//! mutex per queue against tokio's lock-free `mpsc` (README, `cargo bench
//! --bench asyncio`, has the numbers).
//!
//! FIFO everywhere: a waiter queues behind earlier ones even when a permit
//! is momentarily free (no barging). Cancellation-safe: a dropped waiter
//! leaves the queue, and permits already granted to it go to the next one.
//! One mutex per primitive guards its state; waking happens after the lock is
//! released.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use crate::loom::sync::atomic::{AtomicBool, Ordering::SeqCst};
use crate::loom::sync::Mutex;
use crate::loom::{FastMutex, FastMutexGuard};

struct Node {
    need: usize,
    granted: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

struct State {
    permits: usize,
    queue: VecDeque<Arc<Node>>,
}

/// A counting semaphore (asyncio's `Semaphore`), FIFO-fair.
///
/// ```
/// ferrio::run(async {
///     let sem = ferrio::sync::Semaphore::new(2);
///     let a = sem.acquire().await;
///     let _b = sem.acquire().await;
///     assert!(sem.locked());
///     drop(a);
///     assert!(!sem.locked());
/// });
/// ```
pub struct Semaphore {
    state: FastMutex<State>,
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.lock();
        f.debug_struct("Semaphore")
            .field("permits", &st.permits)
            .field("waiters", &st.queue.len())
            .finish()
    }
}

impl Semaphore {
    /// A semaphore with `permits` permits.
    pub fn new(permits: usize) -> Semaphore {
        Semaphore {
            state: FastMutex::new(State {
                permits,
                queue: VecDeque::new(),
            }),
        }
    }

    fn lock(&self) -> FastMutexGuard<'_, State> {
        self.state.lock()
    }

    /// Permits available right now.
    pub fn available_permits(&self) -> usize {
        self.lock().permits
    }

    /// True when an `acquire` would wait (asyncio's `locked()`).
    pub fn locked(&self) -> bool {
        let st = self.lock();
        st.permits == 0 || !st.queue.is_empty()
    }

    /// Waits for a permit, in FIFO order. The permit returns when the
    /// guard drops. Dropping the future while waiting gives up the place
    /// in the queue and loses nothing.
    pub fn acquire(&self) -> Acquire<'_> {
        self.acquire_many(1)
    }

    /// Waits for `n` permits at once.
    pub fn acquire_many(&self, n: usize) -> Acquire<'_> {
        Acquire {
            sem: self,
            need: n,
            node: None,
            done: false,
        }
    }

    /// Takes a permit if one is free and nobody waits.
    pub fn try_acquire(&self) -> Option<SemaphorePermit<'_>> {
        let mut st = self.lock();
        if st.queue.is_empty() && st.permits >= 1 {
            st.permits -= 1;
            Some(SemaphorePermit { sem: self, n: 1 })
        } else {
            None
        }
    }

    /// Adds a permit (asyncio's `release()`), waking the next waiter if
    /// it can now proceed.
    pub fn release(&self) {
        self.add_permits(1);
    }

    pub(crate) fn add_permits(&self, n: usize) {
        let mut st = self.lock();
        st.permits += n;
        let wake = Self::grant(&mut st);
        drop(st);
        for w in wake {
            w.wake();
        }
    }

    /// Hands permits to queued waiters in order; returns whom to wake.
    fn grant(st: &mut State) -> Vec<Waker> {
        let mut wake = Vec::new();
        while let Some(front) = st.queue.front() {
            if st.permits < front.need {
                break;
            }
            st.permits -= front.need;
            let node = st.queue.pop_front().expect("front exists");
            node.granted.store(true, SeqCst);
            let waker = node.waker.lock().take();
            if let Some(w) = waker {
                wake.push(w);
            }
        }
        wake
    }
}

/// A permit; returned to the semaphore on drop.
#[must_use = "the permit is released when dropped"]
pub struct SemaphorePermit<'a> {
    sem: &'a Semaphore,
    n: usize,
}

impl SemaphorePermit<'_> {
    /// Keeps the permit out of the semaphore for good.
    pub fn forget(mut self) {
        self.n = 0;
    }
}

impl Drop for SemaphorePermit<'_> {
    fn drop(&mut self) {
        if self.n > 0 {
            self.sem.add_permits(self.n);
        }
    }
}

impl fmt::Debug for SemaphorePermit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphorePermit")
            .field("n", &self.n)
            .finish()
    }
}

/// The future returned by [`Semaphore::acquire`].
#[must_use = "futures do nothing unless awaited"]
pub struct Acquire<'a> {
    sem: &'a Semaphore,
    need: usize,
    node: Option<Arc<Node>>,
    done: bool,
}

impl fmt::Debug for Acquire<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Acquire")
            .field("need", &self.need)
            .finish_non_exhaustive()
    }
}

impl<'a> Future for Acquire<'a> {
    type Output = SemaphorePermit<'a>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<SemaphorePermit<'a>> {
        assert!(!self.done, "Acquire polled after it returned its permit");
        if !crate::coop::poll_proceed(cx) {
            return Poll::Pending;
        }
        let sem = self.sem;
        let need = self.need;
        let ready = match &self.node {
            None => {
                let mut st = sem.lock();
                if st.queue.is_empty() && st.permits >= need {
                    st.permits -= need;
                    true
                } else {
                    let node = Arc::new(Node {
                        need,
                        granted: AtomicBool::new(false),
                        waker: Mutex::new(Some(cx.waker().clone())),
                    });
                    st.queue.push_back(node.clone());
                    drop(st);
                    self.node = Some(node);
                    false
                }
            }
            Some(node) => {
                if node.granted.load(SeqCst) {
                    true
                } else {
                    *node.waker.lock() = Some(cx.waker().clone());
                    node.granted.load(SeqCst)
                }
            }
        };
        if ready {
            self.node = None;
            self.done = true;
            Poll::Ready(SemaphorePermit { sem, n: need })
        } else {
            Poll::Pending
        }
    }
}

impl Drop for Acquire<'_> {
    fn drop(&mut self) {
        let Some(node) = self.node.take() else { return };
        let mut st = self.sem.lock();
        if node.granted.load(SeqCst) {
            // Granted but never taken: pass the permits on.
            st.permits += node.need;
        } else {
            st.queue.retain(|n| !Arc::ptr_eq(n, &node));
        }
        // Our leaving may unblock those behind us.
        let wake = Semaphore::grant(&mut st);
        drop(st);
        for w in wake {
            w.wake();
        }
    }
}

/// The error of releasing a [`BoundedSemaphore`] past its initial value
/// (asyncio's `ValueError`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TooManyReleasesError;

/// The former name of [`TooManyReleasesError`].
#[deprecated(note = "renamed `TooManyReleasesError` (errors are named `<What>Error`)")]
#[doc(hidden)]
pub type TooManyReleases = TooManyReleasesError;

impl fmt::Display for TooManyReleasesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BoundedSemaphore released too many times")
    }
}

impl std::error::Error for TooManyReleasesError {}

/// A semaphore that refuses to grow past its initial value (asyncio's
/// `BoundedSemaphore`).
///
/// ```
/// ferrio::run(async {
///     let sem = ferrio::sync::BoundedSemaphore::new(1);
///     assert!(sem.release().is_err());
///     sem.acquire().await.forget();
///     assert!(sem.release().is_ok());
/// });
/// ```
///
/// Use either guards (a permit returns when its guard drops) or asyncio's
/// manual style (`forget` the guard, later `release`), not both for the
/// same permit.
#[derive(Debug)]
pub struct BoundedSemaphore {
    sem: Semaphore,
    bound: usize,
}

impl BoundedSemaphore {
    /// A semaphore with `permits` permits, never more.
    pub fn new(permits: usize) -> BoundedSemaphore {
        BoundedSemaphore {
            sem: Semaphore::new(permits),
            bound: permits,
        }
    }

    /// Waits for a permit (FIFO); see [`Semaphore::acquire`].
    pub fn acquire(&self) -> Acquire<'_> {
        self.sem.acquire()
    }

    /// True when an `acquire` would wait.
    pub fn locked(&self) -> bool {
        self.sem.locked()
    }

    /// Returns a permit. Fails when that would exceed the initial value.
    pub fn release(&self) -> Result<(), TooManyReleasesError> {
        let mut st = self.sem.lock();
        if st.permits >= self.bound {
            return Err(TooManyReleasesError);
        }
        st.permits += 1;
        let wake = Semaphore::grant(&mut st);
        drop(st);
        for w in wake {
            w.wake();
        }
        Ok(())
    }
}
