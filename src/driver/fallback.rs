//! An operation on the epoll driver: the same `OpKind`, run as a plain
//! system call instead of an SQE.
//!
//! Each kind says how ([`How`]):
//! - `Ready`: sockets, pipes, pidfds. The non-blocking call is tried
//!   first; on `EAGAIN` the op waits for readiness (`driver/readiness.rs`)
//!   and tries again. A descriptor epoll cannot watch (a regular file
//!   behind a stream) goes to the blocking pool instead.
//! - `Blocking`: files at an offset, `open`, `statx`, `fsync`, path
//!   operations. The kind moves into a job on the runtime's blocking pool
//!   and comes back with its result; a future dropped meanwhile leaves the
//!   kind (and its buffers) to the job, which frees them after the call.
//! - `Inline`: nothing to wait for (`nop`).
//!
//! The result is shaped as a CQE's (`res` ≥ 0, or `-errno`), so each
//! kind's `complete` serves both drivers.

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::task::{Context, Poll};

use super::epoll::EpollShared;
use super::fd::SharedFd;
use super::future::OpKind;
use super::op::Completion;
use super::readiness::{Interest, ScheduledIo};
use super::ready_loop::{self, ReadyCall, Step, Waiting};
use super::seam::Driver;
use super::shutting_down;
use crate::blocking::JobResult;
use crate::loom::plain::Mutex;

/// How an op runs on the epoll driver.
pub(crate) enum How<'a> {
    /// Try the call; on `EAGAIN` wait for `interest` on `fd`. `socket`:
    /// the descriptor is known to be a socket (no need to ask the kernel
    /// whether epoll can watch it).
    Ready {
        fd: &'a SharedFd,
        interest: Interest,
        socket: bool,
    },
    /// Run the call on the blocking pool.
    Blocking,
    /// Run the call here.
    Inline,
}

impl<'a> How<'a> {
    /// `Ready` on a socket.
    pub(crate) fn socket(fd: &'a SharedFd, interest: Interest) -> How<'a> {
        How::Ready {
            fd,
            interest,
            socket: true,
        }
    }
}

/// The result of a plain system call, shaped as a CQE's.
pub(crate) fn completion_of(ret: i64) -> Completion {
    let res = if ret < 0 {
        -io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO)
    } else {
        ret.min(i32::MAX as i64) as i32
    };
    Completion { res, flags: 0 }
}

/// An op's progress on the epoll driver.
pub(crate) enum Progress<K: OpKind> {
    /// Waiting for readiness.
    Waiting(Waiting),
    /// The kind is on the blocking pool: the job takes it from `kind`
    /// when it runs, and a job dropped unrun leaves it there.
    Blocking {
        job: JobResult<Finished<K>>,
        kind: Arc<Mutex<Option<K>>>,
    },
}

/// A blocking-pool op's kind and result on their way back. If the op's
/// future was dropped meanwhile, this is dropped unclaimed: a descriptor
/// the call yielded (`open`) is closed then, not leaked.
pub(crate) struct Finished<K: OpKind> {
    kind: Option<K>,
    completion: Completion,
}

impl<K: OpKind> Finished<K> {
    fn claim(mut self) -> (K, Completion) {
        let kind = self.kind.take().expect("claimed once");
        (kind, self.completion)
    }
}

impl<K: OpKind> Drop for Finished<K> {
    fn drop(&mut self) {
        if self.kind.is_some() && K::YIELDS_FD && self.completion.res >= 0 {
            // SAFETY: the call gave us this descriptor and nobody took it.
            unsafe { libc::close(self.completion.res) };
        }
    }
}

/// Polls `kind` on `epoll`. On `Ready` the kind is in `kind` again (it
/// may have gone to the blocking pool and back).
pub(crate) fn poll<K: OpKind>(
    kind: &mut Option<K>,
    progress: &mut Option<Progress<K>>,
    epoll: &Arc<EpollShared>,
    cx: &mut Context<'_>,
) -> Poll<io::Result<Completion>> {
    if let Some(Progress::Blocking { .. }) = progress {
        return poll_job(kind, progress, cx);
    }
    // An op whose call succeeds at once is Ready on its first poll: the
    // coop budget makes a loop of such ops yield (on io_uring every op
    // yields once, at its submission).
    if !crate::coop::poll_proceed(cx) {
        return Poll::Pending;
    }
    let k = kind.as_mut().expect("op polled after completion");
    let (fd, interest) = match k.how() {
        How::Inline => return Poll::Ready(Ok(k.perform())),
        How::Blocking => return start_blocking(kind, progress, cx),
        How::Ready {
            fd,
            interest,
            socket,
        } => {
            if !fd.is_pollable(socket) {
                return start_blocking(kind, progress, cx);
            }
            (fd.clone(), interest)
        }
    };
    if let Err(e) = fd.ensure_nonblocking() {
        return Poll::Ready(Err(e));
    }
    let mut waiting = match progress.take() {
        Some(Progress::Waiting(w)) => Some(w),
        other => {
            *progress = other;
            None
        }
    };
    let mut call = KindCall {
        kind: k,
        fd,
        interest,
        epoll,
    };
    let step = ready_loop::poll_call(&mut call, &mut waiting, cx.waker());
    if let Some(w) = waiting {
        *progress = Some(Progress::Waiting(w));
    }
    match step {
        Step::Done(c) => Poll::Ready(Ok(c)),
        Step::Pending => Poll::Pending,
        Step::Blocking => start_blocking(kind, progress, cx),
        Step::Closed => Poll::Ready(Err(shutting_down())),
        Step::Failed(e) => Poll::Ready(Err(e)),
    }
}

