//! The buffered copy over the `futures-io` traits, for any reader and
//! writer: read into a buffer, write it all out, and again until end of
//! stream, then flush. A poll-level state ([`CopyBuffer`]) so that
//! `copy_bidirectional` drives both directions from one future.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use futures_io::{AsyncRead, AsyncWrite};

/// The buffer's size (tokio's copy uses 8 KiB; ferrio's streams hand out
/// up to one pool buffer per read, so a larger one saves calls).
const BUF_SIZE: usize = 64 * 1024;

/// One direction of a buffered copy.
pub(super) struct CopyBuffer {
    buf: Box<[u8]>,
    /// Bytes `buf[pos..cap]` are read and not yet written.
    pos: usize,
    cap: usize,
    /// Bytes written so far.
    amt: u64,
    read_done: bool,
    /// Something was written since the last flush.
    need_flush: bool,
}

impl CopyBuffer {
    pub(super) fn new() -> CopyBuffer {
        CopyBuffer {
            buf: vec![0; BUF_SIZE].into_boxed_slice(),
            pos: 0,
            cap: 0,
            amt: 0,
            read_done: false,
            need_flush: false,
        }
    }

    /// Copies until `reader`'s end of stream and flushes `writer`; the
    /// bytes copied. While the reader waits, written bytes are flushed (a
    /// peer waiting for them cannot stall the copy).
    pub(super) fn poll_copy<R, W>(
        &mut self,
        cx: &mut Context<'_>,
        mut reader: Pin<&mut R>,
        mut writer: Pin<&mut W>,
    ) -> Poll<io::Result<u64>>
    where
        R: AsyncRead + ?Sized,
        W: AsyncWrite + ?Sized,
    {
        loop {
            if self.pos == self.cap && !self.read_done {
                match reader.as_mut().poll_read(cx, &mut self.buf) {
                    Poll::Pending => {
                        if self.need_flush {
                            ready!(writer.as_mut().poll_flush(cx))?;
                            self.need_flush = false;
                        }
                        return Poll::Pending;
                    }
                    Poll::Ready(Ok(0)) => self.read_done = true,
                    Poll::Ready(Ok(n)) => {
                        self.pos = 0;
                        self.cap = n;
                    }
                    Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                }
            }
            while self.pos < self.cap {
                let n = ready!(writer
                    .as_mut()
                    .poll_write(cx, &self.buf[self.pos..self.cap]))?;
                if n == 0 {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::WriteZero,
                        "ferrio: io::copy: the destination accepted no more bytes",
                    )));
                }
                self.pos += n;
                self.amt += n as u64;
                self.need_flush = true;
            }
            if self.read_done {
                ready!(writer.as_mut().poll_flush(cx))?;
                self.need_flush = false;
                return Poll::Ready(Ok(self.amt));
            }
        }
    }
}

/// Where one direction of a bidirectional buffered copy is.
enum Direction {
    Copying(CopyBuffer),
    /// Copied this many bytes; shutting the writer.
    Closing(u64),
    Done(u64),
}

impl Direction {
    fn poll<R, W>(
        &mut self,
        cx: &mut Context<'_>,
        r: Pin<&mut R>,
        mut w: Pin<&mut W>,
    ) -> Poll<io::Result<u64>>
    where
        R: AsyncRead + ?Sized,
        W: AsyncWrite + ?Sized,
    {
        match self {
            Direction::Copying(buf) => {
                let n = ready!(buf.poll_copy(cx, r, w.as_mut()))?;
                *self = Direction::Closing(n);
                self.poll_close(cx, w)
            }
            Direction::Closing(_) => self.poll_close(cx, w),
            Direction::Done(n) => Poll::Ready(Ok(*n)),
        }
    }

    fn poll_close<W: AsyncWrite + ?Sized>(
        &mut self,
        cx: &mut Context<'_>,
        w: Pin<&mut W>,
    ) -> Poll<io::Result<u64>> {
        let Direction::Closing(n) = *self else {
            unreachable!("called while closing")
        };
        ready!(w.poll_close(cx))?;
        *self = Direction::Done(n);
        Poll::Ready(Ok(n))
    }
}

/// Both directions at once, each closing its writer at its reader's end
/// of stream; `(a to b, b to a)`.
pub(super) async fn bidirectional<A, B>(a: &mut A, b: &mut B) -> io::Result<(u64, u64)>
where
    A: AsyncRead + AsyncWrite + Unpin + ?Sized,
    B: AsyncRead + AsyncWrite + Unpin + ?Sized,
{
    let mut ab = Direction::Copying(CopyBuffer::new());
    let mut ba = Direction::Copying(CopyBuffer::new());
    std::future::poll_fn(|cx| {
        let a_to_b = ab.poll(cx, Pin::new(&mut *a), Pin::new(&mut *b))?;
        let b_to_a = ba.poll(cx, Pin::new(&mut *b), Pin::new(&mut *a))?;
        match (a_to_b, b_to_a) {
            (Poll::Ready(x), Poll::Ready(y)) => Poll::Ready(Ok((x, y))),
            _ => Poll::Pending,
        }
    })
    .await
}
