//! Synchronisation primitives for tasks: asyncio's (`Lock`, `Event`,
//! `Condition`, `Semaphore`, `BoundedSemaphore`, `Barrier`, `Queue`s,
//! `Future` as [`Promise`]) and those tokio users reach for ([`RwLock`],
//! [`OnceCell`], owned guards and permits, tokio-util's
//! [`CancellationToken`]; tokio's `Mutex` is [`Lock`]), and tokio's
//! channels: [`mpsc`], [`broadcast`], [`watch`].
//!
//! All are FIFO-fair and cancellation-safe: dropping a waiting future
//! leaves its queue and loses nothing (a permit or lock already handed to
//! it goes on to the next waiter). They block no thread (save a `watch`
//! send, which waits for the value's outstanding borrows: see [`watch`]);
//! share them between tasks with an `Arc` (the channels hand out their
//! own halves).

mod barrier;
mod bounded_semaphore;
pub mod broadcast;
mod cancel_token;
mod condition;
mod event;
mod lock;
pub mod mpsc;
mod once_cell;
mod promise;
mod queue;
mod rwlock;
mod semaphore;
mod semaphore_owned;
pub mod watch;

#[allow(deprecated)]
pub use barrier::BrokenBarrier;
pub use barrier::{Barrier, BarrierWait, BrokenBarrierError};
#[allow(deprecated)]
pub use bounded_semaphore::TooManyReleases;
pub use bounded_semaphore::{BoundedSemaphore, TooManyReleasesError};
pub use cancel_token::{
    CancellationToken, DropGuard, WaitForCancellationFuture, WaitForCancellationFutureOwned,
};
pub use condition::Condition;
pub use event::{Event, EventWait};
pub use lock::{Lock, LockGuard, OwnedLockGuard};
pub use once_cell::{OnceCell, SetError};
#[allow(deprecated)]
pub use promise::AlreadyDone;
pub use promise::{AlreadyDoneError, Promise, PromiseError};
pub use queue::{
    BaseQueue, Fifo, Get, Lifo, LifoQueue, Priority, PriorityQueue, Put, PutError, Queue,
    QueueError, Store,
};
pub use rwlock::{
    OwnedRwLockReadGuard, OwnedRwLockWriteGuard, RwLock, RwLockReadGuard, RwLockWriteGuard,
    TryLockError,
};
pub use semaphore::{Acquire, Semaphore, SemaphorePermit};
pub use semaphore_owned::{AcquireOwned, OwnedSemaphorePermit};
