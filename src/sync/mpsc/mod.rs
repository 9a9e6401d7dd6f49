//! Multi-producer, single-consumer channels, with tokio's `mpsc`
//! semantics: [`channel`] (bounded: a send waits for a free slot) and
//! [`unbounded_channel`].
//!
//! - Values arrive in the order they were sent (per sender; the sends of
//!   different senders interleave in the order they got their slots).
//! - The receiver's [`recv`](Receiver::recv) returns `None` once every
//!   sender (every clone) is gone, or the receiver was
//!   [`close`](Receiver::close)d, and the buffer is empty: nothing
//!   buffered is lost to the end of the stream.
//! - Dropping the receiver closes the channel: sends fail, handing their
//!   value back in a [`SendError`](error::SendError).
//! - Bounded senders waiting for a slot are served in arrival order; a
//!   slot comes free when the receiver takes a value (or a
//!   [`Permit`] is dropped unused).
//!
//! Neither half needs a runtime: the futures only need a waker, so the
//! halves work between tasks of any runtime and plain threads (an
//! [`UnboundedSender`] or [`Sender::try_send`] sends from any thread; a
//! thread can wait with [`Handle::block_on`](crate::Handle::block_on)).
//!
//! # Cancellation
//!
//! Every future may be dropped after any poll: a dropped
//! [`recv`](Receiver::recv) loses no value; a dropped
//! [`send`](Sender::send) sends nothing and passes a slot already handed
//! to it on to the next waiting sender (no wake-up is lost); a dropped
//! [`reserve`](Sender::reserve) likewise. None leaves a waker behind.
//!
//! ```
//! use ferrio::sync::mpsc;
//!
//! ferrio::run(async {
//!     let (tx, mut rx) = mpsc::channel(8);
//!     for id in 0..3 {
//!         let tx = tx.clone();
//!         ferrio::spawn(async move { tx.send(id).await.unwrap() });
//!     }
//!     drop(tx); // the clones keep the channel open
//!     let mut got = Vec::new();
//!     while let Some(id) = rx.recv().await {
//!         got.push(id);
//!     }
//!     got.sort();
//!     assert_eq!(got, [0, 1, 2]);
//! });
//! ```

mod bounded;
mod chan;
mod ends;
pub mod error;
mod unbounded;

pub use bounded::{channel, Permit, Receiver, Sender};
pub use unbounded::{unbounded_channel, UnboundedReceiver, UnboundedSender};
