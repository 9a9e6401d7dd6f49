//! `Op<K>`: the future of one io_uring operation.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use io_uring::squeue;

use super::epoll::EpollShared;
use super::fallback::{self, How, Progress};
use super::op::{self, Completion, OpCell, Recycle};
use super::remote;
use super::ring::{RingEntry, UringShared};
use super::seam::{Driver, DriverShared};

/// One kind of operation: owns its resources and builds its SQE.
pub(crate) trait OpKind: Send + 'static {
    type Output;

    /// The op's results are file descriptors (accept, openat, socket): one
    /// that arrives after the future was dropped is closed.
    const YIELDS_FD: bool = false;

    /// Called once with the ring the op goes to, before `entry` (an op
    /// may use the ring's buffer pool). Returns where provided buffers of
    /// completions nobody takes go back, if the op uses the pool.
    fn prepare(&mut self, _ring: &Arc<UringShared>) -> Option<Arc<dyn Recycle>> {
        None
    }

    /// Builds the SQE. Every pointer in it must point into memory owned by
    /// `self` that does not move when `self` does (heap buffers, boxes).
    fn entry(&mut self) -> squeue::Entry;

    /// Turns the completion (or a submission failure) into the output.
    fn complete(self, result: io::Result<Completion>) -> Self::Output;

    /// Multi-shot ops: how many results may wait untaken before the ring
    /// cancels the op (it is resubmitted when they are taken). 0: no limit.
    const QUEUE_LIMIT: usize = 0;

    /// How the op runs on the epoll driver (`driver/fallback.rs`).
    fn how(&self) -> How<'_>;

    /// The op as one plain system call, non-blocking where `how` says
    /// `Ready`: what its CQE would carry (`res` ≥ 0 or `-errno`). The
    /// epoll driver's path; may run on a blocking-pool thread.
    fn perform(&mut self) -> Completion;

    /// Epoll: `c`, a result of `perform`, shows the socket drained in the
    /// op's direction (a read shorter than its buffer, a write shorter
    /// than its data), so the next op waits for an edge instead of making
    /// a call bound to answer `EAGAIN`.
    fn drained(&self, _c: &Completion) -> bool {
        false
    }
}

/// The future of one operation. Dropping it before completion moves the
/// resources into the op's cell (alive until the kernel lets go) and asks
/// the ring to cancel the operation.
pub(crate) struct Op<K: OpKind> {
    kind: Option<K>,
    cell: Option<Arc<OpCell>>,
    ring: Option<Arc<UringShared>>,
    /// On the epoll driver: the instance, and the op's progress.
    epoll: Option<Arc<EpollShared>>,
    progress: Option<Progress<K>>,
}

impl<K: OpKind> Op<K> {
    pub(crate) fn new(kind: K) -> Op<K> {
        Op {
            kind: Some(kind),
            cell: None,
            ring: None,
            epoll: None,
            progress: None,
        }
    }

    /// Whether the op can finish without being polled again: it is on a
    /// ring, or its call runs on the blocking pool. An op waiting for
    /// readiness on epoll (or not started) does nothing until it is
    /// polled: dropped then, it has made no call that took anything.
    pub(crate) fn runs_unpolled(&self) -> bool {
        self.cell.is_some() || matches!(self.progress, Some(Progress::Blocking { .. }))
    }

    /// Polls the op on the epoll driver.
    fn poll_epoll(&mut self, epoll: Arc<EpollShared>, cx: &mut Context<'_>) -> Poll<K::Output> {
        let res = fallback::poll(&mut self.kind, &mut self.progress, &epoll, cx);
        self.epoll = Some(epoll);
        let res = std::task::ready!(res);
        self.epoll = None;
        let kind = self.kind.take().expect("kind present");
        Poll::Ready(kind.complete(res))
    }
}

impl<K: OpKind> Unpin for Op<K> {}

impl<K: OpKind> Future for Op<K> {
    type Output = K::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<K::Output> {
        let this = &mut *self;
        if let Some(epoll) = this.epoll.clone() {
            return this.poll_epoll(epoll, cx);
        }
        let Some(cell) = &this.cell else {
            let kind = this.kind.as_mut().expect("Op polled after completion");
            let target = match target_ring() {
                Ok(Target::Epoll(epoll)) => return this.poll_epoll(epoll, cx),
                Ok(t) => t,
                Err(e) => {
                    let kind = this.kind.take().expect("kind present");
                    return Poll::Ready(kind.complete(Err(e)));
                }
            };
            let (cell, ring) = start(kind, target, cx);
            this.cell = Some(cell);
            this.ring = Some(ring);
            return Poll::Pending;
        };
        match cell.poll(cx.waker()) {
            op::OpPoll::Pending => Poll::Pending,
            op::OpPoll::Ready { completion, .. } => {
                this.cell = None;
                let ended = ended_by_shutdown(this.ring.take(), &completion);
                let kind = this.kind.take().expect("kind present");
                if ended {
                    return Poll::Ready(kind.complete(Err(super::shutting_down())));
                }
                Poll::Ready(kind.complete(Ok(completion)))
            }
        }
    }
}

