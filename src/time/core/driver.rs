//! `TimeDriver`: one worker's timers (its wheel, the buffer of fired
//! timers, and its side of the request queues), and `Clock`, the
//! runtime's millisecond clock that every wheel counts in.
//!
//! The worker that owns a `TimeDriver` calls it from its own thread only
//! (`RefCell`s, no lock); other threads reach the same wheel through its
//! [`TimerQueues`], which the owner takes in at each
//! [`process`](TimeDriver::process).

use std::cell::RefCell;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::entry::TimerShared;
use super::requests::TimerQueues;
use super::wheel::{Key, Wheel};

/// The runtime's clock: milliseconds since the runtime started, the unit
/// of every wheel.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Clock {
    start: Instant,
}

impl Clock {
    /// A clock whose zero is now.
    pub(crate) fn new() -> Clock {
        Clock {
            start: Instant::now(),
        }
    }

    /// Milliseconds since the start, rounded down.
    pub(crate) fn now_ms(&self) -> u64 {
        Instant::now()
            .saturating_duration_since(self.start)
            .as_millis() as u64
    }

    /// A deadline in milliseconds, rounded up so a timer never fires
    /// early.
    pub(crate) fn deadline_ms(&self, deadline: Instant) -> u64 {
        let ns = deadline.saturating_duration_since(self.start).as_nanos();
        ns.div_ceil(1_000_000).min(u64::MAX as u128) as u64
    }

    /// The instant of millisecond `ms`.
    pub(crate) fn instant_of(&self, ms: u64) -> Instant {
        self.start + Duration::from_millis(ms)
    }
}

/// One worker's timers. Owned by the worker and used on its thread only.
pub(crate) struct TimeDriver {
    wheel: RefCell<Wheel<Arc<TimerShared>>>,
    /// Timers due in this round, fired outside the wheel's borrow; kept
    /// to reuse its allocation.
    fired: RefCell<Vec<Arc<TimerShared>>>,
    /// Requests from other threads for this wheel.
    requests: Arc<TimerQueues>,
}

impl TimeDriver {
    /// The driver of the wheel that `requests` feeds.
    pub(crate) fn new(requests: Arc<TimerQueues>) -> TimeDriver {
        TimeDriver {
            wheel: RefCell::new(Wheel::new()),
            fired: RefCell::new(Vec::new()),
            requests,
        }
    }

    /// Inserts a timer registered on the owner's thread (deadline `ms`).
    pub(crate) fn insert(&self, ms: u64, timer: Arc<TimerShared>) {
        let mut wheel = self.wheel.borrow_mut();
        let key = wheel.insert(ms, timer.clone());
        timer.set_key(key.to_bits());
        self.requests.note_len(&wheel);
    }

    /// Removes the timer with wheel key `key` (stale keys are ignored).
    /// Called on the owner's thread; while the wheel is borrowed (a waker
    /// run by `process` dropped a timer) the removal is queued for the
    /// next round instead (the owner is awake: no wake-up is needed).
    pub(crate) fn cancel(&self, key: u64) {
        match self.wheel.try_borrow_mut() {
            Ok(mut wheel) => {
                drop(wheel.remove(Key::from_bits(key)));
                self.requests.note_len(&wheel);
            }
            Err(_) => self.requests.cancel(key, || {}),
        }
    }

    /// Takes in the queued requests, advances the wheel to `now()` and
    /// fires every due timer. Returns how many fired.
    pub(crate) fn process(&self, now: impl FnOnce() -> u64) -> usize {
        let mut fired = std::mem::take(&mut *self.fired.borrow_mut());
        self.requests
            .collect_due(&mut self.wheel.borrow_mut(), now, &mut fired);
        let n = fired.len();
        // Wake outside the wheel's borrow, with the buffer out of its
        // cell: a waker that drops or registers a timer cannot hit a
        // double borrow.
        for timer in fired.drain(..) {
            timer.fire();
        }
        *self.fired.borrow_mut() = fired;
        n
    }

    /// The earliest deadline in the wheel (milliseconds of the
    /// [`Clock`]), `None` when the wheel is empty.
    pub(crate) fn next_deadline(&self) -> Option<u64> {
        self.wheel.borrow().next_expiration()
    }

    /// Timers in the wheel (for the loom models).
    #[cfg(ferrio_loom)]
    pub(crate) fn len(&self) -> usize {
        self.wheel.borrow().len()
    }

    /// At the worker's exit: refuses later registrations and ends every
    /// timer in the wheel or queued for it (their futures are woken and
    /// end at once; see `time`'s docs).
    pub(crate) fn shutdown(&self) {
        let mut left = Vec::new();
        self.requests.close(&mut self.wheel.borrow_mut(), &mut left);
        for timer in left {
            timer.shut_down();
        }
    }
}
