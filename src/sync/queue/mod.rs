//! Queues between tasks (asyncio's `Queue`, `PriorityQueue`,
//! `LifoQueue`, with 3.13's `shutdown`).

use crate::task::core::wait::{Leaf, WaitKind};
use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::panic::Location;
use std::task::{Poll, Waker};

use crate::loom::{FastMutex as Mutex, FastMutexGuard as MutexGuard};

mod error;
mod futures;
mod store;

pub use error::{PutError, QueueError};
pub use futures::{Get, Put};
pub use store::{Fifo, Lifo, Priority, Store};

struct State<T, S> {
    /// Every item in the queue, including those claimed by a woken getter:
    /// an item leaves the store only in the poll that returns it, so a
    /// cancelled `get` has nothing to put back and order is never disturbed.
    items: S,
    maxsize: usize,
    unfinished: usize,
    /// Bumped each time `unfinished` drops to zero: a `join` that saw an
    /// older value was released, even if items were put again since.
    finished: u64,
    shutdown: bool,
    next_id: u64,
    /// Getters waiting for an item, in arrival order. Non-empty only while
    /// every item is claimed.
    getters: VecDeque<(u64, Waker)>,
    /// Getters woken with a claim on one item: their next poll takes it (a
    /// getter dropped before that passes its claim on). Never more than
    /// `items.len()`.
    claimed: Vec<u64>,
    /// Putters waiting for room, in arrival order. Non-empty only while
    /// the queue is full.
    putters: VecDeque<(u64, Waker)>,
    /// Putters granted a reserved slot: their next poll inserts.
    admitted: Vec<u64>,
    /// Slots reserved for admitted putters (`admitted.len()`).
    reserved: usize,
    /// `join`s waiting for `unfinished` to reach zero.
    joiners: Vec<(u64, Waker)>,
    /// The items live in `S`.
    _items: PhantomData<T>,
}

impl<T, S: Store<T>> State<T, S> {
    fn full(&self) -> bool {
        self.maxsize > 0 && self.items.len() + self.reserved >= self.maxsize
    }

    fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// Items no woken getter has a claim on.
    fn unclaimed(&self) -> usize {
        self.items.len() - self.claimed.len()
    }

    /// An item enters the queue (the caller checked there is room) and the
    /// longest-waiting getter is given a claim on it.
    fn offer(&mut self, item: T) -> Vec<Waker> {
        self.unfinished += 1;
        self.items.push(item);
        self.wake_getters()
    }

    /// Gives every unclaimed item to the longest-waiting getters.
    fn wake_getters(&mut self) -> Vec<Waker> {
        let mut wake = Vec::new();
        while self.unclaimed() > 0 {
            let Some((id, waker)) = self.getters.pop_front() else {
                break;
            };
            self.claimed.push(id);
            wake.push(waker);
        }
        wake
    }

