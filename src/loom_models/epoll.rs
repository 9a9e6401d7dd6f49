//! The epoll driver's protocols for the loom models: its park over an
//! eventfd stand-in (the shipped `driver::epoll_park::{park, unpark}`),
//! and a descriptor's readiness and waiters (the shipped
//! `driver::readiness::ScheduledIo`).

use std::task::Waker;
use std::time::Duration;

use crate::driver::epoll_park::{self, Signal, Sleep};
use crate::driver::readiness::{Interest, ReadyPoll, ScheduledIo, WaitPoll, READABLE};
use crate::loom::sync::{Arc, Condvar, Mutex};
use crate::park::ParkState;

/// The eventfd in an edge-triggered epoll set: each write queues an event;
/// `epoll_wait` returns once one is queued and takes them all.
struct EventFd {
    queued: Mutex<u64>,
    cvar: Condvar,
}

impl Default for EventFd {
    fn default() -> Self {
        EventFd {
            queued: Mutex::new(0),
            cvar: Condvar::new(),
        }
    }
}

impl Sleep for EventFd {
    fn poll_now(&self) -> usize {
        std::mem::take(&mut *self.queued.lock()) as usize
    }

    fn sleep(&self, _timeout: Option<Duration>) -> usize {
        let mut q = self.queued.lock();
        while *q == 0 {
            q = self.cvar.wait(q);
        }
        std::mem::take(&mut *q) as usize
    }
}

impl Signal for EventFd {
    fn signal(&self) {
        *self.queued.lock() += 1;
        self.cvar.notify_one();
    }
}

/// A worker's park state and its eventfd, parked and unparked by the
/// epoll driver's shipped functions.
pub struct EpollParkModel {
    state: ParkState,
    eventfd: EventFd,
    writes: Mutex<usize>,
}

impl Default for EpollParkModel {
    fn default() -> Self {
        EpollParkModel {
            state: ParkState::new(),
            eventfd: EventFd::default(),
            writes: Mutex::new(0),
        }
    }
}

/// Counts the eventfd writes `unpark` makes.
struct Counting<'a>(&'a EpollParkModel);

impl Signal for Counting<'_> {
    fn signal(&self) {
        *self.0.writes.lock() += 1;
        self.0.eventfd.signal();
    }
}

impl EpollParkModel {
    /// `EpollDriver::park` without a timeout.
    pub fn park(&self) {
        epoll_park::park(&self.state, &self.eventfd, None);
    }

    /// `EpollShared::unpark`.
    pub fn unpark(&self) {
        epoll_park::unpark(&self.state, &Counting(self));
    }

    /// Eventfd writes so far.
    pub fn writes(&self) -> usize {
        *self.writes.lock()
    }
}

/// What `ReadinessModel::poll_ready` answered.
#[derive(Debug, PartialEq, Eq)]
pub enum Ready {
    /// Make the call; the tick seen.
    Go(u32),
    Pending,
    Closed,
}

/// What `ReadinessModel::clear_and_wait` answered.
#[derive(Debug, PartialEq, Eq)]
pub enum Wait {
    Retry,
    Pending,
    Closed,
}

/// One registered descriptor's `ScheduledIo`, used for reading.
#[derive(Clone)]
pub struct ReadinessModel(Arc<ScheduledIo>);

impl Default for ReadinessModel {
    fn default() -> Self {
        ReadinessModel(Arc::new(ScheduledIo::new(true)))
    }
}

impl ReadinessModel {
    /// `ScheduledIo::poll_ready` for reading.
    pub fn poll_ready(&self, key: &mut Option<u64>, waker: &Waker) -> Ready {
        match self.0.poll_ready(Interest::Read, key, waker) {
            ReadyPoll::Ready(t) => Ready::Go(t),
            ReadyPoll::Pending => Ready::Pending,
            ReadyPoll::Closed => Ready::Closed,
        }
    }

    /// After `EAGAIN` from a call made at `tick`.
    pub fn clear_and_wait(&self, tick: u32, key: &mut Option<u64>, waker: &Waker) -> Wait {
        match self.0.clear_and_wait(Interest::Read, tick, key, waker) {
            WaitPoll::Retry => Wait::Retry,
            WaitPoll::Pending => Wait::Pending,
            WaitPoll::Closed => Wait::Closed,
        }
    }

    /// After a call made at `tick` that drained the socket.
    pub fn clear_if(&self, tick: u32) {
        self.0.clear_if(Interest::Read, tick);
    }

    /// The owner delivering a readable edge.
    pub fn dispatch_readable(&self) {
        self.0.dispatch(READABLE, 0, false);
    }

    /// The owner delivering an edge with the peer's hang-up.
    pub fn dispatch_hang_up(&self) {
        self.0.dispatch(READABLE, READABLE, false);
    }

    /// The owner shutting down.
    pub fn close(&self) {
        self.0.close();
    }

    /// A dropped operation forgetting its waiter.
    pub fn cancel(&self, key: &mut Option<u64>) {
        self.0.cancel_wait(key);
    }

    /// Waiters stored.
    pub fn waiters(&self) -> usize {
        self.0.waiters()
    }
}
