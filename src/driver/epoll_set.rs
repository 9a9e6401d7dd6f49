//! One epoll instance's registrations and event batches, over an
//! [`EventSet`]: the kernel's epoll (`driver/epoll.rs`), or the loom
//! models' stand-in (`loom-tests/tests/epoll.rs`), which run this code.
//!
//! # Freeing a registration
//!
//! An event's data is the address of its registration's `ScheduledIo`,
//! so a `ScheduledIo` must outlive every event that names it. A
//! registration dropped on any thread (its descriptor closing) is first
//! removed from the set (`EPOLL_CTL_DEL`: no later `epoll_wait` returns
//! it), then its `ScheduledIo` goes to the release list. The owner
//! empties that list only after it has handled the batch it is working
//! on, and batches never overlap (the batch lock is held from the wait
//! to the end of the dispatch). An event returned before the `DEL` is in
//! that batch or an earlier one, so none reaches a freed `ScheduledIo`.
//! A registration that moves to another instance (`remove` here, `add`
//! there) goes through the same list.
//!
//! # Shutdown
//!
//! The owner closes every registration made here that is still alive
//! (their waiters wake and fail) and refuses new ones; from then on no
//! batch runs, so a dropped registration is freed at once.

use std::io;
use std::os::fd::RawFd;
use std::sync::Arc;

use super::readiness::{ScheduledIo, READABLE, WRITABLE};
use crate::loom::sync::atomic::{AtomicBool, Ordering::Relaxed};
use crate::loom::sync::Mutex;
use crate::loom::{FastMutex, FastMutexGuard};
use crate::weak_list::WeakList;

/// The token of the instance's own wake-up descriptor (never a
/// `ScheduledIo` address).
pub(crate) const WAKE_TOKEN: u64 = 0;

/// Events collected per batch.
const EVENTS: usize = 256;

/// The kernel side of an epoll instance.
pub(crate) trait EventSet {
    /// `EPOLL_CTL_ADD` of `fd` for both directions, edge-triggered, its
    /// events carrying `io`'s address.
    fn add(&self, fd: RawFd, io: &Arc<ScheduledIo>) -> io::Result<()>;
    /// `EPOLL_CTL_DEL` of `fd`.
    fn del(&self, fd: RawFd);
    /// `epoll_wait` into `events` (empty, with room for its capacity);
    /// `timeout_ms` as epoll's (-1: no timeout).
    fn wait(&self, events: &mut Vec<libc::epoll_event>, timeout_ms: i32);
    /// Called before an event's token is read as a `ScheduledIo`: the
    /// kernel's set does nothing; the loom stand-in asserts that the
    /// registration is still alive.
    fn check_token(&self, _token: u64) {}
}

#[derive(Default)]
struct Registry {
    closed: bool,
    /// Registrations dropped or moved away, freed by the owner after its
    /// current batch.
    release: Vec<Arc<ScheduledIo>>,
    /// Every registration made here (weak), to close at shutdown.
    live: WeakList<ScheduledIo>,
}

/// An instance's registrations and batches (module notes).
pub(crate) struct EpollSet<S> {
    set: S,
    registry: Mutex<Registry>,
    closed: AtomicBool,
    /// The batch buffer; held from a wait to the end of its dispatch.
    batch: FastMutex<Vec<libc::epoll_event>>,
}

impl<S: EventSet> EpollSet<S> {
    pub(crate) fn new(set: S) -> EpollSet<S> {
        EpollSet {
            set,
            registry: Mutex::new(Registry::default()),
            closed: AtomicBool::new(false),
            batch: FastMutex::new(Vec::with_capacity(EVENTS)),
        }
    }

    #[cfg_attr(not(ferrio_loom), allow(dead_code))] // the loom models reach their stand-in
    pub(crate) fn set(&self) -> &S {
        &self.set
    }

