//! Readiness: waiting until a descriptor can be read or written without
//! blocking, and the non-blocking calls made after it (tokio's
//! `readable`/`writable`/`try_read`/`try_write`, and `AsyncFd`).
//!
//! A wait is one op whose call is a poll for one direction
//! (`Call::PollReadable`/`Call::PollWritable`): on io_uring an
//! `IORING_OP_POLL_ADD`, on epoll the readiness loop with a `poll` of no
//! timeout as its call (not ready is `EAGAIN`, so the loop waits for the
//! next event and asks again). Either way the answer is the descriptor's
//! state when the wait ends, not a cached mark: a wait never returns for
//! readiness a read already consumed, so there is nothing to clear.
//!
//! The calls after a wait are plain system calls on the polling thread
//! with `MSG_DONTWAIT`: they never block, although the io_uring driver
//! keeps sockets in blocking mode.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::Poll;

use super::{result_of, SharedFd};
use crate::driver::{Call, Completion, Op, OpKind};

/// The directions a readiness wait is for (tokio's `Interest`):
/// [`READABLE`](Interest::READABLE), [`WRITABLE`](Interest::WRITABLE), or
/// both (`Interest::READABLE | Interest::WRITABLE`).
///
/// ```
/// use ferrio::io::Interest;
/// let both = Interest::READABLE | Interest::WRITABLE;
/// assert!(both.is_readable() && both.is_writable());
/// assert!(!Interest::READABLE.is_writable());
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Interest(u8);

const READ: u8 = 1;
const WRITE: u8 = 2;

impl Interest {
    /// Readable: a read would not block.
    pub const READABLE: Interest = Interest(READ);
    /// Writable: a write would not block.
    pub const WRITABLE: Interest = Interest(WRITE);

    /// Whether the interest includes reading.
    pub const fn is_readable(self) -> bool {
        self.0 & READ != 0
    }

    /// Whether the interest includes writing.
    pub const fn is_writable(self) -> bool {
        self.0 & WRITE != 0
    }

    /// Both interests (the `const` form of `|`).
    #[must_use]
    pub const fn add(self, other: Interest) -> Interest {
        Interest(self.0 | other.0)
    }
}

impl std::ops::BitOr for Interest {
    type Output = Interest;
    fn bitor(self, other: Interest) -> Interest {
        self.add(other)
    }
}

impl std::ops::BitOrAssign for Interest {
    fn bitor_assign(&mut self, other: Interest) {
        *self = self.add(other);
    }
}

impl std::fmt::Debug for Interest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.is_readable(), self.is_writable()) {
            (true, true) => f.write_str("READABLE | WRITABLE"),
            (true, false) => f.write_str("READABLE"),
            (false, true) => f.write_str("WRITABLE"),
            (false, false) => f.write_str("(empty)"),
        }
    }
}

/// What a readiness wait found (tokio's `Ready`): a set of
/// [`READABLE`](Ready::READABLE), [`WRITABLE`](Ready::WRITABLE),
/// [`READ_CLOSED`](Ready::READ_CLOSED) and
/// [`WRITE_CLOSED`](Ready::WRITE_CLOSED), limited to the directions
/// waited for. A descriptor with a pending error is reported ready in
/// the direction waited for: the next call returns the error.
///
/// ```
/// use ferrio::io::Ready;
/// let r = Ready::READABLE | Ready::READ_CLOSED;
/// assert!(r.is_readable() && r.is_read_closed() && !r.is_writable());
/// assert!(Ready::EMPTY.is_empty());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct Ready(u8);

const R_READABLE: u8 = 1;
const R_WRITABLE: u8 = 2;
const R_READ_CLOSED: u8 = 4;
const R_WRITE_CLOSED: u8 = 8;

impl Ready {
    /// Nothing.
    pub const EMPTY: Ready = Ready(0);
    /// A read would not block.
    pub const READABLE: Ready = Ready(R_READABLE);
    /// A write would not block.
    pub const WRITABLE: Ready = Ready(R_WRITABLE);
    /// The read direction is closed (the peer hung up).
    pub const READ_CLOSED: Ready = Ready(R_READ_CLOSED);
    /// The write direction is closed (the peer hung up).
    pub const WRITE_CLOSED: Ready = Ready(R_WRITE_CLOSED);

    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Readable or read-closed (as tokio's: a read would not block).
    pub const fn is_readable(self) -> bool {
        self.0 & (R_READABLE | R_READ_CLOSED) != 0
    }

    /// Writable or write-closed (a write would not block).
    pub const fn is_writable(self) -> bool {
        self.0 & (R_WRITABLE | R_WRITE_CLOSED) != 0
    }

    /// The read direction is closed.
    pub const fn is_read_closed(self) -> bool {
        self.0 & R_READ_CLOSED != 0
    }

    /// The write direction is closed.
    pub const fn is_write_closed(self) -> bool {
        self.0 & R_WRITE_CLOSED != 0
    }

    /// The readiness of `interest`'s directions only.
    pub(crate) fn only(self, interest: Interest) -> Ready {
        let mut keep = 0;
        if interest.is_readable() {
            keep |= R_READABLE | R_READ_CLOSED;
        }
        if interest.is_writable() {
            keep |= R_WRITABLE | R_WRITE_CLOSED;
        }
        Ready(self.0 & keep)
    }

    /// Without the readiness of `interest`'s directions.
    pub(crate) fn without(self, interest: Interest) -> Ready {
        Ready(self.0 & !self.only(interest).0)
    }

    /// What a poll for one direction found: its `revents`.
    fn of_poll(mask: i32, write: bool) -> io::Result<Ready> {
        let mask = mask as libc::c_short;
        if mask & libc::POLLNVAL != 0 {
            return Err(io::Error::from_raw_os_error(libc::EBADF));
        }
        let hup = mask & libc::POLLHUP != 0;
        let mut r = 0;
        if write {
            if mask & (libc::POLLOUT | libc::POLLERR) != 0 {
                r |= R_WRITABLE;
            }
            if hup {
                r |= R_WRITE_CLOSED;
            }
        } else {
            if mask & (libc::POLLIN | libc::POLLERR) != 0 {
                r |= R_READABLE;
            }
            if hup {
                r |= R_READ_CLOSED;
            }
        }
        if r == 0 {
            // Woken for nothing this direction knows (a priority-only
            // event): say readable/writable, the next call finds out.
            r = if write { R_WRITABLE } else { R_READABLE };
        }
        Ok(Ready(r))
    }
}

impl std::ops::BitOr for Ready {
    type Output = Ready;
    fn bitor(self, other: Ready) -> Ready {
        Ready(self.0 | other.0)
    }
}

impl std::ops::BitOrAssign for Ready {
    fn bitor_assign(&mut self, other: Ready) {
        self.0 |= other.0;
    }
}

impl std::fmt::Debug for Ready {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ready")
            .field("is_readable", &(self.0 & R_READABLE != 0))
            .field("is_writable", &(self.0 & R_WRITABLE != 0))
            .field("is_read_closed", &self.is_read_closed())
            .field("is_write_closed", &self.is_write_closed())
            .finish()
    }
}

