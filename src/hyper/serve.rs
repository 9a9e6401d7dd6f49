//! [`serve`] (feature `hyper-server`): an accept loop serving a tower
//! service (an axum `Router`...) over HTTP/1.1 and HTTP/2, with a graceful
//! shutdown, after axum's `serve`.
//!
//! # Shutdown
//! Each connection's task holds a clone of a `watch` receiver; the
//! shutdown sends on the channel (each connection then calls hyper's
//! `graceful_shutdown`: the request in flight is answered, an idle
//! keep-alive connection closes, HTTP/2 sends GOAWAY) and waits on
//! `Sender::closed` for the last receiver to go. The count of receivers
//! and the wait for it to reach zero live under one lock in the channel,
//! so no connection can slip between a check and the wait.
//!
//! # Accept errors
//! A connection-level error (the peer reset or aborted before we
//! accepted) is skipped at once. Any other (`EMFILE`, `ENFILE`, `ENOMEM`,
//! `ENOBUFS`...) waits before the next accept: 10 ms, doubled on each
//! error in a row up to 1 s, back to 10 ms after an accept succeeds. A
//! shutdown signal ends the wait.

use std::convert::Infallible;
use std::error::Error as StdError;
use std::fmt;
use std::future::{Future, IntoFuture};
use std::io;
use std::pin::{pin, Pin};
use std::task::Poll;
use std::time::Duration;

use ::hyper::body::{Body, Incoming};
use ::hyper::{Request, Response};
use futures_io::{AsyncRead, AsyncWrite};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;

use super::{Executor, Io, Timer};
use crate::sync::watch;

/// A source of connections for [`serve`]: ferrio's [`TcpListener`] and
/// [`UnixListener`], or a wrapper (one that runs a TLS handshake in
/// `accept`, one that counts...).
///
/// [`TcpListener`]: crate::net::TcpListener
/// [`UnixListener`]: crate::net::UnixListener
pub trait Listener: Send + 'static {
    /// The accepted stream.
    type Io: AsyncRead + AsyncWrite + Unpin + Send + 'static;
    /// The peer's (or the listener's own) address.
    type Addr: Send + 'static;

    /// The next connection, or the error of this attempt ([`serve`] goes
    /// on after backing off).
    fn accept(&self) -> impl Future<Output = io::Result<(Self::Io, Self::Addr)>> + Send;

    /// The address the listener is bound to.
    fn local_addr(&self) -> io::Result<Self::Addr>;
}

/// Accepted streams set `TCP_NODELAY` (HTTP answers are small and
/// latency-bound).
impl Listener for crate::net::TcpListener {
    type Io = crate::net::TcpStream;
    type Addr = std::net::SocketAddr;

    async fn accept(&self) -> io::Result<(Self::Io, Self::Addr)> {
        let (stream, peer) = crate::net::TcpListener::accept(self).await?;
        // Best effort: a socket that refuses it still serves.
        let _ = stream.set_nodelay(true);
        Ok((stream, peer))
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        crate::net::TcpListener::local_addr(self)
    }
}

impl Listener for crate::net::UnixListener {
    type Io = crate::net::UnixStream;
    type Addr = std::os::unix::net::SocketAddr;

    async fn accept(&self) -> io::Result<(Self::Io, Self::Addr)> {
        crate::net::UnixListener::accept(self).await
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        crate::net::UnixListener::local_addr(self)
    }
}

