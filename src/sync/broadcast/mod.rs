//! A multi-producer, multi-consumer broadcast channel, with tokio's
//! `broadcast` semantics: every receiver sees every value sent after it
//! subscribed, as long as it keeps up.
//!
//! The channel keeps the last `capacity` values in a ring. A receiver
//! that falls further behind gets [`RecvError::Lagged(n)`](error::RecvError::Lagged):
//! it skipped the `n` oldest values it had not seen, and continues from
//! the oldest one still retained. A value leaves the ring once every
//! receiver that existed when it was sent has seen it (or it is
//! overwritten), so a slow receiver never holds more than `capacity`
//! values in memory. Unlike tokio, the ring holds exactly `capacity`
//! values (tokio rounds it up to a power of two), so lag counts follow
//! the capacity given.
//!
//! One mutex guards the ring and the waiting receivers; each receive
//! clones the value (`T: Clone`) except the last one, which moves it out.
//! `send` never waits.
//!
//! # Cancellation
//!
//! [`recv`](Receiver::recv) is cancel-safe: dropping its future loses no
//! value (the receiver's place in the stream moves only when a value is
//! returned) and leaves no waker behind.
//!
//! ```
//! use ferrio::sync::broadcast::{self, error::RecvError};
//!
//! ferrio::run(async {
//!     let (tx, mut rx1) = broadcast::channel(2);
//!     let mut rx2 = tx.subscribe();
//!     assert_eq!(tx.send(1).unwrap(), 2); // two receivers got it
//!     assert_eq!(rx1.recv().await, Ok(1));
//!     assert_eq!(rx2.recv().await, Ok(1));
//!     for i in 2..=4 {
//!         tx.send(i).unwrap();
//!     }
//!     // The ring holds 2: rx1 missed the value 2.
//!     assert_eq!(rx1.recv().await, Err(RecvError::Lagged(1)));
//!     assert_eq!(rx1.recv().await, Ok(3));
//!     assert_eq!(rx1.recv().await, Ok(4));
//!     drop(tx);
//!     assert_eq!(rx1.recv().await, Err(RecvError::Closed));
//! });
//! ```

pub mod error;

use crate::task::core::wait::{Leaf, WaitKind};
use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::task::{Context, Poll, Waker};

use crate::loom::sync::Arc;
use crate::loom::{FastMutex, FastMutexGuard};

use error::{RecvError, SendError, TryRecvError};

struct Shared<T> {
    state: FastMutex<State<T>>,
}

struct Slot<T> {
    /// Receivers that existed when it was sent and have not seen it.
    rem: usize,
    value: T,
}

struct State<T> {
    /// The retained values, oldest first, at positions `head()..tail`.
    /// A slot leaves from the front when its `rem` reaches zero: a
    /// receiver that has not seen a slot has not seen any later one and
    /// counts in each, so `rem` never decreases along the ring and the
    /// slots nobody needs are always at the front.
    ring: VecDeque<Slot<T>>,
    capacity: usize,
    /// The position of the next value sent (values sent so far).
    tail: u64,
    senders: usize,
    receivers: usize,
    next_id: u64,
    /// Receivers waiting in `recv`: (receiver id, waker). Emptied by each
    /// send and by the last sender's drop.
    waiters: Vec<(u64, Waker)>,
    /// Bumped each time `waiters` is emptied: a `recv` that registered
    /// in an older round knows its entry is gone.
    round: u64,
}

impl<T> State<T> {
    fn head(&self) -> u64 {
        self.tail - self.ring.len() as u64
    }

    fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn take_waiters(&mut self) -> Vec<(u64, Waker)> {
        self.round += 1;
        std::mem::take(&mut self.waiters)
    }
}

fn wake_all(waiters: Vec<(u64, Waker)>) {
    for (_, w) in waiters {
        w.wake();
    }
}

