//! `TcpSocket`: a TCP socket not yet listening or connected, to set
//! options and bind before it becomes a [`TcpListener`] or a
//! [`TcpStream`] (tokio's `TcpSocket`).

use crate::task::core::wait::At;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

use super::sockopt;
use super::{clear_nonblocking, connect, socket, Addr, TcpListener, TcpStream};
use crate::io::SharedFd;

/// A TCP socket before `listen` or `connect` (tokio's `TcpSocket`): every
/// call but [`connect`](TcpSocket::connect) is a plain system call.
///
/// A server that binds with `SO_REUSEADDR` and a larger backlog:
///
/// ```
/// use ferrio::net::TcpSocket;
///
/// ferrio::run(async {
///     let socket = TcpSocket::new_v4().unwrap();
///     socket.set_reuseaddr(true).unwrap();
///     socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
///     let listener = socket.listen(1024).unwrap();
///     let addr = listener.local_addr().unwrap();
///
///     // A client bound to its own address before it connects.
///     let client = TcpSocket::new_v4().unwrap();
///     client.set_nodelay(true).unwrap();
///     client.bind("127.0.0.1:0".parse().unwrap()).unwrap();
///     let from = client.local_addr().unwrap();
///     let stream = client.connect(addr).await.unwrap();
///     let (_conn, peer) = listener.accept().await.unwrap();
///     assert_eq!(peer, from);
///     assert!(stream.nodelay().unwrap());
/// });
/// ```
#[derive(Debug)]
pub struct TcpSocket {
    fd: OwnedFd,
}

impl TcpSocket {
    /// A new IPv4 socket (`AF_INET`, close-on-exec).
    pub fn new_v4() -> io::Result<TcpSocket> {
        TcpSocket::new(libc::AF_INET)
    }

    /// A new IPv6 socket (`AF_INET6`, close-on-exec).
    pub fn new_v6() -> io::Result<TcpSocket> {
        TcpSocket::new(libc::AF_INET6)
    }

    fn new(family: i32) -> io::Result<TcpSocket> {
        Ok(TcpSocket {
            fd: socket(family, libc::SOCK_STREAM)?,
        })
    }

    /// Takes over a standard stream's socket (tokio's `from_std_stream`),
    /// to change its options and make it a ferrio stream again with
    /// `connect`, or a listener. Its `O_NONBLOCK` flag, if set, is
    /// cleared when it becomes one.
    pub fn from_std_stream(stream: std::net::TcpStream) -> TcpSocket {
        TcpSocket { fd: stream.into() }
    }

