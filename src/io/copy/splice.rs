//! Copying between two descriptors with `splice(2)` through a pipe, so the
//! bytes never reach user space: socket → pipe, then pipe → socket (or a
//! file at either end).
//!
//! One pipe per direction, made when the copy starts (`pipe2`,
//! `O_CLOEXEC | O_NONBLOCK`; its size: see [`Pipe`]) and closed when
//! the copy ends or is dropped. The loop keeps the pipe's end of every
//! splice ready (it fills an empty pipe, then drains it before filling it
//! again), so a splice only ever waits for the other end: on epoll the op
//! waits for that socket's readiness (`Call::Splice`'s `wait_out`); a
//! regular file's splice runs on the blocking pool. On a ring the splice is
//! an `IORING_OP_SPLICE`, which the kernel runs on one of its workers,
//! where a splice from an empty blocking socket would park that worker
//! until data comes: so after a short splice (the socket is likely
//! drained) the loop first waits for the socket to be readable (one poll
//! on the ring), then splices.
//!
//! **Cancellation.** Dropping the copy closes its pipes: bytes a splice
//! already moved from the source into the pipe and not yet to the
//! destination are lost to the destination (at most one pipe's worth per
//! direction: 64 KiB, or 1 MiB once grown). tokio's `copy` loses the
//! bytes in its buffer the same way. A splice in flight on a ring is
//! cancelled like any dropped op, its descriptors held until its final
//! completion.

use std::io;

use crate::driver::{Call, Completion, Op, OpKind, SharedFd};
use crate::io::compat::FdStream;
use crate::io::ready::ready;
use crate::io::{result_of, Interest};

/// The pipe between the two ends of one copy direction. It starts at the
/// kernel's default size (64 KiB) and grows to [`GROWN`] the first time
/// a splice fills it (a bulk transfer): measured, a 1 MiB pipe halves the
/// CPU per MiB (README, `proxy_copy`). Only bulk copies grow, because
/// pipe memory counts against the user's `pipe-user-pages-soft` budget
/// (64 MiB by default), past which the kernel refuses to grow pipes and
/// gives every new pipe of that user two pages; a refused growth keeps
/// the pipe as it is.
pub(super) struct Pipe {
    read: SharedFd,
    write: SharedFd,
    /// What one splice into the empty pipe may move.
    capacity: usize,
    grown: bool,
}

/// The size a bulk copy's pipe grows to.
const GROWN: usize = 1 << 20;

impl Pipe {
    pub(super) fn new() -> io::Result<Pipe> {
        let mut fds = [0 as libc::c_int; 2];
        // SAFETY: `fds` is a live array of the two ints pipe2 fills.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } < 0 {
            return Err(io::Error::last_os_error());
        }
        use std::os::fd::FromRawFd;
        // SAFETY: pipe2 just returned these two descriptors, owned by
        // nobody else.
        let (read, write) = unsafe {
            (
                std::os::fd::OwnedFd::from_raw_fd(fds[0]),
                std::os::fd::OwnedFd::from_raw_fd(fds[1]),
            )
        };
        // SAFETY: fcntl on a descriptor we own; no pointers.
        let size = unsafe { libc::fcntl(fds[1], libc::F_GETPIPE_SZ) };
        let capacity = if size > 0 { size as usize } else { 64 * 1024 };
        Ok(Pipe {
            read: SharedFd::new(read),
            write: SharedFd::new(write),
            capacity,
            grown: false,
        })
    }

    /// Grows the (empty) pipe to [`GROWN`], once; a refusal (the user's
    /// pipe budget) keeps its size.
    fn grow(&mut self) {
        self.grown = true;
        use std::os::fd::AsRawFd;
        let fd = self.write.as_raw_fd();
        // SAFETY: fcntl on a descriptor we own; no pointers.
        let size = unsafe { libc::fcntl(fd, libc::F_SETPIPE_SZ, GROWN as libc::c_int) };
        if size > 0 {
            self.capacity = size as usize;
        }
    }
}

