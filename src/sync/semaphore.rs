//! A FIFO, cancellation-safe counting semaphore: the base of `Lock`,
//! `RwLock` and `OnceCell`.
//!
//! Waiters queue in arrival order; a newcomer never takes permits while
//! somebody queued before it waits (no barging), and a request for many
//! permits at the front holds back everyone behind it until it is served
//! (`RwLock`'s writer fairness rests on that). A waiter whose future is
//! dropped leaves the queue, and permits already handed to it go on to the
//! next waiter, so cancellation never loses or leaks a permit. The owned
//! face (`Arc`-held permits and futures) is `semaphore_owned.rs`,
//! `BoundedSemaphore` is `bounded_semaphore.rs`.
//!
//! # Synchronisation
//!
//! One parking_lot mutex guards the permit count and the queue (its
//! adaptive spinning beats std's futex mutex on the queue bench; README
//! has the numbers). A release hands permits to the front waiters under
//! it, marking each node GRANTED before taking its waker; a waiter's poll
//! stores its waker, then re-reads the status, so a grant between the two
//! is seen. Waking happens after the lock is released. `close` (crate
//! only: `OnceCell` closes its semaphore once the value is set) marks
//! every queued node CLOSED and wakes it. The queues (`queue/`) hand over
//! claims the same way under their own mutex.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use crate::loom::sync::atomic::{AtomicU8, Ordering::SeqCst};
use crate::loom::sync::Mutex;
use crate::loom::{FastMutex, FastMutexGuard};

/// A waiter's status: queued, handed its permits, or turned away by
/// `close`.
const WAITING: u8 = 0;
const GRANTED: u8 = 1;
const CLOSED: u8 = 2;

struct Node {
    need: usize,
    status: AtomicU8,
    waker: Mutex<Option<Waker>>,
}

