//! Queues between tasks (asyncio's `Queue`, `PriorityQueue`,
//! `LifoQueue`, with 3.13's `shutdown`).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use crate::loom::{FastMutex as Mutex, FastMutexGuard as MutexGuard};

/// Where a queue keeps its items.
pub trait Store<T>: Default {
    /// Adds an item.
    fn push(&mut self, item: T);
    /// Takes the next item.
    fn pop(&mut self) -> Option<T>;
    /// Puts an item back so that it comes out next (a cancelled `get`
    /// returning what it was handed).
    fn push_front(&mut self, item: T) {
        self.push(item)
    }
    /// How many items.
    fn len(&self) -> usize;
    /// True when there are no items.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// First in, first out.
pub struct Fifo<T>(VecDeque<T>);
/// Last in, first out.
pub struct Lifo<T>(Vec<T>);
/// Smallest first; equal items in insertion order.
pub struct Priority<T: Ord>(BinaryHeap<Reverse<(T, u64)>>, u64);

impl<T> Default for Fifo<T> {
    fn default() -> Self {
        Fifo(VecDeque::new())
    }
}
impl<T> Default for Lifo<T> {
    fn default() -> Self {
        Lifo(Vec::new())
    }
}
impl<T: Ord> Default for Priority<T> {
    fn default() -> Self {
        Priority(BinaryHeap::new(), 0)
    }
}

impl<T> Store<T> for Fifo<T> {
    fn push(&mut self, item: T) {
        self.0.push_back(item)
    }
    fn push_front(&mut self, item: T) {
        self.0.push_front(item)
    }
    fn pop(&mut self) -> Option<T> {
        self.0.pop_front()
    }
    fn len(&self) -> usize {
        self.0.len()
    }
}

impl<T> Store<T> for Lifo<T> {
    fn push(&mut self, item: T) {
        self.0.push(item)
    }
    fn pop(&mut self) -> Option<T> {
        self.0.pop()
    }
    fn len(&self) -> usize {
        self.0.len()
    }
}

impl<T: Ord> Store<T> for Priority<T> {
    fn push(&mut self, item: T) {
        self.1 += 1;
        self.0.push(Reverse((item, self.1)))
    }
    fn pop(&mut self) -> Option<T> {
        self.0.pop().map(|Reverse((item, _))| item)
    }
    fn len(&self) -> usize {
        self.0.len()
    }
}

/// Why a queue operation did not happen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueueError {
    /// `put_nowait` on a full queue (asyncio's `QueueFull`).
    Full,
    /// `get_nowait` on an empty queue (asyncio's `QueueEmpty`).
    Empty,
    /// The queue was shut down (asyncio's `QueueShutDown`).
    ShutDown,
    /// `task_done` called more times than items were put (asyncio's
    /// `ValueError`).
    TooManyTaskDone,
}

impl fmt::Display for QueueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            QueueError::Full => "queue is full",
            QueueError::Empty => "queue is empty",
            QueueError::ShutDown => "queue is shut down",
            QueueError::TooManyTaskDone => "task_done() called too many times",
        })
    }
}

impl std::error::Error for QueueError {}

/// An item rejected by a `put` (full or shut down), handed back.
#[derive(Debug, PartialEq, Eq)]
pub struct PutError<T> {
    /// The item that was not queued.
    pub item: T,
    /// Why.
    pub error: QueueError,
}

impl<T> fmt::Display for PutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.error.fmt(f)
    }
}

impl<T: fmt::Debug> std::error::Error for PutError<T> {}

struct State<T, S> {
    items: S,
    maxsize: usize,
    unfinished: usize,
    shutdown: bool,
    next_id: u64,
    /// Getters waiting for an item, in arrival order.
    getters: VecDeque<(u64, Waker)>,
    /// Items handed straight to a waiting getter, by getter id (a few at
    /// most: a short list beats hashing).
    delivered: Vec<(u64, T)>,
    /// Putters waiting for room, in arrival order.
    putters: VecDeque<(u64, Waker)>,
    /// Putters granted a reserved slot: their next poll inserts.
    admitted: Vec<u64>,
    /// Slots reserved for admitted putters.
    reserved: usize,
    joiners: Vec<Waker>,
}

