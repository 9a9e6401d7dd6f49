//! The two halves of a stream socket, for reading and writing from
//! different tasks with the `futures-io` traits (which take `&mut self`):
//! owned (`into_split`, put back together by `reunite`) or borrowed
//! (`TcpStream::split`). The owned-buffer calls take `&self` and need no
//! split: share the stream in an `Arc` instead.

use crate::task::core::wait::At;
use std::future::Future;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};

use crate::io::compat::FdStream;
use crate::io::ready::{io_loop, ready, try_recv, try_send};
use crate::io::traits::impl_futures_io;
use crate::io::{Interest, IoBuf, IoBufMut, Ready, SharedFd};

/// Which stream type the halves came from, for `reunite`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Family {
    Tcp,
    Unix,
}

/// The reading half of a [`TcpStream`](super::TcpStream) or
/// [`UnixStream`](super::UnixStream), from `into_split`: `AsyncRead`,
/// `AsyncBufRead`, the owned-buffer reads, and the readiness calls.
#[derive(Debug)]
pub struct OwnedReadHalf {
    inner: FdStream,
    family: Family,
}

/// The writing half, from `into_split`: `AsyncWrite` (whose `close` shuts
/// down the write side, so the peer reads end of stream), the
/// owned-buffer writes and the readiness calls. Dropping it shuts the
/// write side down too (as tokio's does): the peer reads end of stream
/// while the read half lives on ([`forget`](OwnedWriteHalf::forget) and
/// `reunite` do not). As with the whole stream, flush or close before
/// dropping it: a write still in flight then is cancelled.
#[derive(Debug)]
pub struct OwnedWriteHalf {
    /// Declared first: the shutdown comes before the write in flight is
    /// cancelled, as when the whole stream is dropped.
    shutdown: ShutdownOnDrop,
    inner: FdStream,
    family: Family,
}

/// Shuts the write side of its socket down when dropped, while armed.
#[derive(Debug)]
struct ShutdownOnDrop(Option<SharedFd>);

impl Drop for ShutdownOnDrop {
    fn drop(&mut self) {
        if let Some(fd) = self.0.take() {
            // A plain syscall on a descriptor the clone keeps open; an
            // error (not connected) has nobody to go to.
            crate::driver::shutdown_socket(fd.as_raw_fd(), libc::SHUT_WR);
        }
    }
}

pub(crate) fn split(stream: FdStream, family: Family) -> (OwnedReadHalf, OwnedWriteHalf) {
    let (r, w) = stream.split();
    let shutdown = ShutdownOnDrop(Some(w.fd().clone()));
    (
        OwnedReadHalf { inner: r, family },
        OwnedWriteHalf {
            shutdown,
            inner: w,
            family,
        },
    )
}

/// `reunite` was given halves of two different streams (or of a stream
/// of the other type): both come back.
#[derive(Debug)]
pub struct ReuniteError(pub OwnedReadHalf, pub OwnedWriteHalf);

impl std::fmt::Display for ReuniteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ferrio::net: tried to reunite halves that are not from the same stream")
    }
}

impl std::error::Error for ReuniteError {}

impl OwnedReadHalf {
    /// The `futures-io` state (`io::copy` splices past it).
    pub(crate) fn io(&mut self) -> &mut FdStream {
        &mut self.inner
    }

    /// Puts a TCP stream back together from the halves `into_split` made
    /// of it (tokio's `reunite`), with the write-behind state the write
    /// half holds and the bytes the read half buffered. Halves of two
    /// streams (or of a [`UnixStream`](super::UnixStream), see
    /// [`reunite_unix`](OwnedReadHalf::reunite_unix)) are a
    /// [`ReuniteError`] holding both.
    ///
    /// ```
    /// ferrio::run(async {
    ///     let listener = ferrio::net::TcpListener::bind("127.0.0.1:0").unwrap();
    ///     let stream = ferrio::net::TcpStream::connect(listener.local_addr().unwrap())
    ///         .await
    ///         .unwrap();
    ///     let (r, w) = stream.into_split();
    ///     let stream = r.reunite(w).unwrap();
    ///     assert!(stream.peer_addr().is_ok());
    /// });
    /// ```
    #[allow(clippy::result_large_err)] // tokio's shape: the halves, by value
    pub fn reunite(self, other: OwnedWriteHalf) -> Result<super::TcpStream, ReuniteError> {
        self.rejoin(other, Family::Tcp)
            .map(super::TcpStream::from_stream)
    }