/// One kind's call on its descriptor, for the readiness loop.
struct KindCall<'a, K: OpKind> {
    kind: &'a mut K,
    fd: SharedFd,
    interest: Interest,
    epoll: &'a Arc<EpollShared>,
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
        self.kind.perform()
    }

    fn drained(&self, c: &Completion) -> bool {
        self.kind.drained(c)
    }

    fn must_block(&self) -> bool {
        matches!(self.kind.how(), How::Blocking)
    }

    /// If no other op waits on the descriptor, its registration moves to
    /// the epoll instance of the worker polling this one (`epoll.rs`,
    /// "Registration").
    fn waits(&self, io: &Arc<ScheduledIo>, key: Option<u64>) {
        if !io.is_sole_waiter(key) {
            return;
        }
        crate::context::with_worker(|w| {
            if let Some(Driver::Epoll(d)) = w.map(|w| w.driver()) {
                self.fd.follow_waiter(io, d.shared());
            }
        });
    }
}

/// Moves the kind into a job on the runtime's blocking pool.
fn start_blocking<K: OpKind>(
    kind: &mut Option<K>,
    progress: &mut Option<Progress<K>>,
    cx: &mut Context<'_>,
) -> Poll<io::Result<Completion>> {
    let Some(pool) = crate::context::with_current_handle(|h| h.map(|h| h.blocking_pool().clone()))
    else {
        return Poll::Ready(Err(io::Error::other(
            "ferrio: an I/O operation was polled outside a ferrio runtime",
        )));
    };
    // The job takes the kind from here when it runs; a job the pool
    // refuses (it has shut down) leaves it for us to take back.
    let slot = Arc::new(Mutex::new(kind.take()));
    let in_job = slot.clone();
    let submitted = crate::blocking::submit(&pool, move || {
        let mut k = in_job.lock().take().expect("the kind waits for its job");
        let completion = k.perform();
        Finished {
            kind: Some(k),
            completion,
        }
    });
    match submitted {
        Ok(job) => {
            *progress = Some(Progress::Blocking { job, kind: slot });
            poll_job(kind, progress, cx)
        }
        Err(refused) => {
            drop(refused);
            *kind = slot.lock().take();
            Poll::Ready(Err(shutting_down()))
        }
    }
}

/// Polls the job carrying the kind; puts the kind back when it is done.
fn poll_job<K: OpKind>(
    kind: &mut Option<K>,
    progress: &mut Option<Progress<K>>,
    cx: &mut Context<'_>,
) -> Poll<io::Result<Completion>> {
    let Some(Progress::Blocking { job, .. }) = progress else {
        unreachable!("called with a job in progress")
    };
    let out = std::task::ready!(std::pin::Pin::new(job).poll(cx));
    let Some(Progress::Blocking { kind: left, .. }) = progress.take() else {
        unreachable!("checked above")
    };
    match out {
        Some(Ok(finished)) => {
            let (k, c) = finished.claim();
            *kind = Some(k);
            Poll::Ready(Ok(c))
        }
        // The job panicked (a bug in a system call's wrapper): the kind
        // went with it, so the op cannot finish; the panic is the task's.
        Some(Err(payload)) => std::panic::resume_unwind(payload),
        // Dropped unrun (the pool shut down): the kind is still where
        // the job would have taken it, and the op fails.
        None => {
            *kind = left.lock().take();
            debug_assert!(kind.is_some(), "a job that never ran left the kind");
            Poll::Ready(Err(shutting_down()))
        }
    }
}

/// A dropped op: forgets its waiter (a job on the blocking pool keeps the
/// kind until its call returns).
pub(crate) fn abandon<K: OpKind>(progress: Option<Progress<K>>) {
    if let Some(Progress::Waiting(w)) = progress {
        w.finish();
    }
}
