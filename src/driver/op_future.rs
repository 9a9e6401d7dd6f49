// Over 500 lines: `Op` and `MultiOp` share one `Stage` enum and its
// start/abandon paths, plus the streaming fast path and the blocking-pool
// stage; split apart, each would re-state the stage protocol.
//! The future of one operation, `Op<K>`, and of a multi-shot one,
//! `MultiOp<K>`, over whichever driver the worker polling it runs.
//!
//! An op is described once by its kind (`OpKind::call`, `call.rs`); where
//! it is in its life is one enum, [`Stage`]: not started, on a ring (the
//! completion cell it shares with the kernel), on the epoll driver
//! (`EpollOp`), or on the blocking pool (`PoolOp`: a ring whose kernel
//! lacks the call's opcode).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use io_uring::squeue;

use super::call::Call;
use super::epoll::EpollShared;
use super::epoll_op::EpollOp;
use super::op_cell::{self, Completion, OpCell};
use super::plain_call::{self, ConnectStep};
use super::pool_op::PoolOp;
use super::remote;
use super::ring::{RingEntry, UringShared};
use super::uring_call;
use super::worker_driver::{Driver, DriverShared};
use crate::task::core::wait;

/// One kind of operation: owns its resources and describes its call.
pub(crate) trait OpKind: Send + 'static {
    type Output;

    /// The op's system call over the kind's resources (`call.rs`: every
    /// pointer in it points into memory the kind owns and that does not
    /// move when the kind moves). Called once per submission or attempt.
    fn call(&mut self) -> Call<'_>;

    /// Turns the completion (or a submission failure) into the output.
    fn complete(self, result: io::Result<Completion>) -> Self::Output;

    /// Multi-shot ops: how many results may wait untaken before the ring
    /// cancels the op (it is resubmitted when they are taken). 0: no limit.
    const QUEUE_LIMIT: usize = 0;
}

/// Where an op is in its life.
enum Stage<K: OpKind> {
    /// Not submitted (a multi-shot op also between submissions).
    Idle(K),
    /// On a ring: the kernel may use the kind's resources until the
    /// cell's final completion.
    Ring {
        kind: K,
        cell: Arc<OpCell>,
        ring: Arc<UringShared>,
    },
    /// On the epoll driver.
    Epoll(EpollOp<K>),
    /// On the blocking pool: the worker runs io_uring, but this kernel
    /// lacks the call's opcode (`uring_call::newer_opcode`).
    Pool(PoolOp<K>),
    /// In a simulated world (`sim_hook.rs`): each poll is one attempt,
    /// which takes nothing unless it completes.
    #[cfg(feature = "sim")]
    Sim(K, Arc<dyn super::sim_hook::SimBackend>, u64),
    /// The output was returned (or the kind moved out).
    Done,
}

impl<K: OpKind> Stage<K> {
    /// Starts an idle op on the driver of the thread polling it. `Err`
    /// with the kind back when it cannot start (outside a runtime).
    fn start(&mut self, cx: &Context<'_>) -> Result<(), (K, io::Error)> {
        let Stage::Idle(_) = self else {
            unreachable!("only an idle op starts")
        };
        let Stage::Idle(mut kind) = std::mem::replace(self, Stage::Done) else {
            unreachable!("checked above")
        };
        match target() {
            Err(e) => Err((kind, e)),
            #[cfg(feature = "sim")]
            Ok(Target::Sim(backend)) => {
                let token = backend.token();
                *self = Stage::Sim(kind, backend, token);
                Ok(())
            }
            Ok(Target::Epoll(shared)) => {
                *self = Stage::Epoll(EpollOp::new(kind, shared));
                Ok(())
            }
            Ok(target) => {
                let newer = uring_call::newer_opcode(&kind.call());
                if newer.is_some_and(|code| !target.ring().has_opcode(code)) {
                    *self = Stage::Pool(PoolOp::start(kind, ConnectStep::Start)?);
                    return Ok(());
                }
                let (cell, ring) = submit(&mut kind, target, cx);
                *self = Stage::Ring { kind, cell, ring };
                Ok(())
            }
        }
    }