/// Serves `service` on every connection `listener` accepts, each in a task
/// of its own, HTTP/1.1 or HTTP/2 (prior knowledge, or after ALPN in a TLS
/// listener) as the client speaks, with upgrades (WebSocket) allowed.
/// `service` is any tower service taking hyper's requests, cloned for each
/// connection: an axum `Router` is one.
///
/// Await the returned [`Serve`] to run until dropped, or add
/// [`with_graceful_shutdown`](Serve::with_graceful_shutdown). Dropping the
/// future stops accepting; connections already open go on to their end.
///
/// # Accept errors
/// They do not end the server. A connection-level one (the peer reset or
/// aborted before we accepted) is skipped at once; any other (`EMFILE`,
/// `ENFILE`, `ENOMEM`...) waits before the next accept: 10 ms, doubled on
/// each error in a row up to 1 s, back to 10 ms once an accept succeeds
/// (a shutdown signal ends the wait). Accepting again at once would spin.
///
/// # Graceful shutdown
/// Each connection's task holds a receiver of a `watch` channel; the
/// shutdown sends on it (each connection then calls hyper's
/// `graceful_shutdown`: the request in flight is answered, an idle
/// keep-alive connection closes, HTTP/2 sends GOAWAY) and waits for the
/// last receiver to go. The receiver is made before the connection's task
/// is spawned, and the count and the wait share the channel's lock, so no
/// connection slips past the drain.
///
/// ```
/// use http_body_util::{BodyExt, Empty};
/// use hyper::body::Bytes;
///
/// ferrio::run(async {
///     let listener = ferrio::net::TcpListener::bind("127.0.0.1:0").unwrap();
///     let addr = listener.local_addr().unwrap();
///     let app = axum::Router::new().route("/", axum::routing::get(|| async { "hello" }));
///     let stop = std::sync::Arc::new(ferrio::sync::Event::new());
///     let signal = stop.clone();
///     let server = ferrio::spawn(
///         ferrio::hyper::serve(listener, app)
///             .with_graceful_shutdown(async move { signal.wait().await })
///             .into_future(),
///     );
///
///     let stream = ferrio::net::TcpStream::connect(addr).await.unwrap();
///     let (mut sender, conn) =
///         hyper::client::conn::http1::handshake(ferrio::hyper::Io::new(stream)).await.unwrap();
///     drop(ferrio::spawn(conn));
///     let req = hyper::Request::get("/").body(Empty::<Bytes>::new()).unwrap();
///     let resp = sender.send_request(req).await.unwrap();
///     assert_eq!(&resp.into_body().collect().await.unwrap().to_bytes()[..], b"hello");
///
///     stop.set();
///     server.await.unwrap().unwrap(); // every connection closed
/// });
/// # use std::future::IntoFuture;
/// ```
pub fn serve<L, S, B>(listener: L, service: S) -> Serve<L, S>
where
    L: Listener,
    S: tower_service::Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn StdError + Send + Sync>>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    Serve { listener, service }
}

/// The server [`serve`] returns: await it (it implements `IntoFuture`)
/// or add a shutdown signal.
#[must_use = "a server does nothing unless awaited"]
pub struct Serve<L, S> {
    listener: L,
    service: S,
}

impl<L: Listener, S> fmt::Debug for Serve<L, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Serve").finish_non_exhaustive()
    }
}

impl<L: Listener, S> Serve<L, S> {
    /// The address the listener is bound to.
    pub fn local_addr(&self) -> io::Result<L::Addr> {
        self.listener.local_addr()
    }

    /// Adds a graceful shutdown: when `signal` completes, the listener is
    /// closed (no new connection), each open connection finishes the
    /// requests it is serving and closes, and the server's future ends
    /// once the last one closed. Bound the drain with
    /// [`wait_for`](crate::wait_for) if it must end in time.
    pub fn with_graceful_shutdown<F>(self, signal: F) -> WithGracefulShutdown<L, S, F>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        WithGracefulShutdown {
            listener: self.listener,
            service: self.service,
            signal,
        }
    }
}

/// A [`Serve`] with a shutdown signal
/// ([`Serve::with_graceful_shutdown`]); await it.
#[must_use = "a server does nothing unless awaited"]
pub struct WithGracefulShutdown<L, S, F> {
    listener: L,
    service: S,
    signal: F,
}

impl<L: Listener, S, F> fmt::Debug for WithGracefulShutdown<L, S, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WithGracefulShutdown")
            .finish_non_exhaustive()
    }
}

impl<L: Listener, S, F> WithGracefulShutdown<L, S, F> {
    /// The address the listener is bound to.
    pub fn local_addr(&self) -> io::Result<L::Addr> {
        self.listener.local_addr()
    }
}

