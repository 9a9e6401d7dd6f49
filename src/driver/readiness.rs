//! The readiness of one descriptor on the epoll driver, and the tasks
//! waiting for it.
//!
//! # Protocol
//!
//! An operation always tries its non-blocking system call first. Only
//! when that answers `EAGAIN` does it come here ([`ScheduledIo::wait`]),
//! under the lock:
//! - if the direction it needs (read or write) is marked ready, an event
//!   arrived since some earlier attempt: the mark is cleared and the
//!   caller tries the call again (`Retry`); at worst that retry is
//!   spurious and ends back here with the mark now clear;
//! - otherwise its waker is stored (`Pending`).
//!
//! The worker that owns the epoll instance delivers each event
//! ([`ScheduledIo::dispatch`]) under the same lock: it marks the
//! directions ready and takes the wakers waiting for them, then wakes
//! them after unlocking. So an event either lands before a waiter's lock
//! (the waiter sees the mark and retries) or after it (the event finds the
//! waker): none is lost. The fast path (the call succeeds) takes no lock.
//!
//! At shutdown the worker closes every registration on its instance
//! ([`ScheduledIo::close`]): every waiter is woken and sees `Closed`.
//!
//! Modelled in `loom-tests/tests/epoll.rs` (a stand-in for the socket).

use std::task::Waker;

use crate::loom::sync::Mutex;

/// The direction an operation waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(ferrio_loom, allow(dead_code))] // the models wait for reading only
pub(crate) enum Interest {
    Read,
    Write,
}

/// Readiness bits of [`ScheduledIo::dispatch`].
pub(crate) const READABLE: u8 = 1;
pub(crate) const WRITABLE: u8 = 2;

impl Interest {
    fn bit(self) -> u8 {
        match self {
            Interest::Read => READABLE,
            Interest::Write => WRITABLE,
        }
    }
}

/// What [`ScheduledIo::wait`] tells an operation that got `EAGAIN`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum WaitPoll {
    /// Readiness arrived since: try the system call again.
    Retry,
    /// The waker is stored; an event will wake it.
    Pending,
    /// The driver has shut down: no event will come.
    Closed,
}

struct Waiter {
    key: u64,
    interest: Interest,
    waker: Waker,
}

#[derive(Default)]
struct State {
    ready: u8,
    closed: bool,
    waiters: Vec<Waiter>,
    next_key: u64,
}

/// One registered descriptor's readiness and waiters.
#[derive(Default)]
pub(crate) struct ScheduledIo {
    state: Mutex<State>,
}

impl ScheduledIo {
    pub(crate) fn new() -> ScheduledIo {
        ScheduledIo::default()
    }

    /// After `EAGAIN`: retry, or wait with `waker`. `key` is the caller's
    /// waiter slot (kept across polls; `None` when not waiting).
    pub(crate) fn wait(
        &self,
        interest: Interest,
        key: &mut Option<u64>,
        waker: &Waker,
    ) -> WaitPoll {
        let mut st = self.state.lock();
        if st.closed {
            return WaitPoll::Closed;
        }
        if st.ready & interest.bit() != 0 {
            st.ready &= !interest.bit();
            return WaitPoll::Retry;
        }
        if let Some(k) = *key {
            if let Some(w) = st.waiters.iter_mut().find(|w| w.key == k) {
                if !w.waker.will_wake(waker) {
                    w.waker = waker.clone();
                }
                return WaitPoll::Pending;
            }
        }
        let k = st.next_key;
        st.next_key += 1;
        st.waiters.push(Waiter {
            key: k,
            interest,
            waker: waker.clone(),
        });
        *key = Some(k);
        WaitPoll::Pending
    }

    /// Forgets a waiter (its operation was dropped or completed).
    pub(crate) fn cancel_wait(&self, key: &mut Option<u64>) {
        if let Some(k) = key.take() {
            let mut st = self.state.lock();
            if let Some(i) = st.waiters.iter().position(|w| w.key == k) {
                st.waiters.swap_remove(i);
            }
        }
    }

    /// Delivers an event: marks `ready` (bits of `READABLE`, `WRITABLE`)
    /// and wakes the waiters of those directions.
    pub(crate) fn dispatch(&self, ready: u8) {
        let woken: Vec<Waker> = {
            let mut st = self.state.lock();
            st.ready |= ready;
            let mut woken = Vec::new();
            let mut i = 0;
            while i < st.waiters.len() {
                if st.waiters[i].interest.bit() & ready != 0 {
                    woken.push(st.waiters.swap_remove(i).waker);
                } else {
                    i += 1;
                }
            }
            woken
        };
        for w in woken {
            w.wake();
        }
    }

    /// The driver is gone: wakes every waiter, and every later wait
    /// answers `Closed`.
    pub(crate) fn close(&self) {
        let woken: Vec<Waiter> = {
            let mut st = self.state.lock();
            st.closed = true;
            std::mem::take(&mut st.waiters)
        };
        for w in woken {
            w.waker.wake();
        }
    }

    /// How many waiters are stored (tests: nothing is left behind).
    #[cfg(ferrio_loom)]
    pub(crate) fn waiters(&self) -> usize {
        self.state.lock().waiters.len()
    }
}
