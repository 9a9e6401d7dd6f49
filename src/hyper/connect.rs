//! [`Connector`] (feature `hyper-client`): hyper-util's legacy `Client`
//! on ferrio's sockets, plain and (feature `tls`) over rustls.

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use ::hyper::Uri;
use futures_io::{AsyncRead, AsyncWrite};
use hyper_util::client::legacy::connect::{Connected, Connection};

use super::Io;
use crate::net::TcpStream;

/// Connects hyper-util's legacy `Client` to servers: a
/// `tower_service::Service<Uri>` that opens a ferrio [`TcpStream`] (with
/// `TCP_NODELAY`) to the URI's host and port and, for `https` (feature
/// `tls`), runs a rustls handshake over it. Its connections implement
/// hyper-util's `Connection`: a TLS one whose ALPN chose `h2` tells the
/// client to speak HTTP/2.
///
/// ```
/// use http_body_util::{BodyExt, Empty};
/// use hyper::body::Bytes;
/// use hyper_util::client::legacy::Client;
///
/// ferrio::run(async {
///     let listener = ferrio::net::TcpListener::bind("127.0.0.1:0").unwrap();
///     let addr = listener.local_addr().unwrap();
///     let app = axum::Router::new().route("/", axum::routing::get(|| async { "hi" }));
///     drop(ferrio::spawn(async move { ferrio::hyper::serve(listener, app).await }));
///
///     let client: Client<_, Empty<Bytes>> = Client::builder(ferrio::hyper::Executor)
///         .timer(ferrio::hyper::Timer)
///         .pool_timer(ferrio::hyper::Timer)
///         .build(ferrio::hyper::Connector::new());
///     let uri = format!("http://{addr}/").parse().unwrap();
///     let resp = client.get(uri).await.unwrap();
///     let body = resp.into_body().collect().await.unwrap().to_bytes();
///     assert_eq!(&body[..], b"hi");
/// });
/// ```
#[derive(Clone)]
pub struct Connector {
    nodelay: bool,
    #[cfg(feature = "tls")]
    tls: Option<futures_rustls::TlsConnector>,
}

impl fmt::Debug for Connector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Connector");
        d.field("nodelay", &self.nodelay);
        #[cfg(feature = "tls")]
        d.field("https", &self.tls.is_some());
        d.finish()
    }
}

impl Default for Connector {
    fn default() -> Connector {
        Connector::new()
    }
}

impl Connector {
    /// A connector for `http` URIs (an `https` one fails with an error
    /// saying a TLS configuration is needed).
    pub fn new() -> Connector {
        Connector {
            nodelay: true,
            #[cfg(feature = "tls")]
            tls: None,
        }
    }

    /// A connector for `http` and `https` URIs; `https` ones run a rustls
    /// client handshake with `config`, for the URI's host name. For HTTP/2
    /// over TLS, put `h2` in the config's `alpn_protocols` (with
    /// `http/1.1` after it to let the server choose).
    #[cfg(feature = "tls")]
    pub fn https(config: std::sync::Arc<futures_rustls::rustls::ClientConfig>) -> Connector {
        Connector {
            nodelay: true,
            tls: Some(futures_rustls::TlsConnector::from(config)),
        }
    }

    /// Whether new sockets set `TCP_NODELAY` (default: yes).
    pub fn nodelay(mut self, on: bool) -> Connector {
        self.nodelay = on;
        self
    }

    async fn connect(self, uri: Uri) -> io::Result<Io<ClientStream>> {
        let https = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            Some(other) => return Err(invalid(format!("unsupported URI scheme {other:?}"))),
            None => return Err(invalid(format!("the URI {uri} has no scheme"))),
        };
        let host = uri
            .host()
            .ok_or_else(|| invalid(format!("the URI {uri} has no host")))?;
        // An IPv6 literal comes bracketed.
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host)
            .to_string();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        #[cfg(not(feature = "tls"))]
        if https {
            return Err(invalid(
                "an https URI needs ferrio's `tls` feature and Connector::https".to_string(),
            ));
        }
        #[cfg(feature = "tls")]
        let tls = match (&self.tls, https) {
            (None, true) => {
                return Err(invalid(
                    "an https URI needs a connector made by Connector::https".to_string(),
                ))
            }
            (Some(tls), true) => Some(tls.clone()),
            (_, false) => None,
        };
        let tcp = TcpStream::connect((host.as_str(), port)).await?;
        if self.nodelay {
            tcp.set_nodelay(true)?;
        }
        #[cfg(feature = "tls")]
        if let Some(tls) = tls {
            let name = futures_rustls::rustls::pki_types::ServerName::try_from(host)
                .map_err(|e| invalid(format!("bad TLS server name: {e}")))?;
            let stream = tls.connect(name, tcp).await?;
            return Ok(Io::new(ClientStream(Inner::Tls(Box::new(stream)))));
        }
        Ok(Io::new(ClientStream(Inner::Plain(tcp))))
    }
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, format!("ferrio: {msg}"))
}

