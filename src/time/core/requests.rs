//! Each worker's queues of timer requests from other threads
//! (`TimerQueues`): the `pending` handshake that keeps a request from being
//! stranded, and the `closed` flag of shutdown (see `time::core`).

use std::sync::Arc;

use crate::loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use crate::loom::sync::Mutex;

use super::entry::TimerShared;
use super::wheel;

/// The owner of `wheel` takes in a timer registered from another thread:
/// skipped if already cancelled; removed again if a cancel raced the
/// insert (the canceller saw no key yet, so it left the removal to us).
pub(crate) fn insert_registered(
    wheel: &mut wheel::Wheel<Arc<TimerShared>>,
    ms: u64,
    timer: Arc<TimerShared>,
) {
    if timer.is_cancelled() {
        return;
    }
    let key = wheel.insert(ms, timer.clone());
    timer.set_key(key.to_bits());
    if timer.is_cancelled() {
        wheel.remove(key);
    }
}

/// Timer requests from other threads for one worker's wheel, and the
/// owner's side of taking them in. The worker (`scheduler`) and the loom
/// model (`loom_models::TimerModel`) both run this code.
///
/// Protocol: a requester pushes under the queue's lock, then bumps
/// `pending`; the owner, seeing `pending > 0`, first resets it to 0 and
/// only then takes the queues, so a request pushed after the take leaves
/// `pending > 0` behind and is taken at the next round (never stranded).
/// At shutdown the owner closes the register queue: later registrations
/// are refused, and the registrant ends its timer itself.
#[derive(Default)]
pub(crate) struct TimerQueues {
    register: Mutex<RegisterQueue>,
    cancel: Mutex<Vec<u64>>,
    pending: AtomicUsize,
    /// Timers in the owner's wheel (written by the owner only; read by
    /// tests and models, so only built for them).
    #[cfg(any(test, ferrio_loom))]
    in_wheel: AtomicUsize,
}

#[derive(Default)]
struct RegisterQueue {
    timers: Vec<(u64, Arc<TimerShared>)>,
    /// Set once the owner has shut down: nothing takes registrations in.
    closed: bool,
}

impl TimerQueues {
    /// Another thread registers `timer` (deadline `ms`), then wakes the
    /// owner with `wake_owner` (its sleep may have to shorten). False when
    /// refused because the owner has shut down: the caller ends the timer
    /// itself, and nobody is woken.
    pub(crate) fn register(
        &self,
        ms: u64,
        timer: Arc<TimerShared>,
        wake_owner: impl FnOnce(),
    ) -> bool {
        {
            let mut q = self.register.lock();
            if q.closed {
                return false;
            }
            q.timers.push((ms, timer));
        }
        self.pending.fetch_add(1, SeqCst);
        wake_owner();
        true
    }

    /// Another thread asks for the removal of `key`. The first request
    /// since the owner's last round wakes it with `wake_owner`, so a
    /// cancelled timer's memory is reclaimed now, not at its deadline;
    /// later ones ride on that wake-up.
    pub(crate) fn cancel(&self, key: u64, wake_owner: impl FnOnce()) {
        self.cancel.lock().push(key);
        if self.pending.fetch_add(1, SeqCst) == 0 {
            wake_owner();
        }
    }

    /// Owner: takes in the queued registrations and cancellations, then
    /// advances `wheel` to `now()` and moves every due timer into `due`
    /// (the caller fires them, outside any borrow of the wheel).
    pub(crate) fn collect_due(
        &self,
        wheel: &mut wheel::Wheel<Arc<TimerShared>>,
        now: impl FnOnce() -> u64,
        due: &mut Vec<Arc<TimerShared>>,
    ) {
        if self.pending.load(SeqCst) > 0 {
            // Reset before taking: see the type's docs.
            self.pending.store(0, SeqCst);
            let registers = std::mem::take(&mut self.register.lock().timers);
            let cancels = std::mem::take(&mut *self.cancel.lock());
            for (ms, timer) in registers {
                insert_registered(wheel, ms, timer);
            }
            for key in cancels {
                wheel.remove(wheel::Key::from_bits(key));
            }
        }
        if wheel.len() > 0 {
            wheel.advance(now(), |t| due.push(t));
        }
        self.note_len(wheel);
    }

    /// Owner: records the wheel's size after changing it.
    pub(crate) fn note_len(&self, _wheel: &wheel::Wheel<Arc<TimerShared>>) {
        #[cfg(any(test, ferrio_loom))]
        self.in_wheel
            .store(_wheel.len(), std::sync::atomic::Ordering::Relaxed);
    }

    /// Owner, at shutdown: closes the register queue and empties `wheel`
    /// and the queue into `left` (the caller ends each with
    /// [`TimerShared::shut_down`]).
    pub(crate) fn close(
        &self,
        wheel: &mut wheel::Wheel<Arc<TimerShared>>,
        left: &mut Vec<Arc<TimerShared>>,
    ) {
        {
            let mut q = self.register.lock();
            q.closed = true;
            left.extend(q.timers.drain(..).map(|(_, t)| t));
        }
        self.cancel.lock().clear();
        wheel.drain(|t| left.push(t));
        self.note_len(wheel);
    }

    /// Timers in the owner's wheel or queued for it.
    #[cfg(any(test, ferrio_loom))]
    pub(crate) fn registered(&self) -> usize {
        self.in_wheel.load(std::sync::atomic::Ordering::Relaxed) + self.register.lock().timers.len()
    }
}
