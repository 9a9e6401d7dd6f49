//! `Op<K>`: the future of one io_uring operation.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use io_uring::squeue;

use super::op::{self, Completion, OpCell};
use super::ring::DriverShared;

/// One kind of operation: owns its resources and builds its SQE.
pub(crate) trait OpKind: Send + 'static {
    type Output;

    /// The op's results are file descriptors (accept, openat, socket): one
    /// that arrives after the future was dropped is closed.
    const YIELDS_FD: bool = false;

    /// Builds the SQE. Every pointer in it must point into memory owned by
    /// `self` that does not move when `self` does (heap buffers, boxes).
    fn entry(&mut self) -> squeue::Entry;

    /// Turns the completion (or a submission failure) into the output.
    fn complete(self, result: io::Result<Completion>) -> Self::Output;
}

/// The future of one operation. Dropping it before completion moves the
/// resources into the op's cell (alive until the kernel lets go) and asks
/// the ring to cancel the operation.
pub(crate) struct Op<K: OpKind> {
    kind: Option<K>,
    cell: Option<Arc<OpCell>>,
    ring: Option<Arc<DriverShared>>,
}

impl<K: OpKind> Op<K> {
    pub(crate) fn new(kind: K) -> Op<K> {
        Op {
            kind: Some(kind),
            cell: None,
            ring: None,
        }
    }
}

impl<K: OpKind> Unpin for Op<K> {}

impl<K: OpKind> Future for Op<K> {
    type Output = K::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<K::Output> {
        let this = &mut *self;
        let Some(cell) = &this.cell else {
            let kind = this.kind.as_mut().expect("Op polled after completion");
            let cell = OpCell::new(cx.waker().clone(), K::YIELDS_FD);
            let user_data = Arc::into_raw(cell.clone()) as u64;
            let entry = kind.entry().user_data(user_data);
            match submit(&entry) {
                Ok(ring) => {
                    this.cell = Some(cell);
                    this.ring = Some(ring);
                    return Poll::Pending;
                }
                Err(e) => {
                    // SAFETY: the SQE was never submitted: take back the
                    // reference it would have carried.
                    drop(unsafe { Arc::from_raw(user_data as *const OpCell) });
                    let kind = this.kind.take().expect("kind present");
                    return Poll::Ready(kind.complete(Err(e)));
                }
            }
        };
        match cell.poll(cx.waker()) {
            op::Poll::Pending => Poll::Pending,
            op::Poll::Ready { completion, .. } => {
                this.cell = None;
                this.ring = None;
                let kind = this.kind.take().expect("kind present");
                Poll::Ready(kind.complete(Ok(completion)))
            }
        }
    }
}

impl<K: OpKind> Drop for Op<K> {
    fn drop(&mut self) {
        let (Some(cell), Some(kind)) = (self.cell.take(), self.kind.take()) else {
            return;
        };
        if cell.abandon(Box::new(kind)) {
            if let Some(ring) = self.ring.take() {
                cancel(&ring, cell);
            }
        }
    }
}

/// Submits on the current worker's ring, or hands the SQE to a worker of
/// the current runtime. Returns the ring the op went to.
fn submit(entry: &squeue::Entry) -> io::Result<Arc<DriverShared>> {
    let local = crate::context::with_worker(|w| {
        w.map(|w| {
            let d = w.driver();
            d.push(entry, true);
            d.shared().clone()
        })
    });
    if let Some(ring) = local {
        return Ok(ring);
    }
    crate::context::with_current_handle(|h| match h {
        Some(h) => h.shared.submit_remote(entry.clone()),
        None => Err(io::Error::other(
            "ferrio: an I/O operation was polled outside a ferrio runtime; run it inside \
             Runtime::block_on, ferrio::run or a spawned task",
        )),
    })
}

/// Cancels on the op's ring: directly when we are its worker, else through
/// its remote queue.
fn cancel(ring: &Arc<DriverShared>, cell: Arc<OpCell>) {
    let local =
        crate::context::with_worker(|w| w.is_some_and(|w| Arc::ptr_eq(w.driver().shared(), ring)));
    if local {
        crate::context::with_worker(|w| {
            if let Some(w) = w {
                w.driver().push_cancel(cell);
            }
        });
    } else {
        ring.cancel_remote(cell);
    }
}
