//! The readiness driver: one edge-triggered epoll instance per worker,
//! for machines where io_uring is denied (container seccomp profiles,
//! `kernel.io_uring_disabled`, gVisor).
//!
//! - **Operations** try their non-blocking system call first and wait for
//!   readiness only on `EAGAIN` (`driver/epoll_op.rs`, protocol in
//!   `driver/readiness.rs`). Regular files, `open`, `statx`, `fsync` and
//!   path operations run on the blocking pool, as in tokio.
//! - **Registration**: a descriptor joins the epoll set of the worker that
//!   first polled an operation on it that would block, for reading and
//!   writing, edge-triggered, until it closes. The event's data is a
//!   pointer to its `ScheduledIo`. An operation about to wait on another
//!   worker, with no other waiter on the descriptor, moves the
//!   registration there (`Registration::move_to`): a task stolen by an
//!   idle worker gets its readiness from that worker, not from the busy
//!   one it left, and its wake-ups land on its own worker's queue.
//! - **Freeing a registration** (the descriptor closed on any thread):
//!   `EPOLL_CTL_DEL` first, then a release list the owner empties after
//!   its current batch of events (`driver/epoll_set.rs`, which holds the
//!   registrations and batches over this file's kernel calls).
//! - **Park**: `epoll_wait` with the next timer deadline (milliseconds,
//!   rounded up) under the common park protocol (`driver/parking.rs`);
//!   other threads wake the worker with an eventfd write, only when it is
//!   parked.
//! - **Shutdown**: the owner closes every live registration (their waiters
//!   wake and fail with "the runtime is shutting down") and refuses new
//!   ones; from then on a dropped registration is freed at once.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use crate::park::ParkState;

use super::epoll_set::{EpollSet, EventSet, WAKE_TOKEN};
use super::parking::{self, Signal, Sleep};
use super::readiness::ScheduledIo;

/// Counters of one epoll instance.
#[derive(Default)]
pub(crate) struct EpollStats {
    pub(crate) waits: AtomicU64,
    pub(crate) parks: AtomicU64,
    /// Registrations moved into this instance from another worker's.
    pub(crate) moves_in: AtomicU64,
}

fn bump(c: &AtomicU64, by: u64) {
    // Only the owner writes.
    c.store(c.load(Relaxed) + by, Relaxed);
}

/// The kernel's epoll instance.
pub(crate) struct KernelEpoll {
    epfd: OwnedFd,
}

