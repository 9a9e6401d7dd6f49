//! An operation on the epoll driver ([`EpollOp`]): the op's [`Call`] run
//! as a plain system call (`plain_call.rs`) instead of an SQE.
//!
//! How a call runs here ([`How`], from the call alone):
//! - `Ready`: sockets, pipes, pidfds, and the waits for readiness alone
//!   (`PollReadable`/`PollWritable`, whose call is a `poll` with no
//!   timeout). The non-blocking call is tried
//!   first; on `EAGAIN` the op waits for readiness (`driver/readiness.rs`,
//!   through the loop in `ready_loop.rs`) and tries again. A descriptor
//!   epoll cannot watch (a regular file behind a stream) goes to the
//!   blocking pool instead.
//! - `Blocking`: files at an offset, `open`, `statx`, `fsync`, path
//!   operations. The kind moves into a job on the runtime's blocking pool
//!   and comes back with its result (`pool_op.rs`); a future dropped
//!   meanwhile leaves the kind (and its buffers) to the job, which frees
//!   them after the call.
//! - `Inline`: nothing to wait for (`nop`).
//!
//! A splice waits on its non-pipe end (`Call::Splice`'s `wait_out`): a
//! socket's readiness, or the blocking pool for a regular file.

use std::io;
use std::sync::Arc;
use std::task::{Context, Poll};

use super::call::{Call, CURRENT_POSITION};
use super::epoll::EpollShared;
use super::fd::SharedFd;
use super::op_cell::Completion;
use super::op_future::OpKind;
use super::plain_call::{self, ConnectStep};
use super::pool_op::PoolOp;
use super::readiness::{Interest, ScheduledIo};
use super::ready_loop::{self, ReadyCall, Step, Waiting};
use super::shutting_down;
use super::worker_driver::Driver;

/// How a call runs on the epoll driver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum How {
    /// Try the call; on `EAGAIN` wait for `interest` on the call's
    /// descriptor. `socket`: the descriptor is known to be a socket (no
    /// need to ask the kernel whether epoll can watch it).
    Ready { interest: Interest, socket: bool },
    /// Run the call on the blocking pool.
    Blocking,
    /// Run the call here.
    Inline,
}

/// How `call` runs here, `connect` being its connect's progress.
fn how(call: &Call<'_>, connect: ConnectStep) -> How {
    let socket = |interest| How::Ready {
        interest,
        socket: true,
    };
    let stream = |interest| How::Ready {
        interest,
        socket: false,
    };
    match call {
        Call::Nop => How::Inline,
        Call::Read { offset, .. } if *offset == CURRENT_POSITION => stream(Interest::Read),
        Call::Write { offset, .. } if *offset == CURRENT_POSITION => stream(Interest::Write),
        Call::PollReadable { .. } => stream(Interest::Read),
        Call::Recv { .. }
        | Call::RecvAny { .. }
        | Call::RecvMsg { .. }
        | Call::Accept { .. }
        | Call::AcceptMany { .. } => socket(Interest::Read),
        Call::Send { .. } | Call::SendMsg { .. } => socket(Interest::Write),
        Call::Connect { .. } if connect == ConnectStep::BacklogFull => How::Blocking,
        Call::Connect { .. } => socket(Interest::Write),
        Call::Read { .. }
        | Call::Write { .. }
        | Call::Open { .. }
        | Call::Fsync { .. }
        | Call::Statx { .. }
        | Call::Unlink { .. }
        | Call::Rename { .. }
        | Call::MkDir { .. }
        | Call::Symlink { .. }
        | Call::HardLink { .. }
        | Call::Truncate { .. } => How::Blocking,
        Call::PollWritable { .. } => stream(Interest::Write),
        // A socket waits for readiness; a regular file (not pollable)
        // sends the splice to the blocking pool.
        Call::Splice {
            wait_out: false, ..
        } => stream(Interest::Read),
        Call::Splice { wait_out: true, .. } => stream(Interest::Write),
    }
}

/// The descriptor a readiness-based call waits on.
fn fd_of<'a>(call: &Call<'a>) -> Option<&'a SharedFd> {
    match *call {
        Call::Read { fd, .. }
        | Call::Recv { fd, .. }
        | Call::RecvAny { fd, .. }
        | Call::Write { fd, .. }
        | Call::Send { fd, .. }
        | Call::RecvMsg { fd, .. }
        | Call::SendMsg { fd, .. }
        | Call::Accept { fd, .. }
        | Call::AcceptMany { fd }
        | Call::Connect { fd, .. }
        | Call::PollReadable { fd }
        | Call::Fsync { fd, .. }
        | Call::PollWritable { fd } => Some(fd),
        Call::Splice {
            fd_in,
            fd_out,
            wait_out,
            ..
        } => Some(if wait_out { fd_out } else { fd_in }),
        _ => None,
    }
}

/// One op on the epoll driver: its kind, the instance it waits on, and
/// its progress. Dropped, it forgets its waiter; a job on the blocking
/// pool keeps the kind until its call returns.
pub(crate) struct EpollOp<K: OpKind> {
    shared: Arc<EpollShared>,
    /// The kind, except while a blocking-pool job carries it.
    kind: Option<K>,
    progress: Option<Progress<K>>,
    connect: ConnectStep,
}

/// An op's progress on the epoll driver.
enum Progress<K: OpKind> {
    /// Waiting for readiness.
    Waiting(Waiting),
    /// The kind is on the blocking pool.
    Blocking(PoolOp<K>),
}

impl<K: OpKind> EpollOp<K> {
    /// The kind, unless a blocking-pool job carries it (a task dump's
    /// view of what the op waits on).
    pub(crate) fn kind_if_here(&mut self) -> Option<&mut K> {
        self.kind.as_mut()
    }

