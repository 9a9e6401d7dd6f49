//! The two ends' shares of the channel: `Tx` (the sender count, the
//! `closed()` wait) and `Rx` (receiving, `close`, and the drop that closes
//! the channel and drops what is buffered). The protocol is described in
//! `chan.rs`.

use std::task::{Context, Poll, Waker};

use crate::loom::sync::Arc;

use super::chan::{wake, wake_all, Chan};
use super::error::TryRecvError;

/// The sending side's share of the channel: counts the senders.
pub(super) struct Tx<T> {
    pub(super) chan: Arc<Chan<T>>,
}

impl<T> Tx<T> {
    pub(super) fn new(chan: Arc<Chan<T>>) -> Tx<T> {
        Tx { chan }
    }

    pub(super) fn is_closed(&self) -> bool {
        self.chan.lock().rx_closed
    }

    pub(super) fn same_channel(&self, other: &Tx<T>) -> bool {
        Arc::ptr_eq(&self.chan, &other.chan)
    }

    /// Waits until the receiver closes or drops.
    pub(super) async fn closed(&self) {
        let mut wait = ClosedWait {
            chan: &self.chan,
            id: None,
        };
        std::future::poll_fn(|cx| wait.poll(cx)).await
    }
}

impl<T> Clone for Tx<T> {
    fn clone(&self) -> Tx<T> {
        self.chan.lock().senders += 1;
        Tx {
            chan: self.chan.clone(),
        }
    }
}

impl<T> Drop for Tx<T> {
    fn drop(&mut self) {
        let mut st = self.chan.lock();
        st.senders -= 1;
        let w = if st.senders == 0 {
            st.rx_waker.take()
        } else {
            None
        };
        drop(st);
        wake(w);
    }
}

struct ClosedWait<'a, T> {
    chan: &'a Chan<T>,
    id: Option<u64>,
}

impl<T> ClosedWait<'_, T> {
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let mut st = self.chan.lock();
        if st.rx_closed {
            // `close` took every entry.
            self.id = None;
            return Poll::Ready(());
        }
        match self.id {
            Some(id) => {
                if let Some(entry) = st.closed_waiters.iter_mut().find(|(i, _)| *i == id) {
                    if !entry.1.will_wake(cx.waker()) {
                        entry.1 = cx.waker().clone();
                    }
                }
            }
            None => {
                let id = st.next_id();
                st.closed_waiters.push((id, cx.waker().clone()));
                self.id = Some(id);
            }
        }
        Poll::Pending
    }
}

impl<T> Drop for ClosedWait<'_, T> {
    fn drop(&mut self) {
        if let Some(id) = self.id.take() {
            let mut st = self.chan.lock();
            if let Some(p) = st.closed_waiters.iter().position(|(i, _)| *i == id) {
                st.closed_waiters.swap_remove(p);
            }
        }
    }
}

/// The receiving side: closes the channel and drops what is buffered
/// when dropped.
pub(super) struct Rx<T> {
    pub(super) chan: Arc<Chan<T>>,
}

impl<T> Rx<T> {
    pub(super) fn new(chan: Arc<Chan<T>>) -> Rx<T> {
        Rx { chan }
    }

    pub(super) fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.chan.poll_recv(cx)
    }

    /// `poll_recv` until ready; a dropped wait takes its waker back.
    pub(super) async fn recv(&mut self) -> Option<T> {
        struct Unregister<'a, T> {
            chan: &'a Chan<T>,
            waiting: bool,
        }
        impl<T> Drop for Unregister<'_, T> {
            fn drop(&mut self) {
                if self.waiting {
                    let waker = self.chan.lock().rx_waker.take();
                    drop(waker);
                }
            }
        }
        let chan = &*self.chan;
        let mut guard = Unregister {
            chan,
            waiting: false,
        };
        std::future::poll_fn(|cx| {
            let p = chan.poll_recv(cx);
            guard.waiting = p.is_pending();
            p
        })
        .await
    }

    pub(super) fn try_recv(&mut self) -> Result<T, TryRecvError> {
        let mut st = self.chan.lock();
        if let Some(v) = st.buffer.pop_front() {
            let w = st.grant();
            drop(st);
            wake(w);
            return Ok(v);
        }
        if st.nothing_can_come() {
            Err(TryRecvError::Disconnected)
        } else {
            Err(TryRecvError::Empty)
        }
    }

    pub(super) fn close(&mut self) {
        let (waiters, closed) = {
            let mut st = self.chan.lock();
            if st.rx_closed {
                return;
            }
            st.rx_closed = true;
            // Slots handed to waiting senders are void: they fail.
            st.granted.clear();
            let waiters: Vec<Waker> = st.waiters.drain(..).map(|(_, w)| w).collect();
            let closed: Vec<Waker> = st.closed_waiters.drain(..).map(|(_, w)| w).collect();
            (waiters, closed)
        };
        wake_all(waiters);
        wake_all(closed);
    }

    pub(super) fn len(&self) -> usize {
        self.chan.lock().buffer.len()
    }

    pub(super) fn is_closed(&self) -> bool {
        let st = self.chan.lock();
        st.rx_closed || st.senders == 0
    }
}

impl<T> Drop for Rx<T> {
    fn drop(&mut self) {
        self.close();
        let buffered = {
            let mut st = self.chan.lock();
            st.rx_dropped = true;
            (std::mem::take(&mut st.buffer), st.rx_waker.take())
        };
        drop(buffered);
    }
}
