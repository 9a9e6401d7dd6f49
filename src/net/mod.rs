//! Sockets: TCP, UDP and Unix-domain, on either I/O driver.
//!
//! Socket creation, `bind` and `listen` are plain syscalls (nothing to
//! wait for); `accept`, `connect` and the data path go through the
//! worker's driver: ring opcodes on io_uring, non-blocking calls after
//! readiness on epoll. Every stream offers two ways to do I/O:
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
//! And tokio's readiness calls: `readable`/`writable`/`ready` waits, then
//! `try_read`/`try_write` (and `peek`) with a borrowed slice, plain
//! non-blocking calls (`MSG_DONTWAIT`) on either driver
//! ([`crate::io::Interest`], [`crate::io::Ready`]). [`TcpSocket`] sets
//! options and binds before a socket listens or connects.
//!
//! An operation dropped in flight is cancelled; its buffer lives until the
//! kernel lets go of it, and a connection an abandoned `accept` still
//! produces is closed, so no descriptor leaks.

mod addr;
mod lookup;
mod msg;
mod sim;
mod socket;
mod sockopt;
mod split;
mod tcp;
mod udp;
mod unix;
mod unix_datagram;

pub(crate) use lookup::resolve;
#[cfg(test)]
pub(crate) use lookup::LAST_LOOKUP_THREAD;
pub use lookup::{lookup_host, ToSocketAddrs};
pub use socket::TcpSocket;
pub use split::{OwnedReadHalf, OwnedWriteHalf, ReadHalf, ReuniteError, WriteHalf};
pub use tcp::{Incoming, TcpListener, TcpStream};
pub use udp::UdpSocket;
pub use unix::{UnixIncoming, UnixListener, UnixStream};
pub use unix_datagram::UnixDatagram;

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use crate::driver::{Call, Completion, MultiKind, MultiOp, Op, OpKind};
use crate::io::{result_of, SharedFd};
use addr::Addr;
use std::future::Future;

/// A blocking resolution, for the synchronous constructors (`bind`): a
/// literal at once, a name by std's resolver (in a simulated world, among
/// its hosts).
fn resolve_blocking<A: ToSocketAddrs + ?Sized>(addr: &A) -> io::Result<Vec<SocketAddr>> {
    let addrs: Vec<SocketAddr> = match addr.to_target()? {
        lookup::Target::Ready(addrs) => addrs,
        lookup::Target::Lookup(name) => match sim::resolve(&name) {
            Some(r) => r?,
            None => std::net::ToSocketAddrs::to_socket_addrs(&name)?.collect(),
        },
    };
    if addrs.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "ferrio::net: the address resolved to nothing",
        ));
    }
    Ok(addrs)
}

/// `Unsupported` inside a `ferrio::sim` world: a socket made outside
/// ferrio (`from_std`), or a Unix socket, would run outside the world's
/// order (TCP and UDP made by ferrio::net run on the world's network).
fn not_simulated() -> io::Result<()> {
    crate::runtime::simulated::refuse_in_sim(
        "real sockets (from_std, Unix sockets) do not run inside ferrio::sim; \
         TcpListener/TcpStream/UdpSocket made by ferrio::net run on the world's network",
    )
}

/// A new socket (plain syscall), close-on-exec; in a simulated world, one
/// of its sockets (an inert placeholder descriptor: `driver/sim_hook.rs`).
fn socket(family: i32, ty: i32) -> io::Result<OwnedFd> {
    #[cfg(all(feature = "sim", not(ferrio_loom)))]
    if let Some(world) = sim::world() {
        if family == libc::AF_UNIX {
            not_simulated()?;
        }
        return world.socket(family, ty);
    }
    // SAFETY: plain syscall; the result is checked.
    let fd = unsafe { libc::socket(family, ty | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh descriptor we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `accept4`: yields the new descriptor and the peer's
/// address.
struct Accept {
    fd: SharedFd,
    addr: Box<Addr>,
}

impl OpKind for Accept {
    type Output = io::Result<(OwnedFd, Box<Addr>)>;

    fn call(&mut self) -> Call<'_> {
        let (addr, addr_len) = self.addr.as_out();
        Call::Accept {
            fd: &self.fd,
            addr,
            addr_len,
        }
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

/// Multi-shot `accept` (io_uring 5.19+): one SQE accepts connection after
/// connection; on epoll, one `accept4` per item. No peer address comes
/// with them.
struct AcceptMulti {
    fd: SharedFd,
}

impl OpKind for AcceptMulti {
    type Output = ();
    /// Connections accepted but not yet taken; past this the accept pauses
    /// and the rest wait in the listen backlog.
    const QUEUE_LIMIT: usize = 64;

    fn call(&mut self) -> Call<'_> {
        Call::AcceptMany { fd: &self.fd }
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

    /// The next connection; a `Pending` is an accept in a task dump, at
    /// the caller's line.
    #[track_caller]
    fn poll_accept(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<OwnedFd>> {
        let fd = self.fd.as_raw_fd() as i64 as u64;
        crate::task::core::wait::pending(
            self.poll_accept_inner(cx),
            crate::task::core::wait::WaitKind::Accept,
            fd,
        )
    }

    fn poll_accept_inner(
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

/// `connect` (on epoll, issued once and then waited for:
/// `driver/plain_call.rs`).
struct Connect {
    fd: SharedFd,
    addr: Box<Addr>,
}

impl OpKind for Connect {
    type Output = io::Result<()>;

    fn call(&mut self) -> Call<'_> {
        let (addr, addr_len) = self.addr.as_in();
        Call::Connect {
            fd: &self.fd,
            addr,
            addr_len,
        }
    }

    fn complete(self, result: io::Result<Completion>) -> io::Result<()> {
        result_of(result).map(drop)
    }
}

async fn connect(fd: &SharedFd, addr: Box<Addr>) -> io::Result<()> {
    Op::new(Connect {
        fd: fd.clone(),
        addr,
    })
    .await
}

/// Clears `O_NONBLOCK` on a descriptor handed in from elsewhere: io_uring
/// honours it and would fail reads with `EAGAIN` instead of waiting. (The
/// epoll driver sets it again at the first operation, and clears it when
/// the descriptor leaves ferrio: `driver/fd.rs`.)
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
