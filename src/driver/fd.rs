//! `SharedFd`: a descriptor shared with the operations on it.
//!
//! Every operation holds a clone, and an abandoned io_uring op's clone
//! lives in its cell until the final CQE, so the descriptor closes after
//! the last operation on it (a queued SQE never names a reused number).
//!
//! On the epoll driver the descriptor also carries its registration: made
//! the first time an operation on it would block, with the epoll instance
//! of the worker that polled it, moved to the worker of a later sole
//! waiter, and removed (`EPOLL_CTL_DEL`) before the descriptor closes. A
//! registration whose driver shut down is replaced by one on the current
//! driver (a socket outliving its runtime).

use std::io;
use std::mem::ManuallyDrop;
use std::ops::Deref;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{
    AtomicBool, AtomicU8, Ordering::AcqRel, Ordering::Acquire, Ordering::Release,
};
use std::sync::Arc;

use crate::loom::plain::Mutex;

use super::epoll::{EpollShared, Registration};
use super::readiness::ScheduledIo;

/// A descriptor shared by its owner and its operations.
#[derive(Clone)]
pub(crate) struct SharedFd(Arc<FdInner>);

struct FdInner {
    /// Dropped before `fd` (`Drop for FdInner`): the registration leaves
    /// the epoll set while the number is still ours.
    poll: Mutex<Option<Registration>>,
    /// Whether epoll can watch the descriptor: `UNKNOWN` until asked.
    kind: AtomicU8,
    /// `O_NONBLOCK` is set (the epoll driver's first operation sets it).
    nonblocking: AtomicBool,
    /// ferrio set `O_NONBLOCK` (it was clear before): cleared again when
    /// the descriptor leaves ferrio (dropped or unwrapped), as the file
    /// description may be shared with another owner (a dup of stdin).
    restore_blocking: AtomicBool,
    /// io_uring: the last receive filled its buffer, so more data is
    /// likely queued: the next receive or send is tried as a plain
    /// non-blocking call first (`op_future.rs`, "Streaming").
    streaming: AtomicBool,
    /// Closed by `Drop for FdInner`, after the registration and the flags.
    fd: ManuallyDrop<OwnedFd>,
}

const UNKNOWN: u8 = 0;
const POLLABLE: u8 = 1;
/// A regular file, directory or block device (or a descriptor epoll
/// refused): its operations run on the blocking pool.
const NOT_POLLABLE: u8 = 2;

impl SharedFd {
    pub(crate) fn new(fd: OwnedFd) -> SharedFd {
        SharedFd(Arc::new(FdInner {
            poll: Mutex::new(None),
            kind: AtomicU8::new(UNKNOWN),
            nonblocking: AtomicBool::new(false),
            restore_blocking: AtomicBool::new(false),
            streaming: AtomicBool::new(false),
            fd: ManuallyDrop::new(fd),
        }))
    }

