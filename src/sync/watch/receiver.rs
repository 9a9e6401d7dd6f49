//! `watch`'s receiving half and the read guard `Ref`.

use crate::task::core::wait::{Leaf, WaitKind};
use std::fmt;
use std::future::Future;
use std::ops::Deref;
use std::panic::Location;
use std::task::{Context, Poll};

use crate::loom::sync::Arc;
use crate::loom::FastRwLockReadGuard;

use super::error::RecvError;
use super::{new_receiver, wake_all, Shared};

/// A receiving half: reads the latest value and waits for changes.
/// Clones start with the same value marked seen.
pub struct Receiver<T> {
    pub(super) shared: Arc<Shared<T>>,
    /// The version last marked seen.
    pub(super) seen: u64,
    pub(super) id: u64,
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("watch::Receiver")
            .field("seen", &self.seen)
            .finish_non_exhaustive()
    }
}

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Receiver<T> {
        new_receiver(&self.shared, Some(self.seen))
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let mut st = self.shared.lock();
        st.receivers -= 1;
        let waiters = if st.receivers == 0 {
            std::mem::take(&mut st.tx_waiters)
        } else {
            Vec::new()
        };
        drop(st);
        wake_all(waiters);
    }
}

impl<T> Receiver<T> {
    /// The current value, read-locked while the [`Ref`] lives; does not
    /// mark it seen ([`Ref::has_changed`] tells whether it was new).
    pub fn borrow(&self) -> Ref<'_, T> {
        let guard = self.shared.value.read();
        let has_changed = self.shared.lock().version != self.seen;
        Ref { guard, has_changed }
    }

    /// The current value, marking it seen.
    pub fn borrow_and_update(&mut self) -> Ref<'_, T> {
        let guard = self.shared.value.read();
        let version = self.shared.lock().version;
        let has_changed = version != self.seen;
        self.seen = version;
        Ref { guard, has_changed }
    }

    /// Waits for a value newer than the last one seen and marks it seen
    /// (returns at once if there is one). Fails once every sender is gone
    /// and the newest value was seen.
    ///
    /// Cancel-safe: a dropped `changed` marks nothing seen and leaves no
    /// waker behind.
    ///
    /// ```
    /// ferrio::run(async {
    ///     let (tx, mut rx) = ferrio::sync::watch::channel(0);
    ///     for i in 1..=3 {
    ///         tx.send(i).unwrap();
    ///     }
    ///     rx.changed().await.unwrap(); // three sends, one change
    ///     assert_eq!(*rx.borrow(), 3);
    ///     drop(tx);
    ///     assert!(rx.changed().await.is_err());
    /// });
    /// ```
    #[track_caller]
    pub fn changed(&mut self) -> impl Future<Output = Result<(), RecvError>> + '_ {
        Leaf::new(WaitKind::ChannelRecv, 0, Location::caller(), async move {
            struct Unregister<'a, T> {
                shared: &'a Shared<T>,
                id: u64,
                /// The round of `rx_waiters` we are registered in.
                round: Option<u64>,
            }
            impl<T> Drop for Unregister<'_, T> {
                fn drop(&mut self) {
                    let Some(round) = self.round else { return };
                    let mut st = self.shared.lock();
                    if st.round == round {
                        if let Some(p) = st.rx_waiters.iter().position(|(i, _)| *i == self.id) {
                            let (_, w) = st.rx_waiters.swap_remove(p);
                            drop(st);
                            drop(w);
                        }
                    }
                }
            }
            let Receiver { shared, seen, id } = self;
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
                if st.version != *seen {
                    *seen = st.version;
                    return Poll::Ready(Ok(()));
                }
                if st.senders == 0 {
                    return Poll::Ready(Err(RecvError(())));
                }
                let round = st.round;
                if reg.round == Some(round) {
                    if let Some(e) = st.rx_waiters.iter_mut().find(|(i, _)| *i == reg.id) {
                        if !e.1.will_wake(cx.waker()) {
                            e.1 = cx.waker().clone();
                        }
                    }
                } else {
                    st.rx_waiters.push((reg.id, cx.waker().clone()));
                    reg.round = Some(round);
                }
                Poll::Pending
            })
            .await
        })
    }

    /// Whether a value newer than the last one seen is there; `Err` once
    /// every sender is gone (as tokio's, even with an unseen value).
    pub fn has_changed(&self) -> Result<bool, RecvError> {
        let st = self.shared.lock();
        if st.senders == 0 {
            return Err(RecvError(()));
        }
        Ok(st.version != self.seen)
    }

    /// Marks the current value unseen: `changed` returns at once.
    pub fn mark_changed(&mut self) {
        let version = self.shared.lock().version;
        self.seen = version.wrapping_sub(1);
    }

    /// Marks the current value seen without reading it.
    pub fn mark_unchanged(&mut self) {
        self.seen = self.shared.lock().version;
    }

    /// True once every sender is gone.
    pub fn is_closed(&self) -> bool {
        self.shared.lock().senders == 0
    }

    /// True when both receivers belong to the same channel.
    pub fn same_channel(&self, other: &Receiver<T>) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }
}

/// A read-locked view of the value ([`Receiver::borrow`],
/// [`Sender::borrow`](super::Sender::borrow)). Sends wait while it
/// lives: drop it soon, and never hold it across an `.await`.
pub struct Ref<'a, T> {
    pub(super) guard: FastRwLockReadGuard<'a, T>,
    pub(super) has_changed: bool,
}

impl<T> Ref<'_, T> {
    /// Whether the value was newer than the receiver's last seen one
    /// when borrowed (always false from
    /// [`Sender::borrow`](super::Sender::borrow)).
    pub fn has_changed(&self) -> bool {
        self.has_changed
    }
}

impl<T> Deref for Ref<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.guard
    }
}

impl<T: fmt::Debug> fmt::Debug for Ref<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self).fmt(f)
    }
}