/// A broadcast channel retaining the last `capacity` values, and its
/// first receiver (tokio's `broadcast::channel`). More receivers come
/// from [`Sender::subscribe`]; each sees the values sent after it
/// subscribed.
///
/// # Panics
/// When `capacity` is 0 (as tokio's).
#[track_caller]
pub fn channel<T: Clone>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    assert!(
        capacity > 0,
        "ferrio: broadcast::channel needs a capacity of at least 1"
    );
    let shared = Arc::new(Shared {
        state: FastMutex::new(State {
            ring: VecDeque::new(),
            capacity,
            tail: 0,
            senders: 1,
            receivers: 1,
            next_id: 1,
            waiters: Vec::new(),
            round: 0,
        }),
    });
    let rx = Receiver {
        shared: shared.clone(),
        next: 0,
        id: 1,
    };
    (Sender { shared }, rx)
}

impl<T> Shared<T> {
    fn lock(&self) -> FastMutexGuard<'_, State<T>> {
        self.state.lock()
    }
}

/// A new receiver at the tail.
fn subscribe<T>(shared: &Arc<Shared<T>>) -> Receiver<T> {
    let mut st = shared.lock();
    st.receivers += 1;
    let id = st.next_id();
    let next = st.tail;
    drop(st);
    Receiver {
        shared: shared.clone(),
        next,
        id,
    }
}

/// The sending half; clone it for more producers. The receivers see
/// [`RecvError::Closed`] once every clone is dropped and they have seen
/// every value.
pub struct Sender<T> {
    shared: Arc<Shared<T>>,
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.shared.lock();
        f.debug_struct("broadcast::Sender")
            .field("len", &st.ring.len())
            .field("capacity", &st.capacity)
            .field("receivers", &st.receivers)
            .finish()
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Sender<T> {
        self.shared.lock().senders += 1;
        Sender {
            shared: self.shared.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let mut st = self.shared.lock();
        st.senders -= 1;
        let waiters = if st.senders == 0 {
            st.take_waiters()
        } else {
            Vec::new()
        };
        drop(st);
        wake_all(waiters);
    }
}

impl<T> Sender<T> {
    /// Sends `value` to every current receiver, returning how many there
    /// are; never waits. When the ring is full the oldest value is
    /// overwritten (receivers that had not seen it lag). Fails, handing
    /// the value back, when there is no receiver (the value is not kept
    /// for later subscribers).
    pub fn send(&self, value: T) -> Result<usize, SendError<T>> {
        let mut st = self.shared.lock();
        if st.receivers == 0 {
            return Err(SendError(value));
        }
        let evicted = if st.ring.len() == st.capacity {
            st.ring.pop_front()
        } else {
            None
        };
        let rem = st.receivers;
        st.ring.push_back(Slot { rem, value });
        st.tail += 1;
        let waiters = st.take_waiters();
        drop(st);
        wake_all(waiters);
        drop(evicted);
        Ok(rem)
    }

    /// A new receiver, seeing the values sent from now on.
    pub fn subscribe(&self) -> Receiver<T> {
        subscribe(&self.shared)
    }

    /// Receivers alive now.
    pub fn receiver_count(&self) -> usize {
        self.shared.lock().receivers
    }

    /// Values retained: sent and not yet seen by every receiver that
    /// existed when they were sent (at most the capacity).
    pub fn len(&self) -> usize {
        self.shared.lock().ring.len()
    }

    /// True when no value is retained.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True when both senders belong to the same channel.
    pub fn same_channel(&self, other: &Sender<T>) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }
}

/// A receiving half: sees every value sent after it was created (while
/// it keeps up with the ring). Dropping it releases the values only it
/// had left to see.
pub struct Receiver<T> {
    shared: Arc<Shared<T>>,
    /// The position of the next value to receive.
    next: u64,
    id: u64,
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("broadcast::Receiver")
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}

enum Take<T> {
    Value(T),
    Lagged(u64),
    Closed,
    Empty,
}

/// Takes the next value for the receiver at `next`.
fn take<T: Clone>(st: &mut State<T>, next: &mut u64) -> Take<T> {
    let head = st.head();
    if *next < head {
        let skipped = head - *next;
        *next = head;
        return Take::Lagged(skipped);
    }
    if *next < st.tail {
        let idx = (*next - head) as usize;
        *next += 1;
        let slot = &mut st.ring[idx];
        slot.rem -= 1;
        if slot.rem > 0 {
            return Take::Value(slot.value.clone());
        }
        // The last reader: the slot is the front one (see `State::ring`).
        debug_assert_eq!(idx, 0, "a slot nobody needs behind one still needed");
        let slot = st.ring.pop_front().expect("the front slot");
        return Take::Value(slot.value);
    }
    if st.senders == 0 {
        Take::Closed
    } else {
        Take::Empty
    }
}