pub(super) struct State {
    pub(super) permits: usize,
    queue: VecDeque<Arc<Node>>,
    /// Set by `close` (only `OnceCell`'s private semaphore is ever
    /// closed): every waiter is turned away, and no acquire succeeds.
    closed: bool,
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
                closed: false,
            }),
        }
    }

    /// A semaphore with `permits` permits, in a `const` context (a
    /// `static`).
    ///
    /// ```
    /// static LIMIT: ferrio::sync::Semaphore = ferrio::sync::Semaphore::const_new(4);
    /// assert_eq!(LIMIT.available_permits(), 4);
    /// ```
    #[cfg(not(ferrio_loom))]
    pub const fn const_new(permits: usize) -> Semaphore {
        Semaphore {
            state: FastMutex::new(State {
                permits,
                queue: VecDeque::new(),
                closed: false,
            }),
        }
    }

    pub(super) fn lock(&self) -> FastMutexGuard<'_, State> {
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
            core: AcquireCore::new(n),
        }
    }

    /// Takes a permit if one is free and nobody waits.
    pub fn try_acquire(&self) -> Option<SemaphorePermit<'_>> {
        self.try_acquire_many(1)
    }

    /// Takes `n` permits if they are free and nobody waits.
    pub fn try_acquire_many(&self, n: usize) -> Option<SemaphorePermit<'_>> {
        self.try_take(n).then(|| SemaphorePermit { sem: self, n })
    }

    /// Takes `n` permits if they are free, nobody waits and the
    /// semaphore is open.
    pub(super) fn try_take(&self, n: usize) -> bool {
        let mut st = self.lock();
        if !st.closed && st.queue.is_empty() && st.permits >= n {
            st.permits -= n;
            true
        } else {
            false
        }
    }

    /// Waits for `n` permits, or for `close`: `None` once the semaphore
    /// is closed (FIFO, cancellation-safe as [`acquire_many`](Self::acquire_many)).
    pub(crate) fn acquire_or_closed(&self, n: usize) -> AcquireOrClosed<'_> {
        AcquireOrClosed {
            sem: self,
            core: AcquireCore::new(n),
        }
    }

    /// Closes the semaphore for good: every waiter is turned away (its
    /// [`acquire_or_closed`](Self::acquire_or_closed) returns `None`) and
    /// no acquire succeeds again. Permits held stay valid.
    pub(crate) fn close(&self) {
        let mut st = self.lock();
        st.closed = true;
        let wake: Vec<Waker> = st
            .queue
            .drain(..)
            .filter_map(|node| {
                node.status.store(CLOSED, SeqCst);
                node.waker.lock().take()
            })
            .collect();
        drop(st);
        for w in wake {
            w.wake();
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
    pub(super) fn grant(st: &mut State) -> Vec<Waker> {
        let mut wake = Vec::new();
        while let Some(front) = st.queue.front() {
            if st.permits < front.need {
                break;
            }
            st.permits -= front.need;
            let node = st.queue.pop_front().expect("front exists");
            node.status.store(GRANTED, SeqCst);
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

impl<'a> SemaphorePermit<'a> {
    /// Keeps the permit out of the semaphore for good.
    pub fn forget(mut self) {
        self.n = 0;
    }

    /// How many permits this guard holds.
    pub fn num_permits(&self) -> usize {
        self.n
    }

    /// Splits `n` of this guard's permits off into a guard of their own;
    /// `None` (and nothing changes) when it holds fewer than `n`.
    ///
    /// ```
    /// let sem = ferrio::sync::Semaphore::new(3);
    /// let mut three = sem.try_acquire_many(3).unwrap();
    /// let one = three.split(1).unwrap();
    /// assert_eq!((three.num_permits(), one.num_permits()), (2, 1));
    /// drop(one);
    /// assert_eq!(sem.available_permits(), 1);
    /// ```
    pub fn split(&mut self, n: usize) -> Option<SemaphorePermit<'a>> {
        if n > self.n {
            return None;
        }
        self.n -= n;
        Some(SemaphorePermit { sem: self.sem, n })
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

/// The waiting side shared by the acquire futures: a node in the queue
/// once the first poll had to wait.
pub(super) struct AcquireCore {
    pub(super) need: usize,
    node: Option<Arc<Node>>,
    done: bool,
}

/// What a waiter's poll came to.
pub(super) enum Got {
    Permits,
    Closed,
}

impl AcquireCore {
    pub(super) fn new(need: usize) -> AcquireCore {
        AcquireCore {
            need,
            node: None,
            done: false,
        }
    }

    pub(super) fn poll(&mut self, sem: &Semaphore, cx: &mut Context<'_>) -> Poll<Got> {
        assert!(!self.done, "an acquire future polled after it returned");
        if !crate::coop::poll_proceed(cx) {
            return Poll::Pending;
        }
        let status = match &self.node {
            None => {
                let mut st = sem.lock();
                if st.closed {
                    CLOSED
                } else if st.queue.is_empty() && st.permits >= self.need {
                    st.permits -= self.need;
                    GRANTED
                } else {
                    let node = Arc::new(Node {
                        need: self.need,
                        status: AtomicU8::new(WAITING),
                        waker: Mutex::new(Some(cx.waker().clone())),
                    });
                    st.queue.push_back(node.clone());
                    drop(st);
                    self.node = Some(node);
                    WAITING
                }
            }
            Some(node) => match node.status.load(SeqCst) {
                WAITING => {
                    let old = node.waker.lock().replace(cx.waker().clone());
                    drop(old);
                    node.status.load(SeqCst)
                }
                status => status,
            },
        };
        let got = match status {
            WAITING => return Poll::Pending,
            GRANTED => Got::Permits,
            _ => Got::Closed,
        };
        self.node = None;
        self.done = true;
        Poll::Ready(got)
    }

    /// The future is dropped: leave the queue, or pass on permits
    /// granted but never taken.
    pub(super) fn cancel(&mut self, sem: &Semaphore) {
        let Some(node) = self.node.take() else { return };
        let mut st = sem.lock();
        match node.status.load(SeqCst) {
            GRANTED => st.permits += node.need,
            WAITING => st.queue.retain(|n| !Arc::ptr_eq(n, &node)),
            _ => {}
        }
        // Our leaving may unblock those behind us.
        let wake = Semaphore::grant(&mut st);
        drop(st);
        for w in wake {
            w.wake();
        }
    }
}

/// The future returned by [`Semaphore::acquire`] and
/// [`Semaphore::acquire_many`].
#[must_use = "futures do nothing unless awaited"]
pub struct Acquire<'a> {
    sem: &'a Semaphore,
    core: AcquireCore,
}

impl fmt::Debug for Acquire<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Acquire")
            .field("need", &self.core.need)
            .finish_non_exhaustive()
    }
}

impl<'a> Future for Acquire<'a> {
    type Output = SemaphorePermit<'a>;

    #[track_caller]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<SemaphorePermit<'a>> {
        #[allow(clippy::redundant_closure_call)]
        let out = (|| -> Poll<SemaphorePermit<'a>> {
            let sem = self.sem;
            let n = self.core.need;
            match self.core.poll(sem, cx) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(Got::Permits) => Poll::Ready(SemaphorePermit { sem, n }),
                // A public semaphore is never closed (only `OnceCell`'s own,
                // which takes no `Acquire`).
                Poll::Ready(Got::Closed) => unreachable!("ferrio: a public Semaphore was closed"),
            }
        })();
        if out.is_pending() {
            crate::task::core::wait::record(crate::task::core::wait::WaitKind::Semaphore, 0);
        }
        out
    }
}

impl Drop for Acquire<'_> {
    fn drop(&mut self) {
        self.core.cancel(self.sem);
    }
}

/// [`Semaphore::acquire_or_closed`]'s future: `None` once closed.
pub(crate) struct AcquireOrClosed<'a> {
    sem: &'a Semaphore,
    core: AcquireCore,
}

impl<'a> Future for AcquireOrClosed<'a> {
    type Output = Option<SemaphorePermit<'a>>;

    #[track_caller]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        #[allow(clippy::redundant_closure_call)]
        let out = (|| -> Poll<Self::Output> {
            let sem = self.sem;
            let n = self.core.need;
            self.core.poll(sem, cx).map(|got| match got {
                Got::Permits => Some(SemaphorePermit { sem, n }),
                Got::Closed => None,
            })
        })();
        if out.is_pending() {
            crate::task::core::wait::record(crate::task::core::wait::WaitKind::Semaphore, 0);
        }
        out
    }
}

impl Drop for AcquireOrClosed<'_> {
    fn drop(&mut self) {
        self.core.cancel(self.sem);
    }
}