    /// [`reunite`](OwnedReadHalf::reunite) for the halves of a
    /// [`UnixStream`](super::UnixStream).
    #[allow(clippy::result_large_err)] // tokio's shape: the halves, by value
    pub fn reunite_unix(self, other: OwnedWriteHalf) -> Result<super::UnixStream, ReuniteError> {
        self.rejoin(other, Family::Unix)
            .map(super::UnixStream::from_stream)
    }

    #[allow(clippy::result_large_err)] // tokio's shape: the halves, by value
    fn rejoin(self, mut w: OwnedWriteHalf, family: Family) -> Result<FdStream, ReuniteError> {
        if self.family != family || w.family != family || !self.inner.fd().same(w.inner.fd()) {
            return Err(ReuniteError(self, w));
        }
        // Disarmed: a reunited stream keeps its write side.
        w.shutdown.0 = None;
        let mut inner = self.inner;
        inner.rejoin(w.inner);
        Ok(inner)
    }

    /// Reads into `buf`; `Ok(0)` at end of stream.
    #[track_caller]
    pub fn read<B: IoBufMut>(&self, buf: B) -> impl Future<Output = (io::Result<usize>, B)> + '_ {
        At::here(async move { self.inner.read(buf).await })
    }

    /// Fills `buf` to its capacity; end of stream first is `UnexpectedEof`.
    #[track_caller]
    pub fn read_exact<B: IoBufMut>(
        &self,
        buf: B,
    ) -> impl Future<Output = (io::Result<()>, B)> + '_ {
        At::here(async move { self.inner.read_exact(buf).await })
    }

    /// Receives once into the worker's buffer pool (see
    /// [`TcpStream::read_pooled`](super::TcpStream::read_pooled)).
    #[track_caller]
    pub fn read_pooled(&self) -> impl Future<Output = io::Result<crate::io::RecvBuf>> + '_ {
        At::here(async move { self.inner.read_pooled().await })
    }

    /// As [`TcpStream::readable`](super::TcpStream::readable).
    #[track_caller]
    pub fn readable(&self) -> impl Future<Output = io::Result<()>> + '_ {
        At::here(async move { readable(self.inner.fd()).await })
    }

    /// As [`TcpStream::ready`](super::TcpStream::ready) (a write interest
    /// is answered too: the descriptor is shared).
    #[track_caller]
    pub fn ready(&self, interest: Interest) -> impl Future<Output = io::Result<Ready>> + '_ {
        At::here(async move { ready(self.inner.fd(), interest).await })
    }

    /// As [`TcpStream::try_read`](super::TcpStream::try_read).
    pub fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        try_recv(self.inner.fd(), buf, 0)
    }

    /// As [`TcpStream::peek`](super::TcpStream::peek).
    #[track_caller]
    pub fn peek<'a>(&'a self, buf: &'a mut [u8]) -> impl Future<Output = io::Result<usize>> + 'a {
        At::here(async move { peek(self.inner.fd(), buf).await })
    }
}

impl OwnedWriteHalf {
    /// The `futures-io` state (`io::copy` splices past it).
    pub(crate) fn io(&mut self) -> &mut FdStream {
        &mut self.inner
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

    /// Drops the half without shutting the write side down (tokio's
    /// `forget`): the peer reads end of stream only once the read half is
    /// dropped too.
    pub fn forget(mut self) {
        self.shutdown.0 = None;
    }

    /// As [`TcpStream::writable`](super::TcpStream::writable).
    #[track_caller]
    pub fn writable(&self) -> impl Future<Output = io::Result<()>> + '_ {
        At::here(async move { writable(self.inner.fd()).await })
    }

    /// As [`TcpStream::ready`](super::TcpStream::ready).
    #[track_caller]
    pub fn ready(&self, interest: Interest) -> impl Future<Output = io::Result<Ready>> + '_ {
        At::here(async move { ready(self.inner.fd(), interest).await })
    }

    /// As [`TcpStream::try_write`](super::TcpStream::try_write).
    pub fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        try_send(self.inner.fd(), buf)
    }
}

impl_futures_io!(OwnedReadHalf, inner, read);
impl_futures_io!(OwnedWriteHalf, inner, write);

impl AsFd for OwnedReadHalf {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.fd().as_fd()
    }
}

impl AsRawFd for OwnedReadHalf {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.fd().as_raw_fd()
    }
}

impl AsFd for OwnedWriteHalf {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.fd().as_fd()
    }
}

impl AsRawFd for OwnedWriteHalf {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.fd().as_raw_fd()
    }
}

