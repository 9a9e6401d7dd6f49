//! A single-value channel that keeps only the latest value, with tokio's
//! `watch` semantics: senders replace the value, receivers read it in
//! place and wait for it to change.
//!
//! Each send bumps a version counter; a receiver remembers the version it
//! last saw. [`changed`](Receiver::changed) completes as soon as the
//! version differs (several sends in between coalesce into one change:
//! the receiver sees only the newest value) and marks it seen; it fails
//! once every sender is gone and nothing new is there. The value created
//! with the channel counts as seen.
//!
//! The value lives behind a reader-writer lock:
//! [`borrow`](Receiver::borrow) holds a read lock for as long as its
//! [`Ref`] lives, and a send waits (blocking its thread) until every
//! `Ref` is gone. Keep borrows short and never hold one across an
//! `.await`, nor while sending on the same channel (that deadlocks, as
//! in tokio).
//!
//! # Cancellation
//!
//! [`changed`](Receiver::changed) and [`closed`](Sender::closed) are
//! cancel-safe: a dropped `changed` marks nothing seen, and neither
//! leaves a waker behind.
//!
//! ```
//! use ferrio::sync::watch;
//!
//! ferrio::run(async {
//!     let (tx, mut rx) = watch::channel("starting");
//!     let watcher = ferrio::spawn(async move {
//!         let mut seen = Vec::new();
//!         while rx.changed().await.is_ok() {
//!             seen.push(*rx.borrow_and_update());
//!         }
//!         seen
//!     });
//!     tx.send("running").unwrap();
//!     drop(tx); // `changed` fails once the last value was seen
//!     assert_eq!(watcher.await.unwrap(), ["running"]);
//! });
//! ```

pub mod error;
mod receiver;

use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::task::{Context, Poll, Waker};

use crate::task::core::wait::{Leaf, WaitKind};

use crate::loom::sync::Arc;
use crate::loom::{FastMutex, FastMutexGuard, FastRwLock};

use error::SendError;
pub use receiver::{Receiver, Ref};

struct Shared<T> {
    /// Locked before `state` whenever both are taken.
    value: FastRwLock<T>,
    state: FastMutex<State>,
}

struct State {
    /// Bumped by every change, while the value's write lock is held: a
    /// version read under the read lock is that of the value seen.
    version: u64,
    senders: usize,
    receivers: usize,
    next_id: u64,
    /// Receivers waiting in `changed`: (receiver id, waker). Emptied by
    /// every change and by the last sender's drop.
    rx_waiters: Vec<(u64, Waker)>,
    /// Bumped each time `rx_waiters` is emptied.
    round: u64,
    /// `Sender::closed` futures, emptied when the last receiver drops.
    tx_waiters: Vec<(u64, Waker)>,
}

impl State {
    fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn take_rx_waiters(&mut self) -> Vec<(u64, Waker)> {
        self.round += 1;
        std::mem::take(&mut self.rx_waiters)
    }
}

fn wake_all(waiters: Vec<(u64, Waker)>) {
    for (_, w) in waiters {
        w.wake();
    }
}

impl<T> Shared<T> {
    fn lock(&self) -> FastMutexGuard<'_, State> {
        self.state.lock()
    }
}

/// A new receiver, having seen `seen` (default: the current version).
fn new_receiver<T>(shared: &Arc<Shared<T>>, seen: Option<u64>) -> Receiver<T> {
    let mut st = shared.lock();
    st.receivers += 1;
    let id = st.next_id();
    let seen = seen.unwrap_or(st.version);
    drop(st);
    Receiver {
        shared: shared.clone(),
        seen,
        id,
    }
}

/// A watch channel holding `init` (tokio's `watch::channel`); the
/// receiver counts `init` as seen.
///
/// ```
/// let (tx, rx) = ferrio::sync::watch::channel(0);
/// tx.send_modify(|v| *v += 1);
/// assert_eq!(*rx.borrow(), 1);
/// assert!(rx.has_changed().unwrap());
/// ```
pub fn channel<T>(init: T) -> (Sender<T>, Receiver<T>) {
    let tx = Sender::new(init);
    let rx = tx.subscribe();
    (tx, rx)
}

/// The sending half; clone it for more senders. Receivers see the
/// channel closed once every clone is dropped.
pub struct Sender<T> {
    shared: Arc<Shared<T>>,
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.shared.lock();
        f.debug_struct("watch::Sender")
            .field("version", &st.version)
            .field("receivers", &st.receivers)
            .finish_non_exhaustive()
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
            st.take_rx_waiters()
        } else {
            Vec::new()
        };
        drop(st);
        wake_all(waiters);
    }
}

impl<T> Sender<T> {
    /// A sender holding `init`, with no receiver yet (see
    /// [`subscribe`](Sender::subscribe)).
    pub fn new(init: T) -> Sender<T> {
        Sender {
            shared: Arc::new(Shared {
                value: FastRwLock::new(init),
                state: FastMutex::new(State {
                    version: 0,
                    senders: 1,
                    receivers: 0,
                    next_id: 0,
                    rx_waiters: Vec::new(),
                    round: 0,
                    tx_waiters: Vec::new(),
                }),
            }),
        }
    }

