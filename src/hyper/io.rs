//! [`Io`]: any `futures-io` byte stream as hyper's `rt::Read` + `rt::Write`
//! (the costs are told on the type).

use std::any::Any;
use std::io;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use ::hyper::rt::{self, ReadBufCursor};
use futures_io::{AsyncBufRead, AsyncRead, AsyncWrite};

use crate::net::{TcpStream, UnixStream};

/// How much of hyper's buffer a read from a stream that is not ferrio's
/// may fill (and so how much is zeroed first): a TLS record's worth.
pub const GENERIC_READ: usize = 16 * 1024;

/// A `futures-io` byte stream seen by hyper: `hyper::rt::Read` for any
/// `AsyncRead + AsyncWrite` (hyper needs both on one object: the end of
/// the stream waits for our write in flight), `hyper::rt::Write` for any
/// `AsyncWrite`.
///
/// Works on ferrio's streams (`TcpStream`, `UnixStream`, a child's pipe, an
/// owned write half...) and on anything wrapping them, such as a
/// `futures_rustls` TLS stream.
///
/// # What a read costs
/// On ferrio's own sockets ([`TcpStream`], [`UnixStream`], and the plain
/// streams of the client `Connector`) a read asks for
/// the stream's buffered bytes (`AsyncBufRead::poll_fill_buf`): the pooled
/// buffer the kernel received into, copied straight into hyper's
/// `ReadBufCursor` (one copy, no zero-fill). Any other stream (a TLS stream,
/// a user's wrapper) is read through `AsyncRead::poll_read`, which needs an
/// initialised slice: at most [`GENERIC_READ`] bytes of hyper's buffer are
/// zeroed and lent to it. The choice is made on the stream's type
/// (`TypeId`), hence the `'static` bound.
///
/// When the peer closes while our last write is still in flight, the end
/// of the stream reaches hyper only after that write finished (hyper would
/// otherwise report a clean close as `IncompleteMessage`).
///
/// # Writes
/// Writes are forwarded, vectored ones too: hyper sends the head and the
/// body chunks as one gathered write when `is_write_vectored` says so,
/// instead of copying them into one buffer first. ferrio's streams gather
/// them into their write-behind buffer (one copy in all); for other streams
/// `futures-io` cannot tell whether they gather, so [`Io::new`] says they
/// do not (hyper flattens) unless [`Io::with_write_vectored`] says so.
#[derive(Debug)]
pub struct Io<T> {
    inner: T,
    /// The end of the stream was held back once, for our own write in
    /// flight to finish (see `rt::Read::poll_read`).
    eof_after_flush: bool,
    /// Set by `with_write_vectored`; `None`: decided by the type.
    vectored: Option<bool>,
}

impl<T> Io<T> {
    /// Wraps `stream` (a `TcpStream`, `UnixStream`, an owned half, a
    /// child's pipe, a TLS stream...).
    pub fn new(stream: T) -> Io<T> {
        Io {
            inner: stream,
            eof_after_flush: false,
            vectored: None,
        }
    }

    /// Says whether `stream`'s `poll_write_vectored` really gathers its
    /// slices (hyper then hands it the head and body chunks as they are,
    /// without copying them into one buffer). ferrio's streams and the
    /// `Connector`'s say yes by themselves; for other
    /// types [`Io::new`] says no.
    pub fn with_write_vectored(stream: T, vectored: bool) -> Io<T> {
        Io {
            vectored: Some(vectored),
            ..Io::new(stream)
        }
    }

    /// The stream.
    pub fn inner(&self) -> &T {
        &self.inner
    }

    /// The stream, mutably.
    pub fn inner_mut(&mut self) -> &mut T {
        &mut self.inner
    }

    /// Unwraps the stream.
    pub fn into_inner(self) -> T {
        self.inner
    }
}

