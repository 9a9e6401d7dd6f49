//! Synchronisation primitives for tasks (asyncio's `Lock`, `Event`,
//! `Condition`, `Semaphore`, `BoundedSemaphore`, `Barrier`, `Queue`s,
//! `Future` as [`Promise`]), and tokio's channels: [`mpsc`],
//! [`broadcast`], [`watch`].
//!
//! All are FIFO-fair and cancellation-safe: dropping a waiting future
//! leaves its queue and loses nothing (a permit or lock already handed to
//! it goes on to the next waiter). They block no thread (save a `watch`
//! send, which waits for the value's outstanding borrows: see [`watch`]);
//! share them between tasks with an `Arc` (the channels hand out their
//! own halves).

mod barrier;
pub mod broadcast;
mod condition;
mod event;
mod lock;
pub mod mpsc;
mod promise;
mod queue;
mod semaphore;
pub mod watch;

#[allow(deprecated)]
pub use barrier::BrokenBarrier;
pub use barrier::{Barrier, BarrierWait, BrokenBarrierError};
pub use condition::Condition;
pub use event::{Event, EventWait};
pub use lock::{Lock, LockGuard};
#[allow(deprecated)]
pub use promise::AlreadyDone;
pub use promise::{AlreadyDoneError, Promise, PromiseError};
pub use queue::{
    BaseQueue, Fifo, Get, Lifo, LifoQueue, Priority, PriorityQueue, Put, PutError, Queue,
    QueueError, Store,
};
#[allow(deprecated)]
pub use semaphore::TooManyReleases;
pub use semaphore::{Acquire, BoundedSemaphore, Semaphore, SemaphorePermit, TooManyReleasesError};