/// How long `Op::cancel_and_wait` waits for the kernel.
const CANCEL_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

impl<K: OpKind> Op<K> {
    /// Cancels the operation, blocking the thread until its outcome is
    /// known: `None` if it never started; else its output, which is the
    /// op's own result when it completed before the cancel reached it
    /// (for a receive: the bytes it took). On the op's own worker the ring
    /// is turned here; elsewhere the thread sleeps until the completion
    /// wakes it. Gives up (`TimedOut`) if the kernel does not answer in
    /// `CANCEL_WAIT`; the op is then abandoned as on a drop.
    pub(crate) fn cancel_and_wait(mut self) -> Option<io::Result<K::Output>> {
        if self.epoll.is_some() {
            return self.cancel_and_wait_epoll();
        }
        let (cell, ring) = (self.cell.clone()?, self.ring.clone()?);
        remote::request_cancel(&*ring, &cell);
        let thread = std::thread::current();
        let waker = std::task::Waker::from(Arc::new(ThreadWaker(thread)));
        let deadline = std::time::Instant::now() + CANCEL_WAIT;
        loop {
            if let op::OpPoll::Ready { completion, .. } = cell.poll(&waker) {
                self.cell = None;
                self.ring = None;
                let kind = self.kind.take().expect("kind present");
                return Some(Ok(kind.complete(Ok(completion))));
            }
            let now = std::time::Instant::now();
            if now >= deadline {
                return Some(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "ferrio: the kernel did not answer the cancellation of an operation",
                )));
            }
            let left = (deadline - now).min(std::time::Duration::from_millis(10));
            let turned = remote::Ring::with_local(&*ring, |local| {
                local.map(|driver| driver.turn(left)).is_some()
            });
            if !turned {
                std::thread::park_timeout(left);
            }
        }
    }
}

