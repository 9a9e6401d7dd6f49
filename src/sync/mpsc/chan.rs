//! The state both `mpsc` flavours share: one mutex over the buffer, the
//! slot accounting, the senders waiting for a slot and the receiver's
//! waker.
//!
//! # Slots
//!
//! A bounded channel has `bound` slots. A slot is taken by a buffered
//! value (until the receiver takes it), by a [`Permit`](super::Permit)
//! (until it sends or drops), or by a waiting sender it was handed to
//! (until that sender's next poll fills it): `free = bound - buffered -
//! permits - granted`. Senders queue FIFO while `free == 0`, and only
//! then (a newcomer never takes a slot while somebody waits). Each slot
//! that comes free (a value received, a permit or a granted sender
//! dropped) goes to the longest-waiting sender, whose next poll takes it
//! without queueing again; a sender dropped before that passes it on, so
//! no wake-up is lost. The unbounded flavour is the same state with
//! `bound = usize::MAX` (nobody ever waits).
//!
//! # Closing
//!
//! `close` (or dropping the receiver) fails every waiting sender and
//! every later send, and wakes the `closed()` futures; permits already
//! out still send. The receiver sees the end (`None`) once nothing is
//! buffered and nothing can come: every sender is gone or the channel is
//! closed, and no permit is out. Every waker is taken under the lock and
//! woken after it is released; a value is dropped only outside the lock
//! (its destructor may use the channel).

use std::collections::VecDeque;
use std::fmt;
use std::task::{Context, Poll, Waker};

use crate::loom::sync::Arc;
use crate::loom::{FastMutex, FastMutexGuard};

use super::error::{SendError, TrySendError};

pub(super) struct Chan<T> {
    state: FastMutex<State<T>>,
}

pub(super) struct State<T> {
    pub(super) buffer: VecDeque<T>,
    /// Slots (`usize::MAX`: unbounded).
    pub(super) bound: usize,
    /// Permits alive, each holding a slot.
    pub(super) permits: usize,
    /// Senders waiting for a slot, in arrival order; non-empty only while
    /// no slot is free.
    pub(super) waiters: VecDeque<(u64, Waker)>,
    /// Waiting senders handed a slot their next poll takes.
    pub(super) granted: Vec<u64>,
    pub(super) next_id: u64,
    /// `Sender` handles alive.
    pub(super) senders: usize,
    /// The receiver closed the channel (or was dropped).
    pub(super) rx_closed: bool,
    pub(super) rx_dropped: bool,
    pub(super) rx_waker: Option<Waker>,
    /// `closed()` futures waiting for the receiver to close.
    pub(super) closed_waiters: Vec<(u64, Waker)>,
}

impl<T> State<T> {
    fn free(&self) -> usize {
        self.bound - self.buffer.len() - self.permits - self.granted.len()
    }

    pub(super) fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// A slot may have come free: hand it to the longest-waiting sender.
    pub(super) fn grant(&mut self) -> Option<Waker> {
        if self.rx_closed || self.free() == 0 {
            return None;
        }
        let (id, waker) = self.waiters.pop_front()?;
        self.granted.push(id);
        Some(waker)
    }

    pub(super) fn take_granted(&mut self, id: u64) -> bool {
        match self.granted.iter().position(|&g| g == id) {
            Some(p) => {
                self.granted.swap_remove(p);
                true
            }
            None => false,
        }
    }

    pub(super) fn remove_waiter(&mut self, id: u64) {
        if let Some(p) = self.waiters.iter().position(|(i, _)| *i == id) {
            self.waiters.remove(p);
        }
    }

    /// Nothing more can be sent: no sender, or closed, and no permit out.
    pub(super) fn nothing_can_come(&self) -> bool {
        (self.senders == 0 || self.rx_closed) && self.permits == 0
    }

    /// Buffers `value` (the caller holds its slot, or the channel is
    /// unbounded); returns the receiver to wake.
    pub(super) fn push(&mut self, value: T) -> Option<Waker> {
        self.buffer.push_back(value);
        self.rx_waker.take()
    }

    /// A slot the caller holds becomes a permit.
    pub(super) fn add_permit(&mut self) {
        self.permits += 1;
    }
}

pub(super) fn wake(w: Option<Waker>) {
    if let Some(w) = w {
        w.wake();
    }
}

pub(super) fn wake_all(ws: impl IntoIterator<Item = Waker>) {
    for w in ws {
        w.wake();
    }
}

impl<T> Chan<T> {
    pub(super) fn new(bound: usize) -> Arc<Chan<T>> {
        Arc::new(Chan {
            state: FastMutex::new(State {
                buffer: VecDeque::new(),
                bound,
                permits: 0,
                waiters: VecDeque::new(),
                granted: Vec::new(),
                next_id: 0,
                senders: 1,
                rx_closed: false,
                rx_dropped: false,
                rx_waker: None,
                closed_waiters: Vec::new(),
            }),
        })
    }

