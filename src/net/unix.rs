//! Unix-domain stream sockets: `UnixListener` and `UnixStream`.

use crate::task::core::wait::At;
use std::future::Future;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::SocketAddr;
use std::path::Path;

use super::{accept, clear_nonblocking, connect, socket, AcceptStream, Addr};
use crate::io::compat::FdStream;
use crate::io::traits::impl_futures_io;
use crate::io::{Interest, IoBuf, IoBufMut, Ready, SharedFd};

/// A Unix-domain listening socket.
///
/// ```
/// ferrio::run(async {
///     let dir = std::env::temp_dir().join(format!("ferrio-doc-{}", std::process::id()));
///     std::fs::create_dir_all(&dir).unwrap();
///     let path = dir.join("sock");
///     let _ = std::fs::remove_file(&path);
///     let listener = ferrio::net::UnixListener::bind(&path).unwrap();
///     let client = ferrio::spawn({
///         let path = path.clone();
///         async move {
///             let s = ferrio::net::UnixStream::connect(&path).await.unwrap();
///             s.write_all(b"hi".to_vec()).await.0.unwrap();
///         }
///     });
///     let (conn, _) = listener.accept().await.unwrap();
///     let (res, buf) = conn.read_exact(Vec::with_capacity(2)).await;
///     res.unwrap();
///     assert_eq!(buf, b"hi");
///     client.await.unwrap();
///     std::fs::remove_dir_all(&dir).unwrap();
/// });
/// ```
#[derive(Debug)]
pub struct UnixListener {
    fd: SharedFd,
}

impl UnixListener {
    /// Binds to `path` and listens (plain syscalls). The socket file is
    /// not removed on drop, as with std.
    pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixListener> {
        super::not_simulated()?;
        UnixListener::from_std(std::os::unix::net::UnixListener::bind(path)?)
    }

    /// Wraps a standard listener (made blocking, as io_uring waits itself;
    /// the epoll driver sets `O_NONBLOCK` at the first accept and clears it
    /// again when the listener leaves ferrio).
    pub fn from_std(listener: std::os::unix::net::UnixListener) -> io::Result<UnixListener> {
        super::not_simulated()?;
        let fd: OwnedFd = listener.into();
        clear_nonblocking(&fd)?;
        Ok(UnixListener {
            fd: SharedFd::new(fd),
        })
    }

    fn as_std<R>(&self, f: impl FnOnce(&std::os::unix::net::UnixListener) -> R) -> R {
        // SAFETY: a borrowed view of our own fd, never closed here.
        let l = std::mem::ManuallyDrop::new(unsafe {
            std::os::unix::net::UnixListener::from_raw_fd(self.fd.as_raw_fd())
        });
        f(&l)
    }

    /// The bound address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.as_std(|l| l.local_addr())
    }

    /// Waits for a connection (see [`TcpListener::accept`](super::TcpListener::accept)
    /// for the errors).
    #[track_caller]
    pub fn accept(&self) -> impl Future<Output = io::Result<(UnixStream, SocketAddr)>> + '_ {
        At::here(async move {
            let (fd, _) = accept(&self.fd).await?;
            let stream = UnixStream::from_fd(fd);
            let peer = stream.peer_addr()?;
            Ok((stream, peer))
        })
    }
}

impl UnixListener {
    /// The connections as they arrive (on io_uring, multi-shot accept where
    /// the kernel has it), as [`TcpListener::incoming`](super::TcpListener::incoming).
    pub fn incoming(&self) -> UnixIncoming<'_> {
        UnixIncoming {
            accepts: AcceptStream::new(&self.fd),
            _listener: std::marker::PhantomData,
        }
    }
}

/// The stream of [`UnixListener::incoming`].
pub struct UnixIncoming<'a> {
    accepts: AcceptStream,
    _listener: std::marker::PhantomData<&'a UnixListener>,
}

impl std::fmt::Debug for UnixIncoming<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnixIncoming").finish_non_exhaustive()
    }
}

impl futures_core::Stream for UnixIncoming<'_> {
    type Item = io::Result<UnixStream>;

    #[track_caller]
    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.accepts
            .poll_accept(cx)
            .map(|r| Some(r.map(UnixStream::from_fd)))
    }
}

impl AsFd for UnixListener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for UnixListener {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// A Unix-domain stream connection, with the same two I/O styles as
/// [`TcpStream`](super::TcpStream).
#[derive(Debug)]
pub struct UnixStream {
    inner: FdStream,
}

impl UnixStream {
    /// The `futures-io` state (`io::copy` splices past it).
    pub(crate) fn io(&mut self) -> &mut FdStream {
        &mut self.inner
    }

    fn from_fd(fd: OwnedFd) -> UnixStream {
        UnixStream::from_stream(FdStream::socket(fd))
    }

    pub(super) fn from_stream(inner: FdStream) -> UnixStream {
        UnixStream { inner }
    }

    /// Connects to the socket at `path` (the connect runs on the worker's
    /// I/O driver).
    #[track_caller]
    pub fn connect(path: impl AsRef<Path>) -> impl Future<Output = io::Result<UnixStream>> {
        At::here(async move {
            let addr = Addr::from_path(path.as_ref())?;
            let fd = socket(libc::AF_UNIX, libc::SOCK_STREAM)?;
            let fd = SharedFd::new(fd);
            connect(&fd, addr).await?;
            Ok(UnixStream {
                inner: FdStream::socket_shared(fd),
            })
        })
    }

