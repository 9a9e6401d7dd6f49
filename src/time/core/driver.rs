//! `TimeDriver`: one worker's timers (its wheel, the buffer of fired
//! timers, and its side of the request queues).
//!
//! The worker that owns a `TimeDriver` calls it between its polls; the
//! watchdog calls `process` while the owner is stuck in one (the wheel's
//! lock serves both). Other threads reach the same wheel through its
//! [`TimerQueues`], taken in at each [`process`](TimeDriver::process).

use std::sync::Arc;

use crate::owner_lock::OwnerLock;

use super::entry::TimerShared;
use super::requests::TimerQueues;
use super::wheel::{Key, Wheel};

/// One worker's timers. The owner uses them between its polls; the
/// watchdog fires due ones while the owner is stuck in a poll. The wheel
/// is behind a lock that the owner takes for each access (uncontended but
/// for a rescue); other threads reach the wheel through its
/// [`TimerQueues`], which every [`process`](TimeDriver::process) takes in.
pub(crate) struct TimeDriver {
    wheel: OwnerLock<WheelState>,
    /// Requests from other threads for this wheel.
    requests: Arc<TimerQueues>,
}

/// The wheel and, beside it under the same lock, the buffer of due timers
/// (kept to reuse its allocation).
struct WheelState {
    wheel: Wheel<Arc<TimerShared>>,
    fired: Vec<Arc<TimerShared>>,
}

impl TimeDriver {
    /// The driver of the wheel that `requests` feeds.
    pub(crate) fn new(requests: Arc<TimerQueues>) -> TimeDriver {
        TimeDriver {
            wheel: OwnerLock::new(WheelState {
                wheel: Wheel::new(),
                fired: Vec::new(),
            }),
            requests,
        }
    }

    /// Inserts the timer `make()` builds, due at `ms`, on the owner's
    /// thread, and returns it; `None` when `ms` is already behind the
    /// wheel (the wheel has advanced past it: the timer would fire at
    /// once), so a due sleep completes without a timer and without
    /// reading the clock.
    pub(crate) fn insert_unless_due(
        &self,
        ms: u64,
        make: impl FnOnce() -> Arc<TimerShared>,
    ) -> Option<Arc<TimerShared>> {
        self.wheel.with(|state| {
            if ms <= state.wheel.elapsed() {
                return None;
            }
            let timer = make();
            let key = state.wheel.insert(ms, timer.clone());
            timer.set_key(key.to_bits());
            self.requests.note_len(&state.wheel);
            Some(timer)
        })
    }

    /// Removes the timer with wheel key `key` (stale keys are ignored).
    /// Called on the owner's thread; while the wheel is locked (a waker
    /// run by `process` dropped a timer, or the watchdog is firing due
    /// timers) the removal is queued for the next round instead (the
    /// owner is awake: no wake-up is needed).
    pub(crate) fn cancel(&self, key: u64) {
        let removed = self.wheel.try_with(|state| {
            let timer = state.wheel.remove(Key::from_bits(key));
            self.requests.note_len(&state.wheel);
            timer
        });
        match removed {
            // Dropped outside the lock.
            Some(timer) => drop(timer),
            None => self.requests.cancel(key, || {}),
        }
    }

    /// Moves the timer with wheel key `key` to deadline `ms`, on the
    /// owner's thread: the same entry, re-linked in the wheel under a new
    /// key (written into the timer before the lock is let go). False when
    /// the key is stale (the timer fired, or is firing) or the wheel is
    /// locked (a watchdog round): the caller then cancels the timer and
    /// registers a new one.
    pub(crate) fn rearm(&self, key: u64, ms: u64) -> bool {
        self.wheel
            .try_with(|state| {
                let Some(timer) = state.wheel.remove(Key::from_bits(key)) else {
                    return false;
                };
                let new_key = state.wheel.insert(ms, timer.clone());
                timer.set_key(new_key.to_bits());
                true
            })
            .unwrap_or(false)
    }

    /// Takes in the queued requests, advances the wheel to `now()` and
    /// fires every due timer. Returns how many fired. Called by the owner,
    /// or by the watchdog for a stuck owner.
    pub(crate) fn process(&self, now: impl FnOnce() -> u64) -> usize {
        let fired = self.wheel.with(|state| {
            self.requests
                .collect_due(&mut state.wheel, now, &mut state.fired);
            (!state.fired.is_empty()).then(|| std::mem::take(&mut state.fired))
        });
        let Some(mut fired) = fired else {
            return 0;
        };
        let n = fired.len();
        // Wake outside the wheel's lock, with the buffer out of it: a
        // waker that drops or registers a timer cannot deadlock.
        for timer in fired.drain(..) {
            timer.fire();
        }
        self.wheel.with(|state| state.fired = fired);
        n
    }

    /// The earliest deadline in the wheel (milliseconds of the
    /// [`Clock`](super::Clock)), `None` when the wheel is empty.
    pub(crate) fn next_deadline(&self) -> Option<u64> {
        self.wheel.with(|state| state.wheel.next_expiration())
    }

    /// Timers in the wheel (for the loom models).
    #[cfg(ferrio_loom)]
    pub(crate) fn len(&self) -> usize {
        self.wheel.with(|state| state.wheel.len())
    }

    /// At the worker's exit: refuses later registrations and ends every
    /// timer in the wheel or queued for it (their futures are woken and
    /// end at once; see `time`'s docs).
    pub(crate) fn shutdown(&self) {
        let mut left = Vec::new();
        self.wheel
            .with(|state| self.requests.close(&mut state.wheel, &mut left));
        for timer in left {
            timer.shut_down();
        }
    }
}
