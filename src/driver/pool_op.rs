//! An op's call run as a plain system call on the runtime's blocking pool
//! ([`PoolOp`]): the epoll driver's way with files and paths (a regular
//! file is never "ready"), and the io_uring driver's way with a call whose
//! opcode this kernel lacks (`uring_call::newer_opcode`).
//!
//! The kind moves into the job and comes back with its result; a future
//! dropped meanwhile leaves the kind (and its buffers) to the job, which
//! frees them after the call, and closes a descriptor the call yielded
//! that nobody claims.

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::task::{Context, Poll};

use super::op_cell::Completion;
use super::op_future::OpKind;
use super::plain_call::{self, ConnectStep};
use super::shutting_down;
use crate::blocking::JobResult;
use crate::loom::plain::Mutex;

/// A kind whose call runs on the blocking pool.
pub(crate) struct PoolOp<K: OpKind> {
    job: JobResult<Finished<K>>,
    /// Where the job takes the kind from when it runs; a job dropped
    /// unrun (the pool shut down) leaves it here.
    kind: Arc<Mutex<Option<K>>>,
}

/// A blocking-pool op's kind and result on their way back. If the op's
/// future was dropped meanwhile, this is dropped unclaimed: a descriptor
/// the call yielded (`open`) is closed then, not leaked.
struct Finished<K: OpKind> {
    kind: Option<K>,
    completion: Completion,
    yields_fd: bool,
}

impl<K: OpKind> Finished<K> {
    fn claim(mut self) -> (K, Completion) {
        let kind = self.kind.take().expect("claimed once");
        (kind, self.completion)
    }
}

impl<K: OpKind> Drop for Finished<K> {
    fn drop(&mut self) {
        if self.kind.is_some() && self.yields_fd && self.completion.res >= 0 {
            // SAFETY: the call gave us this descriptor and nobody took it.
            unsafe { libc::close(self.completion.res) };
        }
    }
}

impl<K: OpKind> PoolOp<K> {
    /// Moves `kind` into a job on the blocking pool of the runtime entered
    /// on this thread; `connect` is its connect's progress. The kind comes
    /// back with the error when it cannot start (outside a runtime, or
    /// the pool has shut down).
    pub(crate) fn start(kind: K, mut connect: ConnectStep) -> Result<PoolOp<K>, (K, io::Error)> {
        let Some(pool) = super::context::with_runtime(|r| r.map(|r| r.blocking_pool())) else {
            return Err((
                kind,
                io::Error::other("ferrio: an I/O operation was polled outside a ferrio runtime"),
            ));
        };
        let slot = Arc::new(Mutex::new(Some(kind)));
        let in_job = slot.clone();
        let submitted = crate::blocking::submit(&pool, move || {
            let mut k = in_job.lock().take().expect("the kind waits for its job");
            let call = k.call();
            let yields_fd = call.yields_fd();
            let completion = plain_call::perform(call, &mut connect);
            Finished {
                kind: Some(k),
                completion,
                yields_fd,
            }
        });
        match submitted {
            Ok(job) => Ok(PoolOp { job, kind: slot }),
            Err(refused) => {
                // Refused: the job never ran, and the kind is still here.
                drop(refused);
                let kind = slot.lock().take().expect("a refused job left the kind");
                Err((kind, shutting_down()))
            }
        }
    }

    /// Polls the job: the kind comes back with the call's result.
    pub(crate) fn poll(&mut self, cx: &mut Context<'_>) -> Poll<(K, io::Result<Completion>)> {
        let out = std::task::ready!(std::pin::Pin::new(&mut self.job).poll(cx));
        match out {
            Some(Ok(finished)) => {
                let (k, c) = finished.claim();
                Poll::Ready((k, Ok(c)))
            }
            // The job panicked (a bug in a system call's wrapper): the kind
            // went with it, so the op cannot finish; the panic is the task's.
            Some(Err(payload)) => std::panic::resume_unwind(payload),
            // Dropped unrun (the pool shut down): the kind is still where
            // the job would have taken it, and the op fails.
            None => {
                let k = self
                    .kind
                    .lock()
                    .take()
                    .expect("a job that never ran left the kind");
                Poll::Ready((k, Err(shutting_down())))
            }
        }
    }
}
