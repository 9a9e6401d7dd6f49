//! The lifecycle of one io_uring operation.
//!
//! An operation's resources (buffers, paths, sockaddrs) are owned by its
//! future until the future is dropped; from then until the final
//! completion arrives they are owned by the operation's shared cell, so the
//! kernel never writes into freed memory. The cell (`OpCell`) is shared by
//! the future and the ring through one `Arc`: the pointer the kernel sees
//! as `user_data` is that `Arc`'s reference, given up when the last CQE of
//! the operation arrives.
//!
//! States (`Lifecycle`, under the cell's mutex):
//! - `Waiting`: more CQEs will come; the waker is the future's;
//! - `Finished`: the final CQE arrived; results wait for the future;
//! - `Abandoned`: the future was dropped early; its resources sit in the
//!   cell and are freed by the final CQE (an fd produced after abandonment
//!   is closed), which moves the cell to `Finished`.
//!
//! Beside the state, flags of the remote queue (`queued`), of a kept
//! cancellation (`cancel_requested`) and of multi-shot backpressure
//! (`limit`, `throttled`).
//!
//! Multi-shot operations deliver several CQEs (`IORING_CQE_F_MORE`); they
//! queue in `results` until the future takes them.

use std::any::Any;
use std::collections::VecDeque;
use std::sync::Arc;
use std::task::Waker;

use crate::loom::sync::{Mutex, MutexGuard};

/// One completion: `res` is the syscall-style result (negative errno on
/// failure), `flags` the CQE flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Completion {
    pub(crate) res: i32,
    pub(crate) flags: u32,
}

/// `IORING_CQE_F_BUFFER`: the completion took a buffer from a pool; its id
/// is in the upper 16 bits of the flags.
const CQE_F_BUFFER: u32 = 1;

impl Completion {
    /// The provided buffer this completion took, if any.
    pub(crate) fn buffer_id(&self) -> Option<u16> {
        (self.flags & CQE_F_BUFFER != 0).then_some((self.flags >> 16) as u16)
    }
}

/// Where a provided buffer goes back when nobody takes its completion.
pub(crate) trait Recycle: Send + Sync {
    fn recycle(&self, bid: u16);
}

/// Where an operation is in its life (see the module docs).
enum Lifecycle {
    /// More CQEs will come; the future's waker, once it polled.
    Waiting(Option<Waker>),
    /// No more CQEs will come.
    Finished,
    /// The future was dropped in flight: its resources, freed by the
    /// final CQE.
    Abandoned(Box<dyn Any + Send>),
}

struct OpState {
    results: VecDeque<Completion>,
    lifecycle: Lifecycle,
    /// Results of this op are file descriptors: close any nobody takes.
    yields_fd: bool,
    /// Results may carry provided buffers: give back any nobody takes.
    recycler: Option<Arc<dyn Recycle>>,
    /// A multi-shot op with this many results waiting asks to be cancelled
    /// (0: no limit), so a stream nobody polls cannot queue without bound.
    // The multi-shot path (ring, futures) is not compiled under loom.
    #[cfg_attr(ferrio_loom, allow(dead_code))]
    limit: usize,
    /// That cancellation was asked for.
    // The multi-shot path (ring, futures) is not compiled under loom.
    #[cfg_attr(ferrio_loom, allow(dead_code))]
    throttled: bool,
    /// The op's SQE waits in a ring's remote queue (or is being pushed
    /// from it): a dropped future sends no cancel, the drain handles it
    /// (`driver::remote`).
    queued: bool,
    /// The future asked for the op to be cancelled while keeping it
    /// (`Op::cancel_and_wait`).
    cancel_requested: bool,
}

/// The cell shared by an operation's future and its ring.
pub(crate) struct OpCell {
    state: Mutex<OpState>,
}

/// What the future sees when it polls.
pub(crate) enum OpPoll {
    Pending,
    /// One result; `last` when no more will come.
    Ready {
        completion: Completion,
        last: bool,
    },
}