/// The wait for one direction.
struct PollFor {
    fd: SharedFd,
    write: bool,
}

impl OpKind for PollFor {
    type Output = io::Result<Ready>;

    fn call(&mut self) -> Call<'_> {
        if self.write {
            Call::PollWritable { fd: &self.fd }
        } else {
            Call::PollReadable { fd: &self.fd }
        }
    }

    fn complete(self, result: io::Result<Completion>) -> io::Result<Ready> {
        Ready::of_poll(result_of(result)? as i32, self.write)
    }
}

/// Waits until `fd` is ready for one of `interest`'s directions (both
/// waits run at once for both; the first to end answers, the other is
/// cancelled). Dropping the future cancels the wait(s).
pub(crate) async fn ready(fd: &SharedFd, interest: Interest) -> io::Result<Ready> {
    let op = |write| {
        Op::new(PollFor {
            fd: fd.clone(),
            write,
        })
    };
    let mut read = interest.is_readable().then(|| op(false));
    let mut write = interest.is_writable().then(|| op(true));
    std::future::poll_fn(|cx| {
        let mut found = Ready::EMPTY;
        for slot in [&mut read, &mut write] {
            if let Some(op) = slot {
                if let Poll::Ready(r) = Pin::new(op).poll(cx) {
                    // Never polled again: a finished op must not be.
                    *slot = None;
                    found |= r?;
                }
            }
        }
        if found.is_empty() {
            Poll::Pending
        } else {
            Poll::Ready(Ok(found))
        }
    })
    .await
}

/// Makes `call` (a non-blocking system call) until it does not answer
/// `WouldBlock`, waiting for `interest` in between. Spends coop budget
/// first, so a loop of calls that succeed at once still yields.
pub(crate) async fn io_loop<R>(
    fd: &SharedFd,
    interest: Interest,
    mut call: impl FnMut() -> io::Result<R>,
) -> io::Result<R> {
    std::future::poll_fn(|cx| {
        if crate::coop::poll_proceed(cx) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    loop {
        match call() {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                ready(fd, interest).await?;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            r => return r,
        }
    }
}

/// `ret` of a system call returning a count.
pub(crate) fn count_of(ret: isize) -> io::Result<usize> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret as usize)
    }
}

/// One `recv` with `MSG_DONTWAIT` (and `flags`): `WouldBlock` when
/// nothing is there.
pub(crate) fn try_recv(fd: &SharedFd, buf: &mut [u8], flags: i32) -> io::Result<usize> {
    use std::os::fd::AsRawFd;
    // SAFETY: `buf` is a live, writable slice of the length given.
    let ret = unsafe {
        libc::recv(
            fd.as_raw_fd(),
            buf.as_mut_ptr().cast(),
            buf.len(),
            flags | libc::MSG_DONTWAIT,
        )
    };
    // A simulated world's placeholder is no socket: the world answers
    // (asked only on that error, so real sockets pay nothing).
    #[cfg(all(feature = "sim", not(ferrio_loom)))]
    if ret < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::ENOTSOCK) {
        if let Some(world) = crate::driver::sim_hook::owner_of(fd.as_raw_fd()) {
            return world.try_recv(fd.as_raw_fd(), buf, flags & libc::MSG_PEEK != 0);
        }
    }
    count_of(ret)
}

/// One `send` with `MSG_DONTWAIT | MSG_NOSIGNAL`: `WouldBlock` when the
/// socket's buffer is full; a closed peer is an error, never a SIGPIPE.
pub(crate) fn try_send(fd: &SharedFd, buf: &[u8]) -> io::Result<usize> {
    use std::os::fd::AsRawFd;
    // SAFETY: `buf` is a live slice of the length given.
    let ret = unsafe {
        libc::send(
            fd.as_raw_fd(),
            buf.as_ptr().cast(),
            buf.len(),
            libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
        )
    };
    // As in `try_recv`.
    #[cfg(all(feature = "sim", not(ferrio_loom)))]
    if ret < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::ENOTSOCK) {
        if let Some(world) = crate::driver::sim_hook::owner_of(fd.as_raw_fd()) {
            return world.try_send(fd.as_raw_fd(), buf);
        }
    }
    count_of(ret)
}
