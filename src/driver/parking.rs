//! How a worker sleeps on its driver and is woken, for both drivers: the
//! scheduler's park protocol (`park::ParkState`) over a [`Sleep`] and a
//! [`Signal`]. The epoll driver sleeps in `epoll_wait` with an eventfd in
//! its set; the ring sleeps in `io_uring_enter` with a read of its eventfd
//! armed. Either way other threads wake it with an eventfd write.
//!
//! - `park`: a pending notification is consumed without sleeping (and
//!   the ready events are collected without waiting); otherwise the state
//!   becomes PARKED and the worker sleeps until an event, the eventfd, or
//!   its next timer deadline.
//! - `unpark`: swaps in NOTIFIED and writes the eventfd only when the
//!   target was PARKED, so waking a busy worker costs no system call. A
//!   write that lands before the sleep begins is not lost: epoll's
//!   eventfd is edge-triggered in the set and the write queues an event
//!   that the next `epoll_wait` returns at once; the ring's armed read
//!   completes at once on a counter already written.
//! - After the sleep the state leaves PARKED first, then the driver
//!   collects what woke it ([`Sleep::woken`]): wakes made meanwhile find
//!   the worker not parked and cost no eventfd write.
//!
//! This routine is what `loom-tests/tests/driver.rs` models
//! (`park_routine_*`), over an eventfd stand-in with the same semantics.

use std::time::Duration;

use crate::park::ParkState;

/// The sleeping end under the park protocol (the owner's).
pub(crate) trait Sleep {
    /// Collects ready events without waiting; returns how many.
    fn poll_now(&self) -> usize;
    /// Waits for an event, a [`Signal::signal`], or `timeout`; returns
    /// how many events it collected.
    fn sleep(&self, timeout: Option<Duration>) -> usize;
    /// After a sleep, once the worker is no longer parked: collects what
    /// woke it; returns how many events.
    fn woken(&self) -> usize {
        0
    }
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
    n + wakeup.woken()
}

/// Wakes the worker if it is parked; otherwise marks it notified.
pub(crate) fn unpark<G: Signal>(state: &ParkState, wakeup: &G) {
    if state.unpark() {
        wakeup.signal();
    }
}

/// Writes 1 to the eventfd `fd`: the wake-up both drivers send. A full
/// counter (2^64 - 2 writes unread) answers `EAGAIN`, which still leaves
/// the eventfd readable, so the wake-up is not lost.
#[cfg(not(ferrio_loom))]
pub(crate) fn write_eventfd(fd: &impl std::os::fd::AsRawFd) {
    let one: u64 = 1;
    // SAFETY: writes 8 bytes from a live u64 to a descriptor the caller
    // keeps open for the call.
    let _ = unsafe { libc::write(fd.as_raw_fd(), &one as *const u64 as *const libc::c_void, 8) };
}