    /// A connected pair (plain `socketpair`).
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        super::not_simulated()?;
        let (a, b) = std::os::unix::net::UnixStream::pair()?;
        Ok((UnixStream::from_std(a)?, UnixStream::from_std(b)?))
    }

    /// Wraps a connected standard stream (made blocking).
    pub fn from_std(stream: std::os::unix::net::UnixStream) -> io::Result<UnixStream> {
        super::not_simulated()?;
        let fd: OwnedFd = stream.into();
        clear_nonblocking(&fd)?;
        Ok(UnixStream::from_fd(fd))
    }

    fn as_std<R>(&self, f: impl FnOnce(&std::os::unix::net::UnixStream) -> R) -> R {
        // SAFETY: a borrowed view of our own fd, never closed here.
        let s = std::mem::ManuallyDrop::new(unsafe {
            std::os::unix::net::UnixStream::from_raw_fd(self.inner.fd().as_raw_fd())
        });
        f(&s)
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.as_std(|s| s.local_addr())
    }

    /// The remote address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.as_std(|s| s.peer_addr())
    }

    /// Shuts down one or both directions.
    pub fn shutdown(&self, how: std::net::Shutdown) -> io::Result<()> {
        self.as_std(|s| s.shutdown(how))
    }

    /// Reads into `buf`; `Ok(0)` at end of stream.
    #[track_caller]
    pub fn read<B: IoBufMut>(&self, buf: B) -> impl Future<Output = (io::Result<usize>, B)> + '_ {
        At::here(async move { self.inner.read(buf).await })
    }

    /// Splits into a reading and a writing half, for the `futures-io`
    /// traits from two tasks. (The owned-buffer calls take `&self`: share
    /// the stream in an `Arc` instead.)
    /// Put the halves back together with
    /// [`OwnedReadHalf::reunite_unix`](super::OwnedReadHalf::reunite_unix).
    pub fn into_split(self) -> (super::OwnedReadHalf, super::OwnedWriteHalf) {
        super::split::split(self.inner, super::split::Family::Unix)
    }

    /// Receives once into a buffer of the worker's pool, taken only when
    /// data arrives: a connection waiting here holds no memory (empty at
    /// end of stream). Dropping the [`RecvBuf`](crate::io::RecvBuf) gives
    /// the buffer back; copy out what you keep.
    #[track_caller]
    pub fn read_pooled(&self) -> impl Future<Output = io::Result<crate::io::RecvBuf>> + '_ {
        At::here(async move { self.inner.read_pooled().await })
    }

    /// Fills `buf` to its capacity; end of stream first is `UnexpectedEof`.
    #[track_caller]
    pub fn read_exact<B: IoBufMut>(
        &self,
        buf: B,
    ) -> impl Future<Output = (io::Result<()>, B)> + '_ {
        At::here(async move { self.inner.read_exact(buf).await })
    }

    /// Writes some of `buf`; a closed peer is an error, never a SIGPIPE.
    #[track_caller]
    pub fn write<B: IoBuf>(&self, buf: B) -> impl Future<Output = (io::Result<usize>, B)> + '_ {
        At::here(async move { self.inner.write(buf).await })
    }

    /// Writes all of `buf`.
    #[track_caller]
    pub fn write_all<B: IoBuf>(&self, buf: B) -> impl Future<Output = (io::Result<()>, B)> + '_ {
        At::here(async move { self.inner.write_all(buf).await })
    }
}

/// Readiness, as [`TcpStream`](super::TcpStream)'s (tokio's
/// `readable`, `try_read`, ...).
impl UnixStream {
    /// Waits until the stream is readable (see
    /// [`TcpStream::readable`](super::TcpStream::readable)).
    #[track_caller]
    pub fn readable(&self) -> impl Future<Output = io::Result<()>> + '_ {
        At::here(async move { super::split::readable(self.inner.fd()).await })
    }

    /// Waits until the stream is writable.
    #[track_caller]
    pub fn writable(&self) -> impl Future<Output = io::Result<()>> + '_ {
        At::here(async move { super::split::writable(self.inner.fd()).await })
    }

    /// Waits until the stream is ready for one of `interest`'s directions.
    #[track_caller]
    pub fn ready(&self, interest: Interest) -> impl Future<Output = io::Result<Ready>> + '_ {
        At::here(async move { crate::io::ready::ready(self.inner.fd(), interest).await })
    }

    /// Receives what is there without waiting: `WouldBlock` when nothing
    /// is (see [`TcpStream::try_read`](super::TcpStream::try_read)).
    pub fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        crate::io::ready::try_recv(self.inner.fd(), buf, 0)
    }

    /// Sends what fits without waiting: `WouldBlock` when the buffer is
    /// full.
    pub fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        crate::io::ready::try_send(self.inner.fd(), buf)
    }
}

impl_futures_io!(UnixStream, inner, read);
impl_futures_io!(UnixStream, inner, write);

impl AsFd for UnixStream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.fd().as_fd()
    }
}

impl AsRawFd for UnixStream {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.fd().as_raw_fd()
    }
}