    pub(crate) fn new(kind: K, shared: Arc<EpollShared>) -> EpollOp<K> {
        EpollOp {
            shared,
            kind: Some(kind),
            progress: None,
            connect: ConnectStep::Start,
        }
    }

    /// Whether the op finishes without being polled again: its call runs
    /// on the blocking pool. Waiting for readiness, it has made no call
    /// that took anything.
    pub(crate) fn runs_unpolled(&self) -> bool {
        matches!(self.progress, Some(Progress::Blocking(_)))
    }

    /// The kind, between calls.
    pub(crate) fn kind_mut(&mut self) -> &mut K {
        self.kind.as_mut().expect("the kind is back between calls")
    }

    /// The kind, once the op is done.
    pub(crate) fn into_kind(mut self) -> K {
        self.kind.take().expect("the kind is back between calls")
    }

    /// Polls the op. On `Ready` the kind is here again (it may have gone
    /// to the blocking pool and back), and the op may be polled for
    /// another call (multi-shot ops make one call per item).
    pub(crate) fn poll(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Completion>> {
        if let Some(Progress::Blocking(_)) = self.progress {
            return self.poll_job(cx);
        }
        // An op whose call succeeds at once is Ready on its first poll: the
        // coop budget makes a loop of such ops yield (on io_uring every op
        // yields once, at its submission).
        if !crate::coop::poll_proceed(cx) {
            return Poll::Pending;
        }
        let k = self.kind.as_mut().expect("op polled after completion");
        let call = k.call();
        let (interest, socket) = match how(&call, self.connect) {
            How::Inline => return Poll::Ready(Ok(plain_call::perform(call, &mut self.connect))),
            How::Blocking => return self.start_blocking(cx),
            How::Ready { interest, socket } => (interest, socket),
        };
        let fd = fd_of(&call).expect("a readiness call names its descriptor");
        if !fd.is_pollable(socket) {
            return self.start_blocking(cx);
        }
        let fd = fd.clone();
        if let Err(e) = fd.ensure_nonblocking() {
            return Poll::Ready(Err(e));
        }
        let mut waiting = match self.progress.take() {
            Some(Progress::Waiting(w)) => Some(w),
            other => {
                self.progress = other;
                None
            }
        };
        let k = self.kind.as_mut().expect("op polled after completion");
        let mut call = KindCall {
            kind: k,
            fd,
            interest,
            epoll: &self.shared,
            connect: &mut self.connect,
            drained: false,
            must_block: false,
        };
        let step = ready_loop::poll_call(&mut call, &mut waiting, cx.waker());
        if let Some(w) = waiting {
            self.progress = Some(Progress::Waiting(w));
        }
        match step {
            Step::Done(c) => Poll::Ready(Ok(c)),
            Step::Pending => Poll::Pending,
            Step::Blocking => self.start_blocking(cx),
            Step::Closed => Poll::Ready(Err(shutting_down())),
            Step::Failed(e) => Poll::Ready(Err(e)),
        }
    }

    /// Moves the kind into a job on the runtime's blocking pool.
    fn start_blocking(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Completion>> {
        let kind = self.kind.take().expect("op polled after completion");
        match PoolOp::start(kind, self.connect) {
            Ok(job) => {
                self.progress = Some(Progress::Blocking(job));
                self.poll_job(cx)
            }
            Err((kind, e)) => {
                self.kind = Some(kind);
                Poll::Ready(Err(e))
            }
        }
    }

    /// Polls the job carrying the kind; puts the kind back when it is done.
    fn poll_job(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Completion>> {
        let Some(Progress::Blocking(job)) = &mut self.progress else {
            unreachable!("called with a job in progress")
        };
        let (kind, result) = std::task::ready!(job.poll(cx));
        self.progress = None;
        self.kind = Some(kind);
        Poll::Ready(result)
    }
}

impl<K: OpKind> Drop for EpollOp<K> {
    /// Forgets the waiter (a job on the blocking pool keeps the kind until
    /// its call returns).
    fn drop(&mut self) {
        if let Some(Progress::Waiting(w)) = self.progress.take() {
            w.finish();
        }
    }
}

/// One kind's call on its descriptor, for the readiness loop.
struct KindCall<'a, K: OpKind> {
    kind: &'a mut K,
    fd: SharedFd,
    interest: Interest,
    epoll: &'a Arc<EpollShared>,
    connect: &'a mut ConnectStep,
    /// The last call's result showed the descriptor drained.
    drained: bool,
    /// The last call found it must go on on the blocking pool.
    must_block: bool,
}

impl<K: OpKind> ReadyCall for KindCall<'_, K> {
    fn interest(&self) -> Interest {
        self.interest
    }

    fn registered(&self) -> Option<Arc<ScheduledIo>> {
        self.fd.registered()
    }

    fn register(&mut self) -> io::Result<Option<Arc<ScheduledIo>>> {
        self.fd.register(self.epoll)
    }

    fn call(&mut self) -> Completion {
        let c = plain_call::perform(self.kind.call(), self.connect);
        let after = self.kind.call();
        self.drained = after.drained_by(&c);
        self.must_block = how(&after, *self.connect) == How::Blocking;
        c
    }

    fn drained(&self, _: &Completion) -> bool {
        self.drained
    }

    fn must_block(&self) -> bool {
        self.must_block
    }

    /// If no other op waits on the descriptor, its registration moves to
    /// the epoll instance of the worker polling this one (`epoll.rs`,
    /// "Registration").
    fn waits(&self, io: &Arc<ScheduledIo>, key: Option<u64>) {
        if !io.is_sole_waiter(key) {
            return;
        }
        super::context::with_local(|d| {
            if let Some(Driver::Epoll(d)) = d {
                self.fd.follow_waiter(io, d.shared());
            }
        });
    }
}
