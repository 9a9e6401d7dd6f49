//! Sockets on io_uring: TCP, UDP and Unix-domain.
//!
//! Socket creation, `bind` and `listen` are plain syscalls (nothing to
//! wait for); `accept`, `connect` and the data path go through the
//! worker's ring. Every stream offers two ways to do I/O:
//!
//! - completion-style owned buffers, the natural io_uring API:
//!   `let (res, buf) = stream.read(buf).await`, `write`, `write_all`,
//!   `read_exact`, generic over [`IoBuf`](crate::io::IoBuf) /
//!   [`IoBufMut`](crate::io::IoBufMut) (`Vec<u8>`, `Box<[u8]>`,
//!   `&'static [u8]`, [`Slice`](crate::io::Slice));
//! - the `futures-io` traits `AsyncRead`, `AsyncBufRead` and `AsyncWrite`,
//!   so ecosystem crates run on ferrio. They cost one copy per direction
//!   (see [`crate::io`]); `AsyncBufRead` avoids the read-side copy. The
//!   owned-buffer `read`/`write_all` are inherent methods, so they win
//!   method lookup over `AsyncReadExt`/`AsyncWriteExt`'s of the same name:
//!   call those by path (`AsyncWriteExt::write_all(&mut s, b"..")`).
//!
//! An operation dropped in flight is cancelled; its buffer lives until the
//! kernel lets go of it, and a connection an abandoned `accept` still
//! produces is closed, so no descriptor leaks.

mod addr;
mod lookup;
mod split;
mod tcp;
mod udp;
mod unix;

pub(crate) use lookup::resolve;
#[cfg(test)]
pub(crate) use lookup::LAST_LOOKUP_THREAD;
pub use lookup::{lookup_host, ToSocketAddrs};
pub use split::{OwnedReadHalf, OwnedWriteHalf};
pub use tcp::{Incoming, TcpListener, TcpStream};
pub use udp::UdpSocket;
pub use unix::{UnixIncoming, UnixListener, UnixStream};

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use io_uring::{opcode, squeue, types};

use crate::driver::op::Completion;
use crate::driver::{completion_of, How, Interest, MultiKind, MultiOp, Op, OpKind};
use crate::io::{result_of, SharedFd};
use addr::Addr;
use std::future::Future;

/// std's blocking resolution, for the synchronous constructors (`bind`).
fn resolve_blocking(addr: impl std::net::ToSocketAddrs) -> io::Result<Vec<SocketAddr>> {
    let addrs: Vec<SocketAddr> = addr.to_socket_addrs()?.collect();
    if addrs.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "ferrio::net: the address resolved to nothing",
        ));
    }
    Ok(addrs)
}