    /// Room was made: reserve it for the longest-waiting putters, whose
    /// next poll inserts (a putter dropped before that inserts nothing and
    /// passes the slot on).
    fn admit_putters(&mut self) -> Vec<Waker> {
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
                self.reserved -= 1;
                true
            }
            None => false,
        }
    }

    fn take_claim(&mut self, id: u64) -> bool {
        match self.claimed.iter().position(|&i| i == id) {
            Some(p) => {
                self.claimed.swap_remove(p);
                true
            }
            None => false,
        }
    }

    /// Takes an item for a getter entitled to one (a claim, or an
    /// unclaimed item); returns the putters to wake.
    fn take(&mut self) -> (T, Vec<Waker>) {
        let item = self.items.pop().expect("an item for every claim");
        let mut wake = self.admit_putters();
        if self.shutdown && self.items.is_empty() {
            // The last item of a shut-down queue is gone: the getters
            // still waiting find it empty and fail.
            wake.extend(self.getters.iter().map(|(_, w)| w.clone()));
        }
        (item, wake)
    }

    /// A getter fails with `ShutDown`: the queue is shut down and empty.
    /// While items remain (each claimed by a woken getter, who may yet
    /// pass its claim on) getters keep waiting.
    fn closed_for_getters(&self) -> bool {
        self.shutdown && self.items.is_empty()
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
///
/// A queue carries items between threads, so it is `Send`/`Sync` only for
/// `Send` items:
///
/// ```compile_fail
/// fn assert_send<T: Send>(_: &T) {}
/// assert_send(&ferrio::sync::Queue::<std::rc::Rc<u8>>::new(1));
/// ```
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
                finished: 0,
                shutdown: false,
                next_id: 0,
                getters: VecDeque::new(),
                claimed: Vec::new(),
                putters: VecDeque::new(),
                admitted: Vec::new(),
                reserved: 0,
                joiners: Vec::new(),
                _items: PhantomData,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<T, S>> {
        self.state.lock()
    }

    /// Items queued now (an item a woken `get` has yet to pick up
    /// included, as in asyncio).
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
        // Putters wait only while the queue is full: not full means none
        // is ahead of us.
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
    /// empty). Items already promised to a woken `get` are not taken.
    pub fn get_nowait(&self) -> Result<T, QueueError> {
        let mut st = self.lock();
        if st.unclaimed() > 0 {
            let (item, wake) = st.take();
            drop(st);
            wake_all(wake);
            Ok(item)
        } else if st.shutdown && st.items.is_empty() {
            Err(QueueError::ShutDown)
        } else {
            Err(QueueError::Empty)
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
                st.finish()
            } else {
                Vec::new()
            }
        };
        wake_all(wake);
        Ok(())
    }

    /// Waits until every item put has been marked `task_done`. A `join`
    /// woken by that returns even if items are put again before it runs
    /// (as asyncio's). Dropping a waiting `join` leaves nothing behind.
    #[track_caller]
    pub fn join(&self) -> impl Future<Output = ()> + '_ {
        Leaf::new(WaitKind::QueueJoin, 0, Location::caller(), async move {
            let mut waiting = Joining {
                queue: self,
                entry: None,
            };
            std::future::poll_fn(|cx| {
                let mut st = self.lock();
                match waiting.entry {
                    None if st.unfinished == 0 => Poll::Ready(()),
                    None => {
                        let id = st.next_id();
                        st.joiners.push((id, cx.waker().clone()));
                        waiting.entry = Some((id, st.finished));
                        Poll::Pending
                    }
                    Some((_, finished)) if st.finished != finished => {
                        // `finish` took our entry with the others.
                        waiting.entry = None;
                        Poll::Ready(())
                    }
                    Some((id, _)) => {
                        if let Some(entry) = st.joiners.iter_mut().find(|(i, _)| *i == id) {
                            if !entry.1.will_wake(cx.waker()) {
                                entry.1 = cx.waker().clone();
                            }
                        }
                        Poll::Pending
                    }
                }
            })
            .await
        })
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
                }
                // Woken getters' claims are void: they find the queue shut
                // down and empty.
                st.claimed.clear();
                st.unfinished = st.unfinished.saturating_sub(drained.len());
            }
            let mut wake: Vec<Waker> = st.getters.iter().map(|(_, w)| w.clone()).collect();
            wake.extend(st.putters.iter().map(|(_, w)| w.clone()));
            if st.unfinished == 0 && !drained.is_empty() {
                wake.extend(st.finish());
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

impl<T, S: Store<T>> State<T, S> {
    /// `unfinished` reached zero: releases every `join` waiting now.
    fn finish(&mut self) -> Vec<Waker> {
        self.finished += 1;
        self.joiners.drain(..).map(|(_, w)| w).collect()
    }
}

/// A `join` in progress: leaves the joiners' list when dropped.
struct Joining<'a, T, S: Store<T>> {
    queue: &'a BaseQueue<T, S>,
    /// (our id among the joiners, `finished` when we registered)
    entry: Option<(u64, u64)>,
}

impl<T, S: Store<T>> Drop for Joining<'_, T, S> {
    fn drop(&mut self) {
        if let Some((id, _)) = self.entry.take() {
            let mut st = self.queue.lock();
            if let Some(p) = st.joiners.iter().position(|(i, _)| *i == id) {
                st.joiners.swap_remove(p);
            }
        }
    }
}