    /// Whether the op can finish without being polled again: it is on a
    /// ring, or its call runs on the blocking pool.
    fn runs_unpolled(&self) -> bool {
        match self {
            Stage::Ring { .. } | Stage::Pool(_) => true,
            Stage::Epoll(e) => e.runs_unpolled(),
            #[cfg(feature = "sim")]
            Stage::Sim(..) => false,
            Stage::Idle(_) | Stage::Done => false,
        }
    }
}

impl<K: OpKind> Stage<K> {
    /// The op's future is dropped. On a ring, the kind (and the buffers
    /// and descriptor it holds) moves into the cell until the final CQE,
    /// and the op is cancelled if it is still in flight. On epoll,
    /// `EpollOp`'s own drop forgets its waiter.
    fn abandon(&mut self) {
        match std::mem::replace(self, Stage::Done) {
            Stage::Ring { kind, cell, ring } => remote::abandon(&*ring, cell, Box::new(kind)),
            #[cfg(feature = "sim")]
            Stage::Sim(mut kind, backend, token) => backend.abandon(kind.call(), token),
            _ => {}
        }
    }
}

impl<K: OpKind> Drop for Op<K> {
    fn drop(&mut self) {
        self.stage.abandon();
    }
}

impl<K: OpKind> Drop for MultiOp<K> {
    fn drop(&mut self) {
        self.stage.abandon();
    }
}

/// The future of one operation. Dropping it before completion moves the
/// resources into the op's cell (alive until the kernel lets go) and asks
/// the ring to cancel the operation; on epoll it forgets its waiter, and a
/// call on the blocking pool keeps the resources until it returns.
pub(crate) struct Op<K: OpKind> {
    stage: Stage<K>,
}

impl<K: OpKind> Op<K> {
    pub(crate) fn new(kind: K) -> Op<K> {
        Op {
            stage: Stage::Idle(kind),
        }
    }

    /// Whether the op can finish without being polled again: it is on a
    /// ring, or its call runs on the blocking pool. An op waiting for
    /// readiness on epoll (or not started) does nothing until it is
    /// polled: dropped then, it has made no call that took anything.
    pub(crate) fn runs_unpolled(&self) -> bool {
        self.stage.runs_unpolled()
    }

    /// The output of the final result: the stage becomes `Done`.
    fn finish(&mut self, result: io::Result<Completion>) -> K::Output {
        let kind = match std::mem::replace(&mut self.stage, Stage::Done) {
            Stage::Idle(kind) => kind,
            Stage::Epoll(e) => e.into_kind(),
            Stage::Ring {
                kind,
                cell: _,
                ring: _,
            } => kind,
            #[cfg(feature = "sim")]
            Stage::Sim(kind, _, _) => kind,
            Stage::Pool(_) => unreachable!("a pool op is idle again when it finishes"),
            Stage::Done => unreachable!("finished once"),
        };
        kind.complete(result)
    }
}

impl<K: OpKind> Unpin for Op<K> {}

impl<K: OpKind> Future for Op<K> {
    type Output = K::Output;

    #[track_caller]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<K::Output> {
        let out = self.poll_op(cx);
        if out.is_pending() {
            let waits = match &mut self.stage {
                Stage::Ring { kind, .. } => kind.call().wait(),
                // Not here: a blocking-pool job carries it (a file op,
                // whatever the descriptor).
                Stage::Epoll(e) => match e.kind_if_here() {
                    Some(k) => k.call().wait(),
                    None => Some((wait::WaitKind::File, -1i64 as u64)),
                },
                Stage::Pool(_) => Some((wait::WaitKind::File, -1i64 as u64)),
                #[cfg(feature = "sim")]
                Stage::Sim(kind, ..) => kind.call().wait(),
                _ => None,
            };
            if let Some((kind, detail)) = waits {
                wait::record(kind, detail);
            }
        }
        out
    }
}