impl<T, S: Store<T>> State<T, S> {
    fn full(&self) -> bool {
        self.maxsize > 0 && self.items.len() + self.reserved >= self.maxsize
    }

    fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// An item enters the queue: straight to the longest-waiting getter,
    /// else into the store. The caller checked there is room.
    fn offer(&mut self, item: T) -> Option<Waker> {
        self.unfinished += 1;
        match self.getters.pop_front() {
            Some((id, waker)) => {
                self.delivered.push((id, item));
                Some(waker)
            }
            None => {
                self.items.push(item);
                None
            }
        }
    }

    /// Room was made: reserve it for the longest-waiting putters, whose
    /// next poll inserts (a putter dropped before that inserts nothing and
    /// passes the slot on).
    fn admit_putter(&mut self) -> Vec<Waker> {
        let mut wake = Vec::new();
        while !self.full() {
            let Some((id, waker)) = self.putters.pop_front() else {
                break;
            };
            self.admitted.push(id);
            self.reserved += 1;
            wake.push(waker);
        }
        wake
    }

    fn take_admitted(&mut self, id: u64) -> bool {
        match self.admitted.iter().position(|&i| i == id) {
            Some(p) => {
                self.admitted.swap_remove(p);
                true
            }
            None => false,
        }
    }

    fn take_delivered(&mut self, id: u64) -> Option<T> {
        let p = self.delivered.iter().position(|(i, _)| *i == id)?;
        Some(self.delivered.swap_remove(p).1)
    }

    fn take(&mut self) -> Option<(T, Vec<Waker>)> {
        let item = self.items.pop()?;
        Some((item, self.admit_putter()))
    }
}

fn wake_all(wakers: impl IntoIterator<Item = Waker>) {
    for w in wakers {
        w.wake();
    }
}

/// A queue between tasks, generic over its order; use [`Queue`],
/// [`LifoQueue`] or [`PriorityQueue`].
///
/// Waiting `put`s and `get`s are served in arrival order. Cancelling a
/// waiting `get` (dropping its future) loses no item, and a cancelled
/// `put` inserts nothing: an item moves only in the poll that returns it.
pub struct BaseQueue<T, S: Store<T>> {
    state: Mutex<State<T, S>>,
}

/// FIFO queue (asyncio's `Queue`).
///
/// ```
/// ferrio::run(async {
///     let q = std::sync::Arc::new(ferrio::sync::Queue::new(2));
///     let producer = {
///         let q = q.clone();
///         ferrio::spawn(async move {
///             for i in 0..5 {
///                 q.put(i).await.unwrap(); // waits while 2 are queued
///             }
///         })
///     };
///     let mut got = Vec::new();
///     for _ in 0..5 {
///         got.push(q.get().await.unwrap());
///         q.task_done().unwrap();
///     }
///     producer.await.unwrap();
///     q.join().await;
///     assert_eq!(got, vec![0, 1, 2, 3, 4]);
/// });
/// ```
pub type Queue<T> = BaseQueue<T, Fifo<T>>;
/// LIFO queue (asyncio's `LifoQueue`).
pub type LifoQueue<T> = BaseQueue<T, Lifo<T>>;
/// Priority queue, smallest first, stable for equal items (asyncio's
/// `PriorityQueue`).
pub type PriorityQueue<T> = BaseQueue<T, Priority<T>>;

impl<T, S: Store<T>> fmt::Debug for BaseQueue<T, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.lock();
        f.debug_struct("Queue")
            .field("len", &st.items.len())
            .field("maxsize", &st.maxsize)
            .field("unfinished", &st.unfinished)
            .field("shutdown", &st.shutdown)
            .finish()
    }
}

