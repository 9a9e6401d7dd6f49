//! The timer entry shared by a timer's future and its owner's wheel
//! (`TimerShared`): one state word (WAITING, FIRED, CANCELLED, SHUT_DOWN),
//! the wheel key once inserted, and the future's waker. The protocol notes
//! of the whole time driver are at the head of `time::core`.

use std::sync::Arc;
use std::task::Waker;

use crate::loom::sync::atomic::{AtomicU64, AtomicU8, Ordering::SeqCst};
use crate::loom::sync::Mutex;

const WAITING: u8 = 0;
const FIRED: u8 = 1;
const CANCELLED: u8 = 2;
/// The runtime shut down before the deadline: the wheel that held the
/// timer is gone (or refused it), and its future ends at once.
const SHUT_DOWN: u8 = 3;

/// The state one timer shares between its future and the wheel holding it.
pub(crate) struct TimerShared {
    state: AtomicU8,
    /// The wheel key (bits + 1), 0 until inserted.
    key: AtomicU64,
    waker: Mutex<Option<Waker>>,
}

impl TimerShared {
    pub(crate) fn new(waker: Waker) -> Arc<TimerShared> {
        Arc::new(TimerShared {
            state: AtomicU8::new(WAITING),
            key: AtomicU64::new(0),
            waker: Mutex::new(Some(waker)),
        })
    }

    fn lock(&self) -> crate::loom::sync::MutexGuard<'_, Option<Waker>> {
        self.waker.lock()
    }

    /// The wheel reached the deadline.
    pub(crate) fn fire(&self) {
        if self
            .state
            .compare_exchange(WAITING, FIRED, SeqCst, SeqCst)
            .is_ok()
        {
            let waker = self.lock().take();
            if let Some(w) = waker {
                w.wake();
            }
        }
    }

    /// The runtime shut down with the timer still waiting: wake its
    /// future, which ends at once (see the module docs).
    pub(crate) fn shut_down(&self) {
        if self
            .state
            .compare_exchange(WAITING, SHUT_DOWN, SeqCst, SeqCst)
            .is_ok()
        {
            let waker = self.lock().take();
            if let Some(w) = waker {
                w.wake();
            }
        }
    }

    pub(crate) fn is_shut_down(&self) -> bool {
        self.state.load(SeqCst) == SHUT_DOWN
    }

    /// The future gave up the timer. Returns the key to remove when it was
    /// still waiting in a wheel (0: not inserted yet, or already fired).
    pub(crate) fn cancel(&self) -> Option<u64> {
        if self
            .state
            .compare_exchange(WAITING, CANCELLED, SeqCst, SeqCst)
            .is_ok()
        {
            self.lock().take();
            Some(self.key.load(SeqCst))
        } else {
            None
        }
    }

    pub(crate) fn is_cancelled(&self) -> bool {
        self.state.load(SeqCst) == CANCELLED
    }

    /// Called by the wheel's owner right after inserting.
    pub(crate) fn set_key(&self, key_bits: u64) {
        self.key.store(key_bits + 1, SeqCst);
    }

    /// The wheel key bits once the owner has inserted the timer (`None`
    /// while a remote registration is still queued).
    pub(crate) fn key(&self) -> Option<u64> {
        stored_key(self.key.load(SeqCst))
    }

    /// A clone of the waker the timer will wake (`None` once it fired or
    /// was cancelled: the waker went with it).
    pub(crate) fn waker(&self) -> Option<Waker> {
        self.lock().clone()
    }

    pub(crate) fn is_fired(&self) -> bool {
        self.state.load(SeqCst) == FIRED
    }

    pub(crate) fn register(&self, waker: &Waker) {
        let mut w = self.lock();
        match &*w {
            Some(old) if old.will_wake(waker) => {}
            _ => *w = Some(waker.clone()),
        }
    }
}

/// Turns a key as stored in `TimerShared::key` into wheel key bits.
pub(crate) fn stored_key(stored: u64) -> Option<u64> {
    stored.checked_sub(1)
}
