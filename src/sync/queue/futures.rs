//! The `put` and `get` futures: a place in line, given up when dropped.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::{wake_all, BaseQueue, PutError, QueueError, Store};

/// The future returned by [`BaseQueue::put`].
#[must_use = "futures do nothing unless awaited"]
pub struct Put<'a, T, S: Store<T>> {
    pub(super) queue: &'a BaseQueue<T, S>,
    /// The item, until it is queued (it never leaves the future before).
    pub(super) item: Option<T>,
    /// Our place in the putters' line.
    pub(super) id: Option<u64>,
}

impl<T, S: Store<T>> std::fmt::Debug for Put<'_, T, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Put")
            .field("queued", &self.item.is_none())
            .finish_non_exhaustive()
    }
}

impl<T, S: Store<T>> Unpin for Put<'_, T, S> {}

impl<T, S: Store<T>> Future for Put<'_, T, S> {
    type Output = Result<(), PutError<T>>;

    #[track_caller]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        #[allow(clippy::redundant_closure_call)]
        let out = (|| -> Poll<Self::Output> {
            if !crate::coop::poll_proceed(cx) {
                return Poll::Pending;
            }
            let this = &mut *self;
            let mut st = this.queue.lock();
            let mut admitted = false;
            if let Some(id) = this.id {
                if st.take_admitted(id) {
                    admitted = true;
                    this.id = None;
                } else if st.shutdown {
                    if let Some(p) = st.putters.iter().position(|(i, _)| *i == id) {
                        st.putters.remove(p);
                    }
                    this.id = None;
                } else {
                    if let Some(entry) = st.putters.iter_mut().find(|(i, _)| *i == id) {
                        if !entry.1.will_wake(cx.waker()) {
                            entry.1 = cx.waker().clone();
                        }
                    }
                    return Poll::Pending;
                }
            }
            let item = this.item.take().expect("Put polled after completion");
            if st.shutdown {
                // A slot reserved for us goes to nobody: the queue is closed.
                return Poll::Ready(Err(PutError {
                    item,
                    error: QueueError::ShutDown,
                }));
            }
            if admitted || (!st.full() && st.putters.is_empty()) {
                let wake = st.offer(item);
                drop(st);
                wake_all(wake);
                return Poll::Ready(Ok(()));
            }
            // Full: wait in line (the item stays with us).
            let id = st.next_id();
            st.putters.push_back((id, cx.waker().clone()));
            this.id = Some(id);
            this.item = Some(item);
            Poll::Pending
        })();
        if out.is_pending() {
            crate::task::core::wait::record(crate::task::core::wait::WaitKind::QueuePut, 0);
        }
        out
    }
}

impl<T, S: Store<T>> Drop for Put<'_, T, S> {
    fn drop(&mut self) {
        if let Some(id) = self.id.take() {
            let mut st = self.queue.lock();
            let wake = if st.take_admitted(id) {
                // A slot was reserved for us: pass it on.
                st.admit_putters()
            } else {
                if let Some(p) = st.putters.iter().position(|(i, _)| *i == id) {
                    st.putters.remove(p);
                }
                Vec::new()
            };
            drop(st);
            wake_all(wake);
        }
    }
}

/// The future returned by [`BaseQueue::get`].
#[must_use = "futures do nothing unless awaited"]
pub struct Get<'a, T, S: Store<T>> {
    pub(super) queue: &'a BaseQueue<T, S>,
    /// Our place in the getters' line (or our claim, once woken).
    pub(super) id: Option<u64>,
}

impl<T, S: Store<T>> std::fmt::Debug for Get<'_, T, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Get")
            .field("in_line", &self.id.is_some())
            .finish_non_exhaustive()
    }
}

impl<T, S: Store<T>> Future for Get<'_, T, S> {
    type Output = Result<T, QueueError>;

    #[track_caller]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        #[allow(clippy::redundant_closure_call)]
        let out = (|| -> Poll<Self::Output> {
            if !crate::coop::poll_proceed(cx) {
                return Poll::Pending;
            }
            let this = &mut *self;
            let mut st = this.queue.lock();
            if let Some(id) = this.id {
                if st.take_claim(id) {
                    this.id = None;
                    let (item, wake) = st.take();
                    drop(st);
                    wake_all(wake);
                    return Poll::Ready(Ok(item));
                }
                if st.closed_for_getters() {
                    this.id = None;
                    if let Some(p) = st.getters.iter().position(|(i, _)| *i == id) {
                        st.getters.remove(p);
                    }
                    return Poll::Ready(Err(QueueError::ShutDown));
                }
                if let Some(entry) = st.getters.iter_mut().find(|(i, _)| *i == id) {
                    if !entry.1.will_wake(cx.waker()) {
                        entry.1 = cx.waker().clone();
                    }
                }
                return Poll::Pending;
            }
            // Getters wait only while every item is claimed: an unclaimed item
            // means none is ahead of us.
            if st.unclaimed() > 0 {
                let (item, wake) = st.take();
                drop(st);
                wake_all(wake);
                return Poll::Ready(Ok(item));
            }
            if st.closed_for_getters() {
                return Poll::Ready(Err(QueueError::ShutDown));
            }
            // Empty (or every item claimed): wait in line; a put gives us a claim on its item.
            let id = st.next_id();
            st.getters.push_back((id, cx.waker().clone()));
            this.id = Some(id);
            Poll::Pending
        })();
        if out.is_pending() {
            crate::task::core::wait::record(crate::task::core::wait::WaitKind::QueueGet, 0);
        }
        out
    }
}

impl<T, S: Store<T>> Drop for Get<'_, T, S> {
    fn drop(&mut self) {
        if let Some(id) = self.id.take() {
            let mut st = self.queue.lock();
            let wake = if st.take_claim(id) {
                // Woken for an item but never took it: the item stays in
                // place (order kept) and the claim goes to the next getter.
                st.wake_getters()
            } else {
                if let Some(p) = st.getters.iter().position(|(i, _)| *i == id) {
                    st.getters.remove(p);
                }
                Vec::new()
            };
            drop(st);
            wake_all(wake);
        }
    }
}
