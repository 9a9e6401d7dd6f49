//! The epoll driver's readiness protocol for the loom models: a
//! descriptor's readiness and waiters (the shipped
//! `driver::readiness::ScheduledIo`), and the operation loop over it (the
//! shipped `driver::ready_loop::poll_call`) on a stand-in socket.

use crate::driver::op_cell::Completion;
use crate::driver::readiness::{Interest, ReadyPoll, ScheduledIo, WaitPoll, READABLE, WRITABLE};
use crate::driver::ready_loop::{poll_call, ReadyCall, Step};
use crate::loom::sync::{Arc, Condvar, Mutex};
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

/// The kernel's side of one socket in an edge-triggered epoll set, for
/// the shipped operation loop (`driver::ready_loop::poll_call`): bytes
/// queued, the registration once made, and an edge queued for the owner
/// (a send while registered queues one; so does registering while bytes
/// are queued, as `EPOLL_CTL_ADD` reports the readiness a descriptor
/// already has).
#[derive(Default)]
struct Kernel {
    bytes: usize,
    /// The peer hung up: a receive of nothing returns 0.
    eof: bool,
    registered: Option<Arc<ScheduledIo>>,
    edge: bool,
    /// The queued edge carries the hang-up (`EPOLLRDHUP`).
    hang_up: bool,
    done: bool,
}

/// One socket, its epoll registration and the owner delivering edges.
#[derive(Clone)]
pub struct EpollOpModel(Arc<(Mutex<Kernel>, Condvar)>);

impl Default for EpollOpModel {
    fn default() -> Self {
        EpollOpModel(Arc::new((Mutex::new(Kernel::default()), Condvar::new())))
    }
}

/// A receive as `driver::epoll_op::poll` hands it to the loop.
struct Receive<'a>(&'a EpollOpModel);

impl ReadyCall for Receive<'_> {
    fn interest(&self) -> Interest {
        Interest::Read
    }

    fn registered(&self) -> Option<Arc<ScheduledIo>> {
        self.0 .0 .0.lock().registered.clone()
    }

    fn register(&mut self) -> std::io::Result<Option<Arc<ScheduledIo>>> {
        let (kernel, cvar) = &*self.0 .0;
        let mut k = kernel.lock();
        let io = Arc::new(ScheduledIo::new(true));
        k.registered = Some(io.clone());
        if k.bytes > 0 || k.eof {
            k.edge = true;
            k.hang_up = k.eof;
            cvar.notify_all();
        }
        Ok(Some(io))
    }

    /// A receive into a buffer larger than anything sent.
    fn call(&mut self) -> Completion {
        let mut k = self.0 .0 .0.lock();
        let n = std::mem::take(&mut k.bytes);
        let res = match n {
            0 if k.eof => 0,
            0 => -libc::EAGAIN,
            n => n as i32,
        };
        Completion { res, flags: 0 }
    }

    fn drained(&self, c: &Completion) -> bool {
        c.res > 0
    }

    fn must_block(&self) -> bool {
        false
    }

    fn waits(&self, _io: &Arc<ScheduledIo>, _key: Option<u64>) {}
}

impl EpollOpModel {
    /// The peer sends `n` bytes.
    pub fn send(&self, n: usize) {
        let (kernel, cvar) = &*self.0;
        let mut k = kernel.lock();
        k.bytes += n;
        if k.registered.is_some() {
            k.edge = true;
            cvar.notify_all();
        }
    }

    /// The peer sends its last `n` bytes and hangs up: one edge carries
    /// both.
    pub fn send_and_hang_up(&self, n: usize) {
        let (kernel, cvar) = &*self.0;
        let mut k = kernel.lock();
        k.bytes += n;
        k.eof = true;
        if k.registered.is_some() {
            k.edge = true;
            k.hang_up = true;
            cvar.notify_all();
        }
    }

    /// One receive through the shipped loop: the bytes it got (0 at the
    /// end of the stream).
    pub async fn receive(&self) -> usize {
        let mut waiting = None;
        let mut call = Receive(self);
        std::future::poll_fn(|cx| match poll_call(&mut call, &mut waiting, cx.waker()) {
            Step::Done(c) => std::task::Poll::Ready(c.res as usize),
            Step::Pending => std::task::Poll::Pending,
            Step::Failed(e) => panic!("registering failed: {e}"),
            Step::Blocking | Step::Closed => panic!("a registered socket that stays open"),
        })
        .await
    }

    /// The owner worker: delivers each queued edge until [`finish`].
    ///
    /// [`finish`]: EpollOpModel::finish
    pub fn deliver_until_finished(&self) {
        let (kernel, cvar) = &*self.0;
        loop {
            let (io, hang_up) = {
                let mut k = kernel.lock();
                while !k.edge && !k.done {
                    k = cvar.wait(k);
                }
                if !k.edge {
                    return;
                }
                k.edge = false;
                let io = k.registered.clone().expect("an edge needs a registration");
                (io, std::mem::take(&mut k.hang_up))
            };
            let closed = if hang_up { READABLE } else { 0 };
            io.dispatch(READABLE, closed, false);
        }
    }

    /// Ends `deliver_until_finished` once no edge is queued.
    pub fn finish(&self) {
        let (kernel, cvar) = &*self.0;
        kernel.lock().done = true;
        cvar.notify_all();
    }

    /// Waiters left on the registration.
    pub fn waiters(&self) -> usize {
        let io = self.0 .0.lock().registered.clone();
        io.map_or(0, |io| io.waiters())
    }
}