    /// Replaces the value and notifies the receivers. Fails, handing the
    /// value back (not storing it), when there is no receiver.
    pub fn send(&self, value: T) -> Result<(), SendError<T>> {
        let mut guard = self.shared.value.write();
        let mut st = self.shared.lock();
        if st.receivers == 0 {
            drop(st);
            drop(guard);
            return Err(SendError(value));
        }
        st.version += 1;
        let waiters = st.take_rx_waiters();
        drop(st);
        let old = std::mem::replace(&mut *guard, value);
        drop(guard);
        wake_all(waiters);
        drop(old);
        Ok(())
    }

    /// Replaces the value whether or not a receiver exists, notifies the
    /// receivers, and returns the previous value.
    pub fn send_replace(&self, value: T) -> T {
        let mut value = Some(value);
        let mut old = None;
        self.send_if_modified(|v| {
            old = Some(std::mem::replace(v, value.take().expect("called once")));
            true
        });
        old.expect("the closure ran")
    }

    /// Modifies the value in place (whether or not a receiver exists) and
    /// notifies the receivers. `modify` runs under the write lock: it
    /// must not use this channel. If it panics, the panic propagates,
    /// what it changed stays, and nobody is notified.
    pub fn send_modify(&self, modify: impl FnOnce(&mut T)) {
        self.send_if_modified(|v| {
            modify(v);
            true
        });
    }

    /// Modifies the value in place and notifies the receivers only if
    /// `modify` returns true (its return value is returned). Runs as
    /// [`send_modify`](Sender::send_modify).
    ///
    /// ```
    /// let (tx, rx) = ferrio::sync::watch::channel(1);
    /// let bump_odd = |v: &mut i32| {
    ///     if *v % 2 == 1 {
    ///         *v += 1;
    ///         true
    ///     } else {
    ///         false
    ///     }
    /// };
    /// assert!(tx.send_if_modified(bump_odd));
    /// assert!(!tx.send_if_modified(bump_odd)); // 2: unchanged, nobody woken
    /// assert_eq!(*rx.borrow(), 2);
    /// ```
    pub fn send_if_modified(&self, modify: impl FnOnce(&mut T) -> bool) -> bool {
        let mut guard = self.shared.value.write();
        if !modify(&mut guard) {
            return false;
        }
        let waiters = {
            let mut st = self.shared.lock();
            st.version += 1;
            st.take_rx_waiters()
        };
        drop(guard);
        wake_all(waiters);
        true
    }

    /// The current value, read-locked while the [`Ref`] lives (its
    /// [`has_changed`](Ref::has_changed) is false).
    pub fn borrow(&self) -> Ref<'_, T> {
        Ref {
            guard: self.shared.value.read(),
            has_changed: false,
        }
    }

    /// A new receiver; it counts the current value as seen. This reopens
    /// a channel whose receivers were all dropped.
    pub fn subscribe(&self) -> Receiver<T> {
        new_receiver(&self.shared, None)
    }

    /// Receivers alive now.
    pub fn receiver_count(&self) -> usize {
        self.shared.lock().receivers
    }

    /// Senders alive now (this one included).
    pub fn sender_count(&self) -> usize {
        self.shared.lock().senders
    }

    /// True when there is no receiver.
    pub fn is_closed(&self) -> bool {
        self.receiver_count() == 0
    }

    /// Waits until there is no receiver (returns at once if there is
    /// none). Dropping the future leaves nothing behind.
    #[track_caller]
    pub fn closed(&self) -> impl Future<Output = ()> + '_ {
        Leaf::new(WaitKind::ChannelClosed, 0, Location::caller(), async move {
            struct Unregister<'a, T> {
                shared: &'a Shared<T>,
                id: Option<u64>,
            }
            impl<T> Drop for Unregister<'_, T> {
                fn drop(&mut self) {
                    let Some(id) = self.id else { return };
                    let mut st = self.shared.lock();
                    if let Some(p) = st.tx_waiters.iter().position(|(i, _)| *i == id) {
                        let (_, w) = st.tx_waiters.swap_remove(p);
                        drop(st);
                        drop(w);
                    }
                }
            }
            let shared: &Shared<T> = &self.shared;
            let mut reg = Unregister { shared, id: None };
            std::future::poll_fn(|cx: &mut Context<'_>| {
                let mut st = shared.lock();
                if st.receivers == 0 {
                    return Poll::Ready(());
                }
                let entry = reg
                    .id
                    .and_then(|id| st.tx_waiters.iter_mut().find(|(i, _)| *i == id));
                match entry {
                    Some(e) => {
                        if !e.1.will_wake(cx.waker()) {
                            e.1 = cx.waker().clone();
                        }
                    }
                    None => {
                        // First poll, or our entry went with a close that a
                        // new subscriber has since undone.
                        let id = st.next_id();
                        st.tx_waiters.push((id, cx.waker().clone()));
                        reg.id = Some(id);
                    }
                }
                Poll::Pending
            })
            .await
        })
    }

    /// True when both senders belong to the same channel.
    pub fn same_channel(&self, other: &Sender<T>) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }
}
