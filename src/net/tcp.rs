// Over 500 lines: the listener and the stream share the socket helpers
// and the simulated-world branches; most of the length is doc examples.
//! TCP: `TcpListener` and `TcpStream` (its readiness calls in
//! `tcp/ready.rs`).

mod ready;

use crate::task::core::wait::At;
use std::future::Future;
use std::io;
use std::net::{Shutdown, SocketAddr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use super::split::{self, Family};
use super::{accept, clear_nonblocking, connect, resolve_blocking, socket, AcceptStream, Addr};
use super::{sockopt, ReadHalf, WriteHalf};
use crate::io::compat::FdStream;
use crate::io::traits::impl_futures_io;
use crate::io::{IoBuf, IoBufMut, SharedFd};

/// A TCP listening socket.
///
/// ```
/// ferrio::run(async {
///     let listener = ferrio::net::TcpListener::bind("127.0.0.1:0").unwrap();
///     let addr = listener.local_addr().unwrap();
///     let client = ferrio::spawn(async move {
///         let s = ferrio::net::TcpStream::connect(addr).await.unwrap();
///         s.write_all(b"ping".to_vec()).await.0.unwrap();
///     });
///     let (conn, _peer) = listener.accept().await.unwrap();
///     let (n, buf) = conn.read(Vec::with_capacity(16)).await;
///     assert_eq!(&buf[..n.unwrap()], b"ping");
///     client.await.unwrap();
/// });
/// ```
#[derive(Debug)]
pub struct TcpListener {
    fd: SharedFd,
}

impl TcpListener {
    /// Binds and listens (plain syscalls; nothing to wait for). A host
    /// name is resolved with std's blocking resolver: it may block the
    /// calling thread (resolve it first with
    /// [`lookup_host`](super::lookup_host)).
    ///
    /// Inside a `ferrio::sim` world this binds on the world's network:
    /// `"server:80"`, the host's own address or `0.0.0.0:80` on the host
    /// the task runs on (see `ferrio::sim::Host::spawn`).
    pub fn bind(addr: impl super::ToSocketAddrs) -> io::Result<TcpListener> {
        let addrs = resolve_blocking(&addr)?;
        #[cfg(all(feature = "sim", not(ferrio_loom)))]
        if let Some(world) = super::sim::world() {
            let family = if addrs[0].is_ipv4() {
                libc::AF_INET
            } else {
                libc::AF_INET6
            };
            let fd = world.socket(family, libc::SOCK_STREAM)?;
            world.bind(fd.as_raw_fd(), addrs[0])?;
            world.listen(fd.as_raw_fd())?;
            return Ok(TcpListener::from_fd(fd));
        }
        let listener = std::net::TcpListener::bind(addrs.as_slice())?;
        TcpListener::from_std(listener)
    }

    /// A listening socket ferrio made blocking.
    pub(super) fn from_fd(fd: OwnedFd) -> TcpListener {
        TcpListener {
            fd: SharedFd::new(fd),
        }
    }

    /// Wraps a standard listener (made blocking, as io_uring waits for the
    /// connection itself; the epoll driver sets `O_NONBLOCK` at the first
    /// accept and clears it again when the listener leaves ferrio).
    pub fn from_std(listener: std::net::TcpListener) -> io::Result<TcpListener> {
        super::not_simulated()?;
        let fd: OwnedFd = listener.into();
        clear_nonblocking(&fd)?;
        Ok(TcpListener {
            fd: SharedFd::new(fd),
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        let fd = self.fd.as_raw_fd();
        super::sim::or_model(fd, self.as_std(|l| l.local_addr()), || {
            super::sim::model_addr(fd, true)
        })
    }

    fn as_std<R>(&self, f: impl FnOnce(&std::net::TcpListener) -> R) -> R {
        // SAFETY: a borrowed view of our own fd, never closed here.
        let l = std::mem::ManuallyDrop::new(unsafe {
            std::net::TcpListener::from_raw_fd(self.fd.as_raw_fd())
        });
        f(&l)
    }

    /// Waits for a connection.
    ///
    /// Errors leave the listener usable. When the process is out of
    /// descriptors this is `EMFILE`/`ENFILE` (`raw_os_error()`); the
    /// connection stays queued in the kernel, so back off (a sleep) and
    /// call again rather than retrying at once, as
    /// [`start_server`](crate::start_server) does.
    #[track_caller]
    pub fn accept(&self) -> impl Future<Output = io::Result<(TcpStream, SocketAddr)>> + '_ {
        At::here(async move {
            let (fd, addr) = accept(&self.fd).await?;
            let stream = TcpStream::from_fd(fd);
            let peer = match addr.to_std() {
                Some(a) => a,
                None => stream.peer_addr()?,
            };
            Ok((stream, peer))
        })
    }
}

impl TcpListener {
    /// The connections as they arrive, as a `futures_core::Stream`. On
    /// io_uring one multi-shot accept SQE serves them all where the kernel
    /// has it (5.19+; single-shot accepts before); on epoll each is an
    /// `accept4` after readiness. No peer address comes with
    /// them (`peer_addr()` asks). Errors are items: the stream goes on
    /// after `EMFILE` (back off first) and ends only when dropped.
    ///
    /// ```
    /// use futures::StreamExt;
    /// ferrio::run(async {
    ///     let listener = ferrio::net::TcpListener::bind("127.0.0.1:0").unwrap();
    ///     let addr = listener.local_addr().unwrap();
    ///     let clients = ferrio::spawn(async move {
    ///         for _ in 0..3 {
    ///             drop(ferrio::net::TcpStream::connect(addr).await.unwrap());
    ///         }
    ///     });
    ///     let mut incoming = listener.incoming();
    ///     for _ in 0..3 {
    ///         let conn = incoming.next().await.unwrap().unwrap();
    ///         assert!(conn.peer_addr().unwrap().ip().is_loopback());
    ///     }
    ///     clients.await.unwrap();
    /// });
    /// ```
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming {
            accepts: AcceptStream::new(&self.fd),
            _listener: std::marker::PhantomData,
        }
    }
}

/// The stream of [`TcpListener::incoming`]. Dropping it cancels the
/// accept; a connection it accepted but nobody took is closed.
pub struct Incoming<'a> {
    accepts: AcceptStream,
    _listener: std::marker::PhantomData<&'a TcpListener>,
}