impl<K: OpKind> Op<K> {
    fn poll_op(&mut self, cx: &mut Context<'_>) -> Poll<K::Output> {
        let this = self;
        if let Stage::Idle(kind) = &mut this.stage {
            if let Some(c) = streaming_attempt(kind) {
                return Poll::Ready(this.finish(Ok(c)));
            }
            if let Err((kind, e)) = this.stage.start(cx) {
                return Poll::Ready(kind.complete(Err(e)));
            }
            if let Stage::Ring { .. } = this.stage {
                return Poll::Pending;
            }
        }
        let result = match &mut this.stage {
            Stage::Ring { kind, cell, ring } => match cell.poll(cx.waker()) {
                op_cell::OpPoll::Pending => return Poll::Pending,
                op_cell::OpPoll::Ready { completion, .. } => {
                    if ended_by_shutdown(ring, &completion) {
                        Err(super::shutting_down())
                    } else {
                        note_receive(&kind.call(), &completion);
                        Ok(completion)
                    }
                }
            },
            Stage::Epoll(e) => std::task::ready!(e.poll(cx)),
            Stage::Pool(p) => {
                let (kind, result) = std::task::ready!(p.poll(cx));
                this.stage = Stage::Idle(kind);
                result
            }
            #[cfg(feature = "sim")]
            Stage::Sim(kind, backend, token) => {
                // A call the model answers at once is Ready on its first
                // poll: the budget makes a loop of them yield.
                if !crate::coop::poll_proceed(cx) {
                    return Poll::Pending;
                }
                Ok(std::task::ready!(backend.poll_call(
                    kind.call(),
                    *token,
                    cx
                )))
            }
            Stage::Idle(_) => unreachable!("started above"),
            Stage::Done => panic!("Op polled after completion"),
        };
        Poll::Ready(this.finish(result))
    }
}

/// Streaming: a socket whose last receive filled its buffer likely has
/// more queued (a large message arriving), and a reply written while it
/// streams likely fits its send buffer. On a ring, such a receive or send
/// is first tried as a plain non-blocking call (`MSG_DONTWAIT`): when it
/// succeeds the op is done at once, without an SQE, a park and a wake-up
/// of its task per chunk; `EAGAIN` ends the streaming and the op goes to
/// the ring as usual. Ops on sockets that are not streaming (small
/// messages, a connection waiting for its next request) never make the
/// extra call. Each direct success spends one unit of the task's budget;
/// with none left the op goes to the ring, which yields.
fn streaming_attempt<K: OpKind>(kind: &mut K) -> Option<Completion> {
    let call = kind.call();
    let (fd, len, receive) = match call {
        Call::Recv {
            fd,
            len,
            datagram: false,
            ..
        } => (fd, len, true),
        Call::Send {
            fd,
            len,
            whole: false,
            ..
        } => (fd, len, false),
        _ => return None,
    };
    if !fd.is_streaming()
        || !super::context::with_local(|d| matches!(d, Some(Driver::Uring(_))))
        || !crate::poll_state::consume_budget()
    {
        return None;
    }
    let c = plain_call::perform(call, &mut plain_call::ConnectStep::Start);
    if c.res == -libc::EAGAIN {
        fd.set_streaming(false);
        return None;
    }
    if receive {
        fd.set_streaming(c.res > 0 && c.res as usize == len);
    }
    Some(c)
}

/// After a receive on a ring: whether it filled its buffer.
fn note_receive(call: &Call<'_>, c: &Completion) {
    if let Call::Recv {
        fd,
        len,
        datagram: false,
        ..
    } = call
    {
        fd.set_streaming(c.res > 0 && c.res as usize == *len);
    }
}

/// How long `Op::cancel_and_wait` waits for the kernel.
const CANCEL_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

