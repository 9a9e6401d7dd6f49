//! `Condition` (asyncio's `Condition`).

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::task::{Poll, Waker};

use crate::loom::sync::atomic::{AtomicBool, Ordering::SeqCst};
use crate::loom::sync::{Mutex, MutexGuard};

use super::lock::{Lock, LockGuard};
use crate::task::core::wait::{self, At, WaitKind};

struct Node {
    notified: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

/// A condition variable for tasks, owning the data its lock protects
/// (asyncio's `Condition`, shaped like `std::sync::Condvar`).
///
/// `wait(guard)` releases the lock, waits for a notification, and takes
/// the lock again before returning. Waiters are notified in FIFO order.
/// A waiter cancelled after being notified passes its notification on.
///
/// ```
/// use std::sync::Arc;
/// ferrio::run(async {
///     let cond = Arc::new(ferrio::sync::Condition::new(false));
///     let c = cond.clone();
///     let waiter = ferrio::spawn(async move {
///         let ready = c.wait_for(c.lock().await, |ready| *ready).await;
///         *ready
///     });
///     *cond.lock().await = true;
///     cond.notify_all();
///     assert!(waiter.await.unwrap());
/// });
/// ```
///
/// Shared between tasks only for a `Send` value (as a [`Lock`]):
///
/// ```compile_fail
/// fn assert_sync<T: Sync>(_: &T) {}
/// assert_sync(&ferrio::sync::Condition::new(std::rc::Rc::new(0)));
/// ```
pub struct Condition<T> {
    lock: Lock<T>,
    waiters: Mutex<VecDeque<Arc<Node>>>,
}

impl<T> fmt::Debug for Condition<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Condition")
            .field("waiters", &self.queue().len())
            .finish()
    }
}

impl<T> Condition<T> {
    /// A condition around `value`, with its own lock.
    pub fn new(value: T) -> Condition<T> {
        Condition {
            lock: Lock::new(value),
            waiters: Mutex::new(VecDeque::new()),
        }
    }

    fn queue(&self) -> MutexGuard<'_, VecDeque<Arc<Node>>> {
        self.waiters.lock()
    }

    /// Takes the lock.
    #[track_caller]
    pub fn lock(&self) -> impl Future<Output = LockGuard<'_, T>> + '_ {
        self.lock.lock()
    }

    /// True while somebody holds the lock.
    pub fn locked(&self) -> bool {
        self.lock.locked()
    }

    /// Releases the lock, waits for `notify`, takes the lock back.
    ///
    /// # Panics
    ///
    /// If `guard` is not a guard of this condition's own lock (as
    /// `std::sync::Condvar::wait` panics on a guard of another mutex):
    /// nothing is released then, and the guard is dropped with the panic.
    #[track_caller]
    pub fn wait<'a>(
        &'a self,
        guard: LockGuard<'a, T>,
    ) -> impl Future<Output = LockGuard<'a, T>> + 'a {
        At::waiting_on(WaitKind::Condition, self.wait_inner(guard))
    }

    async fn wait_inner<'a>(&'a self, guard: LockGuard<'a, T>) -> LockGuard<'a, T> {
        assert!(
            guard.is_of(&self.lock),
            "ferrio::sync::Condition::wait: the guard belongs to another Lock \
             (take it with this condition's `lock()`)"
        );
        let node = Arc::new(Node {
            notified: AtomicBool::new(false),
            waker: Mutex::new(None),
        });
        // Queued before the lock is released: a notify after the release
        // finds us.
        self.queue().push_back(node.clone());
        drop(guard);
        let mut waiting = Waiting {
            cond: self,
            node,
            done: false,
        };
        std::future::poll_fn(|cx| {
            *waiting.node.waker.lock() = Some(cx.waker().clone());
            if waiting.node.notified.load(SeqCst) {
                Poll::Ready(())
            } else {
                wait::record(WaitKind::Condition, 0);
                Poll::Pending
            }
        })
        .await;
        // Still armed while we wait for the lock: a wait cancelled here was
        // notified but returns nothing, so its drop passes the
        // notification on (as asyncio's `wait` does).
        let guard = self.lock.lock().await;
        waiting.done = true;
        guard
    }

    /// Waits until `predicate` holds on the protected value (checked with
    /// the lock held, before each wait).
    #[track_caller]
    pub fn wait_for<'a>(
        &'a self,
        mut guard: LockGuard<'a, T>,
        mut predicate: impl FnMut(&mut T) -> bool + 'a,
    ) -> impl Future<Output = LockGuard<'a, T>> + 'a {
        At::waiting_on(WaitKind::Condition, async move {
            while !predicate(&mut guard) {
                guard = self.wait_inner(guard).await;
            }
            guard
        })
    }

    /// Wakes up to `n` waiters, longest-waiting first.
    pub fn notify(&self, n: usize) {
        let woken: Vec<Arc<Node>> = {
            let mut q = self.queue();
            let k = n.min(q.len());
            // Marked under the queue lock: a waiter dropped concurrently
            // either is still queued (and leaves) or sees the mark (and
            // passes it on).
            q.drain(..k)
                .inspect(|node| node.notified.store(true, SeqCst))
                .collect()
        };
        for node in woken {
            let w = node.waker.lock().take();
            if let Some(w) = w {
                w.wake();
            }
        }
    }

    /// Wakes every waiter.
    pub fn notify_all(&self) {
        self.notify(usize::MAX);
    }
}

/// Leaves the queue if the wait is cancelled; passes on a notification
/// that arrived but was not used.
struct Waiting<'a, T> {
    cond: &'a Condition<T>,
    node: Arc<Node>,
    done: bool,
}

impl<T> Drop for Waiting<'_, T> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let mut q = self.cond.queue();
        if let Some(pos) = q.iter().position(|n| Arc::ptr_eq(n, &self.node)) {
            q.remove(pos);
        } else if self.node.notified.load(SeqCst) {
            // Notified (the mark is set under this lock) but never used.
            drop(q);
            self.cond.notify(1);
        }
    }
}