impl EventSet for KernelEpoll {
    fn add(&self, fd: RawFd, io: &Arc<ScheduledIo>) -> io::Result<()> {
        let mut ev = libc::epoll_event {
            events: (libc::EPOLLIN
                | libc::EPOLLOUT
                | libc::EPOLLRDHUP
                | libc::EPOLLPRI
                | libc::EPOLLET) as u32,
            u64: Arc::as_ptr(io) as u64,
        };
        // SAFETY: `ev` is read during the call; the pointer it carries
        // stays valid until the registration's release (`epoll_set.rs`).
        if unsafe { libc::epoll_ctl(self.epfd.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut ev) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    fn del(&self, fd: RawFd) {
        let mut ev = libc::epoll_event { events: 0, u64: 0 };
        // SAFETY: the descriptor is still open (the `SharedFd` drops its
        // registration first); `ev` is ignored by DEL on current kernels.
        unsafe { libc::epoll_ctl(self.epfd.as_raw_fd(), libc::EPOLL_CTL_DEL, fd, &mut ev) };
    }

    fn wait(&self, events: &mut Vec<libc::epoll_event>, timeout_ms: i32) {
        // SAFETY: the buffer has room for its capacity, which the kernel
        // fills; we set the length to what it returns.
        let n = unsafe {
            libc::epoll_wait(
                self.epfd.as_raw_fd(),
                events.as_mut_ptr(),
                events.capacity().min(i32::MAX as usize) as i32,
                timeout_ms,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EINTR) {
                eprintln!("ferrio: epoll_wait failed: {e}");
            }
            return;
        }
        // SAFETY: the kernel initialised the first `n` entries.
        unsafe { events.set_len(n as usize) };
    }
}

/// The part of a worker's epoll driver that other threads touch.
pub(crate) struct EpollShared {
    set: EpollSet<KernelEpoll>,
    eventfd: OwnedFd,
    park: ParkState,
    pub(crate) stats: EpollStats,
}

impl EpollShared {
    pub(crate) fn new() -> io::Result<Arc<EpollShared>> {
        // SAFETY: plain syscalls; the returned descriptors are checked.
        let epfd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if epfd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a fresh descriptor we own.
        let epfd = unsafe { OwnedFd::from_raw_fd(epfd) };
        // SAFETY: as above.
        let efd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if efd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a fresh descriptor we own.
        let eventfd = unsafe { OwnedFd::from_raw_fd(efd) };
        let mut ev = libc::epoll_event {
            events: (libc::EPOLLIN | libc::EPOLLET) as u32,
            u64: WAKE_TOKEN,
        };
        // SAFETY: both descriptors are ours; `ev` is read during the call.
        if unsafe {
            libc::epoll_ctl(
                epfd.as_raw_fd(),
                libc::EPOLL_CTL_ADD,
                eventfd.as_raw_fd(),
                &mut ev,
            )
        } < 0
        {
            return Err(io::Error::last_os_error());
        }
        Ok(Arc::new(EpollShared {
            set: EpollSet::new(KernelEpoll { epfd }),
            eventfd,
            park: ParkState::new(),
            stats: EpollStats::default(),
        }))
    }

    /// Wakes the worker if it is parked (one eventfd write); otherwise
    /// only marks it notified.
    pub(crate) fn unpark(&self) {
        parking::unpark(&self.park, self);
    }

    /// True once the owner shut down.
    pub(crate) fn is_closed(&self) -> bool {
        self.set.is_closed()
    }

    /// Adds `fd` to the set, for reading and writing, edge-triggered.
    /// Fails with `EPERM` for descriptors epoll cannot watch.
    pub(crate) fn register(self: &Arc<Self>, fd: RawFd) -> io::Result<Registration> {
        let io = self.set.register(fd, short_read_drains(fd))?;
        Ok(Registration {
            io,
            epoll: self.clone(),
            fd,
        })
    }
}

/// Whether a read shorter than its buffer shows `fd` drained
/// (`readiness.rs`): a TCP socket or a pipe. One `getsockopt` for a
/// socket, and an `fstat` for anything else.
fn short_read_drains(fd: RawFd) -> bool {
    let mut domain: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `domain` and `len` are live locals the kernel writes.
    let r = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_DOMAIN,
            (&mut domain as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    if r == 0 {
        return domain == libc::AF_INET || domain == libc::AF_INET6;
    }
    // SAFETY: `st` is plain data fstat fills in.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    unsafe { libc::fstat(fd, &mut st) == 0 && st.st_mode & libc::S_IFMT == libc::S_IFIFO }
}

impl Signal for EpollShared {
    fn signal(&self) {
        parking::write_eventfd(&self.eventfd);
    }
}

/// A descriptor's place in an epoll set; owned by its `SharedFd`, dropped
/// before the descriptor closes.
pub(crate) struct Registration {
    io: Arc<ScheduledIo>,
    epoll: Arc<EpollShared>,
    fd: RawFd,
}

impl Registration {
    pub(crate) fn io(&self) -> &Arc<ScheduledIo> {
        &self.io
    }

    /// Its driver has shut down: no event will come through it.
    pub(crate) fn is_stale(&self) -> bool {
        self.epoll.is_closed()
    }
}

impl Registration {
    /// Moves the registration into `to`'s set (the waiting task's
    /// worker): added there first, so an edge that comes meanwhile is
    /// delivered by one instance or the other (an `ADD` reports the
    /// readiness the descriptor already has), then removed from the old
    /// set through its release list (`epoll_set.rs`). The registration
    /// stays in the live list of the instance that made it: every
    /// instance closes its list at the runtime's shutdown.
    pub(crate) fn move_to(&mut self, to: &Arc<EpollShared>) {
        if Arc::ptr_eq(&self.epoll, to) || self.epoll.is_closed() {
            return;
        }
        if to.set.add(self.fd, &self.io).is_err() {
            return;
        }
        self.epoll.set.remove(self.fd, &self.io);
        self.epoll = to.clone();
        to.stats.moves_in.fetch_add(1, Relaxed);
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.epoll.set.remove(self.fd, &self.io);
    }
}

/// A worker's epoll driver. Its owner waits on it; the watchdog collects
/// its events while the owner is stuck in a poll (`EpollSet::try_batch`).
pub(crate) struct EpollDriver {
    shared: Arc<EpollShared>,
}

impl EpollDriver {
    pub(crate) fn new(shared: Arc<EpollShared>) -> EpollDriver {
        EpollDriver { shared }
    }

    pub(crate) fn shared(&self) -> &Arc<EpollShared> {
        &self.shared
    }

    /// Delivers ready events without waiting.
    pub(crate) fn maintain(&self) -> usize {
        self.wait(0)
    }

    /// Parks the worker until an event, a wake-up or the timeout.
    pub(crate) fn park(&self, timeout: Option<Duration>) -> usize {
        parking::park(&self.shared.park, self, timeout)
    }

    /// One batch: `epoll_wait`, the events delivered, the registrations
    /// released meanwhile freed.
    fn wait(&self, timeout_ms: i32) -> usize {
        bump(&self.shared.stats.waits, 1);
        self.shared.set.batch(timeout_ms)
    }

    /// For the watchdog while the owner is stuck in a poll: one batch
    /// without waiting, unless the owner holds the driver.
    pub(crate) fn rescue(&self) -> usize {
        self.shared.set.try_batch()
    }

    /// Closes the driver: every registration's waiters wake and fail, and
    /// no registration can be made any more.
    pub(crate) fn shutdown(&self) {
        self.shared.set.shutdown();
    }
}

impl Sleep for EpollDriver {
    fn poll_now(&self) -> usize {
        self.wait(0)
    }

    fn sleep(&self, timeout: Option<Duration>) -> usize {
        let ms = match timeout {
            None => -1,
            // Rounded up: waking before the deadline would only park again.
            Some(t) => t.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as i32,
        };
        let n = self.wait(ms);
        bump(&self.shared.stats.parks, 1);
        n
    }
}
