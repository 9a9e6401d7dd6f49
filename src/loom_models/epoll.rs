//! The epoll driver's readiness protocol for the loom models: a
//! descriptor's readiness and waiters (the shipped
//! `driver::readiness::ScheduledIo`).

use crate::driver::readiness::{Interest, ReadyPoll, ScheduledIo, WaitPoll, READABLE, WRITABLE};
use crate::loom::sync::Arc;
use std::task::Waker;

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

/// A direction an operation waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    Read,
    Write,
}

impl Dir {
    fn interest(self) -> Interest {
        match self {
            Dir::Read => Interest::Read,
            Dir::Write => Interest::Write,
        }
    }
}

/// One registered descriptor's `ScheduledIo` (the methods without a
/// direction are for reading).
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

    /// `ScheduledIo::poll_ready` for `dir`.
    pub fn poll_ready_for(&self, dir: Dir, key: &mut Option<u64>, waker: &Waker) -> Ready {
        match self.0.poll_ready(dir.interest(), key, waker) {
            ReadyPoll::Ready(t) => Ready::Go(t),
            ReadyPoll::Pending => Ready::Pending,
            ReadyPoll::Closed => Ready::Closed,
        }
    }

    /// `ScheduledIo::clear_and_wait` for `dir`.
    pub fn clear_and_wait_for(
        &self,
        dir: Dir,
        tick: u32,
        key: &mut Option<u64>,
        waker: &Waker,
    ) -> Wait {
        match self.0.clear_and_wait(dir.interest(), tick, key, waker) {
            WaitPoll::Retry => Wait::Retry,
            WaitPoll::Pending => Wait::Pending,
            WaitPoll::Closed => Wait::Closed,
        }
    }

    /// The owner delivering an edge both ways.
    pub fn dispatch_both(&self) {
        self.0.dispatch(READABLE | WRITABLE, 0, false);
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