impl std::fmt::Debug for Incoming<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Incoming").finish_non_exhaustive()
    }
}

impl futures_core::Stream for Incoming<'_> {
    type Item = io::Result<TcpStream>;

    #[track_caller]
    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.accepts
            .poll_accept(cx)
            .map(|r| Some(r.map(TcpStream::from_fd)))
    }
}

impl AsFd for TcpListener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for TcpListener {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// A TCP connection.
///
/// Owned-buffer calls take `&self`, so one task can read while another
/// writes (share it in an `Arc`). The `futures-io` traits take `&mut self`.
///
/// ```
/// use futures::{AsyncReadExt, AsyncWriteExt};
///
/// ferrio::run(async {
///     let listener = ferrio::net::TcpListener::bind("127.0.0.1:0").unwrap();
///     let addr = listener.local_addr().unwrap();
///     let server = ferrio::spawn(async move {
///         let (mut conn, _) = listener.accept().await.unwrap();
///         let mut line = String::new();
///         conn.read_to_string(&mut line).await.unwrap();
///         line
///     });
///     let mut client = ferrio::net::TcpStream::connect(addr).await.unwrap();
///     // The owned-buffer `write_all` is an inherent method and wins name
///     // lookup; call the trait's by path.
///     AsyncWriteExt::write_all(&mut client, b"hello over futures-io").await.unwrap();
///     client.close().await.unwrap(); // flush, then shut down the write side
///     assert_eq!(server.await.unwrap(), "hello over futures-io");
/// });
/// ```
#[derive(Debug)]
pub struct TcpStream {
    inner: FdStream,
    /// The write side a borrowed [`split`](TcpStream::split) lent out
    /// (its `WriteHalf` borrowed this slot), taken back into `inner` by
    /// the next call that uses the `futures-io` state. Boxed: an idle
    /// stream pays one pointer for it.
    lent: Option<Box<FdStream>>,
}

impl TcpStream {
    fn from_fd(fd: OwnedFd) -> TcpStream {
        TcpStream::from_stream(FdStream::socket(fd))
    }

