//! The readiness of one descriptor on the epoll driver, and the tasks
//! waiting for it.
//!
//! # Protocol
//!
//! The state (under one lock) is a readiness mark per direction (read,
//! write), a `tick` counting the events delivered, the waiters, and a
//! `closed` flag. A new registration starts marked ready both ways: the
//! first system call finds out.
//!
//! An operation on a registered descriptor:
//! 1. [`ScheduledIo::poll_ready`]: if its direction is marked ready it
//!    gets the current tick and makes its non-blocking system call;
//!    otherwise its waker is stored and it makes no call at all (tokio's
//!    rule: a call known to answer `EAGAIN` is not made).
//! 2. On `EAGAIN`, [`ScheduledIo::clear_and_wait`] with that tick: if no
//!    event arrived since (same tick), the mark is cleared and the waker
//!    stored; if one did, the operation tries again (`Retry`).
//! 3. On a call that drained the socket (a read shorter than its buffer,
//!    a write shorter than its data), [`ScheduledIo::clear_if`] clears
//!    the mark only if the tick is unchanged, so the next operation waits
//!    for an edge instead of making a call bound to fail. A short read
//!    proves it only on TCP sockets without urgent data and on pipes:
//!    elsewhere the mark stays and the next read finds out.
//!
//! A hang-up (`EPOLLRDHUP`/`EPOLLHUP`) marks its directions for good: it
//! may come in the same edge as the last data, and no edge follows it, so
//! a short read before end of stream must not clear it (tokio keeps its
//! "read closed" bit the same way).
//!
//! The owning worker delivers each event ([`ScheduledIo::dispatch`])
//! under the same lock: it marks the directions ready, advances the tick,
//! and takes the wakers of those directions, waking them after unlocking.
//! Any event after an operation's tick either makes its clear a no-op
//! and its wait a `Retry`, or finds its stored waker: none is lost.
//!
//! At shutdown the worker closes every registration on its instance
//! ([`ScheduledIo::close`]): every waiter is woken and sees `Closed`.
//!
//! Modelled in `loom-tests/tests/epoll.rs`, with the operation loop that
//! runs it (`driver/ready_loop.rs`), over a stand-in socket.

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

/// What [`ScheduledIo::poll_ready`] tells an operation.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ReadyPoll {
    /// Marked ready: make the system call; the tick of what was seen.
    Ready(u32),
    /// Not ready: the waker is stored.
    Pending,
    /// The driver has shut down: no event will come.
    Closed,
}

/// What [`ScheduledIo::clear_and_wait`] tells an operation that got
/// `EAGAIN`.
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

struct State {
    ready: u8,
    /// A read shorter than its buffer shows the descriptor drained: true
    /// for TCP sockets and pipes until urgent data is seen (a read stops
    /// before the urgent mark with bytes queued behind it). Never for
    /// Unix sockets (a read stops at a message carrying descriptors) or
    /// terminals (a read returns one line).
    short_read_drains: bool,
    /// Directions closed for good (the peer hung up): never cleared, as
    /// no edge will come after the last one.
    closed_dirs: u8,
    tick: u32,
    closed: bool,
    waiters: Vec<Waiter>,
    next_key: u64,
}

impl State {
    /// Stores (or refreshes) the caller's waiter.
    fn store_waiter(&mut self, interest: Interest, key: &mut Option<u64>, waker: &Waker) {
        if let Some(k) = *key {
            if let Some(w) = self.waiters.iter_mut().find(|w| w.key == k) {
                if !w.waker.will_wake(waker) {
                    w.waker = waker.clone();
                }
                return;
            }
        }
        let k = self.next_key;
        self.next_key += 1;
        self.waiters.push(Waiter {
            key: k,
            interest,
            waker: waker.clone(),
        });
        *key = Some(k);
    }
}

/// One registered descriptor's readiness and waiters.
pub(crate) struct ScheduledIo {
    state: Mutex<State>,
}

impl ScheduledIo {
    /// Marked ready both ways: the first system call finds out.
    /// `short_read_drains`: see `State`.
    pub(crate) fn new(short_read_drains: bool) -> ScheduledIo {
        ScheduledIo {
            state: Mutex::new(State {
                ready: READABLE | WRITABLE,
                short_read_drains,
                closed_dirs: 0,
                tick: 0,
                closed: false,
                waiters: Vec::new(),
                next_key: 0,
            }),
        }
    }

    /// Before the system call: go ahead (with the tick seen), or wait.
    pub(crate) fn poll_ready(
        &self,
        interest: Interest,
        key: &mut Option<u64>,
        waker: &Waker,
    ) -> ReadyPoll {
        let mut st = self.state.lock();
        if st.closed {
            return ReadyPoll::Closed;
        }
        if (st.ready | st.closed_dirs) & interest.bit() != 0 {
            return ReadyPoll::Ready(st.tick);
        }
        st.store_waiter(interest, key, waker);
        ReadyPoll::Pending
    }

    /// After `EAGAIN` from a call made at `tick`: retry if an event came
    /// since, else clear the mark and wait.
    pub(crate) fn clear_and_wait(
        &self,
        interest: Interest,
        tick: u32,
        key: &mut Option<u64>,
        waker: &Waker,
    ) -> WaitPoll {
        let mut st = self.state.lock();
        if st.closed {
            return WaitPoll::Closed;
        }
        if st.tick != tick {
            return WaitPoll::Retry;
        }
        st.ready &= !interest.bit();
        st.store_waiter(interest, key, waker);
        WaitPoll::Pending
    }

    /// After a call made at `tick` that drained the socket: clears the
    /// mark unless an event came since.
    pub(crate) fn clear_if(&self, interest: Interest, tick: u32) {
        let mut st = self.state.lock();
        if interest == Interest::Read && !st.short_read_drains {
            return;
        }
        if st.tick == tick {
            st.ready &= !interest.bit();
        }
    }

    /// Whether the waiter `key` is the only one stored.
    #[cfg_attr(ferrio_loom, allow(dead_code))] // the models have no registration to move
    pub(crate) fn is_sole_waiter(&self, key: Option<u64>) -> bool {
        let st = self.state.lock();
        st.waiters.len() == 1 && Some(st.waiters[0].key) == key
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
    /// and `closed` (the directions that hung up: marked for good) and
    /// wakes the waiters of those directions. `urgent`: the event carried
    /// `EPOLLPRI` (TCP urgent data), after which short reads no longer
    /// count as drained.
    pub(crate) fn dispatch(&self, ready: u8, closed: u8, urgent: bool) {
        let ready = ready | closed;
        let woken: Vec<Waker> = {
            let mut st = self.state.lock();
            if urgent {
                st.short_read_drains = false;
            }
            st.ready |= ready;
            st.closed_dirs |= closed;
            st.tick = st.tick.wrapping_add(1);
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