impl tower_service::Service<Uri> for Connector {
    type Response = Io<ClientStream>;
    type Error = io::Error;
    type Future = Connecting;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Connecting {
        Connecting(Box::pin(self.clone().connect(uri)))
    }
}

/// The future of [`Connector`]'s `call`: a connection, or why not.
/// Dropping it closes whatever it had opened.
pub struct Connecting(Pin<Box<dyn Future<Output = io::Result<Io<ClientStream>>> + Send>>);

impl fmt::Debug for Connecting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connecting").finish_non_exhaustive()
    }
}

impl Future for Connecting {
    type Output = io::Result<Io<ClientStream>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.0.as_mut().poll(cx)
    }
}

/// A [`Connector`]'s stream: a plain TCP stream, or rustls over one.
pub struct ClientStream(Inner);

// The plain stream stays inline (the common case, read through its fast
// path); the TLS session, over a kilobyte, is boxed.
#[allow(clippy::large_enum_variant)]
enum Inner {
    Plain(TcpStream),
    #[cfg(feature = "tls")]
    Tls(Box<futures_rustls::client::TlsStream<TcpStream>>),
}

impl fmt::Debug for ClientStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientStream")
            .field("tcp", self.tcp_stream())
            .field("tls", &self.is_tls())
            .finish()
    }
}

impl ClientStream {
    /// The TCP stream (under the TLS session, if any).
    pub fn tcp_stream(&self) -> &TcpStream {
        match &self.0 {
            Inner::Plain(s) => s,
            #[cfg(feature = "tls")]
            Inner::Tls(s) => s.get_ref().0,
        }
    }

    /// True when the stream runs TLS.
    pub fn is_tls(&self) -> bool {
        !matches!(self.0, Inner::Plain(_))
    }

    /// The TLS session (ALPN protocol, peer certificates...), if any.
    #[cfg(feature = "tls")]
    pub fn tls_connection(&self) -> Option<&futures_rustls::rustls::ClientConnection> {
        match &self.0 {
            Inner::Plain(_) => None,
            Inner::Tls(s) => Some(s.get_ref().1),
        }
    }

    /// The plain stream, for `Io`'s read fast path.
    pub(super) fn plain_mut(&mut self) -> Option<&mut TcpStream> {
        match &mut self.0 {
            Inner::Plain(s) => Some(s),
            #[cfg(feature = "tls")]
            Inner::Tls(_) => None,
        }
    }
}

/// Forwards a call to whichever stream `self.0` holds.
macro_rules! both {
    ($self:ident, $s:ident => $e:expr) => {
        match &mut $self.get_mut().0 {
            Inner::Plain($s) => $e,
            #[cfg(feature = "tls")]
            Inner::Tls($s) => $e,
        }
    };
}

impl AsyncRead for ClientStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        both!(self, s => Pin::new(s).poll_read(cx, buf))
    }
}

impl AsyncWrite for ClientStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        both!(self, s => Pin::new(s).poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        both!(self, s => Pin::new(s).poll_write_vectored(cx, bufs))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        both!(self, s => Pin::new(s).poll_flush(cx))
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        both!(self, s => Pin::new(s).poll_close(cx))
    }
}

impl Connection for Io<ClientStream> {
    fn connected(&self) -> Connected {
        let connected = Connected::new();
        #[cfg(feature = "tls")]
        if let Some(tls) = self.inner().tls_connection() {
            if tls.alpn_protocol() == Some(b"h2") {
                return connected.negotiated_h2();
            }
        }
        connected
    }
}

impl Connection for Io<TcpStream> {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}