    /// A connected socket whose descriptor ops already share.
    pub(super) fn from_shared(fd: SharedFd) -> TcpStream {
        TcpStream::from_stream(FdStream::socket_shared(fd))
    }

    pub(super) fn from_stream(inner: FdStream) -> TcpStream {
        TcpStream { inner, lent: None }
    }

    /// The `futures-io` state, whole again after a borrowed split.
    pub(crate) fn io(&mut self) -> &mut FdStream {
        if let Some(writer) = self.lent.take() {
            self.inner.rejoin(*writer);
        }
        &mut self.inner
    }

    /// Wraps a connected standard stream (made blocking, as io_uring waits
    /// for the data itself; the epoll driver sets `O_NONBLOCK` at the first
    /// operation and clears it again when the stream leaves ferrio).
    pub fn from_std(stream: std::net::TcpStream) -> io::Result<TcpStream> {
        super::not_simulated()?;
        let fd: OwnedFd = stream.into();
        clear_nonblocking(&fd)?;
        Ok(TcpStream::from_fd(fd))
    }

    /// Connects to the first address that accepts (the connect itself runs
    /// on the worker's I/O driver).
    /// A name (not a literal address) is looked up on the blocking pool
    /// ([`lookup_host`](super::lookup_host)), so no worker waits for DNS.
    #[track_caller]
    pub fn connect(addr: impl super::ToSocketAddrs) -> impl Future<Output = io::Result<TcpStream>> {
        At::here(async move {
            let mut last = None;
            for a in super::resolve(&addr).await? {
                match Self::connect_one(a).await {
                    Ok(s) => return Ok(s),
                    Err(e) => last = Some(e),
                }
            }
            Err(last.expect("resolve returns at least one address"))
        })
    }

    async fn connect_one(addr: SocketAddr) -> io::Result<TcpStream> {
        let family = if addr.is_ipv4() {
            libc::AF_INET
        } else {
            libc::AF_INET6
        };
        let fd = socket(family, libc::SOCK_STREAM)?;
        let fd = SharedFd::new(fd);
        connect(&fd, Addr::from_std(&addr)).await?;
        Ok(TcpStream::from_shared(fd))
    }

    fn as_std<R>(&self, f: impl FnOnce(&std::net::TcpStream) -> R) -> R {
        // SAFETY: a borrowed view of our own fd, never closed here.
        let s = std::mem::ManuallyDrop::new(unsafe {
            std::net::TcpStream::from_raw_fd(self.inner.fd().as_raw_fd())
        });
        f(&s)
    }

    fn raw(&self) -> RawFd {
        self.inner.fd().as_raw_fd()
    }

    /// The remote address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        let fd = self.raw();
        super::sim::or_model(fd, self.as_std(|s| s.peer_addr()), || {
            super::sim::model_addr(fd, false)
        })
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        let fd = self.raw();
        super::sim::or_model(fd, self.as_std(|s| s.local_addr()), || {
            super::sim::model_addr(fd, true)
        })
    }