/// The future of a server: [`Serve`] or [`WithGracefulShutdown`] awaited.
/// Output: `Ok(())` once a graceful shutdown has drained every connection
/// (never, without one); accept errors are retried, not returned.
pub struct Serving(Pin<Box<dyn Future<Output = io::Result<()>> + Send>>);

impl fmt::Debug for Serving {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Serving").finish_non_exhaustive()
    }
}

impl Future for Serving {
    type Output = io::Result<()>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<io::Result<()>> {
        self.0.as_mut().poll(cx)
    }
}

impl<L, S, B> IntoFuture for Serve<L, S>
where
    L: Listener,
    S: tower_service::Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn StdError + Send + Sync>>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    type Output = io::Result<()>;
    type IntoFuture = Serving;

    fn into_future(self) -> Serving {
        Serving(Box::pin(run(
            self.listener,
            self.service,
            std::future::pending::<()>(),
        )))
    }
}

impl<L, S, B, F> IntoFuture for WithGracefulShutdown<L, S, F>
where
    L: Listener,
    S: tower_service::Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn StdError + Send + Sync>>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
    F: Future<Output = ()> + Send + 'static,
{
    type Output = io::Result<()>;
    type IntoFuture = Serving;

    fn into_future(self) -> Serving {
        Serving(Box::pin(run(self.listener, self.service, self.signal)))
    }
}

/// The first wait after an accept error, and the longest.
const BACKOFF_MIN: Duration = Duration::from_millis(10);
const BACKOFF_MAX: Duration = Duration::from_secs(1);

/// Errors of one connection that died before it was accepted: the next
/// accept may well succeed at once.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// Polls `main` and `signal` together: `Some` with `main`'s output, or
/// `None` once `signal` completed.
async fn unless<T>(
    main: impl Future<Output = T>,
    signal: Pin<&mut impl Future<Output = ()>>,
) -> Option<T> {
    let mut main = pin!(main);
    let mut signal = signal;
    std::future::poll_fn(|cx| {
        if signal.as_mut().poll(cx).is_ready() {
            return Poll::Ready(None);
        }
        main.as_mut().poll(cx).map(Some)
    })
    .await
}

async fn run<L, S, B, F>(listener: L, service: S, signal: F) -> io::Result<()>
where
    L: Listener,
    S: tower_service::Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn StdError + Send + Sync>>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
    F: Future<Output = ()> + Send,
{
    let mut builder = auto::Builder::new(Executor);
    builder.http1().timer(Timer);
    builder.http2().timer(Timer);
    let (stop, stopping) = watch::channel(());
    let mut signal = pin!(signal);
    let mut backoff = BACKOFF_MIN;
    loop {
        let Some(accepted) = unless(listener.accept(), signal.as_mut()).await else {
            break;
        };
        let stream = match accepted {
            Ok((stream, _addr)) => {
                backoff = BACKOFF_MIN;
                stream
            }
            Err(e) if is_connection_error(&e) => continue,
            Err(_) => {
                // Out of descriptors or memory: accepting again at once
                // would spin. Wait, unless told to stop.
                if unless(crate::sleep(backoff), signal.as_mut())
                    .await
                    .is_none()
                {
                    break;
                }
                backoff = (backoff * 2).min(BACKOFF_MAX);
                continue;
            }
        };
        let service = TowerToHyperService::new(service.clone());
        let builder = builder.clone();
        // Counted before the task exists: the drain below cannot miss it.
        let mut stopping = stopping.clone();
        drop(crate::spawn(async move {
            let conn = builder.serve_connection_with_upgrades(Io::new(stream), service);
            let mut conn = pin!(conn);
            let told = async {
                if stopping.changed().await.is_err() {
                    // The server was dropped without a shutdown: the
                    // connection runs on to its end.
                    std::future::pending::<Infallible>().await;
                }
            };
            if unless(conn.as_mut(), pin!(told)).await.is_none() {
                conn.as_mut().graceful_shutdown();
                let _ = conn.await;
            }
            drop(stopping);
        }));
    }
    drop(listener);
    drop(stopping);
    // No receiver left (no connection open) is fine: nothing to tell.
    let _ = stop.send(());
    stop.closed().await;
    Ok(())
}
