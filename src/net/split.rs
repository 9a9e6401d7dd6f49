//! The two halves of a stream socket, for reading and writing from
//! different tasks with the `futures-io` traits (which take `&mut self`).
//! The owned-buffer calls take `&self` and need no split: share the
//! stream in an `Arc` instead.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};

use crate::io::compat::FdStream;
use crate::io::traits::impl_futures_io;
use crate::io::{IoBuf, IoBufMut};

/// The reading half of a [`TcpStream`](super::TcpStream) or
/// [`UnixStream`](super::UnixStream), from `into_split`: `AsyncRead`,
/// `AsyncBufRead` and the owned-buffer reads.
#[derive(Debug)]
pub struct OwnedReadHalf {
    inner: FdStream,
}

/// The writing half, from `into_split`: `AsyncWrite` (whose `close` shuts
/// down the write side, so the peer reads end of stream) and the
/// owned-buffer writes. Dropping it shuts the write side down too (as
/// tokio's does): the peer reads end of stream while the read half lives
/// on. As with the whole stream, flush or close before dropping it: a
/// write still in flight then is cancelled.
#[derive(Debug)]
pub struct OwnedWriteHalf {
    inner: FdStream,
}

pub(crate) fn split(stream: FdStream) -> (OwnedReadHalf, OwnedWriteHalf) {
    let (r, w) = stream.split();
    (OwnedReadHalf { inner: r }, OwnedWriteHalf { inner: w })
}

impl OwnedReadHalf {
    /// Reads into `buf`; `Ok(0)` at end of stream.
    pub async fn read<B: IoBufMut>(&self, buf: B) -> (io::Result<usize>, B) {
        self.inner.read(buf).await
    }

    /// Fills `buf` to its capacity; end of stream first is `UnexpectedEof`.
    pub async fn read_exact<B: IoBufMut>(&self, buf: B) -> (io::Result<()>, B) {
        self.inner.read_exact(buf).await
    }

    /// Receives once into the worker's buffer pool (see
    /// [`TcpStream::read_pooled`](super::TcpStream::read_pooled)).
    pub async fn read_pooled(&self) -> io::Result<crate::io::RecvBuf> {
        self.inner.read_pooled().await
    }
}

impl OwnedWriteHalf {
    /// Writes some of `buf`; a closed peer is an error, never a SIGPIPE.
    pub async fn write<B: IoBuf>(&self, buf: B) -> (io::Result<usize>, B) {
        self.inner.write(buf).await
    }

    /// Writes all of `buf`.
    pub async fn write_all<B: IoBuf>(&self, buf: B) -> (io::Result<()>, B) {
        self.inner.write_all(buf).await
    }
}

impl Drop for OwnedWriteHalf {
    fn drop(&mut self) {
        self.inner.shutdown_write_quietly();
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