    pub(super) fn lock(&self) -> FastMutexGuard<'_, State<T>> {
        self.state.lock()
    }

    pub(super) fn fmt_as(&self, name: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.lock();
        let mut d = f.debug_struct(name);
        d.field("len", &st.buffer.len());
        if st.bound != usize::MAX {
            d.field("max_capacity", &st.bound);
        }
        d.field("senders", &st.senders)
            .field("closed", &st.rx_closed)
            .finish()
    }

    /// Free slots now.
    pub(super) fn capacity(&self) -> usize {
        self.lock().free()
    }

    pub(super) fn max_capacity(&self) -> usize {
        self.lock().bound
    }

    /// Sends at once if a slot is free.
    pub(super) fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        let mut st = self.lock();
        if st.rx_closed {
            return Err(TrySendError::Closed(value));
        }
        if st.free() == 0 {
            return Err(TrySendError::Full(value));
        }
        let w = st.push(value);
        drop(st);
        wake(w);
        Ok(())
    }

    /// Takes a free slot as a permit.
    pub(super) fn try_reserve(&self) -> Result<(), TrySendError<()>> {
        let mut st = self.lock();
        if st.rx_closed {
            return Err(TrySendError::Closed(()));
        }
        if st.free() == 0 {
            return Err(TrySendError::Full(()));
        }
        st.add_permit();
        Ok(())
    }

    /// The unbounded send: never waits.
    pub(super) fn send_unbounded(&self, value: T) -> Result<(), SendError<T>> {
        let mut st = self.lock();
        if st.rx_closed {
            return Err(SendError(value));
        }
        let w = st.push(value);
        drop(st);
        wake(w);
        Ok(())
    }

    /// A permit sends: its slot holds the value. After the receiver is
    /// gone the value is dropped (here, outside the lock).
    pub(super) fn permit_send(&self, value: T) {
        let mut st = self.lock();
        st.permits -= 1;
        if st.rx_dropped {
            drop(st);
            drop(value);
            return;
        }
        let w = st.push(value);
        drop(st);
        wake(w);
    }

    /// A permit drops unused: its slot goes to the next waiting sender,
    /// or (closed) the receiver may now see the end.
    pub(super) fn permit_release(&self) {
        let mut st = self.lock();
        st.permits -= 1;
        let w = if st.rx_closed {
            if st.buffer.is_empty() && st.nothing_can_come() {
                st.rx_waker.take()
            } else {
                None
            }
        } else {
            st.grant()
        };
        drop(st);
        wake(w);
    }
}

impl<T> Chan<T> {
    /// The receiver's poll (only the receiver calls it: one waker slot).
    pub(super) fn poll_recv(&self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        if !crate::coop::poll_proceed(cx) {
            return Poll::Pending;
        }
        let mut st = self.lock();
        if let Some(v) = st.buffer.pop_front() {
            let w = st.grant();
            drop(st);
            wake(w);
            return Poll::Ready(Some(v));
        }
        if st.nothing_can_come() {
            return Poll::Ready(None);
        }
        match &mut st.rx_waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            slot => *slot = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

/// A sender's place in the line for a slot: given up (and a slot handed
/// to it passed on) when dropped.
pub(super) struct SlotWait<'a, T> {
    chan: &'a Chan<T>,
    id: Option<u64>,
}

impl<'a, T> SlotWait<'a, T> {
    pub(super) fn new(chan: &'a Chan<T>) -> SlotWait<'a, T> {
        SlotWait { chan, id: None }
    }

    /// `Ready(Some(guard))`: a slot is the caller's, counted nowhere yet;
    /// the caller fills it (`push`) or makes it a permit (`add_permit`)
    /// before releasing the guard. `Ready(None)`: the channel is closed.
    pub(super) fn poll_slot(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<FastMutexGuard<'a, State<T>>>> {
        let mut st = self.chan.lock();
        if let Some(id) = self.id {
            if st.take_granted(id) {
                self.id = None;
                if st.rx_closed {
                    return Poll::Ready(None);
                }
                return Poll::Ready(Some(st));
            }
            if st.rx_closed {
                st.remove_waiter(id);
                self.id = None;
                return Poll::Ready(None);
            }
            if let Some(entry) = st.waiters.iter_mut().find(|(i, _)| *i == id) {
                if !entry.1.will_wake(cx.waker()) {
                    entry.1 = cx.waker().clone();
                }
            }
            return Poll::Pending;
        }
        if st.rx_closed {
            return Poll::Ready(None);
        }
        // Senders wait only while no slot is free: a free slot means
        // nobody is ahead of us.
        if st.free() > 0 {
            return Poll::Ready(Some(st));
        }
        let id = st.next_id();
        st.waiters.push_back((id, cx.waker().clone()));
        self.id = Some(id);
        Poll::Pending
    }
}

impl<T> Drop for SlotWait<'_, T> {
    fn drop(&mut self) {
        let Some(id) = self.id.take() else { return };
        let mut st = self.chan.lock();
        let w = if st.take_granted(id) {
            // Handed a slot we never took: pass it on.
            st.grant()
        } else {
            st.remove_waiter(id);
            None
        };
        drop(st);
        wake(w);
    }
}