    /// True once the owner shut down.
    #[cfg_attr(ferrio_loom, allow(dead_code))] // the models neither move nor rescue
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Relaxed)
    }

    /// Registers `fd` with a fresh `ScheduledIo`; refused after shutdown.
    pub(crate) fn register(
        &self,
        fd: RawFd,
        short_read_drains: bool,
    ) -> io::Result<Arc<ScheduledIo>> {
        let io = Arc::new(ScheduledIo::new(short_read_drains));
        {
            let mut reg = self.registry.lock();
            if reg.closed {
                return Err(super::shutting_down());
            }
            reg.live.push(&io);
        }
        self.set.add(fd, &io)?;
        Ok(io)
    }

    /// Adds `fd` with `io` moving in from another instance (nothing moves
    /// into one shut down).
    #[cfg_attr(ferrio_loom, allow(dead_code))]
    pub(crate) fn add(&self, fd: RawFd, io: &Arc<ScheduledIo>) -> io::Result<()> {
        if self.is_closed() {
            return Err(super::shutting_down());
        }
        self.set.add(fd, io)
    }

    /// Removes `fd`; `io` stays alive until the owner's current batch is
    /// handled (module notes).
    pub(crate) fn remove(&self, fd: RawFd, io: &Arc<ScheduledIo>) {
        self.set.del(fd);
        let mut reg = self.registry.lock();
        if !reg.closed {
            reg.release.push(io.clone());
        }
    }

    /// One batch: a wait, its events delivered, then the registrations
    /// released meanwhile freed. Returns how many events it delivered.
    pub(crate) fn batch(&self, timeout_ms: i32) -> usize {
        let events = self.batch.lock();
        self.batch_locked(events, timeout_ms)
    }

    /// A batch without waiting, unless another thread is in one (the
    /// watchdog's, for an owner stuck in a poll).
    #[cfg_attr(ferrio_loom, allow(dead_code))]
    pub(crate) fn try_batch(&self) -> usize {
        match self.batch.try_lock() {
            Some(events) => self.batch_locked(events, 0),
            None => 0,
        }
    }

    fn batch_locked(
        &self,
        mut events: FastMutexGuard<'_, Vec<libc::epoll_event>>,
        timeout_ms: i32,
    ) -> usize {
        events.clear();
        self.set.wait(&mut events, timeout_ms);
        let mut delivered = 0;
        for ev in events.iter() {
            let token = ev.u64;
            if token == WAKE_TOKEN {
                continue;
            }
            let flags = ev.events as i32;
            let mut ready = 0;
            if flags & (libc::EPOLLIN | libc::EPOLLERR) != 0 {
                ready |= READABLE;
            }
            if flags & (libc::EPOLLOUT | libc::EPOLLERR) != 0 {
                ready |= WRITABLE;
            }
            let mut closed = 0;
            if flags & (libc::EPOLLRDHUP | libc::EPOLLHUP) != 0 {
                closed |= READABLE;
            }
            if flags & libc::EPOLLHUP != 0 {
                closed |= WRITABLE;
            }
            self.set.check_token(token);
            // SAFETY: the token is the address of a registration's
            // `ScheduledIo`, freed only through the release list after
            // this batch (module notes), or at shutdown after the last one.
            let io = unsafe { &*(token as *const ScheduledIo) };
            io.dispatch(ready, closed, flags & libc::EPOLLPRI != 0);
            delivered += 1;
        }
        drop(events);
        let released = std::mem::take(&mut self.registry.lock().release);
        drop(released);
        delivered
    }

    /// Closes the instance: every registration's waiters wake and fail,
    /// and none can be made any more.
    pub(crate) fn shutdown(&self) {
        let (live, released) = {
            let mut reg = self.registry.lock();
            reg.closed = true;
            self.closed.store(true, Relaxed);
            (reg.live.take_live(), std::mem::take(&mut reg.release))
        };
        drop(released);
        for io in live {
            io.close();
        }
    }
}