impl<T: Clone> Receiver<T> {
    /// The next value, waiting for one: `Lagged(n)` when `n` values were
    /// overwritten before this receiver saw them (the next call returns
    /// the oldest value retained), `Closed` once every sender is gone and
    /// every value was seen.
    ///
    /// Cancel-safe: dropping the future loses no value and leaves no
    /// waker behind.
    #[track_caller]
    pub fn recv(&mut self) -> impl Future<Output = Result<T, RecvError>> + '_ {
        Leaf::new(WaitKind::ChannelRecv, 0, Location::caller(), async move {
            struct Unregister<'a, T> {
                shared: &'a Shared<T>,
                id: u64,
                /// The round of `waiters` we are registered in.
                round: Option<u64>,
            }
            impl<T> Drop for Unregister<'_, T> {
                fn drop(&mut self) {
                    let Some(round) = self.round else { return };
                    let mut st = self.shared.lock();
                    if st.round == round {
                        if let Some(p) = st.waiters.iter().position(|(i, _)| *i == self.id) {
                            let (_, w) = st.waiters.swap_remove(p);
                            drop(st);
                            drop(w);
                        }
                    }
                }
            }
            let Receiver { shared, next, id } = self;
            let shared: &Shared<T> = shared;
            let mut reg = Unregister {
                shared,
                id: *id,
                round: None,
            };
            std::future::poll_fn(|cx: &mut Context<'_>| {
                if !crate::coop::poll_proceed(cx) {
                    return Poll::Pending;
                }
                let mut st = shared.lock();
                let out = match take(&mut st, next) {
                    Take::Value(v) => Ok(v),
                    Take::Lagged(n) => Err(RecvError::Lagged(n)),
                    Take::Closed => Err(RecvError::Closed),
                    Take::Empty => {
                        let round = st.round;
                        if reg.round == Some(round) {
                            if let Some(e) = st.waiters.iter_mut().find(|(i, _)| *i == reg.id) {
                                if !e.1.will_wake(cx.waker()) {
                                    e.1 = cx.waker().clone();
                                }
                            }
                        } else {
                            st.waiters.push((reg.id, cx.waker().clone()));
                            reg.round = Some(round);
                        }
                        return Poll::Pending;
                    }
                };
                // Done: our entry (if any) goes with the Unregister guard.
                drop(st);
                Poll::Ready(out)
            })
            .await
        })
    }

    /// The next value if there is one now: `Empty`, `Lagged(n)` or
    /// `Closed` otherwise.
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        let mut st = self.shared.lock();
        match take(&mut st, &mut self.next) {
            Take::Value(v) => Ok(v),
            Take::Lagged(n) => Err(TryRecvError::Lagged(n)),
            Take::Closed => Err(TryRecvError::Closed),
            Take::Empty => Err(TryRecvError::Empty),
        }
    }

    /// A new receiver on the same channel, starting at the tail (it does
    /// not see the values this one has yet to receive).
    pub fn resubscribe(&self) -> Receiver<T> {
        subscribe(&self.shared)
    }
}

impl<T> Receiver<T> {
    /// Values sent that this receiver has yet to receive (those it lags
    /// behind included).
    pub fn len(&self) -> usize {
        let st = self.shared.lock();
        (st.tail - self.next) as usize
    }

    /// True when this receiver has seen every value sent.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True once every sender is gone (values may still be waiting for
    /// this receiver).
    pub fn is_closed(&self) -> bool {
        self.shared.lock().senders == 0
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let mut st = self.shared.lock();
        st.receivers -= 1;
        // Every retained slot from our position on counts us.
        let start = self.next.saturating_sub(st.head()) as usize;
        for slot in st.ring.range_mut(start..) {
            slot.rem -= 1;
        }
        let mut released = Vec::new();
        while st.ring.front().is_some_and(|s| s.rem == 0) {
            released.extend(st.ring.pop_front());
        }
        drop(st);
        drop(released);
    }
}
