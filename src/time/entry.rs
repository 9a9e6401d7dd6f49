//! The timer entry shared by a timer's future and its owner's wheel
//! (`TimerShared`, its state word), and each worker's queues of timer
//! requests from other threads (`TimerQueues`, with the `pending` handshake
//! and the `closed` flag of shutdown).
//!
//! # Timers (protocol notes, moved from ARCHITECTURE.md)
//!
//! - **A wheel per worker** (`time/wheel.rs`): 6 levels × 64 slots at 1 ms,
//!   64^6 ms ≈ 2.2 years from the runtime's start (later deadlines clamp to the
//!   edge). Entries live in a slab with a doubly linked list per slot: O(1)
//!   insert and remove, and slab slots are reused (a timeout reset in a loop
//!   does not grow memory; tested).
//! - **Lazy registration**: a `Sleep` registers at its first poll, in the wheel
//!   of the worker polling it; dropping an unpolled `Sleep` costs nothing.
//! - **Cancellation without a global lock**: dropping a registered `Sleep` on
//!   its owner worker removes it at once; elsewhere it marks the timer
//!   CANCELLED (one CAS on the timer's own state) and queues its key on the
//!   owner's cancellation queue, drained at the owner's next maintenance; the
//!   first request queued wakes a sleeping owner, so memory is reclaimed
//!   promptly, not at the cancelled deadline. Keys carry a generation, so a stale key never removes another
//!   timer. A remote registration (from `block_on`) goes to a worker's queue
//!   and wakes it (its park timeout may shrink).
//! - **Request queues** (`time::TimerQueues`, one per worker): a requester
//!   pushes under the queue's lock, then bumps `pending`; the owner resets
//!   `pending` to 0 *before* taking the queues, so a request that races the
//!   take is left with `pending > 0` for the next round. The worker and the
//!   loom model run this same code.
//! - **Shutdown**: a worker, as it exits (after dropping its tasks), closes
//!   its register queue and ends every timer in its wheel or queue
//!   (`SHUT_DOWN` state: the future is woken and ends at once); the runtime
//!   refuses registrations once its shutdown flag is set, and a registration
//!   that raced past the flag is refused by the closed queue or ended by the
//!   closing worker. So a `Sleep` awaited through a kept `Handle` ends early,
//!   and `wait_for` / `TimeoutScope::run` fail with
//!   `TimeoutError::is_runtime_shutdown()`; nothing awaits a wheel that is gone.
//! - **Nested timeout scopes**: while a scope polls its body it records its
//!   deadline in the thread's context (the earliest of the enclosing ones);
//!   an expired scope that finds an enclosing one expired too leaves the
//!   report to it (asyncio: the outermost expired scope reports). Decided on
//!   deadlines, not on which wheel fires first.
//! - **Never early**: deadlines round up to the next millisecond; the park
//!   timeout is the next slot's time.
//! - **Interval** missed ticks: `Burst` (default, like tokio), `Delay`, `Skip`;
//!   instants saturate ("never") instead of overflowing.

use std::sync::Arc;
use std::task::Waker;

use crate::loom::lock;
use crate::loom::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering::SeqCst};
use crate::loom::sync::Mutex;

use super::wheel;

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
        self.waker.lock().unwrap_or_else(|e| e.into_inner())
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

/// Turns a key as stored in `TimerShared::key` into wheel key bits.
pub(crate) fn stored_key(stored: u64) -> Option<u64> {
    stored.checked_sub(1)
}

/// Timer requests from other threads for one worker's wheel, and the
/// owner's side of taking them in. The worker (`scheduler`) and the loom
/// model (`__loom::TimerModel`) both run this code.
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
    /// Another thread registers `timer` (deadline `ms`). False when
    /// refused because the owner has shut down (the caller ends the timer
    /// itself); when accepted, the caller wakes the owner.
    pub(crate) fn push_register(&self, ms: u64, timer: Arc<TimerShared>) -> bool {
        {
            let mut q = lock(&self.register);
            if q.closed {
                return false;
            }
            q.timers.push((ms, timer));
        }
        self.pending.fetch_add(1, SeqCst);
        true
    }

    /// Another thread (or the owner, while its wheel is borrowed) asks for
    /// the removal of `key`. True for the first request since the owner's
    /// last round: the caller wakes the owner.
    pub(crate) fn push_cancel(&self, key: u64) -> bool {
        lock(&self.cancel).push(key);
        self.pending.fetch_add(1, SeqCst) == 0
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
            let registers = std::mem::take(&mut lock(&self.register).timers);
            let cancels = std::mem::take(&mut *lock(&self.cancel));
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
            let mut q = lock(&self.register);
            q.closed = true;
            left.extend(q.timers.drain(..).map(|(_, t)| t));
        }
        lock(&self.cancel).clear();
        wheel.drain(|t| left.push(t));
        self.note_len(wheel);
    }

    /// Timers in the owner's wheel or queued for it.
    #[cfg(any(test, ferrio_loom))]
    pub(crate) fn registered(&self) -> usize {
        self.in_wheel.load(std::sync::atomic::Ordering::Relaxed) + lock(&self.register).timers.len()
    }
}
