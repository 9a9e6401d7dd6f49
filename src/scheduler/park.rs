//! The parking seam: the one place a worker goes to sleep when it has
//! nothing to do, and the one way another thread wakes it.
//!
//! The protocol is a three-state word (EMPTY, PARKED, NOTIFIED):
//! `unpark` swaps in NOTIFIED and only pays for a wake-up call when the
//! target was actually PARKED, so waking a busy worker costs one atomic
//! swap. `park` consumes a pending NOTIFIED without sleeping. Here the
//! sleep is a condition variable; the io_uring driver replaces it with a
//! wait on the worker's ring (and the wake-up with an eventfd write), under
//! the same state protocol.

use std::time::Duration;

use crate::loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use crate::loom::sync::{Arc, Condvar, Mutex};

const EMPTY: usize = 0;
const PARKED: usize = 1;
const NOTIFIED: usize = 2;

struct Inner {
    state: AtomicUsize,
    lock: Mutex<()>,
    cvar: Condvar,
}

/// The sleeping end, owned by one thread.
pub(crate) struct Parker {
    inner: Arc<Inner>,
}

/// The waking end; cheap to clone, usable from any thread.
#[derive(Clone)]
pub(crate) struct Unparker {
    inner: Arc<Inner>,
}

impl Parker {
    pub(crate) fn new() -> Parker {
        Parker {
            inner: Arc::new(Inner {
                state: AtomicUsize::new(EMPTY),
                lock: Mutex::new(()),
                cvar: Condvar::new(),
            }),
        }
    }

    pub(crate) fn unparker(&self) -> Unparker {
        Unparker {
            inner: self.inner.clone(),
        }
    }

    /// Sleeps until `unpark` (or, with a timeout, until it elapses).
    /// Returns at once when an `unpark` arrived since the last `park`.
    pub(crate) fn park(&self, timeout: Option<Duration>) {
        self.inner.park(timeout)
    }
}

impl Inner {
    fn park(&self, timeout: Option<Duration>) {
        // Fast path: a notification is already pending.
        if self
            .state
            .compare_exchange(NOTIFIED, EMPTY, SeqCst, SeqCst)
            .is_ok()
        {
            return;
        }
        if timeout == Some(Duration::ZERO) {
            return;
        }
        let mut guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        match self.state.compare_exchange(EMPTY, PARKED, SeqCst, SeqCst) {
            Ok(_) => {}
            Err(NOTIFIED) => {
                // Arrived between the fast path and taking the lock.
                self.state.swap(EMPTY, SeqCst);
                return;
            }
            Err(other) => unreachable!("park state {other}: two threads parked on one parker"),
        }
        loop {
            guard = match timeout {
                None => self.cvar.wait(guard).unwrap_or_else(|e| e.into_inner()),
                Some(t) => {
                    let (g, res) = wait_timeout(&self.cvar, guard, t);
                    if res {
                        // Timed out: leave PARKED, consuming a racing
                        // notification if there is one.
                        self.state.swap(EMPTY, SeqCst);
                        return;
                    }
                    g
                }
            };
            if self
                .state
                .compare_exchange(NOTIFIED, EMPTY, SeqCst, SeqCst)
                .is_ok()
            {
                return;
            }
            // Spurious wake-up: sleep again.
        }
    }
}

#[cfg(not(ferrio_loom))]
fn wait_timeout<'a>(
    cvar: &Condvar,
    guard: std::sync::MutexGuard<'a, ()>,
    t: Duration,
) -> (std::sync::MutexGuard<'a, ()>, bool) {
    let (g, res) = cvar
        .wait_timeout(guard, t)
        .unwrap_or_else(|e| e.into_inner());
    (g, res.timed_out())
}

#[cfg(ferrio_loom)]
fn wait_timeout<'a>(
    cvar: &Condvar,
    guard: loom::sync::MutexGuard<'a, ()>,
    t: Duration,
) -> (loom::sync::MutexGuard<'a, ()>, bool) {
    let (g, res) = cvar.wait_timeout(guard, t).unwrap();
    (g, res.timed_out())
}

impl Unparker {
    /// Wakes the parker, or makes its next `park` return at once.
    pub(crate) fn unpark(&self) {
        match self.inner.state.swap(NOTIFIED, SeqCst) {
            EMPTY | NOTIFIED => {}
            PARKED => {
                // Taking the lock orders us after the parker's check of the
                // state, so the notify cannot fall between its check and its
                // wait.
                drop(self.inner.lock.lock().unwrap_or_else(|e| e.into_inner()));
                self.inner.cvar.notify_one();
            }
            other => unreachable!("unpark state {other}"),
        }
    }
}
