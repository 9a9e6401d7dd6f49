//! hyper 1.x on ferrio (feature `hyper`): [`Io`], [`Executor`], [`Timer`].
//!
//! ```
//! use std::convert::Infallible;
//! use http_body_util::Full;
//! use hyper::body::Bytes;
//!
//! ferrio::run(async {
//!     let listener = ferrio::net::TcpListener::bind("127.0.0.1:0").unwrap();
//!     let addr = listener.local_addr().unwrap();
//!     let server = ferrio::spawn(async move {
//!         let (stream, _) = listener.accept().await.unwrap();
//!         let service = hyper::service::service_fn(|_req| async {
//!             Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from("hello"))))
//!         });
//!         hyper::server::conn::http1::Builder::new()
//!             .timer(ferrio::hyper::Timer)
//!             .serve_connection(ferrio::hyper::Io::new(stream), service)
//!             .await
//!     });
//!     let stream = ferrio::net::TcpStream::connect(addr).await.unwrap();
//!     let (mut sender, conn) =
//!         hyper::client::conn::http1::handshake(ferrio::hyper::Io::new(stream)).await.unwrap();
//!     let conn = ferrio::spawn(conn);
//!     let req = hyper::Request::get("/").body(http_body_util::Empty::<Bytes>::new()).unwrap();
//!     let resp = sender.send_request(req).await.unwrap();
//!     assert_eq!(resp.status(), 200);
//!     drop(sender);
//!     conn.await.unwrap().unwrap();
//!     server.await.unwrap().unwrap();
//! });
//! ```
//!
//! # What a read costs
//! [`Io`]'s `hyper::rt::Read` asks the stream for its buffered bytes
//! (`futures-io`'s `AsyncBufRead::poll_fill_buf`): on a socket, the
//! pooled buffer the kernel received into (no buffer is held while
//! waiting), and copies them straight into hyper's `ReadBufCursor` with
//! `put_slice`. So a read costs one copy, no zero-fill pass, and no
//! buffering layer between hyper and the driver. When the peer closes while
//! our last write is still in flight, the end of the stream reaches hyper
//! only after that write finished (hyper would otherwise report a clean
//! close as `IncompleteMessage`). Writes go through the
//! stream's write-behind buffer (one copy; see `futures-io` on
//! [`TcpStream`](crate::net::TcpStream)); hyper flushes before it waits
//! for the peer, which also reports a failed write.
//!
//! # Executor and timer
//! [`Executor`] spawns hyper's background futures (HTTP/2 streams and
//! pings) on the current runtime. [`Timer`] runs hyper's timeouts (header
//! read timeout, keep-alive) on the worker's timer wheel; `reset` moves
//! the same [`Sleep`] (no new allocation of the
//! boxed sleep hyper holds).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

use ::hyper::rt::{self, ReadBufCursor};
use futures_io::{AsyncBufRead, AsyncWrite};

use crate::time::Sleep;

/// A ferrio byte stream seen by hyper: `hyper::rt::Read` for any
/// `futures-io` `AsyncBufRead` + `AsyncWrite` (every ferrio stream that
/// reads and writes; hyper needs both on one object), and
/// `hyper::rt::Write` for any `AsyncWrite`.
#[derive(Debug)]
pub struct Io<T> {
    inner: T,
    /// The end of the stream was held back once, for our own write in
    /// flight to finish (see `rt::Read::poll_read`).
    eof_after_flush: bool,
}

impl<T> Io<T> {
    /// Wraps `stream` (a `TcpStream`, `UnixStream`, an owned half, a
    /// child's pipe...).
    pub fn new(stream: T) -> Io<T> {
        Io {
            inner: stream,
            eof_after_flush: false,
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

impl<T: AsyncBufRead + AsyncWrite + Unpin> rt::Read for Io<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let room = buf.remaining();
        if room == 0 {
            return Poll::Ready(Ok(()));
        }
        let data = ready!(Pin::new(&mut this.inner).poll_fill_buf(cx))?;
        if data.is_empty() {
            if !this.eof_after_flush {
                // The peer closed. Our last write may still be in flight
                // (ferrio writes behind), and hyper counts a connection
                // whose response it has not seen flushed as mid-message:
                // reporting the end now would turn a clean close into
                // IncompleteMessage. So finish the write, then yield once,
                // so hyper's flush sees it done before the end of the
                // stream reaches it (a socket reads 0 again).
                ready!(Pin::new(&mut this.inner).poll_flush(cx))?;
                this.eof_after_flush = true;
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            return Poll::Ready(Ok(()));
        }
        let n = data.len().min(room);
        buf.put_slice(&data[..n]);
        Pin::new(&mut this.inner).consume(n);
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncWrite + Unpin> rt::Write for Io<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_close(cx)
    }
}

/// hyper's executor: spawns each future on the current runtime (as
/// [`spawn`](crate::spawn), detached). HTTP/2 needs one.
///
/// # Panics
/// `execute` outside a ferrio runtime (hyper calls it from the
/// connection's task, which runs on one).
#[derive(Clone, Copy, Debug, Default)]
pub struct Executor;

impl<F> rt::Executor<F> for Executor
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn execute(&self, future: F) {
        drop(crate::spawn(future));
    }
}

/// hyper's timer, on ferrio's timer wheels.
#[derive(Clone, Copy, Debug, Default)]
pub struct Timer;

/// A ferrio [`Sleep`] as hyper's sleep.
struct HyperSleep(Sleep);

impl Future for HyperSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.get_mut().0).poll(cx)
    }
}

impl rt::Sleep for HyperSleep {}

impl rt::Timer for Timer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn rt::Sleep>> {
        Box::pin(HyperSleep(crate::sleep(duration)))
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn rt::Sleep>> {
        Box::pin(HyperSleep(crate::sleep_until(deadline)))
    }

    fn reset(&self, sleep: &mut Pin<Box<dyn rt::Sleep>>, new_deadline: Instant) {
        match sleep.as_mut().downcast_mut_pin::<HyperSleep>() {
            Some(mut ours) => ours.as_mut().get_mut().0.reset(new_deadline),
            None => *sleep = self.sleep_until(new_deadline),
        }
    }
}
