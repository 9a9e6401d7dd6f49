//! The unbounded channel: `UnboundedSender`, `UnboundedReceiver`.

use crate::task::core::wait::{self, Leaf, WaitKind};
use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::chan::Chan;
use super::ends::{Rx, Tx};
use super::error::{SendError, TryRecvError};

/// A channel without a bound (tokio's `mpsc::unbounded_channel`): a send
/// never waits, so the buffer grows as long as the receiver lags.
///
/// ```
/// let (tx, mut rx) = ferrio::sync::mpsc::unbounded_channel();
/// let tx2 = tx.clone();
/// std::thread::spawn(move || tx2.send("from a thread").unwrap())
///     .join()
///     .unwrap();
/// tx.send("from here").unwrap();
/// drop(tx);
/// ferrio::run(async move {
///     assert_eq!(rx.recv().await, Some("from a thread"));
///     assert_eq!(rx.recv().await, Some("from here"));
///     assert_eq!(rx.recv().await, None); // every sender is gone
/// });
/// ```
pub fn unbounded_channel<T>() -> (UnboundedSender<T>, UnboundedReceiver<T>) {
    let chan = Chan::new(usize::MAX);
    (
        UnboundedSender {
            tx: Tx::new(chan.clone()),
        },
        UnboundedReceiver { rx: Rx::new(chan) },
    )
}

/// The sending half of an unbounded channel; clone it for more
/// producers. Sending needs no runtime: any thread may send.
pub struct UnboundedSender<T> {
    tx: Tx<T>,
}

impl<T> Clone for UnboundedSender<T> {
    fn clone(&self) -> UnboundedSender<T> {
        UnboundedSender {
            tx: self.tx.clone(),
        }
    }
}

impl<T> fmt::Debug for UnboundedSender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.tx.chan.fmt_as("UnboundedSender", f)
    }
}

impl<T> UnboundedSender<T> {
    /// Sends `value` at once; fails, handing it back, once the receiver
    /// is closed or dropped.
    pub fn send(&self, value: T) -> Result<(), SendError<T>> {
        self.tx.chan.send_unbounded(value)
    }

    /// Waits until the receiver is closed or dropped (returns at once if
    /// it is). Dropping the future leaves nothing behind.
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

    /// True when both senders belong to the same channel.
    pub fn same_channel(&self, other: &UnboundedSender<T>) -> bool {
        self.tx.same_channel(&other.tx)
    }
}

/// The receiving half of an unbounded channel. Dropping it closes the
/// channel and drops the values still buffered.
///
/// It is also a [`Stream`](futures_core::Stream) of the values.
pub struct UnboundedReceiver<T> {
    rx: Rx<T>,
}

impl<T> fmt::Debug for UnboundedReceiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.rx.chan.fmt_as("UnboundedReceiver", f)
    }
}

impl<T> UnboundedReceiver<T> {
    /// The next value, waiting for one; `None` once every sender is gone
    /// (or the channel is closed) and the buffer is empty.
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
    /// now on; the values already buffered are still received before
    /// `None`.
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
}

impl<T> futures_core::Stream for UnboundedReceiver<T> {
    type Item = T;

    #[track_caller]
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.get_mut().poll_recv(cx)
    }
}
