//! An epoll instance's registrations and batches (the shipped
//! `driver::epoll_set::EpollSet`) over a stand-in for the kernel's set,
//! for the loom models of freeing a registration while its events are in
//! a batch.

use std::os::fd::RawFd;
use std::sync::{Arc, Weak};

use crate::driver::epoll_set::{EpollSet, EventSet};
use crate::driver::readiness::ScheduledIo;
use crate::loom::sync::Mutex;

#[derive(Default)]
struct SetState {
    /// Descriptors in the set, with their events' token.
    registered: Vec<(RawFd, u64)>,
    /// Events queued for the next wait (tokens).
    queued: Vec<u64>,
    /// Every registration ever added, by token (never forgotten, so a
    /// token can be checked after its descriptor left the set).
    seen: Vec<(u64, Weak<ScheduledIo>)>,
}

/// The kernel's epoll set: `del` drops the descriptor's queued events, as
/// the kernel does; events already returned by a wait are the caller's.
#[derive(Default)]
pub(crate) struct StandInSet(Mutex<SetState>);

impl EventSet for StandInSet {
    fn add(&self, fd: RawFd, io: &Arc<ScheduledIo>) -> std::io::Result<()> {
        let token = Arc::as_ptr(io) as u64;
        let mut st = self.0.lock();
        st.registered.push((fd, token));
        st.seen.push((token, Arc::downgrade(io)));
        Ok(())
    }

    fn del(&self, fd: RawFd) {
        let mut st = self.0.lock();
        if let Some(i) = st.registered.iter().position(|&(f, _)| f == fd) {
            let (_, token) = st.registered.remove(i);
            st.queued.retain(|&t| t != token);
        }
    }

    fn wait(&self, events: &mut Vec<libc::epoll_event>, _timeout_ms: i32) {
        let queued = std::mem::take(&mut self.0.lock().queued);
        events.extend(queued.into_iter().map(|token| libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: token,
        }));
    }

    fn check_token(&self, token: u64) {
        let st = self.0.lock();
        let alive = st
            .seen
            .iter()
            .rev()
            .find(|(t, _)| *t == token)
            .is_some_and(|(_, w)| w.strong_count() > 0);
        assert!(alive, "an event reached a freed registration");
    }
}

/// One instance of the shipped `EpollSet` over the stand-in.
#[derive(Clone)]
pub struct RegistrationsModel(Arc<EpollSet<StandInSet>>);

/// A registration as `driver::epoll::Registration` holds it: dropped, it
/// leaves the set through `EpollSet::remove`.
pub struct ModelRegistration {
    set: Arc<EpollSet<StandInSet>>,
    fd: RawFd,
    io: Arc<ScheduledIo>,
}

impl Drop for ModelRegistration {
    fn drop(&mut self) {
        self.set.remove(self.fd, &self.io);
    }
}

impl Default for RegistrationsModel {
    fn default() -> Self {
        RegistrationsModel(Arc::new(EpollSet::new(StandInSet::default())))
    }
}

impl RegistrationsModel {
    /// `EpollSet::register` of descriptor number `fd` (a stand-in's).
    pub fn register(&self, fd: RawFd) -> ModelRegistration {
        let io = self.0.register(fd, true).expect("not shut down");
        ModelRegistration {
            set: self.0.clone(),
            fd,
            io,
        }
    }

    /// The peer makes `fd` ready: an event is queued if it is in the set.
    pub fn ready(&self, fd: RawFd) {
        let mut st = self.0.set().0.lock();
        if let Some(&(_, token)) = st.registered.iter().find(|&&(f, _)| f == fd) {
            st.queued.push(token);
        }
    }

    /// The owner's batch (`EpollSet::batch`): events delivered.
    pub fn batch(&self) -> usize {
        self.0.batch(0)
    }

    /// The owner's shutdown.
    pub fn shutdown(&self) {
        self.0.shutdown();
    }
}
