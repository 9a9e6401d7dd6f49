//! The bounded channel: `Sender`, `Receiver`, `Permit`.

use crate::task::core::wait::{self, Leaf, WaitKind};
use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::chan::{Chan, SlotWait};
use super::ends::{Rx, Tx};
use super::error::{SendError, TryRecvError, TrySendError};

/// A bounded channel of `capacity` slots (tokio's `mpsc::channel`).
///
/// A send waits while every slot is taken; senders waiting are served in
/// arrival order. A slot comes free when the receiver takes a value.
///
/// # Panics
/// When `capacity` is 0 (as tokio's): a bounded channel needs a slot.
/// Use [`unbounded_channel`](super::unbounded_channel) for no bound.
///
/// ```
/// ferrio::run(async {
///     let (tx, mut rx) = ferrio::sync::mpsc::channel(2);
///     let producer = ferrio::spawn(async move {
///         for i in 0..5 {
///             tx.send(i).await.unwrap(); // waits while 2 are buffered
///         }
///     });
///     let mut got = Vec::new();
///     while let Some(i) = rx.recv().await {
///         got.push(i); // ends once the sender is gone and all is received
///     }
///     producer.await.unwrap();
///     assert_eq!(got, [0, 1, 2, 3, 4]);
/// });
/// ```
#[track_caller]
pub fn channel<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    assert!(
        capacity > 0,
        "ferrio: mpsc::channel needs a capacity of at least 1 (use unbounded_channel for no bound)"
    );
    let chan = Chan::new(capacity);
    (
        Sender {
            tx: Tx::new(chan.clone()),
        },
        Receiver { rx: Rx::new(chan) },
    )
}

/// The sending half of a bounded channel; clone it for more producers.
/// The channel ends for the receiver once every clone is dropped.
pub struct Sender<T> {
    tx: Tx<T>,
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Sender<T> {
        Sender {
            tx: self.tx.clone(),
        }
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.tx.chan.fmt_as("Sender", f)
    }
}

impl<T> Sender<T> {
    /// Sends `value`, waiting for a free slot. Fails, handing the value
    /// back, once the receiver is closed or dropped.
    ///
    /// Cancellation: dropping the future sends nothing (the value is
    /// dropped with it) and gives up its place in line; a slot already
    /// handed to it goes to the next waiting sender.
    #[track_caller]
    pub fn send(&self, value: T) -> impl Future<Output = Result<(), SendError<T>>> + '_ {
        Leaf::new(WaitKind::ChannelSend, 0, Location::caller(), async move {
            let mut wait = SlotWait::new(&self.tx.chan);
            let mut value = Some(value);
            std::future::poll_fn(|cx| {
                if !crate::coop::poll_proceed(cx) {
                    return Poll::Pending;
                }
                let mut v = || value.take().expect("send polled after completion");
                match wait.poll_slot(cx) {
                    Poll::Pending => Poll::Pending,
                    Poll::Ready(None) => Poll::Ready(Err(SendError(v()))),
                    Poll::Ready(Some(mut st)) => {
                        let w = st.push(v());
                        drop(st);
                        if let Some(w) = w {
                            w.wake();
                        }
                        Poll::Ready(Ok(()))
                    }
                }
            })
            .await
        })
    }

    /// Sends `value` if a slot is free now: `Full` or `Closed` hand it
    /// back. Never takes a slot while senders wait for one.
    ///
    /// ```
    /// use ferrio::sync::mpsc::{self, error::TrySendError};
    ///
    /// let (tx, mut rx) = mpsc::channel(1);
    /// tx.try_send(1).unwrap();
    /// assert_eq!(tx.try_send(2), Err(TrySendError::Full(2)));
    /// assert_eq!(rx.try_recv(), Ok(1));
    /// drop(rx);
    /// assert_eq!(tx.try_send(3), Err(TrySendError::Closed(3)));
    /// ```
    pub fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        self.tx.chan.try_send(value)
    }

    /// Waits for a free slot and holds it as a [`Permit`], which sends
    /// without waiting; dropping the permit returns the slot. Fails once
    /// the receiver is closed or dropped.
    ///
    /// Cancellation: as [`send`](Sender::send), without a value to lose.
    ///
    /// ```
    /// ferrio::run(async {
    ///     let (tx, mut rx) = ferrio::sync::mpsc::channel(1);
    ///     let permit = tx.reserve().await.unwrap();
    ///     assert_eq!(tx.capacity(), 0); // the slot is held
    ///     permit.send("hello");
    ///     assert_eq!(rx.recv().await, Some("hello"));
    ///     drop(tx.reserve().await.unwrap()); // unused: the slot returns
    ///     assert_eq!(tx.capacity(), 1);
    /// });
    /// ```
    #[track_caller]
    pub fn reserve(&self) -> impl Future<Output = Result<Permit<'_, T>, SendError<()>>> + '_ {
        Leaf::new(WaitKind::ChannelSend, 0, Location::caller(), async move {
            let chan = &*self.tx.chan;
            let mut wait = SlotWait::new(chan);
            std::future::poll_fn(|cx| {
                if !crate::coop::poll_proceed(cx) {
                    return Poll::Pending;
                }
                match wait.poll_slot(cx) {
                    Poll::Pending => Poll::Pending,
                    Poll::Ready(None) => Poll::Ready(Err(SendError(()))),
                    Poll::Ready(Some(mut st)) => {
                        st.add_permit();
                        Poll::Ready(Ok(()))
                    }
                }
            })
            .await?;
            Ok(Permit { chan })
        })
    }

    /// A [`Permit`] if a slot is free now (`Full`, or `Closed`).
    pub fn try_reserve(&self) -> Result<Permit<'_, T>, TrySendError<()>> {
        self.tx.chan.try_reserve()?;
        Ok(Permit {
            chan: &self.tx.chan,
        })
    }

    /// Waits until the receiver is closed or dropped (returns at once if
    /// it is). Dropping the future leaves nothing behind.
    ///
    /// ```
    /// ferrio::run(async {
    ///     let (tx, rx) = ferrio::sync::mpsc::channel::<u8>(1);
    ///     let watcher = ferrio::spawn(async move { tx.closed().await; "closed" });
    ///     drop(rx);
    ///     assert_eq!(watcher.await.unwrap(), "closed");
    /// });
    /// ```
    #[track_caller]
    pub fn closed(&self) -> impl Future<Output = ()> + '_ {
        Leaf::new(WaitKind::ChannelClosed, 0, Location::caller(), async move {
            self.tx.closed().await
        })
    }

    /// True once the receiver is closed or dropped.
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// Free slots now: the bound less buffered values, outstanding
    /// permits and slots handed to waiting senders.
    pub fn capacity(&self) -> usize {
        self.tx.chan.capacity()
    }

    /// The bound given to [`channel`].
    pub fn max_capacity(&self) -> usize {
        self.tx.chan.max_capacity()
    }

    /// True when both senders belong to the same channel.
    pub fn same_channel(&self, other: &Sender<T>) -> bool {
        self.tx.same_channel(&other.tx)
    }
}

