//! What other threads ask of a ring: the remote queue (operations
//! submitted off the ring's worker, cancels of operations on it), its
//! `closed` flag, and the routing of a dropped operation's cancel.
//!
//! The rule this module keeps: **an operation's SQE reaches its ring before
//! any cancel aimed at it.** A cancel that reached the kernel first would
//! find nothing and the operation would then run uncancelled, taking data
//! meant for later reads. Three paths meet here:
//!
//! - local: the op was pushed straight into its ring's submission queue
//!   by the ring's worker; any cancel comes after it (on that worker, or
//!   through the remote queue, which the worker drains later);
//! - remote: the op waits in the remote queue (`queued` in its cell). A
//!   future dropped then sends **no** cancel: the drain sees the op
//!   abandoned and finishes it as cancelled without submitting it. If the
//!   drop races the drain, the cell's lock orders them: a drop before
//!   `begin_submit` is seen there; a drop between `begin_submit` and
//!   `end_submit` is seen by `end_submit`, and the worker pushes the
//!   cancel right after the SQE; a drop after `end_submit` routes the
//!   cancel as for a local op;
//! - cross-ring: a cancel from any thread but the ring's worker goes
//!   through the remote queue, behind every SQE already in the ring.
//!
//! Once the ring has shut down the queue is closed: a late operation is
//! finished at once as cancelled (`ECANCELED`), a late cancel has nothing
//! left to cancel.
//!
//! The logic is generic over the [`SubmissionSink`] a worker pushes into
//! and the [`Ring`] other threads reach, so the loom models run it with a
//! stand-in submission queue; the driver implements both on its io_uring
//! ring. The local path does not go through here at all.

use std::any::Any;
use std::sync::Arc;

use super::op_cell::{Completion, OpCell};
use crate::loom::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use crate::loom::sync::Mutex;

/// An operation's SQE, carrying the reference to its cell that the kernel
/// holds from submission to the final completion.
pub(crate) trait OpEntry: Send {
    /// The operation's cell.
    fn cell(&self) -> &OpCell;
    /// Takes back the kernel's reference of an entry that will never be
    /// submitted.
    fn into_cell(self) -> Arc<OpCell>;
}

/// Where a ring's worker pushes SQEs: the io_uring submission queue, or a
/// model's stand-in. Pushes reach the kernel in the order they are made.
pub(crate) trait SubmissionSink {
    type Entry: OpEntry;
    /// Pushes an operation that came through the remote queue.
    fn push_op(&self, entry: Self::Entry);
    /// Pushes an `ASYNC_CANCEL` aimed at `cell`'s operation; the cancel
    /// holds its own reference to the cell until its completion.
    fn push_cancel(&self, cell: Arc<OpCell>);
}

/// The part of a ring that other threads reach.
pub(crate) trait Ring {
    type Sink: SubmissionSink;
    /// Its remote queue.
    fn remote(&self) -> &RemoteQueue<<Self::Sink as SubmissionSink>::Entry>;
    /// Runs `f` with the ring's sink when the calling thread is the ring's
    /// worker, with `None` otherwise.
    fn with_local<R>(&self, f: impl FnOnce(Option<&Self::Sink>) -> R) -> R;
    /// Wakes the ring's worker so that it drains its remote queue.
    fn wake(&self);
}

enum Request<E> {
    Submit(E),
    Cancel(Arc<OpCell>),
}

struct Requests<E> {
    reqs: Vec<Request<E>>,
    closed: bool,
}

/// Requests from other threads, drained by the ring's worker in order;
/// closed once the ring has shut down.
pub(crate) struct RemoteQueue<E> {
    state: Mutex<Requests<E>>,
    /// `reqs.len()`, so that the worker's drain of an empty queue costs a
    /// load, not a lock. Written under the lock: its modification order is
    /// the lock's, and only the worker empties the queue.
    len: AtomicUsize,
}

impl<E: OpEntry> Default for RemoteQueue<E> {
    fn default() -> Self {
        RemoteQueue {
            state: Mutex::new(Requests {
                reqs: Vec::new(),
                closed: false,
            }),
            len: AtomicUsize::new(0),
        }
    }
}

impl<E: OpEntry> RemoteQueue<E> {
    /// Queues a request; false (and the request finished here) when the
    /// ring has shut down.
    fn push(&self, req: Request<E>) -> bool {
        let mut q = self.state.lock();
        if q.closed {
            // Nothing will drain this. Finish it outside the lock
            // (completing wakes).
            drop(q);
            finish_unsent(req);
            return false;
        }
        q.reqs.push(req);
        self.len.store(q.reqs.len(), Relaxed);
        true
    }