/// The stream as ferrio's buffered socket, when it is one: the read fast
/// path.
fn buffered<T: 'static>(inner: &mut T) -> Option<&mut (dyn AsyncBufRead + Unpin)> {
    let any: &mut dyn Any = inner;
    if any.is::<TcpStream>() {
        return any
            .downcast_mut::<TcpStream>()
            .map(|s| s as &mut (dyn AsyncBufRead + Unpin));
    }
    if any.is::<UnixStream>() {
        return any
            .downcast_mut::<UnixStream>()
            .map(|s| s as &mut (dyn AsyncBufRead + Unpin));
    }
    #[cfg(feature = "hyper-client")]
    if any.is::<super::ClientStream>() {
        return any
            .downcast_mut::<super::ClientStream>()
            .and_then(super::ClientStream::plain_mut)
            .map(|s| s as &mut (dyn AsyncBufRead + Unpin));
    }
    None
}

/// True for the types known to gather a vectored write.
fn gathers<T: 'static>(inner: &T) -> bool {
    let any: &dyn Any = inner;
    let ours = any.is::<TcpStream>()
        || any.is::<UnixStream>()
        || any.is::<crate::net::OwnedWriteHalf>()
        || any.is::<crate::process::ChildStdin>();
    #[cfg(feature = "hyper-client")]
    let ours = ours || any.is::<super::ClientStream>();
    ours
}

impl<T: AsyncRead + AsyncWrite + Unpin + 'static> Io<T> {
    /// Reads into hyper's buffer: from ferrio's buffer when the stream is
    /// one of ferrio's sockets, else through `poll_read` into a zeroed part
    /// of it. `Ok(0)` is the end of the stream.
    fn poll_read_some(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut ReadBufCursor<'_>,
    ) -> Poll<io::Result<usize>> {
        let room = buf.remaining();
        if let Some(fast) = buffered(&mut self.inner) {
            let data = ready!(Pin::new(&mut *fast).poll_fill_buf(cx))?;
            let n = data.len().min(room);
            buf.put_slice(&data[..n]);
            Pin::new(fast).consume(n);
            return Poll::Ready(Ok(n));
        }
        // SAFETY: nothing de-initialises these bytes: they are only
        // zeroed below, then written by `poll_read`.
        let dst: &mut [MaybeUninit<u8>] = unsafe { &mut buf.as_mut()[..room.min(GENERIC_READ)] };
        let len = dst.len();
        // SAFETY: `dst` is `len` writable bytes of hyper's buffer; zeroing
        // them makes them initialised, so they may be seen as `[u8]` for
        // the borrow of `dst` (nothing else reaches them meanwhile).
        let dst: &mut [u8] = unsafe {
            std::ptr::write_bytes(dst.as_mut_ptr(), 0, len);
            std::slice::from_raw_parts_mut(dst.as_mut_ptr().cast::<u8>(), len)
        };
        let n = ready!(Pin::new(&mut self.inner).poll_read(cx, dst))?;
        if n > len {
            return Poll::Ready(Err(io::Error::other(format!(
                "ferrio: the stream's poll_read claimed {n} bytes read into {len}"
            ))));
        }
        // SAFETY: the first `n <= len` bytes of the cursor's unfilled part
        // were initialised above (and filled by `poll_read`).
        unsafe { buf.advance(n) };
        Poll::Ready(Ok(n))
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin + 'static> rt::Read for Io<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        if this.eof_after_flush {
            // The end was seen and held back once: report it now (a
            // stream at its end reads 0 again; reading it again would do
            // no harm either).
            return Poll::Ready(Ok(()));
        }
        let n = ready!(this.poll_read_some(cx, &mut buf))?;
        if n == 0 {
            // The peer closed. Our last write may still be in flight
            // (ferrio writes behind), and hyper counts a connection whose
            // response it has not seen flushed as mid-message: reporting
            // the end now would turn a clean close into IncompleteMessage.
            // So finish the write, then yield once, so hyper's flush sees
            // it done before the end of the stream reaches it.
            ready!(Pin::new(&mut this.inner).poll_flush(cx))?;
            this.eof_after_flush = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncWrite + Unpin + 'static> rt::Write for Io<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.vectored.unwrap_or_else(|| gathers(&self.inner))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_close(cx)
    }
}
