//! A child's stdin, stdout and stderr as byte streams.

use std::future::{poll_fn, Future};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::io::compat::FdStream;
use crate::io::ops::CURRENT_POSITION;
use crate::io::traits::impl_futures_io;
use crate::io::{IoBuf, IoBufMut};
use crate::task::core::wait::At;

/// The child's standard input: owned-buffer writes and `AsyncWrite`.
/// Dropping it closes the pipe. After `AsyncWrite` writes, `flush` or
/// `close` it first: a write still in flight when it is dropped (or when
/// `wait` drops it) is cancelled.
#[derive(Debug)]
pub struct ChildStdin {
    pub(super) inner: FdStream,
}

impl ChildStdin {
    /// Writes some of `buf`. A child that closed its stdin gives
    /// `BrokenPipe` (Rust programs ignore SIGPIPE from the start; a
    /// program that restored it would be killed instead, as with std).
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

/// The child's standard output: owned-buffer reads, `AsyncRead` and
/// `AsyncBufRead`.
///
/// Cancellation: the `AsyncRead`/`AsyncBufRead` side is
/// cancellation-safe (a read dropped after its bytes arrived keeps them
/// for the next call, so `wait_for` in a loop loses nothing). The
/// owned-buffer [`read`](Self::read) and [`read_exact`](Self::read_exact)
/// are not, like every owned-buffer operation: the buffer goes to the
/// kernel, and bytes a dropped call already received are dropped with it.
/// Do not mix the two styles on one pipe: the owned calls do not see
/// bytes the `AsyncRead` side has buffered. [`Child::communicate`](crate::process::Child::communicate) and
/// [`Child::wait_with_output`](crate::process::Child::wait_with_output) do, and collect them first.
#[derive(Debug)]
pub struct ChildStdout {
    inner: FdStream,
    /// The `futures-io` side was used: it may hold buffered bytes or a
    /// read in flight, which `communicate` must collect first.
    futures_io_used: bool,
}

/// The child's standard error: as [`ChildStdout`] (the same
/// cancellation rules).
#[derive(Debug)]
pub struct ChildStderr {
    inner: FdStream,
    /// See [`ChildStdout`].
    futures_io_used: bool,
}

macro_rules! pipe_reader {
    ($ty:ty) => {
        impl $ty {
            pub(super) fn new(fd: OwnedFd) -> $ty {
                Self {
                    inner: FdStream::pipe(fd),
                    futures_io_used: false,
                }
            }

            /// Reads into `buf`; `Ok(0)` at end of stream. Not
            /// cancellation-safe (see the type's docs).
            #[track_caller]
            pub fn read<B: IoBufMut>(
                &self,
                buf: B,
            ) -> impl Future<Output = (io::Result<usize>, B)> + '_ {
                At::here(async move { self.inner.read(buf).await })
            }

            /// Fills `buf` to its capacity; end of stream first is
            /// `UnexpectedEof`.
            #[track_caller]
            pub fn read_exact<B: IoBufMut>(
                &self,
                buf: B,
            ) -> impl Future<Output = (io::Result<()>, B)> + '_ {
                At::here(async move { self.inner.read_exact(buf).await })
            }
        }

        impl AsFd for $ty {
            fn as_fd(&self) -> BorrowedFd<'_> {
                self.inner.fd().as_fd()
            }
        }

        impl PipeRead for $ty {
            fn stream_mut(&mut self) -> &mut FdStream {
                &mut self.inner
            }
            fn used_futures_io(&self) -> bool {
                self.futures_io_used
            }
        }

        impl futures_io::AsyncRead for $ty {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut [u8],
            ) -> Poll<io::Result<usize>> {
                let this = self.get_mut();
                this.futures_io_used = true;
                this.inner.poll_read(cx, buf)
            }
        }

        impl futures_io::AsyncBufRead for $ty {
            fn poll_fill_buf(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
            ) -> Poll<io::Result<&[u8]>> {
                let this = self.get_mut();
                this.futures_io_used = true;
                this.inner.poll_fill_buf(cx)
            }

            fn consume(self: Pin<&mut Self>, amt: usize) {
                self.get_mut().inner.consume(amt)
            }
        }

        #[cfg(feature = "tokio-io")]
        impl tokio::io::AsyncRead for $ty {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut tokio::io::ReadBuf<'_>,
            ) -> Poll<io::Result<()>> {
                let this = self.get_mut();
                this.futures_io_used = true;
                this.inner.poll_read_buf(cx, buf)
            }
        }

        #[cfg(feature = "tokio-io")]
        impl tokio::io::AsyncBufRead for $ty {
            fn poll_fill_buf(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
            ) -> Poll<io::Result<&[u8]>> {
                let this = self.get_mut();
                this.futures_io_used = true;
                this.inner.poll_fill_buf(cx)
            }

            fn consume(self: Pin<&mut Self>, amt: usize) {
                self.get_mut().inner.consume(amt)
            }
        }
    };
}

pipe_reader!(ChildStdout);
pipe_reader!(ChildStderr);
impl_futures_io!(ChildStdin, inner, write);

impl AsFd for ChildStdin {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.fd().as_fd()
    }
}

/// Reads a child's pipe to its end (`communicate`, `wait_with_output`).
pub(super) async fn read_to_end<R: PipeRead>(pipe: Option<R>) -> io::Result<Vec<u8>> {
    let Some(mut pipe) = pipe else {
        return Ok(Vec::new());
    };
    let mut out = Vec::with_capacity(16 * 1024);
    if pipe.used_futures_io() {
        // The `AsyncRead`/`AsyncBufRead` side may hold bytes it read but
        // did not hand out, or a read it left in flight: reading the
        // descriptor directly would skip or reorder them. Read the rest
        // through it.
        let stream = pipe.stream_mut();
        loop {
            let n = poll_fn(|cx| {
                stream.poll_fill_buf(cx).map_ok(|data| {
                    out.extend_from_slice(data);
                    data.len()
                })
            })
            .await?;
            if n == 0 {
                return Ok(out);
            }
            stream.consume(n);
        }
    }
    crate::io::ops::read_to_end(pipe.stream_mut().fd(), CURRENT_POSITION, out).await
}

pub(super) trait PipeRead {
    fn stream_mut(&mut self) -> &mut FdStream;
    fn used_futures_io(&self) -> bool;
}