impl OpCell {
    pub(crate) fn new(
        waker: Waker,
        yields_fd: bool,
        recycler: Option<Arc<dyn Recycle>>,
    ) -> Arc<OpCell> {
        Arc::new(OpCell {
            state: Mutex::new(OpState {
                results: VecDeque::new(),
                lifecycle: Lifecycle::Waiting(Some(waker)),
                yields_fd,
                recycler,
                limit: 0,
                throttled: false,
                queued: false,
                cancel_requested: false,
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, OpState> {
        self.state.lock()
    }

    /// The ring delivers a CQE. Returns true when it was the last one (the
    /// kernel's reference must then be dropped by the caller).
    pub(crate) fn complete(&self, c: Completion, more: bool) -> bool {
        let mut st = self.lock();
        let last = !more;
        if let Lifecycle::Abandoned(_) = st.lifecycle {
            st.release(c);
            if last {
                let old = std::mem::replace(&mut st.lifecycle, Lifecycle::Finished);
                drop(st);
                if let Lifecycle::Abandoned(resources) = old {
                    // The kernel is done with them: free them now.
                    drop(resources);
                }
            }
            return last;
        }
        st.results.push_back(c);
        let waker = match &mut st.lifecycle {
            Lifecycle::Waiting(w) => w.take(),
            _ => None,
        };
        if last {
            st.lifecycle = Lifecycle::Finished;
        }
        drop(st);
        if let Some(w) = waker {
            w.wake();
        }
        last
    }

    /// Sets the queue limit of a multi-shot op (before it is submitted).
    #[cfg_attr(ferrio_loom, allow(dead_code))]
    pub(crate) fn set_limit(&self, limit: usize) {
        self.lock().limit = limit;
    }

    /// After a non-final CQE: true once when the queue reached its limit;
    /// the ring then cancels the op (its future resubmits it later).
    #[cfg_attr(ferrio_loom, allow(dead_code))]
    pub(crate) fn take_throttle(&self) -> bool {
        let mut st = self.lock();
        if st.limit > 0 && !st.throttled && !st.is_abandoned() && st.results.len() >= st.limit {
            st.throttled = true;
            return true;
        }
        false
    }

    /// Whether the ring cancelled this op for reaching its limit.
    #[cfg_attr(ferrio_loom, allow(dead_code))]
    pub(crate) fn throttled(&self) -> bool {
        self.lock().throttled
    }

    /// The future polls: takes the next result, or registers `waker`.
    pub(crate) fn poll(&self, waker: &Waker) -> OpPoll {
        let mut st = self.lock();
        if let Some(completion) = st.results.pop_front() {
            let last = st.is_finished() && st.results.is_empty();
            return OpPoll::Ready { completion, last };
        }
        if let Lifecycle::Waiting(registered) = &mut st.lifecycle {
            match registered {
                Some(w) if w.will_wake(waker) => {}
                _ => *registered = Some(waker.clone()),
            }
        }
        OpPoll::Pending
    }

    /// The future is dropped. If the operation is still in flight, its
    /// resources move here; the caller must then request cancellation
    /// (returns true) unless the op's SQE still waits in a remote queue,
    /// whose drain finishes it (returns false). A finished op's resources
    /// are dropped with the future (and any fd result that was never taken
    /// is closed).
    pub(crate) fn abandon(&self, resources: Box<dyn Any + Send>) -> bool {
        let mut st = self.lock();
        while let Some(c) = st.results.pop_front() {
            st.release(c);
        }
        if st.is_finished() {
            drop(st);
            drop(resources);
            false
        } else {
            // Drops the future's waker with the old state.
            let waiting = std::mem::replace(&mut st.lifecycle, Lifecycle::Abandoned(resources));
            let submit_cancel = !st.queued;
            drop(st);
            drop(waiting);
            submit_cancel
        }
    }

    /// The future asks for the op to be cancelled and keeps waiting for
    /// its outcome. True when the caller must send the cancel (the op is
    /// in flight in its ring); false when it already finished, or when it
    /// still waits in a remote queue (the drain then finishes it as
    /// cancelled).
    pub(crate) fn request_cancel(&self) -> bool {
        let mut st = self.lock();
        st.cancel_requested = true;
        !st.is_finished() && !st.queued
    }

    /// The op's SQE goes into a remote queue (before the drain can see it).
    pub(crate) fn mark_queued(&self) {
        self.lock().queued = true;
    }

    /// The drain is about to push the queued SQE: false when the future
    /// was dropped or asked for cancellation meanwhile (the op must then
    /// not be submitted).
    pub(crate) fn begin_submit(&self) -> bool {
        let st = self.lock();
        !st.is_abandoned() && !st.cancel_requested
    }

    /// The drain pushed the SQE. True when the future was dropped (or
    /// asked for cancellation) since `begin_submit`, sending no cancel:
    /// the drain must send one now.
    pub(crate) fn end_submit(&self) -> bool {
        let mut st = self.lock();
        st.queued = false;
        (st.is_abandoned() || st.cancel_requested) && !st.is_finished()
    }
}

impl OpState {
    fn is_finished(&self) -> bool {
        matches!(self.lifecycle, Lifecycle::Finished)
    }

    fn is_abandoned(&self) -> bool {
        matches!(self.lifecycle, Lifecycle::Abandoned(_))
    }

    /// Frees what a completion nobody will take holds: the descriptor it
    /// produced, or the provided buffer it took.
    fn release(&self, c: Completion) {
        if self.yields_fd && c.res >= 0 {
            close_fd(c.res);
        }
        if let (Some(bid), Some(r)) = (c.buffer_id(), &self.recycler) {
            r.recycle(bid);
        }
    }
}

fn close_fd(fd: i32) {
    // SAFETY: the fd was produced by the kernel for this op and nobody
    // else has seen it.
    unsafe { libc::close(fd) };
}