impl<K: OpKind> Op<K> {
    /// Cancels the operation, blocking the thread until its outcome is
    /// known: `None` if it never started (or, on epoll, waits for
    /// readiness and so has taken nothing); else its output, which is the
    /// op's own result when it completed before the cancel reached it
    /// (for a receive: the bytes it took). On the op's own worker the ring
    /// is turned here; elsewhere the thread sleeps until the completion
    /// wakes it. Gives up (`TimedOut`) if the kernel does not answer in
    /// `CANCEL_WAIT`; the op is then abandoned as on a drop.
    pub(crate) fn cancel_and_wait(mut self) -> Option<io::Result<K::Output>> {
        let deadline = std::time::Instant::now() + CANCEL_WAIT;
        let thread = std::thread::current();
        let waker = std::task::Waker::from(Arc::new(ThreadWaker(thread)));
        let mut cx = Context::from_waker(&waker);
        match &mut self.stage {
            Stage::Idle(_) | Stage::Done => return None,
            Stage::Epoll(e) if !e.runs_unpolled() => return None,
            // A simulated op takes nothing until it completes.
            #[cfg(feature = "sim")]
            Stage::Sim(..) => return None,
            Stage::Epoll(_) | Stage::Pool(_) => {}
            Stage::Ring { cell, ring, .. } => remote::request_cancel(&**ring, cell),
        }
        loop {
            let result = match &mut self.stage {
                Stage::Ring { cell, .. } => match cell.poll(&waker) {
                    op_cell::OpPoll::Ready { completion, .. } => Some(Ok(completion)),
                    op_cell::OpPoll::Pending => None,
                },
                Stage::Epoll(e) => match e.poll(&mut cx) {
                    Poll::Ready(res) => Some(res),
                    Poll::Pending => None,
                },
                Stage::Pool(p) => match p.poll(&mut cx) {
                    Poll::Ready((kind, res)) => {
                        self.stage = Stage::Idle(kind);
                        Some(res)
                    }
                    Poll::Pending => None,
                },
                #[cfg(feature = "sim")]
                Stage::Sim(..) => unreachable!("returned above"),
                Stage::Idle(_) | Stage::Done => unreachable!("started and not finished"),
            };
            if let Some(result) = result {
                return Some(Ok(self.finish(result)));
            }
            let now = std::time::Instant::now();
            if now >= deadline {
                return Some(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "ferrio: the kernel did not answer the cancellation of an operation",
                )));
            }
            let left = (deadline - now).min(std::time::Duration::from_millis(10));
            let turned = match &self.stage {
                Stage::Ring { ring, .. } => remote::Ring::with_local(&**ring, |local| {
                    local.map(|driver| driver.turn(left)).is_some()
                }),
                _ => false,
            };
            if !turned {
                std::thread::park_timeout(left);
            }
        }
    }
}

/// Wakes a thread blocked in `cancel_and_wait`.
struct ThreadWaker(std::thread::Thread);

impl std::task::Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// Submits `kind` on `target`: the cell shared with the ring, and the ring.
fn submit<K: OpKind>(
    kind: &mut K,
    target: Target,
    cx: &Context<'_>,
) -> (Arc<OpCell>, Arc<UringShared>) {
    let ring = target.ring().clone();
    let call = kind.call();
    let yields_fd = call.yields_fd();
    let (entry, recycler) = uring_call::sqe(call, &ring);
    let cell = OpCell::new(cx.waker().clone(), yields_fd, recycler);
    if K::QUEUE_LIMIT > 0 {
        cell.set_limit(K::QUEUE_LIMIT);
    }
    target.push(entry, cell.clone());
    (cell, ring)
}

/// A multi-shot operation (`IORING_CQE_F_MORE`): one SQE, a stream of
/// completions. When the kernel ends it (an error, or a full CQ), the next
/// poll submits it again. Dropping it cancels the operation; completions
/// nobody took are released (descriptors closed, buffers recycled). On
/// epoll, one plain call per item.
pub(crate) struct MultiOp<K: OpKind> {
    stage: Stage<K>,
}

impl<K: OpKind> Unpin for MultiOp<K> {}

/// How a multi-shot kind turns each completion into an item. Its call
/// must not point into the kind: the kind may move (it is re-used to
/// resubmit), and only on drop does it go into the cell.
pub(crate) trait MultiKind: OpKind {
    type Item;
    fn item(&mut self, completion: Completion) -> Self::Item;
}

impl<K: MultiKind> MultiOp<K> {
    pub(crate) fn new(kind: K) -> MultiOp<K> {
        MultiOp {
            stage: Stage::Idle(kind),
        }
    }