    /// Sets TCP_NODELAY. (A simulated socket sends each write at once,
    /// as with it set: there it is accepted and changes nothing.)
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        super::sim::or_model(self.raw(), self.as_std(|s| s.set_nodelay(nodelay)), || {
            Ok(())
        })
    }

    /// Whether TCP_NODELAY is set (always, on a simulated socket).
    pub fn nodelay(&self) -> io::Result<bool> {
        super::sim::or_model(self.raw(), self.as_std(|s| s.nodelay()), || Ok(true))
    }

    /// Shuts down one or both directions.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        let how = match how {
            Shutdown::Read => libc::SHUT_RD,
            Shutdown::Write => libc::SHUT_WR,
            Shutdown::Both => libc::SHUT_RDWR,
        };
        if crate::driver::shutdown_socket(self.raw(), how) < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Sets the time-to-live of the packets sent (`IP_TTL`).
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        super::sim::or_model(self.raw(), self.as_std(|s| s.set_ttl(ttl)), || {
            super::sim::refused("IP_TTL")
        })
    }

    /// `IP_TTL`.
    pub fn ttl(&self) -> io::Result<u32> {
        super::sim::or_model(self.raw(), self.as_std(|s| s.ttl()), || {
            super::sim::refused("IP_TTL")
        })
    }

    /// Sets `SO_LINGER` (see [`TcpSocket::set_linger`](super::TcpSocket::set_linger)):
    /// `Some(Duration::ZERO)` makes dropping the stream reset the
    /// connection.
    pub fn set_linger(&self, linger: Option<std::time::Duration>) -> io::Result<()> {
        sockopt::set_linger(self.inner.fd().as_raw_fd(), linger)
    }

    /// `SO_LINGER`.
    pub fn linger(&self) -> io::Result<Option<std::time::Duration>> {
        sockopt::linger(self.inner.fd().as_raw_fd())
    }

    /// The socket's pending error (`SO_ERROR`), cleared by reading it.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        super::sim::or_model(self.raw(), self.as_std(|s| s.take_error()), || Ok(None))
    }

    /// Reads into `buf`; `Ok(0)` at end of stream. The bytes are `buf[..n]`.
    /// A connection reset by the peer is `ConnectionReset`.
    #[track_caller]
    pub fn read<B: IoBufMut>(&self, buf: B) -> impl Future<Output = (io::Result<usize>, B)> + '_ {
        At::here(async move { self.inner.read(buf).await })
    }

    /// Splits into a reading and a writing half, for the `futures-io`
    /// traits from two tasks. (The owned-buffer calls take `&self`: share
    /// the stream in an `Arc` instead.)
    /// Put the halves back together with
    /// [`OwnedReadHalf::reunite`](super::OwnedReadHalf::reunite).
    pub fn into_split(mut self) -> (super::OwnedReadHalf, super::OwnedWriteHalf) {
        self.io();
        split::split(self.inner, Family::Tcp)
    }

    /// Splits into a reading and a writing half that borrow the stream
    /// (tokio's `split`): the `futures-io` traits from two futures of one
    /// task (`join!`), keeping the stream. Bytes buffered and a write in
    /// flight go with their half (the write side's state is boxed while
    /// lent) and come back to the stream when the halves are dropped.
    ///
    /// With `futures::AsyncReadExt` in scope, `stream.split()` names that
    /// trait's `split(self)` (a by-value method wins method lookup); call
    /// this one as `TcpStream::split(&mut stream)` then.
    ///
    /// ```
    /// use futures::AsyncWriteExt;
    /// ferrio::run(async {
    ///     let listener = ferrio::net::TcpListener::bind("127.0.0.1:0").unwrap();
    ///     let addr = listener.local_addr().unwrap();
    ///     let echo = ferrio::spawn(async move {
    ///         let (mut conn, _) = listener.accept().await.unwrap();
    ///         let (mut r, mut w) = conn.split();
    ///         futures::io::copy(&mut r, &mut w).await.unwrap();
    ///     });
    ///     let mut client = ferrio::net::TcpStream::connect(addr).await.unwrap();
    ///     AsyncWriteExt::write_all(&mut client, b"echo").await.unwrap();
    ///     client.close().await.unwrap();
    ///     let (res, back) = client.read_exact(Vec::with_capacity(4)).await;
    ///     res.unwrap();
    ///     assert_eq!(back, b"echo");
    ///     echo.await.unwrap();
    /// });
    /// ```
    pub fn split(&mut self) -> (ReadHalf<'_>, WriteHalf<'_>) {
        self.io();
        let writer = self.inner.take_writer();
        let lent = self.lent.insert(Box::new(writer));
        split::borrowed(&mut self.inner, lent)
    }

    /// Receives once into a buffer of the worker's pool, taken only when
    /// data arrives: a connection waiting here holds no memory (empty at
    /// end of stream). Dropping the [`RecvBuf`](crate::io::RecvBuf) gives
    /// the buffer back; copy out what you keep.
    #[track_caller]
    pub fn read_pooled(&self) -> impl Future<Output = io::Result<crate::io::RecvBuf>> + '_ {
        At::here(async move { self.inner.read_pooled().await })
    }

    /// Fills `buf` to its capacity; end of stream first is
    /// `UnexpectedEof` (the bytes read so far stay in `buf`).
    #[track_caller]
    pub fn read_exact<B: IoBufMut>(
        &self,
        buf: B,
    ) -> impl Future<Output = (io::Result<()>, B)> + '_ {
        At::here(async move { self.inner.read_exact(buf).await })
    }

    /// Writes some of `buf`'s bytes; returns how many. Writing to a
    /// connection the peer closed is an error (`BrokenPipe` /
    /// `ConnectionReset`), never a SIGPIPE.
    #[track_caller]
    pub fn write<B: IoBuf>(&self, buf: B) -> impl Future<Output = (io::Result<usize>, B)> + '_ {
        At::here(async move { self.inner.write(buf).await })
    }

    /// Writes all of `buf` (resubmitting the rest after a short write,
    /// without copying).
    #[track_caller]
    pub fn write_all<B: IoBuf>(&self, buf: B) -> impl Future<Output = (io::Result<()>, B)> + '_ {
        At::here(async move { self.inner.write_all(buf).await })
    }
}