/// One splice: the op kind holds both descriptors until its completion.
struct Splice {
    fd_in: SharedFd,
    fd_out: SharedFd,
    len: usize,
    wait_out: bool,
}

impl OpKind for Splice {
    type Output = io::Result<usize>;

    fn call(&mut self) -> Call<'_> {
        Call::Splice {
            fd_in: &self.fd_in,
            fd_out: &self.fd_out,
            len: self.len,
            wait_out: self.wait_out,
        }
    }

    fn complete(self, result: io::Result<Completion>) -> io::Result<usize> {
        result_of(result).map(|n| n as usize)
    }
}

/// Splices made, for the tests (which path a copy took).
#[cfg(test)]
pub(crate) static SPLICES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

async fn splice(
    fd_in: &SharedFd,
    fd_out: &SharedFd,
    len: usize,
    wait_out: bool,
) -> io::Result<usize> {
    #[cfg(test)]
    SPLICES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    Op::new(Splice {
        fd_in: fd_in.clone(),
        fd_out: fd_out.clone(),
        len,
        wait_out,
    })
    .await
}

/// Copies from `from` to `to` until `from`'s end of stream, through
/// `pipe`; the bytes copied. `from_socket`: `from` is a socket (waited for
/// before a splice on a ring, see the module docs).
pub(super) async fn one_way(
    from: &SharedFd,
    to: &SharedFd,
    pipe: &mut Pipe,
    from_socket: bool,
) -> io::Result<u64> {
    let mut total = 0u64;
    // On a ring, a first splice from an idle socket would park a kernel
    // worker: wait for data first.
    let on_ring = !crate::driver::polls_readiness();
    let mut wait_first = from_socket && on_ring;
    loop {
        if wait_first {
            ready(from, Interest::READABLE).await?;
        }
        let n = match splice(from, &pipe.write, pipe.capacity, false).await {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            // A non-blocking socket on a ring: wait, then splice.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                wait_first = true;
                continue;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        wait_first = from_socket && on_ring && n < pipe.capacity;
        let mut left = n;
        while left > 0 {
            match splice(&pipe.read, to, left, true).await {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::WriteZero,
                        "ferrio: io::copy: the destination accepted no more bytes",
                    ))
                }
                Ok(m) => left -= m.min(left),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    ready(to, Interest::WRITABLE).await?;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        total += n as u64;
        if n == pipe.capacity && !pipe.grown {
            pipe.grow();
        }
    }
}

/// Writes the bytes `from`'s `futures-io` side received and has not
/// handed out to `to` (through `to`'s `futures-io` side), so they precede
/// the spliced ones; the count.
pub(super) async fn write_buffered(from: &mut FdStream, to: &mut FdStream) -> io::Result<u64> {
    let mut n = 0u64;
    std::future::poll_fn(|cx| loop {
        let data = from.buffered();
        if data.is_empty() {
            return std::task::Poll::Ready(Ok(()));
        }
        let k = std::task::ready!(to.poll_write(cx, data))?;
        if k == 0 {
            return std::task::Poll::Ready(Err(io::Error::new(
                io::ErrorKind::WriteZero,
                "ferrio: io::copy: the destination accepted no more bytes",
            )));
        }
        from.consume(k);
        n += k as u64;
    })
    .await?;
    Ok(n)
}

/// Waits for `s`'s write-behind (its earlier writes go first).
pub(super) async fn flush(s: &mut FdStream) -> io::Result<()> {
    std::future::poll_fn(|cx| s.poll_flush(cx)).await
}

/// Shuts the write side of a socket (nothing for other descriptors): the
/// peer reads end of stream.
pub(super) fn shutdown_write(fd: &SharedFd, socket: bool) -> io::Result<()> {
    if !socket {
        return Ok(());
    }
    use std::os::fd::AsRawFd;
    // SAFETY: plain syscall on a descriptor we hold.
    if unsafe { libc::shutdown(fd.as_raw_fd(), libc::SHUT_WR) } < 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::ENOTCONN) {
            return Err(e);
        }
    }
    Ok(())
}