    /// Queues an operation; true when the worker must be woken.
    pub(crate) fn submit(&self, entry: E) -> bool {
        // Before the entry is visible to the drain: from now on a dropped
        // future leaves the cancel to the drain.
        entry.cell().mark_queued();
        self.push(Request::Submit(entry))
    }

    /// Queues a cancel; true when the worker must be woken.
    pub(crate) fn cancel(&self, cell: Arc<OpCell>) -> bool {
        self.push(Request::Cancel(cell))
    }

    /// The worker moves the queued requests into its submission queue, in
    /// order. Returns how many operations it submitted.
    pub(crate) fn drain_into<S: SubmissionSink<Entry = E>>(&self, sink: &S) -> usize {
        if self.len.load(Relaxed) == 0 {
            return 0;
        }
        let reqs = {
            let mut q = self.state.lock();
            self.len.store(0, Relaxed);
            std::mem::take(&mut q.reqs)
        };
        let mut submitted = 0;
        for req in reqs {
            match req {
                Request::Submit(entry) => {
                    if !entry.cell().begin_submit() {
                        // Its future is gone: never start it.
                        finish_unsent(Request::Submit(entry));
                        continue;
                    }
                    let cell = clone_cell(entry.cell());
                    sink.push_op(entry);
                    submitted += 1;
                    if cell.end_submit() {
                        // Dropped while being pushed: the cancel goes
                        // right behind the SQE.
                        sink.push_cancel(cell);
                    }
                }
                Request::Cancel(cell) => sink.push_cancel(cell),
            }
        }
        submitted
    }

    /// The worker, at shutdown, after its last drain: closes the queue and
    /// finishes what arrived since as cancelled.
    pub(crate) fn close(&self) {
        let late = {
            let mut q = self.state.lock();
            q.closed = true;
            self.len.store(0, Relaxed);
            std::mem::take(&mut q.reqs)
        };
        late.into_iter().for_each(finish_unsent);
    }
}

/// A new reference to a cell an entry holds alive.
fn clone_cell(cell: &OpCell) -> Arc<OpCell> {
    let ptr: *const OpCell = cell;
    // SAFETY: every `OpCell` lives in an `Arc` (`OpCell::new` returns
    // one), and the entry holds a strong reference to it for the whole
    // call, so the count is at least one while we add ours.
    unsafe {
        Arc::increment_strong_count(ptr);
        Arc::from_raw(ptr)
    }
}

/// Finishes a request that will never reach the kernel: an operation
/// completes with `ECANCELED` (its future is woken, or its resources
/// freed); a cancel has nothing left to cancel.
fn finish_unsent<E: OpEntry>(req: Request<E>) {
    match req {
        Request::Submit(entry) => {
            let cell = entry.into_cell();
            cell.complete(
                Completion {
                    res: -libc::ECANCELED,
                    flags: 0,
                },
                false,
            );
        }
        Request::Cancel(cell) => drop(cell),
    }
}

/// Submits an operation to `ring` from a thread that is not its worker.
pub(crate) fn submit_remote<R: Ring>(ring: &R, entry: <R::Sink as SubmissionSink>::Entry) {
    if ring.remote().submit(entry) {
        ring.wake();
    }
}

/// An operation's future is dropped before its final completion: its
/// resources move into the cell (freed by the final completion) and, if
/// the op reached its ring, a cancel follows it there.
pub(crate) fn abandon<R: Ring>(ring: &R, cell: Arc<OpCell>, resources: Box<dyn Any + Send>) {
    if cell.abandon(resources) {
        cancel(ring, cell);
    }
}

/// The future of an operation asks for it to be cancelled but keeps
/// waiting for its outcome (the op may still complete normally).
pub(crate) fn request_cancel<R: Ring>(ring: &R, cell: &Arc<OpCell>) {
    if cell.request_cancel() {
        cancel(ring, cell.clone());
    }
}

/// Cancels an operation that is in `ring`: straight into the submission
/// queue on the ring's worker, through the remote queue from any other
/// thread.
pub(crate) fn cancel<R: Ring>(ring: &R, cell: Arc<OpCell>) {
    ring.with_local(|local| match local {
        Some(sink) => sink.push_cancel(cell),
        None => {
            if ring.remote().cancel(cell) {
                ring.wake();
            }
        }
    });
}