impl<T, S: Store<T>> BaseQueue<T, S> {
    /// A queue holding at most `maxsize` items; 0 means unbounded.
    pub fn new(maxsize: usize) -> Self {
        BaseQueue {
            state: Mutex::new(State {
                items: S::default(),
                maxsize,
                unfinished: 0,
                shutdown: false,
                next_id: 0,
                getters: VecDeque::new(),
                delivered: Vec::new(),
                putters: VecDeque::new(),
                admitted: Vec::new(),
                reserved: 0,
                joiners: Vec::new(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<T, S>> {
        self.state.lock()
    }

    /// Items queued now.
    pub fn qsize(&self) -> usize {
        self.lock().items.len()
    }

    /// The capacity (0: unbounded).
    pub fn maxsize(&self) -> usize {
        self.lock().maxsize
    }

    /// True when no item is queued.
    pub fn empty(&self) -> bool {
        self.qsize() == 0
    }

    /// True when a `put` would wait.
    pub fn full(&self) -> bool {
        self.lock().full()
    }

    /// Queues `item` at once, or hands it back (`Full`, `ShutDown`).
    pub fn put_nowait(&self, item: T) -> Result<(), PutError<T>> {
        let mut st = self.lock();
        if st.shutdown {
            return Err(PutError {
                item,
                error: QueueError::ShutDown,
            });
        }
        if st.full() {
            return Err(PutError {
                item,
                error: QueueError::Full,
            });
        }
        let wake = st.offer(item);
        drop(st);
        wake_all(wake);
        Ok(())
    }

    /// Takes an item at once (`Empty`, or `ShutDown` once shut down and
    /// empty).
    pub fn get_nowait(&self) -> Result<T, QueueError> {
        let mut st = self.lock();
        match st.take() {
            Some((item, wake)) => {
                drop(st);
                wake_all(wake);
                Ok(item)
            }
            None if st.shutdown => Err(QueueError::ShutDown),
            None => Err(QueueError::Empty),
        }
    }

    /// Queues `item`, waiting while the queue is full. Fails (handing the
    /// item back) once the queue is shut down.
    pub fn put(&self, item: T) -> Put<'_, T, S> {
        Put {
            queue: self,
            item: Some(item),
            id: None,
        }
    }

    /// Takes the next item, waiting while the queue is empty. Fails with
    /// `ShutDown` once the queue is shut down and empty (at once for an
    /// immediate shutdown).
    pub fn get(&self) -> Get<'_, T, S> {
        Get {
            queue: self,
            id: None,
        }
    }

    /// Marks one item taken by `get` as processed (asyncio's
    /// `task_done`); `join` returns when every item put was processed.
    pub fn task_done(&self) -> Result<(), QueueError> {
        let wake = {
            let mut st = self.lock();
            if st.unfinished == 0 {
                return Err(QueueError::TooManyTaskDone);
            }
            st.unfinished -= 1;
            if st.unfinished == 0 {
                std::mem::take(&mut st.joiners)
            } else {
                Vec::new()
            }
        };
        for w in wake {
            w.wake();
        }
        Ok(())
    }

    /// Waits until every item put has been marked `task_done`.
    pub async fn join(&self) {
        std::future::poll_fn(|cx| {
            let mut st = self.lock();
            if st.unfinished == 0 {
                Poll::Ready(())
            } else {
                st.joiners.push(cx.waker().clone());
                Poll::Pending
            }
        })
        .await
    }

    /// Shuts the queue down (asyncio 3.13): `put`s fail from now on;
    /// `get`s fail once the queue is empty. With `immediate`, queued items
    /// are dropped (counted as done for `join`) and every waiter returns
    /// at once.
    pub fn shutdown(&self, immediate: bool) {
        let (wake, drained) = {
            let mut st = self.lock();
            st.shutdown = true;
            let mut drained = Vec::new();
            if immediate {
                while let Some(item) = st.items.pop() {
                    drained.push(item);
                    st.unfinished = st.unfinished.saturating_sub(1);
                }
            }
            let mut wake: Vec<Waker> = st.getters.iter().map(|(_, w)| w.clone()).collect();
            wake.extend(st.putters.iter().map(|(_, w)| w.clone()));
            if st.unfinished == 0 {
                wake.append(&mut st.joiners);
            }
            (wake, drained)
        };
        drop(drained);
        wake_all(wake);
    }

    /// True once `shutdown` was called.
    pub fn is_shutdown(&self) -> bool {
        self.lock().shutdown
    }
}

/// The future returned by [`BaseQueue::put`].
#[must_use = "futures do nothing unless awaited"]
pub struct Put<'a, T, S: Store<T>> {
    queue: &'a BaseQueue<T, S>,
    /// The item, until it is queued (it never leaves the future before).
    item: Option<T>,
    /// Our place in the putters' line.
    id: Option<u64>,
}

impl<T, S: Store<T>> Unpin for Put<'_, T, S> {}

impl<T, S: Store<T>> Future for Put<'_, T, S> {
    type Output = Result<(), PutError<T>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if !crate::coop::poll_proceed(cx) {
            return Poll::Pending;
        }
        let this = &mut *self;
        let mut st = this.queue.lock();
        let mut admitted = false;
        if let Some(id) = this.id {
            if st.take_admitted(id) {
                st.reserved -= 1;
                admitted = true;
                this.id = None;
            } else if st.shutdown {
                if let Some(p) = st.putters.iter().position(|(i, _)| *i == id) {
                    st.putters.remove(p);
                }
                this.id = None;
            } else {
                if let Some(entry) = st.putters.iter_mut().find(|(i, _)| *i == id) {
                    entry.1 = cx.waker().clone();
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
    }
}

impl<T, S: Store<T>> Drop for Put<'_, T, S> {
    fn drop(&mut self) {
        if let Some(id) = self.id.take() {
            let mut st = self.queue.lock();
            let wake = if st.take_admitted(id) {
                // A slot was reserved for us: pass it on.
                st.reserved -= 1;
                st.admit_putter()
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
    queue: &'a BaseQueue<T, S>,
    id: Option<u64>,
}

impl<T, S: Store<T>> Future for Get<'_, T, S> {
    type Output = Result<T, QueueError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if !crate::coop::poll_proceed(cx) {
            return Poll::Pending;
        }
        let this = &mut *self;
        let mut st = this.queue.lock();
        if let Some(id) = this.id {
            if let Some(item) = st.take_delivered(id) {
                this.id = None;
                return Poll::Ready(Ok(item));
            }
            if st.shutdown {
                this.id = None;
                if let Some(p) = st.getters.iter().position(|(i, _)| *i == id) {
                    st.getters.remove(p);
                }
                return Poll::Ready(Err(QueueError::ShutDown));
            }
            if let Some(entry) = st.getters.iter_mut().find(|(i, _)| *i == id) {
                entry.1 = cx.waker().clone();
            }
            return Poll::Pending;
        }
        if let Some((item, wake)) = st.take() {
            drop(st);
            wake_all(wake);
            return Poll::Ready(Ok(item));
        }
        if st.shutdown {
            return Poll::Ready(Err(QueueError::ShutDown));
        }
        // Empty: wait in line; a put hands its item straight to us.
        let id = st.next_id();
        st.getters.push_back((id, cx.waker().clone()));
        this.id = Some(id);
        Poll::Pending
    }
}

impl<T, S: Store<T>> Drop for Get<'_, T, S> {
    fn drop(&mut self) {
        if let Some(id) = self.id.take() {
            let mut st = self.queue.lock();
            if let Some(item) = st.take_delivered(id) {
                // An item was handed to us but never taken: it goes to the
                // next getter, or back to the front of the queue. Nothing
                // is lost and FIFO order is kept.
                let wake = match st.getters.pop_front() {
                    Some((next, waker)) => {
                        st.delivered.push((next, item));
                        Some(waker)
                    }
                    None => {
                        st.items.push_front(item);
                        None
                    }
                };
                drop(st);
                wake_all(wake);
            } else if let Some(p) = st.getters.iter().position(|(i, _)| *i == id) {
                st.getters.remove(p);
            }
        }
    }
}
