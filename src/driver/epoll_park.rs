//! How a worker on the epoll driver sleeps and is woken: the scheduler's
//! park protocol (`park::ParkState`) over a [`Sleep`] and a [`Signal`], which the driver
//! implements with `epoll_wait` and a write to an eventfd in the set.
//!
//! - `park`: a pending notification is consumed without sleeping (and
//!   the ready events are collected without waiting); otherwise the state
//!   becomes PARKED and the worker sleeps until an event, the eventfd, or
//!   its next timer deadline.
//! - `unpark`: swaps in NOTIFIED and writes the eventfd only when the
//!   target was PARKED, so waking a busy worker costs no system call. A
//!   write that lands before the sleep begins is not lost: the eventfd is
//!   edge-triggered in the set and the write queues an event that the
//!   next `epoll_wait` returns at once.
//!
//! Modelled in `loom-tests/tests/epoll.rs` with an eventfd stand-in that
//! keeps the same edge semantics.

use std::time::Duration;

use crate::park::ParkState;

/// The sleeping end under the park protocol (the owner's).
pub(crate) trait Sleep {
    /// Collects ready events without waiting; returns how many.
    fn poll_now(&self) -> usize;
    /// Waits for an event, a [`Signal::signal`], or `timeout`; returns
    /// how many events it collected.
    fn sleep(&self, timeout: Option<Duration>) -> usize;
}

/// The waking end (any thread).
pub(crate) trait Signal {
    /// Ends a `sleep` in progress, or makes the next one return at once.
    fn signal(&self);
}

/// Parks the worker (see the module notes). Returns the events collected.
pub(crate) fn park<S: Sleep>(state: &ParkState, wakeup: &S, timeout: Option<Duration>) -> usize {
    if timeout == Some(Duration::ZERO) || !state.begin_park() {
        return wakeup.poll_now();
    }
    let n = wakeup.sleep(timeout);
    state.end_park();
    n
}

/// Wakes the worker if it is parked; otherwise marks it notified.
pub(crate) fn unpark<G: Signal>(state: &ParkState, wakeup: &G) {
    if state.unpark() {
        wakeup.signal();
    }
}