impl_futures_io!(TcpStream, [io()], read);
impl_futures_io!(TcpStream, [io()], write);

impl AsFd for TcpStream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.fd().as_fd()
    }
}

impl AsRawFd for TcpStream {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.fd().as_raw_fd()
    }
}

impl TcpStream {
    /// Gives the connection back as a standard stream (a duplicate of the
    /// descriptor if an operation of a dropped future still holds it).
    ///
    /// Nothing received is lost silently: a receive the `AsyncRead` side
    /// has in flight is cancelled and its outcome awaited (blocking the
    /// thread briefly), and if the stream then holds bytes received but not
    /// yet read, this fails with `InvalidData` (the connection is closed);
    /// use [`into_std_parts`](TcpStream::into_std_parts) to take them with
    /// the stream. Flush `AsyncWrite` writes first: one still in flight is
    /// cancelled and its outcome is not reported.
    ///
    /// ```
    /// ferrio::run(async {
    ///     let listener = ferrio::net::TcpListener::bind("127.0.0.1:0").unwrap();
    ///     let addr = listener.local_addr().unwrap();
    ///     let client = ferrio::net::TcpStream::connect(addr).await.unwrap();
    ///     let std_client: std::net::TcpStream = client.into_std().unwrap();
    ///     assert_eq!(std_client.peer_addr().unwrap(), addr);
    /// });
    /// ```
    pub fn into_std(mut self) -> io::Result<std::net::TcpStream> {
        super::sim::refuse_option(self.raw(), "into_std")?;
        self.io();
        self.inner.into_fd("TcpStream").map(Into::into)
    }

    /// Gives the connection back as a standard stream together with the
    /// bytes already received from it and not yet read (buffered by
    /// `AsyncRead`/`AsyncBufRead`, or taken by a receive in flight, which
    /// is cancelled and awaited): read those first, then the std stream.
    ///
    /// ```
    /// use futures::AsyncReadExt;
    /// ferrio::run(async {
    ///     let listener = ferrio::net::TcpListener::bind("127.0.0.1:0").unwrap();
    ///     let addr = listener.local_addr().unwrap();
    ///     let mut client = ferrio::net::TcpStream::connect(addr).await.unwrap();
    ///     let (server, _) = listener.accept().await.unwrap();
    ///     server.write_all(&b"hi"[..]).await.0.unwrap();
    ///     // AsyncRead receives both bytes and hands out one.
    ///     let mut first = [0u8; 1];
    ///     AsyncReadExt::read_exact(&mut client, &mut first).await.unwrap();
    ///     let (_std, unread) = client.into_std_parts().unwrap();
    ///     assert_eq!((&first[..], &unread[..]), (&b"h"[..], &b"i"[..]));
    /// });
    /// ```
    pub fn into_std_parts(mut self) -> io::Result<(std::net::TcpStream, Vec<u8>)> {
        super::sim::refuse_option(self.raw(), "into_std_parts")?;
        self.io();
        let (fd, received) = self.inner.into_fd_and_received()?;
        Ok((fd.into(), received))
    }
}