/// The reading half of [`TcpStream::split`](super::TcpStream::split),
/// borrowing the stream: `AsyncRead`, `AsyncBufRead`, the owned-buffer
/// reads and the readiness calls.
#[derive(Debug)]
pub struct ReadHalf<'a> {
    inner: &'a mut FdStream,
}

/// The writing half of [`TcpStream::split`](super::TcpStream::split),
/// borrowing the stream: `AsyncWrite` (`close` shuts the write side
/// down), the owned-buffer writes and the readiness calls. Dropping it
/// shuts nothing down (as tokio's borrowed half); its write-behind state
/// goes back to the stream.
#[derive(Debug)]
pub struct WriteHalf<'a> {
    inner: &'a mut FdStream,
}

/// The halves of a borrowed split: `reader` is the stream's own state,
/// `writer` the write side lent out of it (`FdStream::take_writer`), kept
/// by the stream until it takes it back.
pub(crate) fn borrowed<'a>(
    reader: &'a mut FdStream,
    writer: &'a mut FdStream,
) -> (ReadHalf<'a>, WriteHalf<'a>) {
    (ReadHalf { inner: reader }, WriteHalf { inner: writer })
}

impl ReadHalf<'_> {
    /// Reads into `buf`; `Ok(0)` at end of stream.
    #[track_caller]
    pub fn read<B: IoBufMut>(&self, buf: B) -> impl Future<Output = (io::Result<usize>, B)> + '_ {
        At::here(async move { self.inner.read(buf).await })
    }

    /// Fills `buf` to its capacity; end of stream first is `UnexpectedEof`.
    #[track_caller]
    pub fn read_exact<B: IoBufMut>(
        &self,
        buf: B,
    ) -> impl Future<Output = (io::Result<()>, B)> + '_ {
        At::here(async move { self.inner.read_exact(buf).await })
    }

    /// As [`TcpStream::readable`](super::TcpStream::readable).
    #[track_caller]
    pub fn readable(&self) -> impl Future<Output = io::Result<()>> + '_ {
        At::here(async move { readable(self.inner.fd()).await })
    }

    /// As [`TcpStream::ready`](super::TcpStream::ready).
    #[track_caller]
    pub fn ready(&self, interest: Interest) -> impl Future<Output = io::Result<Ready>> + '_ {
        At::here(async move { ready(self.inner.fd(), interest).await })
    }

    /// As [`TcpStream::try_read`](super::TcpStream::try_read).
    pub fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        try_recv(self.inner.fd(), buf, 0)
    }

    /// As [`TcpStream::peek`](super::TcpStream::peek).
    #[track_caller]
    pub fn peek<'a>(&'a self, buf: &'a mut [u8]) -> impl Future<Output = io::Result<usize>> + 'a {
        At::here(async move { peek(self.inner.fd(), buf).await })
    }
}

impl WriteHalf<'_> {
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

    /// As [`TcpStream::writable`](super::TcpStream::writable).
    #[track_caller]
    pub fn writable(&self) -> impl Future<Output = io::Result<()>> + '_ {
        At::here(async move { writable(self.inner.fd()).await })
    }

    /// As [`TcpStream::ready`](super::TcpStream::ready).
    #[track_caller]
    pub fn ready(&self, interest: Interest) -> impl Future<Output = io::Result<Ready>> + '_ {
        At::here(async move { ready(self.inner.fd(), interest).await })
    }

    /// As [`TcpStream::try_write`](super::TcpStream::try_write).
    pub fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        try_send(self.inner.fd(), buf)
    }
}

impl_futures_io!(ReadHalf<'_>, inner, read);
impl_futures_io!(WriteHalf<'_>, inner, write);

impl AsRawFd for ReadHalf<'_> {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.fd().as_raw_fd()
    }
}

impl AsRawFd for WriteHalf<'_> {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.fd().as_raw_fd()
    }
}

/// Waits until `fd` is readable.
pub(crate) async fn readable(fd: &SharedFd) -> io::Result<()> {
    ready(fd, Interest::READABLE).await.map(drop)
}

/// Waits until `fd` is writable.
pub(crate) async fn writable(fd: &SharedFd) -> io::Result<()> {
    ready(fd, Interest::WRITABLE).await.map(drop)
}

/// `recv` with `MSG_PEEK` into `buf`, waiting for data first.
pub(crate) async fn peek(fd: &SharedFd, buf: &mut [u8]) -> io::Result<usize> {
    io_loop(fd, Interest::READABLE, || try_recv(fd, buf, libc::MSG_PEEK)).await
}
