//! Unix-domain datagram sockets: `UnixDatagram`.

use crate::task::core::wait::At;
use std::future::Future;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::SocketAddr;
use std::path::Path;

use super::{clear_nonblocking, Addr};
use crate::driver::Op;
use crate::io::ops::{Read, Write, WriteTo};
use crate::io::ready::ready;
use crate::io::{Interest, IoBuf, IoBufMut, Ready, SharedFd};

/// A Unix-domain datagram socket (tokio's `UnixDatagram`), with the
/// owned-buffer calls of [`UdpSocket`](super::UdpSocket): `send`/`recv`
/// with the connected peer, `send_to`/`recv_from` (`sendmsg`/`recvmsg`)
/// with any. Datagrams keep their boundaries; one longer than the buffer
/// is truncated. Binding, connecting and the addresses are plain system
/// calls; the data path goes through the worker's I/O driver.
///
/// ```
/// use ferrio::net::UnixDatagram;
///
/// ferrio::run(async {
///     let dir = std::env::temp_dir().join(format!("ferrio-dgram-doc-{}", std::process::id()));
///     std::fs::create_dir_all(&dir).unwrap();
///     let path = dir.join("server");
///     let _ = std::fs::remove_file(&path);
///     let server = UnixDatagram::bind(&path).unwrap();
///     let client = UnixDatagram::unbound().unwrap();
///     client.send_to(b"ping".to_vec(), &path).await.0.unwrap();
///     let (res, buf) = server.recv_from(Vec::with_capacity(16)).await;
///     let (n, from) = res.unwrap();
///     assert_eq!(&buf[..n], b"ping");
///     assert!(from.is_unnamed()); // the client never bound
///
///     // A connected pair.
///     let (a, b) = UnixDatagram::pair().unwrap();
///     a.send(b"one".to_vec()).await.0.unwrap();
///     let (n, buf) = b.recv(Vec::with_capacity(16)).await;
///     assert_eq!(&buf[..n.unwrap()], b"one");
///     std::fs::remove_dir_all(&dir).unwrap();
/// });
/// ```
#[derive(Debug)]
pub struct UnixDatagram {
    fd: SharedFd,
}

impl UnixDatagram {
    /// A socket bound to `path` (the file is not removed on drop, as with
    /// std).
    pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixDatagram> {
        super::not_simulated()?;
        UnixDatagram::from_std(std::os::unix::net::UnixDatagram::bind(path)?)
    }

    /// A socket bound to nothing: it can send (`send_to`, or `send` after
    /// `connect`), and its datagrams arrive from an unnamed address.
    pub fn unbound() -> io::Result<UnixDatagram> {
        super::not_simulated()?;
        UnixDatagram::from_std(std::os::unix::net::UnixDatagram::unbound()?)
    }

    /// A connected pair (plain `socketpair`).
    pub fn pair() -> io::Result<(UnixDatagram, UnixDatagram)> {
        super::not_simulated()?;
        let (a, b) = std::os::unix::net::UnixDatagram::pair()?;
        Ok((UnixDatagram::from_std(a)?, UnixDatagram::from_std(b)?))
    }

    /// Wraps a standard socket (made blocking, as io_uring waits itself;
    /// the epoll driver sets `O_NONBLOCK` at the first operation and
    /// clears it again when the socket leaves ferrio).
    pub fn from_std(socket: std::os::unix::net::UnixDatagram) -> io::Result<UnixDatagram> {
        super::not_simulated()?;
        let fd: OwnedFd = socket.into();
        clear_nonblocking(&fd)?;
        Ok(UnixDatagram {
            fd: SharedFd::new(fd),
        })
    }

    fn as_std<R>(&self, f: impl FnOnce(&std::os::unix::net::UnixDatagram) -> R) -> R {
        // SAFETY: a borrowed view of our own fd, never closed here.
        let s = std::mem::ManuallyDrop::new(unsafe {
            std::os::unix::net::UnixDatagram::from_raw_fd(self.fd.as_raw_fd())
        });
        f(&s)
    }

    /// Sets the default peer for `send`/`recv` (a plain syscall: a
    /// datagram connect sends nothing); only its datagrams arrive then.
    pub fn connect(&self, path: impl AsRef<Path>) -> io::Result<()> {
        self.as_std(|s| s.connect(path))
    }

    /// The bound address (unnamed for an unbound socket).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.as_std(|s| s.local_addr())
    }

    /// The connected peer's address (`ENOTCONN` when not connected).
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.as_std(|s| s.peer_addr())
    }

    /// Shuts down one or both directions.
    pub fn shutdown(&self, how: std::net::Shutdown) -> io::Result<()> {
        self.as_std(|s| s.shutdown(how))
    }

    /// The socket's pending error (`SO_ERROR`), cleared by reading it.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.as_std(|s| s.take_error())
    }

    /// Sends one datagram to the connected peer.
    #[track_caller]
    pub fn send<B: IoBuf>(&self, buf: B) -> impl Future<Output = (io::Result<usize>, B)> + '_ {
        At::here(async move { Op::new(Write::new(self.fd.clone(), buf, WriteTo::Socket)).await })
    }

    /// Receives one datagram from the connected peer.
    #[track_caller]
    pub fn recv<B: IoBufMut>(&self, buf: B) -> impl Future<Output = (io::Result<usize>, B)> + '_ {
        At::here(async move { Op::new(Read::recv_datagram(self.fd.clone(), buf)).await })
    }

    /// Sends one datagram to the socket bound at `path` (`sendmsg`). A
    /// path too long for a Unix address is `InvalidInput`.
    #[track_caller]
    pub fn send_to<'a, B: IoBuf>(
        &'a self,
        buf: B,
        path: impl AsRef<Path> + 'a,
    ) -> impl Future<Output = (io::Result<usize>, B)> + 'a {
        At::here(async move {
            match Addr::from_path(path.as_ref()) {
                Ok(addr) => super::msg::send_to(&self.fd, buf, addr).await,
                Err(e) => (Err(e), buf),
            }
        })
    }

    /// Receives one datagram and the address it came from (`recvmsg`):
    /// unnamed when the sender is not bound.
    #[track_caller]
    pub fn recv_from<B: IoBufMut>(
        &self,
        buf: B,
    ) -> impl Future<Output = (io::Result<(usize, SocketAddr)>, B)> + '_ {
        At::here(async move {
            let (res, buf, addr) = super::msg::recv_from(&self.fd, buf).await;
            (res.and_then(|n| Ok((n, addr.to_unix()?))), buf)
        })
    }

    /// Waits until a datagram can be received.
    #[track_caller]
    pub fn readable(&self) -> impl Future<Output = io::Result<()>> + '_ {
        At::here(async move { ready(&self.fd, Interest::READABLE).await.map(drop) })
    }

    /// Waits until a datagram can be sent.
    #[track_caller]
    pub fn writable(&self) -> impl Future<Output = io::Result<()>> + '_ {
        At::here(async move { ready(&self.fd, Interest::WRITABLE).await.map(drop) })
    }

    /// Waits until the socket is ready for one of `interest`'s directions.
    #[track_caller]
    pub fn ready(&self, interest: Interest) -> impl Future<Output = io::Result<Ready>> + '_ {
        At::here(async move { ready(&self.fd, interest).await })
    }
}

impl AsFd for UnixDatagram {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for UnixDatagram {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}