impl<K: OpKind> Op<K> {
    /// `cancel_and_wait` on the epoll driver: an op waiting for readiness
    /// has taken nothing (`None`); one on the blocking pool is waited for.
    fn cancel_and_wait_epoll(mut self) -> Option<io::Result<K::Output>> {
        match self.progress.take() {
            Some(job @ Progress::Blocking { .. }) => {
                self.progress = Some(job);
                let epoll = self.epoll.clone().expect("epoll op");
                let thread = std::thread::current();
                let waker = std::task::Waker::from(Arc::new(ThreadWaker(thread)));
                let mut cx = Context::from_waker(&waker);
                let deadline = std::time::Instant::now() + CANCEL_WAIT;
                loop {
                    if let Poll::Ready(out) = self.poll_epoll(epoll.clone(), &mut cx) {
                        return Some(Ok(out));
                    }
                    let now = std::time::Instant::now();
                    if now >= deadline {
                        return Some(Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            "ferrio: a blocking-pool operation did not finish in time",
                        )));
                    }
                    std::thread::park_timeout(
                        (deadline - now).min(std::time::Duration::from_millis(10)),
                    );
                }
            }
            other => {
                fallback::abandon(other);
                self.epoll = None;
                None
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

impl<K: OpKind> Drop for Op<K> {
    fn drop(&mut self) {
        fallback::abandon(self.progress.take());
        abandon(self.cell.take(), self.kind.take(), self.ring.take());
    }
}

/// A future dropped with its op started: the kind (and the buffers and
/// descriptor it holds) moves into the cell until the final CQE, and the
/// op is cancelled if it is still in flight.
fn abandon<K: OpKind>(cell: Option<Arc<OpCell>>, kind: Option<K>, ring: Option<Arc<UringShared>>) {
    let (Some(cell), Some(kind), Some(ring)) = (cell, kind, ring) else {
        return;
    };
    remote::abandon(&*ring, cell, Box::new(kind));
}

/// Submits `kind` on `target`: the cell shared with the ring, and the ring.
fn start<K: OpKind>(
    kind: &mut K,
    target: Target,
    cx: &Context<'_>,
) -> (Arc<OpCell>, Arc<UringShared>) {
    let ring = target.ring().clone();
    let recycler = kind.prepare(&ring);
    let cell = OpCell::new(cx.waker().clone(), K::YIELDS_FD, recycler);
    if K::QUEUE_LIMIT > 0 {
        cell.set_limit(K::QUEUE_LIMIT);
    }
    target.push(kind.entry(), cell.clone());
    (cell, ring)
}

/// A multi-shot operation (`IORING_CQE_F_MORE`): one SQE, a stream of
/// completions. When the kernel ends it (an error, or a full CQ), the next
/// poll submits it again. Dropping it cancels the operation; completions
/// nobody took are released (descriptors closed, buffers recycled).
pub(crate) struct MultiOp<K: OpKind> {
    /// Always `Some` until the future is dropped (then it moves into the
    /// cell with the descriptor clone it holds).
    kind: Option<K>,
    cell: Option<Arc<OpCell>>,
    ring: Option<Arc<UringShared>>,
    /// On the epoll driver: one plain call per item.
    epoll: Option<Arc<EpollShared>>,
    progress: Option<Progress<K>>,
}

impl<K: OpKind> Unpin for MultiOp<K> {}

/// How a multi-shot kind turns each completion into an item. Its SQE
/// must not point into the kind: the kind may move (it is re-used to
/// resubmit), and only on drop does it go into the cell.
pub(crate) trait MultiKind: OpKind {
    type Item;
    fn item(&mut self, completion: Completion) -> Self::Item;
}

impl<K: MultiKind> MultiOp<K> {
    pub(crate) fn new(kind: K) -> MultiOp<K> {
        MultiOp {
            kind: Some(kind),
            cell: None,
            ring: None,
            epoll: None,
            progress: None,
        }
    }

    /// The next item on the epoll driver: one plain call.
    fn poll_epoll(
        &mut self,
        epoll: Arc<EpollShared>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<K::Item>> {
        let res = fallback::poll(&mut self.kind, &mut self.progress, &epoll, cx);
        self.epoll = Some(epoll);
        let c = std::task::ready!(res)?;
        let kind = self.kind.as_mut().expect("kind present until drop");
        Poll::Ready(Ok(kind.item(c)))
    }

    /// The next completion's item. Fails only when the op cannot be
    /// submitted (outside a runtime, or at shutdown).
    pub(crate) fn poll_next_item(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<K::Item>> {
        if let Some(epoll) = self.epoll.clone() {
            return self.poll_epoll(epoll, cx);
        }
        let Some(cell) = &self.cell else {
            let target = match target_ring()? {
                Target::Epoll(epoll) => return self.poll_epoll(epoll, cx),
                t => t,
            };
            let kind = self.kind.as_mut().expect("kind present until drop");
            let (cell, ring) = start(kind, target, cx);
            self.cell = Some(cell);
            self.ring = Some(ring);
            return Poll::Pending;
        };
        match cell.poll(cx.waker()) {
            op::OpPoll::Pending => Poll::Pending,
            op::OpPoll::Ready { completion, last } => {
                if last {
                    let throttled = cell.throttled();
                    self.cell = None;
                    if ended_by_shutdown(self.ring.take(), &completion) {
                        return Poll::Ready(Err(super::shutting_down()));
                    }
                    if throttled && completion.res == -libc::ECANCELED {
                        // The ring paused it at its queue limit and every
                        // queued result has been taken: go on.
                        return self.poll_next_item(cx);
                    }
                }
                let kind = self.kind.as_mut().expect("kind present until drop");
                Poll::Ready(Ok(kind.item(completion)))
            }
        }
    }
}

impl<K: OpKind> Drop for MultiOp<K> {
    fn drop(&mut self) {
        fallback::abandon(self.progress.take());
        abandon(self.cell.take(), self.kind.take(), self.ring.take());
    }
}

/// Whether a ring's shutdown cancelled the op that got `completion`.
fn ended_by_shutdown(ring: Option<Arc<UringShared>>, completion: &Completion) -> bool {
    completion.res == -libc::ECANCELED && ring.is_some_and(|r| r.is_shutting_down())
}

/// Where a new operation goes: the current worker's ring, or (off the
/// workers) a worker's remote queue.
enum Target {
    Local(Arc<UringShared>),
    Remote(Arc<UringShared>),
    /// The epoll driver (a worker's own, or one picked off the workers).
    Epoll(Arc<EpollShared>),
}

impl Target {
    fn ring(&self) -> &Arc<UringShared> {
        match self {
            Target::Local(r) | Target::Remote(r) => r,
            Target::Epoll(_) => unreachable!("epoll ops never reach a ring"),
        }
    }

    /// Submits `entry`, which carries the kernel's reference to `cell`.
    fn push(self, entry: squeue::Entry, cell: Arc<OpCell>) {
        match self {
            Target::Local(_) => {
                let entry = entry.user_data(Arc::into_raw(cell) as u64);
                crate::context::with_worker(|w| {
                    let w = w.expect("still on the worker");
                    w.driver().uring().expect("a ring").push(&entry, true)
                })
            }
            Target::Remote(ring) => remote::submit_remote(&*ring, RingEntry::new(entry, cell)),
            Target::Epoll(_) => unreachable!("epoll ops never reach a ring"),
        }
    }
}

fn target_ring() -> io::Result<Target> {
    let local = crate::context::with_worker(|w| {
        w.map(|w| match w.driver() {
            Driver::Uring(d) => Target::Local(d.shared().clone()),
            Driver::Epoll(d) => Target::Epoll(d.shared().clone()),
        })
    });
    if let Some(target) = local {
        return Ok(target);
    }
    crate::context::with_current_handle(|h| match h {
        Some(h) => h.shared.remote_ring().map(|d| match d {
            DriverShared::Uring(r) => Target::Remote(r),
            DriverShared::Epoll(e) => Target::Epoll(e),
        }),
        None => Err(io::Error::other(
            "ferrio: an I/O operation was polled outside a ferrio runtime; run it inside \
             Runtime::block_on, ferrio::run or a spawned task",
        )),
    })
}