/// A slot held for one value: [`send`](Permit::send) fills it without
/// waiting; dropping the permit returns the slot (to the next waiting
/// sender). A permit still sends after the receiver closed, and the
/// receiver sees the end only once every permit is gone.
#[must_use = "the slot is returned when the permit drops"]
pub struct Permit<'a, T> {
    chan: &'a Chan<T>,
}

impl<T> Permit<'_, T> {
    /// Sends `value` into the held slot. If the receiver was dropped, the
    /// value is dropped.
    pub fn send(self, value: T) {
        let chan = self.chan;
        std::mem::forget(self);
        chan.permit_send(value);
    }
}

impl<T> Drop for Permit<'_, T> {
    fn drop(&mut self) {
        self.chan.permit_release();
    }
}

impl<T> fmt::Debug for Permit<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit").finish_non_exhaustive()
    }
}

/// The receiving half of a bounded channel. Dropping it closes the
/// channel and drops the values still buffered.
///
/// It is also a [`Stream`](futures_core::Stream) of the values, ending
/// where [`recv`](Receiver::recv) returns `None`.
pub struct Receiver<T> {
    rx: Rx<T>,
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.rx.chan.fmt_as("Receiver", f)
    }
}

impl<T> Receiver<T> {
    /// The next value, waiting for one; `None` once every sender is gone
    /// (or the channel is closed), no permit is out and the buffer is
    /// empty.
    ///
    /// Cancel-safe: dropping the future loses no value and leaves no
    /// waker behind.
    #[track_caller]
    pub fn recv(&mut self) -> impl Future<Output = Option<T>> + '_ {
        Leaf::new(WaitKind::ChannelRecv, 0, Location::caller(), async move {
            self.rx.recv().await
        })
    }

    /// The next value if one is buffered: `Empty` if values may still
    /// come, `Disconnected` if none can.
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        self.rx.try_recv()
    }

    /// Polls for the next value (for hand-written futures and streams).
    /// Only the waker of the latest `Pending` poll is woken. A `Pending`
    /// is a channel receive in a task dump, at the caller's line.
    #[track_caller]
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        wait::pending(self.rx.poll_recv(cx), WaitKind::ChannelRecv, 0)
    }

    /// Closes the channel without dropping the receiver: sends fail from
    /// now on (waiting ones too), outstanding permits may still send, and
    /// the values already buffered are still received before `None`.
    ///
    /// ```
    /// ferrio::run(async {
    ///     let (tx, mut rx) = ferrio::sync::mpsc::channel(4);
    ///     tx.send(1).await.unwrap();
    ///     rx.close();
    ///     assert!(tx.send(2).await.is_err());
    ///     assert_eq!(rx.recv().await, Some(1));
    ///     assert_eq!(rx.recv().await, None);
    /// });
    /// ```
    pub fn close(&mut self) {
        self.rx.close()
    }

    /// Values buffered now.
    pub fn len(&self) -> usize {
        self.rx.len()
    }

    /// True when nothing is buffered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True once every sender is gone or the channel was closed (values
    /// may still be buffered).
    pub fn is_closed(&self) -> bool {
        self.rx.is_closed()
    }

    /// Free slots now (see [`Sender::capacity`]).
    pub fn capacity(&self) -> usize {
        self.rx.chan.capacity()
    }

    /// The bound given to [`channel`].
    pub fn max_capacity(&self) -> usize {
        self.rx.chan.max_capacity()
    }
}

impl<T> futures_core::Stream for Receiver<T> {
    type Item = T;

    #[track_caller]
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.get_mut().poll_recv(cx)
    }
}