    /// The next completion's item. Fails only when the op cannot be
    /// submitted (outside a runtime, or at shutdown).
    pub(crate) fn poll_next_item(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<K::Item>> {
        if let Stage::Idle(_) = self.stage {
            if let Err((kind, e)) = self.stage.start(cx) {
                self.stage = Stage::Idle(kind);
                return Poll::Ready(Err(e));
            }
            if let Stage::Ring { .. } = self.stage {
                return Poll::Pending;
            }
        }
        match &mut self.stage {
            Stage::Epoll(e) => {
                let c = std::task::ready!(e.poll(cx))?;
                Poll::Ready(Ok(e.kind_mut().item(c)))
            }
            #[cfg(feature = "sim")]
            Stage::Sim(kind, backend, token) => {
                if !crate::coop::poll_proceed(cx) {
                    return Poll::Pending;
                }
                let c = std::task::ready!(backend.poll_call(kind.call(), *token, cx));
                Poll::Ready(Ok(kind.item(c)))
            }
            Stage::Pool(p) => {
                let (kind, result) = std::task::ready!(p.poll(cx));
                self.stage = Stage::Idle(kind);
                let c = result?;
                let Stage::Idle(kind) = &mut self.stage else {
                    unreachable!("set above")
                };
                Poll::Ready(Ok(kind.item(c)))
            }
            Stage::Ring { kind, cell, ring } => match cell.poll(cx.waker()) {
                op_cell::OpPoll::Pending => Poll::Pending,
                op_cell::OpPoll::Ready { completion, last } => {
                    let item = if last {
                        let throttled = cell.throttled();
                        let ended = ended_by_shutdown(ring, &completion);
                        let Stage::Ring { kind, .. } =
                            std::mem::replace(&mut self.stage, Stage::Done)
                        else {
                            unreachable!("matched above")
                        };
                        self.stage = Stage::Idle(kind);
                        if ended {
                            return Poll::Ready(Err(super::shutting_down()));
                        }
                        if throttled && completion.res == -libc::ECANCELED {
                            // The ring paused it at its queue limit and
                            // every queued result has been taken: go on.
                            return self.poll_next_item(cx);
                        }
                        let Stage::Idle(kind) = &mut self.stage else {
                            unreachable!("set above")
                        };
                        kind.item(completion)
                    } else {
                        kind.item(completion)
                    };
                    Poll::Ready(Ok(item))
                }
            },
            Stage::Idle(_) | Stage::Done => unreachable!("started above"),
        }
    }
}

/// Whether a ring's shutdown cancelled the op that got `completion`.
fn ended_by_shutdown(ring: &UringShared, completion: &Completion) -> bool {
    completion.res == -libc::ECANCELED && ring.is_shutting_down()
}

/// Where a new operation goes: the current worker's ring, or (off the
/// workers) a worker's remote queue.
enum Target {
    Local(Arc<UringShared>),
    Remote(Arc<UringShared>),
    /// The epoll driver (a worker's own, or one picked off the workers).
    Epoll(Arc<EpollShared>),
    /// A simulated world (`sim_hook.rs`).
    #[cfg(feature = "sim")]
    Sim(Arc<dyn super::sim_hook::SimBackend>),
}

impl Target {
    fn ring(&self) -> &Arc<UringShared> {
        match self {
            Target::Local(r) | Target::Remote(r) => r,
            Target::Epoll(_) => unreachable!("epoll ops never reach a ring"),
            #[cfg(feature = "sim")]
            Target::Sim(_) => unreachable!("simulated ops never reach a ring"),
        }
    }

    /// Submits `entry`, which carries the kernel's reference to `cell`.
    fn push(self, entry: squeue::Entry, cell: Arc<OpCell>) {
        match self {
            Target::Local(_) => {
                let entry = entry.user_data(Arc::into_raw(cell) as u64);
                super::context::with_local(|d| {
                    let d = d.expect("still on the worker");
                    d.uring().expect("a ring").push(&entry, true)
                })
            }
            Target::Remote(ring) => remote::submit_remote(&*ring, RingEntry::new(entry, cell)),
            Target::Epoll(_) => unreachable!("epoll ops never reach a ring"),
            #[cfg(feature = "sim")]
            Target::Sim(_) => unreachable!("simulated ops never reach a ring"),
        }
    }
}

fn target() -> io::Result<Target> {
    let local = super::context::with_local(|d| {
        d.map(|d| match d {
            Driver::Uring(d) => Target::Local(d.shared().clone()),
            Driver::Epoll(d) => Target::Epoll(d.shared().clone()),
            #[cfg(feature = "sim")]
            Driver::Sim(d) => Target::Sim(d.backend.clone()),
        })
    });
    if let Some(target) = local {
        return Ok(target);
    }
    super::context::with_runtime(|r| match r {
        Some(r) => r.remote_driver().map(|d| match d {
            DriverShared::Uring(r) => Target::Remote(r),
            DriverShared::Epoll(e) => Target::Epoll(e),
            #[cfg(feature = "sim")]
            DriverShared::Sim(_, backend) => Target::Sim(backend),
        }),
        None => Err(io::Error::other(
            "ferrio: an I/O operation was polled outside a ferrio runtime; run it inside \
             Runtime::block_on, ferrio::run or a spawned task",
        )),
    })
}
