//! The one seam between the scheduler and the I/O drivers: a worker's
//! driver is an enum over io_uring and epoll, not a trait object or a
//! generic parameter.
//!
//! Why an enum: the scheduler calls its driver at four points (park,
//! maintain, shutdown, unpark), each already a system call or close to
//! one, so a match costs nothing measurable; a generic `Worker<D>` would
//! spread the driver's type through the scheduler, the context and every
//! op future, and a `dyn` would hide that the set is closed. The op
//! futures match on the same enum once per operation (`driver/op_future.rs`).
//! A simulated world's runtime (feature `sim`) gives its worker a third
//! variant, `Sim` (`sim_hook.rs`).

use std::io;
use std::sync::Arc;
use std::time::Duration;

use super::choice::IoBackend;
use super::epoll::{EpollDriver, EpollShared};
use super::ring::{RingCounters, UringDriver, UringShared};
use super::setup::{RingFlags, SetupHook};
#[cfg(feature = "sim")]
use super::sim_hook::{SimBackend, SimDriver};

/// A worker's driver; lives on its thread.
// One per worker, built once and never moved on a hot path: boxing the
// ring would only add an indirection to every push.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Driver {
    Uring(UringDriver),
    Epoll(EpollDriver),
    /// A simulated world's (feature `sim`: `sim_hook.rs`): parks on epoll,
    /// answers every op from the world's model.
    #[cfg(feature = "sim")]
    Sim(SimDriver),
}

/// What other threads touch of a worker's driver.
#[derive(Clone)]
pub(crate) enum DriverShared {
    Uring(Arc<UringShared>),
    Epoll(Arc<EpollShared>),
    /// A simulated world's: the epoll instance it parks on, and the world.
    #[cfg(feature = "sim")]
    Sim(Arc<EpollShared>, Arc<dyn SimBackend>),
}

impl DriverShared {
    /// The shared part of a new driver of `kind` (`IoUring` or `Epoll`).
    pub(crate) fn new(kind: IoBackend) -> io::Result<DriverShared> {
        Ok(match kind {
            IoBackend::Epoll => DriverShared::Epoll(EpollShared::new()?),
            IoBackend::IoUring => DriverShared::Uring(UringShared::new()?),
        })
    }

    /// The shared part of a simulated world's driver (`sim_hook.rs`).
    #[cfg(feature = "sim")]
    pub(crate) fn simulated(backend: Arc<dyn SimBackend>) -> io::Result<DriverShared> {
        Ok(DriverShared::Sim(EpollShared::new()?, backend))
    }

    /// Wakes the worker if it is parked; otherwise marks it notified.
    pub(crate) fn unpark(&self) {
        match self {
            DriverShared::Uring(s) => s.unpark(),
            DriverShared::Epoll(s) => s.unpark(),
            #[cfg(feature = "sim")]
            DriverShared::Sim(s, _) => s.unpark(),
        }
    }

    /// The ring's setup flags (all off on epoll).
    pub(crate) fn flags(&self) -> RingFlags {
        match self {
            DriverShared::Uring(s) => s.flags(),
            DriverShared::Epoll(_) => RingFlags::default(),
            #[cfg(feature = "sim")]
            DriverShared::Sim(..) => RingFlags::default(),
        }
    }

    /// The ring's counters; on epoll, `enters` stays 0 and `parks`
    /// counts sleeps in `epoll_wait`.
    pub(crate) fn counters(&self) -> RingCounters {
        match self {
            DriverShared::Uring(s) => s.counters(),
            DriverShared::Epoll(s) => RingCounters {
                parks: s.stats.parks.load(std::sync::atomic::Ordering::Relaxed),
                ..RingCounters::default()
            },
            #[cfg(feature = "sim")]
            DriverShared::Sim(s, _) => RingCounters {
                parks: s.stats.parks.load(std::sync::atomic::Ordering::Relaxed),
                ..RingCounters::default()
            },
        }
    }

    /// `epoll_wait` calls so far (0 on io_uring).
    pub(crate) fn epoll_waits(&self) -> u64 {
        match self {
            DriverShared::Uring(_) => 0,
            DriverShared::Epoll(s) => s.stats.waits.load(std::sync::atomic::Ordering::Relaxed),
            #[cfg(feature = "sim")]
            DriverShared::Sim(s, _) => s.stats.waits.load(std::sync::atomic::Ordering::Relaxed),
        }
    }

    /// True when the ring registered a receive-buffer pool.
    pub(crate) fn has_pool(&self) -> bool {
        match self {
            DriverShared::Uring(s) => s.pool().is_some(),
            DriverShared::Epoll(_) => false,
            #[cfg(feature = "sim")]
            DriverShared::Sim(..) => false,
        }
    }

    /// Builds the worker's driver, on the worker's own thread.
    pub(crate) fn build(&self, simulate: SetupHook, pool: (u16, usize)) -> io::Result<Driver> {
        Ok(match self {
            DriverShared::Uring(s) => Driver::Uring(UringDriver::new(s.clone(), simulate, pool)?),
            DriverShared::Epoll(s) => Driver::Epoll(EpollDriver::new(s.clone())),
            #[cfg(feature = "sim")]
            DriverShared::Sim(s, backend) => Driver::Sim(SimDriver {
                epoll: EpollDriver::new(s.clone()),
                backend: backend.clone(),
            }),
        })
    }
}

impl Driver {
    /// Parks the worker until I/O, a wake-up or `timeout`.
    pub(crate) fn park(&self, timeout: Option<Duration>) {
        match self {
            Driver::Uring(d) => {
                d.park(timeout);
            }
            Driver::Epoll(d) => {
                d.park(timeout);
            }
            #[cfg(feature = "sim")]
            Driver::Sim(d) => {
                d.epoll.park(timeout);
            }
        }
    }

    /// Delivers what is ready without waiting.
    pub(crate) fn maintain(&self) {
        match self {
            Driver::Uring(d) => {
                d.maintain();
            }
            Driver::Epoll(d) => {
                d.maintain();
            }
            #[cfg(feature = "sim")]
            Driver::Sim(d) => {
                d.epoll.maintain();
            }
        }
    }

    pub(crate) fn shutdown(&self) {
        match self {
            Driver::Uring(d) => d.shutdown(),
            Driver::Epoll(d) => d.shutdown(),
            #[cfg(feature = "sim")]
            Driver::Sim(d) => d.epoll.shutdown(),
        }
    }

    /// For the watchdog, while the owner (thread id `thread`) is stuck in
    /// a poll: delivers what is ready without waiting, if the owner does
    /// not hold the driver. Returns how many completions or events.
    pub(crate) fn rescue(&self, thread: i32) -> usize {
        match self {
            Driver::Uring(d) => d.rescue(thread),
            Driver::Epoll(d) => d.rescue(),
            #[cfg(feature = "sim")]
            Driver::Sim(d) => d.epoll.rescue(),
        }
    }

    /// The io_uring driver, when this is one.
    pub(crate) fn uring(&self) -> Option<&UringDriver> {
        match self {
            Driver::Uring(d) => Some(d),
            _ => None,
        }
    }
}
