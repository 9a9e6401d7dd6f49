//! The park routine both drivers share (`driver::parking::{park,
//! unpark}`, shipped) over an eventfd stand-in, for the loom models.

use std::time::Duration;

use crate::driver::parking::{self, Signal, Sleep};
use crate::loom::sync::{Condvar, Mutex};
use crate::park::ParkState;

/// The eventfd as both drivers wait on it (an edge-triggered member of
/// an epoll set, or the ring's armed read): each write queues a wake-up;
/// the sleep returns once one is queued and takes them all.
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
/// shipped routine both drivers use.
pub struct DriverParkModel {
    state: ParkState,
    eventfd: EventFd,
    writes: Mutex<usize>,
}

impl Default for DriverParkModel {
    fn default() -> Self {
        DriverParkModel {
            state: ParkState::new(),
            eventfd: EventFd::default(),
            writes: Mutex::new(0),
        }
    }
}

/// Counts the eventfd writes `unpark` makes.
struct Counting<'a>(&'a DriverParkModel);

impl Signal for Counting<'_> {
    fn signal(&self) {
        *self.0.writes.lock() += 1;
        self.0.eventfd.signal();
    }
}

impl DriverParkModel {
    /// `EpollDriver::park` / `UringDriver::park` without a timeout.
    pub fn park(&self) {
        parking::park(&self.state, &self.eventfd, None);
    }

    /// `EpollShared::unpark` / `UringShared::unpark`.
    pub fn unpark(&self) {
        parking::unpark(&self.state, &Counting(self));
    }

    /// Eventfd writes so far.
    pub fn writes(&self) -> usize {
        *self.writes.lock()
    }
}