    fn raw(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Sets `SO_REUSEADDR`: bind to an address other sockets (not
    /// listening) or connections in `TIME_WAIT` still use.
    pub fn set_reuseaddr(&self, on: bool) -> io::Result<()> {
        sockopt::set_bool(self.raw(), libc::SOL_SOCKET, libc::SO_REUSEADDR, on)
    }

    /// Whether `SO_REUSEADDR` is set.
    pub fn reuseaddr(&self) -> io::Result<bool> {
        sockopt::get_bool(self.raw(), libc::SOL_SOCKET, libc::SO_REUSEADDR)
    }

    /// Sets `SO_REUSEPORT`: several sockets (of one user, each setting
    /// it) bind one address; the kernel spreads connections over their
    /// listeners.
    pub fn set_reuseport(&self, on: bool) -> io::Result<()> {
        sockopt::set_bool(self.raw(), libc::SOL_SOCKET, libc::SO_REUSEPORT, on)
    }

    /// Whether `SO_REUSEPORT` is set.
    pub fn reuseport(&self) -> io::Result<bool> {
        sockopt::get_bool(self.raw(), libc::SOL_SOCKET, libc::SO_REUSEPORT)
    }

    /// Sets `SO_KEEPALIVE` (the kernel's keepalive probes, with its
    /// default timings).
    pub fn set_keepalive(&self, on: bool) -> io::Result<()> {
        sockopt::set_bool(self.raw(), libc::SOL_SOCKET, libc::SO_KEEPALIVE, on)
    }

    /// Whether `SO_KEEPALIVE` is set.
    pub fn keepalive(&self) -> io::Result<bool> {
        sockopt::get_bool(self.raw(), libc::SOL_SOCKET, libc::SO_KEEPALIVE)
    }

    /// Sets `SO_LINGER`: `Some(d)` makes closing wait up to `d` (whole
    /// seconds) for queued data to be sent, `Some(Duration::ZERO)` resets
    /// the connection on close, `None` restores the default.
    pub fn set_linger(&self, linger: Option<Duration>) -> io::Result<()> {
        sockopt::set_linger(self.raw(), linger)
    }

    /// `SO_LINGER` (see [`set_linger`](TcpSocket::set_linger)).
    pub fn linger(&self) -> io::Result<Option<Duration>> {
        sockopt::linger(self.raw())
    }

    /// Sets `SO_SNDBUF`. Linux doubles the value (for its bookkeeping),
    /// so [`send_buffer_size`](TcpSocket::send_buffer_size) reads back
    /// twice the size, and clamps it to `net.core.wmem_max`.
    pub fn set_send_buffer_size(&self, size: u32) -> io::Result<()> {
        sockopt::set_size(self.raw(), libc::SO_SNDBUF, size)
    }

    /// `SO_SNDBUF`, as the kernel keeps it.
    pub fn send_buffer_size(&self) -> io::Result<u32> {
        sockopt::get_size(self.raw(), libc::SO_SNDBUF)
    }

    /// Sets `SO_RCVBUF` (doubled and clamped as with
    /// [`set_send_buffer_size`](TcpSocket::set_send_buffer_size), to
    /// `net.core.rmem_max`).
    pub fn set_recv_buffer_size(&self, size: u32) -> io::Result<()> {
        sockopt::set_size(self.raw(), libc::SO_RCVBUF, size)
    }

    /// `SO_RCVBUF`, as the kernel keeps it.
    pub fn recv_buffer_size(&self) -> io::Result<u32> {
        sockopt::get_size(self.raw(), libc::SO_RCVBUF)
    }

    /// Sets `TCP_NODELAY` (kept by the stream `connect` makes).
    pub fn set_nodelay(&self, on: bool) -> io::Result<()> {
        sockopt::set_bool(self.raw(), libc::IPPROTO_TCP, libc::TCP_NODELAY, on)
    }

    /// Whether `TCP_NODELAY` is set.
    pub fn nodelay(&self) -> io::Result<bool> {
        sockopt::get_bool(self.raw(), libc::IPPROTO_TCP, libc::TCP_NODELAY)
    }

    /// Binds to `addr` (port 0: the kernel picks one; see
    /// [`local_addr`](TcpSocket::local_addr)). An address of the other
    /// family than the socket's is an error.
    pub fn bind(&self, addr: SocketAddr) -> io::Result<()> {
        #[cfg(all(feature = "sim", not(ferrio_loom)))]
        if let Some(world) = super::sim::owner(self.raw()) {
            return world.bind(self.raw(), addr);
        }
        let addr = Addr::from_std(&addr);
        let (ptr, len) = addr.as_in();
        // SAFETY: `ptr`/`len` describe the live boxed address.
        if unsafe { libc::bind(self.raw(), ptr, len) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// The bound address (`0.0.0.0:0` before `bind`).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        if let Some(a) = super::sim::addr(self.raw(), true) {
            return a;
        }
        let mut addr = Addr::empty();
        let (ptr, len) = addr.as_out();
        // SAFETY: `ptr`/`len` describe the live boxed storage and its
        // capacity.
        if unsafe { libc::getsockname(self.raw(), ptr, len) } < 0 {
            return Err(io::Error::last_os_error());
        }
        addr.to_std()
            .ok_or_else(|| io::Error::other("ferrio::net: getsockname returned no IP address"))
    }

    /// The socket's pending error (`SO_ERROR`), cleared by reading it.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        sockopt::take_error(self.raw())
    }

    /// Starts listening, with room for `backlog` connections not yet
    /// accepted (the kernel caps it at `net.core.somaxconn`). Unbound, the
    /// socket listens on a port the kernel picks, on every address.
    pub fn listen(self, backlog: u32) -> io::Result<TcpListener> {
        #[cfg(all(feature = "sim", not(ferrio_loom)))]
        if let Some(world) = super::sim::owner(self.raw()) {
            let _ = backlog;
            world.listen(self.raw())?;
            return Ok(TcpListener::from_fd(self.fd));
        }
        clear_nonblocking(&self.fd)?;
        let backlog = backlog.min(i32::MAX as u32) as i32;
        // SAFETY: plain syscall on our own descriptor.
        if unsafe { libc::listen(self.raw(), backlog) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(TcpListener::from_fd(self.fd))
    }

    /// Connects to `addr` on the worker's I/O driver (as
    /// [`TcpStream::connect`], with this socket's options and binding).
    /// On failure the socket is closed.
    #[track_caller]
    pub fn connect(self, addr: SocketAddr) -> impl Future<Output = io::Result<TcpStream>> {
        At::here(async move {
            if super::sim::addr(self.raw(), true).is_none() {
                clear_nonblocking(&self.fd)?;
            }
            let fd = SharedFd::new(self.fd);
            connect(&fd, Addr::from_std(&addr)).await?;
            Ok(TcpStream::from_shared(fd))
        })
    }
}

impl AsFd for TcpSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for TcpSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl FromRawFd for TcpSocket {
    /// Takes over a TCP socket's descriptor.
    ///
    /// # Safety
    /// `fd` must be an open TCP socket that nothing else owns.
    unsafe fn from_raw_fd(fd: RawFd) -> TcpSocket {
        TcpSocket {
            // SAFETY: the caller's promise.
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        }
    }
}

impl From<TcpSocket> for OwnedFd {
    fn from(s: TcpSocket) -> OwnedFd {
        s.fd
    }
}