    /// Whether data is likely queued on the socket (the last receive
    /// filled its buffer).
    pub(crate) fn is_streaming(&self) -> bool {
        self.0.streaming.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Records whether the last receive filled its buffer.
    pub(crate) fn set_streaming(&self, streaming: bool) {
        if self.is_streaming() != streaming {
            self.0
                .streaming
                .store(streaming, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// Whether `self` and `other` share one descriptor (clones of one
    /// `SharedFd`).
    pub(crate) fn same(&self, other: &SharedFd) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    /// The descriptor back, when no one else holds it (its registration,
    /// if any, removed first).
    pub(crate) fn try_unwrap(this: SharedFd) -> Result<OwnedFd, SharedFd> {
        match Arc::try_unwrap(this.0) {
            Ok(inner) => Ok(inner.into_fd()),
            Err(shared) => Err(SharedFd(shared)),
        }
    }

    /// Readiness driver: true when epoll can watch this descriptor
    /// (sockets, pipes, pidfds); false for regular files, directories and
    /// block devices, whose operations go to the blocking pool. Asked once.
    pub(crate) fn is_pollable(&self, known_socket: bool) -> bool {
        match self.0.kind.load(Acquire) {
            POLLABLE => return true,
            NOT_POLLABLE => return false,
            _ => {}
        }
        let pollable = known_socket || fd_is_pollable(self.0.fd.as_raw_fd());
        self.mark_pollable(pollable);
        pollable
    }

    fn mark_pollable(&self, pollable: bool) {
        let kind = if pollable { POLLABLE } else { NOT_POLLABLE };
        self.0.kind.store(kind, Release);
    }

    /// Readiness driver: sets `O_NONBLOCK` once; if it was clear, it is
    /// cleared again when the descriptor leaves ferrio.
    pub(crate) fn ensure_nonblocking(&self) -> io::Result<()> {
        if self.0.nonblocking.load(Acquire) {
            return Ok(());
        }
        let fd = self.0.fd.as_raw_fd();
        // SAFETY: fcntl on a descriptor we own; no pointers.
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
        if flags < 0 {
            return Err(io::Error::last_os_error());
        }
        if flags & libc::O_NONBLOCK == 0 {
            // SAFETY: as above.
            if unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
                return Err(io::Error::last_os_error());
            }
            self.0.restore_blocking.store(true, Release);
        }
        self.0.nonblocking.store(true, Release);
        Ok(())
    }

    /// Readiness driver: the descriptor's readiness if it is registered
    /// with a driver that still runs.
    pub(crate) fn registered(&self) -> Option<Arc<ScheduledIo>> {
        match &*self.0.poll.lock() {
            Some(r) if !r.is_stale() => Some(r.io().clone()),
            _ => None,
        }
    }

    /// Readiness driver: registers the descriptor with `epoll` (the
    /// polling worker's instance), replacing a registration whose driver
    /// shut down; keeps one made meanwhile by another operation. `None`
    /// when epoll refuses the descriptor (`EPERM`: it cannot be polled);
    /// it is then marked not pollable.
    pub(crate) fn register(
        &self,
        epoll: &Arc<EpollShared>,
    ) -> io::Result<Option<Arc<ScheduledIo>>> {
        let mut slot = self.0.poll.lock();
        if let Some(r) = &*slot {
            if !r.is_stale() {
                return Ok(Some(r.io().clone()));
            }
        }
        // Drop a stale registration first (it leaves its old epoll set).
        *slot = None;
        match epoll.register(self.0.fd.as_raw_fd()) {
            Ok(r) => {
                let io = r.io().clone();
                *slot = Some(r);
                Ok(Some(io))
            }
            Err(e) if e.raw_os_error() == Some(libc::EPERM) => {
                self.mark_pollable(false);
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }
}

impl SharedFd {
    /// Readiness driver: an operation is about to wait on `io` from the
    /// worker whose instance is `to`, and no other operation waits on the
    /// descriptor: its registration moves there (`Registration::move_to`).
    pub(crate) fn follow_waiter(&self, io: &Arc<ScheduledIo>, to: &Arc<EpollShared>) {
        if let Some(r) = &mut *self.0.poll.lock() {
            if Arc::ptr_eq(r.io(), io) {
                r.move_to(to);
            }
        }
    }
}

impl FdInner {
    /// Clears the `O_NONBLOCK` ferrio set, if it did.
    fn restore(&self) {
        if !self.restore_blocking.swap(false, AcqRel) {
            return;
        }
        let fd = self.fd.as_raw_fd();
        // SAFETY: fcntl on a descriptor we own; no pointers. A failure
        // leaves the flag set, which is all we could do anyway.
        unsafe {
            let flags = libc::fcntl(fd, libc::F_GETFL);
            if flags >= 0 && flags & libc::O_NONBLOCK != 0 {
                libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK);
            }
        }
    }

    /// The descriptor, out of its registration, with its flags restored.
    fn into_fd(self) -> OwnedFd {
        drop(self.poll.lock().take());
        self.restore();
        let mut this = ManuallyDrop::new(self);
        // SAFETY: `this` is never dropped, so `fd` is taken exactly once;
        // the one other field owning anything (`poll`, now empty) is
        // dropped in place here, and the atomics own nothing.
        unsafe {
            let fd = ManuallyDrop::take(&mut this.fd);
            std::ptr::drop_in_place(&mut this.poll);
            fd
        }
    }
}

impl Drop for FdInner {
    fn drop(&mut self) {
        // The registration leaves the epoll set first (it names the
        // descriptor), then the flags go back, then the descriptor closes.
        drop(self.poll.lock().take());
        self.restore();
        // A simulated world's placeholder: the world forgets the socket
        // while the number is still ours (`sim_hook.rs`).
        #[cfg(feature = "sim")]
        super::sim_hook::closing(self.fd.as_raw_fd());
        // SAFETY: dropped once, here; `into_fd` never runs this drop.
        unsafe { ManuallyDrop::drop(&mut self.fd) };
    }
}

impl std::fmt::Debug for SharedFd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fd.fmt(f)
    }
}

impl Deref for SharedFd {
    type Target = OwnedFd;
    fn deref(&self) -> &OwnedFd {
        &self.0.fd
    }
}

impl AsRawFd for SharedFd {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.0.fd.as_raw_fd()
    }
}

/// Whether epoll can watch `fd`: not a regular file, directory or block
/// device (for which `epoll_ctl` answers `EPERM`).
fn fd_is_pollable(fd: std::os::fd::RawFd) -> bool {
    // SAFETY: `st` is plain data fstat fills in; the descriptor is ours.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    if unsafe { libc::fstat(fd, &mut st) } < 0 {
        return true;
    }
    !matches!(
        st.st_mode & libc::S_IFMT,
        libc::S_IFREG | libc::S_IFDIR | libc::S_IFBLK
    )
}