/// A new socket (plain syscall), close-on-exec.
fn socket(family: i32, ty: i32) -> io::Result<OwnedFd> {
    // SAFETY: plain syscall; the result is checked.
    let fd = unsafe { libc::socket(family, ty | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh descriptor we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `accept4` on io_uring: yields the new descriptor and the peer's
/// address.
struct Accept {
    fd: SharedFd,
    addr: Box<Addr>,
}

impl OpKind for Accept {
    type Output = io::Result<(OwnedFd, Box<Addr>)>;
    const YIELDS_FD: bool = true;

    fn entry(&mut self) -> squeue::Entry {
        let (ptr, len) = self.addr.as_out();
        opcode::Accept::new(types::Fd(self.fd.as_raw_fd()), ptr, len)
            .flags(libc::SOCK_CLOEXEC)
            .build()
    }

    fn how(&self) -> How<'_> {
        How::socket(&self.fd, Interest::Read)
    }

    fn perform(&mut self) -> Completion {
        let (ptr, len) = self.addr.as_out();
        // SAFETY: `ptr`/`len` describe our address buffer.
        let ret = unsafe { libc::accept4(self.fd.as_raw_fd(), ptr, len, libc::SOCK_CLOEXEC) };
        completion_of(ret as i64)
    }

    fn complete(self, result: io::Result<Completion>) -> Self::Output {
        let fd = result_of(result)? as RawFd;
        // SAFETY: the kernel gave us this new descriptor.
        Ok((unsafe { OwnedFd::from_raw_fd(fd) }, self.addr))
    }
}

async fn accept(fd: &SharedFd) -> io::Result<(OwnedFd, Box<Addr>)> {
    Op::new(Accept {
        fd: fd.clone(),
        addr: Addr::empty(),
    })
    .await
}

/// Multi-shot `accept` (5.19+): one SQE accepts connection after
/// connection. No peer address comes with them.
struct AcceptMulti {
    fd: SharedFd,
}

impl OpKind for AcceptMulti {
    type Output = ();
    const YIELDS_FD: bool = true;
    /// Connections accepted but not yet taken; past this the accept pauses
    /// and the rest wait in the listen backlog.
    const QUEUE_LIMIT: usize = 64;

    fn entry(&mut self) -> squeue::Entry {
        opcode::AcceptMulti::new(types::Fd(self.fd.as_raw_fd()))
            .flags(libc::SOCK_CLOEXEC)
            .build()
    }

    fn how(&self) -> How<'_> {
        How::socket(&self.fd, Interest::Read)
    }

    /// One connection per item on epoll.
    fn perform(&mut self) -> Completion {
        // SAFETY: no address is asked for (null pointers).
        let ret = unsafe {
            libc::accept4(
                self.fd.as_raw_fd(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                libc::SOCK_CLOEXEC,
            )
        };
        completion_of(ret as i64)
    }

    fn complete(self, _: io::Result<Completion>) {}
}

impl MultiKind for AcceptMulti {
    type Item = io::Result<OwnedFd>;

    fn item(&mut self, c: Completion) -> io::Result<OwnedFd> {
        let fd = result_of(Ok(c))? as RawFd;
        // SAFETY: the kernel gave us this new descriptor.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    }
}

/// A stream of accepted descriptors: multi-shot accept where the kernel
/// has it, single-shot accepts where it rejects it (`EINVAL`).
struct AcceptStream {
    fd: SharedFd,
    multi: Option<MultiOp<AcceptMulti>>,
    single: Option<Op<Accept>>,
}

impl AcceptStream {
    fn new(fd: &SharedFd) -> AcceptStream {
        AcceptStream {
            fd: fd.clone(),
            multi: Some(MultiOp::new(AcceptMulti { fd: fd.clone() })),
            single: None,
        }
    }

    fn poll_accept(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<OwnedFd>> {
        use std::task::{ready, Poll};
        if let Some(multi) = &mut self.multi {
            match ready!(multi.poll_next_item(cx)) {
                Ok(Err(e)) if e.raw_os_error() == Some(libc::EINVAL) => {
                    // A kernel without multi-shot accept (before 5.19), or
                    // a socket that is not listening: go on one accept at
                    // a time, which reports the latter again.
                    self.multi = None;
                }
                Ok(item) => return Poll::Ready(item),
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
        let fd = &self.fd;
        let op = self.single.get_or_insert_with(|| {
            Op::new(Accept {
                fd: fd.clone(),
                addr: Addr::empty(),
            })
        });
        let res = ready!(std::pin::Pin::new(op).poll(cx));
        self.single = None;
        Poll::Ready(res.map(|(fd, _)| fd))
    }
}

/// `connect` on io_uring.
struct Connect {
    fd: SharedFd,
    addr: Box<Addr>,
    /// Epoll: the non-blocking `connect` was issued and is in progress.
    started: bool,
    /// Epoll: a Unix socket's `connect` answered `EAGAIN` (the listener's
    /// backlog is full). No readiness event reports room in a backlog, so
    /// the connect moves to the blocking pool and waits there, in the
    /// kernel, as a blocking `connect` does.
    backlog_full: bool,
}

impl OpKind for Connect {
    type Output = io::Result<()>;

    fn entry(&mut self) -> squeue::Entry {
        let (ptr, len) = self.addr.as_in();
        opcode::Connect::new(types::Fd(self.fd.as_raw_fd()), ptr, len).build()
    }

    fn how(&self) -> How<'_> {
        if self.backlog_full {
            return How::Blocking;
        }
        How::socket(&self.fd, Interest::Write)
    }

    /// Epoll: `connect` once (in progress: `EAGAIN`); after that, each
    /// attempt asks whether it finished: the socket's pending error, or
    /// else whether it has a peer (`ENOTCONN`: still connecting).
    fn perform(&mut self) -> Completion {
        let fd = self.fd.as_raw_fd();
        if self.backlog_full {
            return connect_blocking(fd, &self.addr);
        }
        if !self.started {
            let (ptr, len) = self.addr.as_in();
            // SAFETY: `ptr`/`len` describe our address.
            let ret = unsafe { libc::connect(fd, ptr, len) };
            let c = completion_of(ret as i64);
            if c.res == -libc::EAGAIN {
                // Only a Unix socket answers EAGAIN: its listener's
                // backlog is full (see `backlog_full`).
                self.backlog_full = true;
                return c;
            }
            if c.res == -libc::EINPROGRESS {
                self.started = true;
                return Completion {
                    res: -libc::EAGAIN,
                    flags: 0,
                };
            }
            return c;
        }
        let mut err: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: `err`/`len` are live locals of the sizes given.
        let ret = unsafe {
            libc::getsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_ERROR,
                (&mut err as *mut libc::c_int).cast(),
                &mut len,
            )
        };
        if ret < 0 {
            return completion_of(-1);
        }
        if err != 0 {
            return Completion {
                res: -err,
                flags: 0,
            };
        }
        // SAFETY: zeroed storage is a valid sockaddr_storage.
        let mut peer: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
        let mut plen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        // SAFETY: `peer`/`plen` describe a live local buffer.
        let ret = unsafe {
            libc::getpeername(
                fd,
                (&mut peer as *mut libc::sockaddr_storage).cast(),
                &mut plen,
            )
        };
        match completion_of(ret as i64) {
            Completion { res, .. } if res == -libc::ENOTCONN => Completion {
                res: -libc::EAGAIN,
                flags: 0,
            },
            c => c,
        }
    }

    fn complete(self, result: io::Result<Completion>) -> io::Result<()> {
        result_of(result).map(drop)
    }
}

/// A blocking `connect` on a blocking-pool thread: `O_NONBLOCK` is
/// cleared for the call (an unconnected socket has no other operation that
/// could notice) and set again after it.
fn connect_blocking(fd: std::os::fd::RawFd, addr: &Addr) -> Completion {
    let (ptr, len) = addr.as_in();
    // SAFETY: fcntl and connect on our own descriptor; `ptr`/`len`
    // describe our address for the call.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags < 0 {
            return completion_of(-1);
        }
        if libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK) < 0 {
            return completion_of(-1);
        }
        let ret = libc::connect(fd, ptr, len);
        let c = completion_of(ret as i64);
        libc::fcntl(fd, libc::F_SETFL, flags);
        c
    }
}

async fn connect(fd: &SharedFd, addr: Box<Addr>) -> io::Result<()> {
    Op::new(Connect {
        fd: fd.clone(),
        addr,
        started: false,
        backlog_full: false,
    })
    .await
}

/// Clears `O_NONBLOCK` on a descriptor handed in from elsewhere: io_uring
/// honours it and would fail reads with `EAGAIN` instead of waiting.
fn clear_nonblocking(fd: &OwnedFd) -> io::Result<()> {
    let fd = fd.as_raw_fd();
    // SAFETY: plain fcntl calls on a descriptor we own.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags < 0 {
            return Err(io::Error::last_os_error());
        }
        if flags & libc::O_NONBLOCK != 0
            && libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK) < 0
        {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}
