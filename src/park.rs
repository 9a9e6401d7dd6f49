//! The park/unpark protocol, below both the scheduler and the I/O driver:
//! how a worker goes to sleep when it has nothing to do, and the one way
//! another thread wakes it.
//!
//! The protocol is a three-state word (EMPTY, PARKED, NOTIFIED):
//! `unpark` swaps in NOTIFIED and only pays for a wake-up call when the
//! target was actually PARKED, so waking a busy worker costs one atomic
//! swap. `park` consumes a pending NOTIFIED without sleeping. Here the
//! sleep is a condition variable; the I/O drivers replace it with a wait
//! in `io_uring_enter` or `epoll_wait` (and the wake-up with an eventfd
//! write: `driver/parking.rs`), under the same state protocol.

use std::time::Duration;

use crate::loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use crate::loom::sync::{Arc, Condvar, Mutex};

const EMPTY: usize = 0;
const PARKED: usize = 1;
const NOTIFIED: usize = 2;

/// The park/unpark protocol, independent of how a thread sleeps. The
/// condition-variable `Parker` below and both I/O drivers (sleeping in
/// `io_uring_enter` or `epoll_wait`, woken by an eventfd write) use it.
pub(crate) struct ParkState {
    state: AtomicUsize,
}

impl ParkState {
    pub(crate) fn new() -> ParkState {
        ParkState {
            state: AtomicUsize::new(EMPTY),
        }
    }

    /// Before sleeping. Returns false when a notification is pending (it
    /// is consumed; do not sleep), true when the state is now PARKED and
    /// the caller must sleep until signalled (or time out), then call
    /// `end_park`.
    pub(crate) fn begin_park(&self) -> bool {
        if self
            .state
            .compare_exchange(NOTIFIED, EMPTY, SeqCst, SeqCst)
            .is_ok()
        {
            return false;
        }
        match self.state.compare_exchange(EMPTY, PARKED, SeqCst, SeqCst) {
            Ok(_) => true,
            Err(NOTIFIED) => {
                self.state.swap(EMPTY, SeqCst);
                false
            }
            Err(other) => unreachable!("park state {other}: two threads parked on one parker"),
        }
    }

    /// After waking, for whatever reason. Returns true when woken by a
    /// notification.
    pub(crate) fn end_park(&self) -> bool {
        self.state.swap(EMPTY, SeqCst) == NOTIFIED
    }

    /// True when a notification is pending.
    fn is_notified(&self) -> bool {
        self.state.load(SeqCst) == NOTIFIED
    }

    /// Marks a notification. Returns true when the target is asleep and
    /// must be signalled (the only case that costs a syscall).
    pub(crate) fn unpark(&self) -> bool {
        self.state.swap(NOTIFIED, SeqCst) == PARKED
    }
}

struct Inner {
    state: ParkState,
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
                state: ParkState::new(),
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
        let inner = &*self.inner;
        if timeout == Some(Duration::ZERO) || !inner.state.begin_park() {
            return;
        }
        let mut guard = inner.lock.lock();
        // Checked under the lock: an unparker that saw PARKED takes the
        // lock before notifying, so its notify cannot fall between this
        // check and the wait.
        while !inner.state.is_notified() {
            match timeout {
                None => guard = inner.cvar.wait(guard),
                Some(t) => {
                    let (g, timed_out) = inner.cvar.wait_timeout(guard, t);
                    guard = g;
                    if timed_out {
                        break;
                    }
                }
            }
        }
        drop(guard);
        inner.state.end_park();
    }
}

impl Unparker {
    /// Wakes the parker, or makes its next `park` return at once.
    pub(crate) fn unpark(&self) {
        if self.inner.state.unpark() {
            drop(self.inner.lock.lock());
            self.inner.cvar.notify_one();
        }
    }
}
