//! `ferrio::hyper::serve` and `Connector` (features `hyper-server`,
//! `hyper-client`, `tls`): an axum `Router` served over HTTP/1.1 and
//! HTTP/2, asked through hyper-util's `Client` on ferrio's connector, plain
//! and over TLS (ALPN), a graceful shutdown that waits for the request in
//! flight, accept errors backing off, and `Io`'s vectored writes.
#![cfg(all(feature = "hyper-server", feature = "tls"))]

use std::future::IntoFuture;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::routing::{get, post};
use axum::Router;
use bytes::Bytes;
use futures_rustls::rustls::crypto::ring::default_provider;
use futures_rustls::rustls::pki_types::{CertificateDer, PrivatePkcs8KeyDer};
use futures_rustls::rustls::{ClientConfig, RootCertStore, ServerConfig};
use http_body_util::{BodyExt, Full};
use hyper::{Request, Version};
use hyper_util::client::legacy::Client;

use ferrio::hyper::{serve, Connector, Executor, Io, Listener, Timer};
use ferrio::net::{TcpListener, TcpStream};
use ferrio::sync::Event;

use super::common::rt;

/// `/` says hello, `/echo` sends the body back, `/slow` tells `started`
/// and answers once `release` is set.
fn app(started: Arc<Event>, release: Arc<Event>) -> Router {
    Router::new()
        .route("/", get(|| async { "hello" }))
        .route("/echo", post(|body: Bytes| async move { body }))
        .route(
            "/slow",
            get(move || async move {
                started.set();
                release.wait().await;
                "slow and done"
            }),
        )
}

fn hello_app() -> Router {
    app(Arc::new(Event::new()), Arc::new(Event::new()))
}

type TestClient = Client<Connector, Full<Bytes>>;

fn client(connector: Connector, h2_only: bool) -> TestClient {
    Client::builder(Executor)
        .timer(Timer)
        .pool_timer(Timer)
        .http2_only(h2_only)
        .build(connector)
}

async fn get_text(client: &TestClient, uri: &str) -> (Version, String) {
    let req = Request::get(uri).body(Full::default()).unwrap();
    let resp = client.request(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    let version = resp.version();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (version, String::from_utf8(body.to_vec()).unwrap())
}

async fn echo(client: &TestClient, uri: &str, body: Vec<u8>) -> Bytes {
    let req = Request::post(uri).body(Full::from(body)).unwrap();
    let resp = client.request(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    resp.into_body().collect().await.unwrap().to_bytes()
}

/// 1 MiB, each 64 KiB chunk its own byte.
fn big() -> Vec<u8> {
    (0..16u8).flat_map(|i| vec![i; 64 << 10]).collect()
}

#[test]
fn an_axum_router_answers_h1_and_h2_through_the_connector() {
    let rt = rt(2);
    rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = ferrio::spawn(serve(listener, hello_app()).into_future());
        for h2 in [false, true] {
            let client = client(Connector::new(), h2);
            let (version, text) = get_text(&client, &format!("http://{addr}/")).await;
            let want = if h2 {
                Version::HTTP_2
            } else {
                Version::HTTP_11
            };
            assert_eq!(version, want);
            assert_eq!(text, "hello");
            let body = big();
            assert_eq!(
                echo(&client, &format!("http://{addr}/echo"), body.clone()).await,
                body
            );
        }
        assert!(!server.is_done(), "serve without a shutdown runs on");
        server.cancel();
    });
}

fn tls_configs(alpn: &[&[u8]]) -> (Arc<ServerConfig>, Arc<ClientConfig>) {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let cert: CertificateDer<'static> = certified.cert.der().clone();
    let key = PrivatePkcs8KeyDer::from(certified.signing_key.serialize_der());
    let mut server = ServerConfig::builder_with_provider(Arc::new(default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key.into())
        .unwrap();
    server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let mut roots = RootCertStore::empty();
    roots.add(cert).unwrap();
    let mut client = ClientConfig::builder_with_provider(Arc::new(default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    client.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    (Arc::new(server), Arc::new(client))
}

/// A listener that runs the TLS handshake in `accept` (one at a time:
/// enough for a test).
struct TlsListener {
    tcp: TcpListener,
    tls: futures_rustls::TlsAcceptor,
}

impl Listener for TlsListener {
    type Io = futures_rustls::server::TlsStream<TcpStream>;
    type Addr = std::net::SocketAddr;

    async fn accept(&self) -> io::Result<(Self::Io, Self::Addr)> {
        let (tcp, peer) = self.tcp.accept().await?;
        Ok((self.tls.accept(tcp).await?, peer))
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

#[test]
fn https_through_the_connector_picks_h2_by_alpn_or_stays_on_h1() {
    let rt = rt(2);
    rt.block_on(async {
        for (alpn, want) in [
            (&[&b"h2"[..], b"http/1.1"][..], Version::HTTP_2),
            (&[&b"http/1.1"[..]][..], Version::HTTP_11),
        ] {
            let (server_config, client_config) = tls_configs(alpn);
            let listener = TlsListener {
                tcp: TcpListener::bind("127.0.0.1:0").unwrap(),
                tls: futures_rustls::TlsAcceptor::from(server_config),
            };
            let port = listener.local_addr().unwrap().port();
            let server = ferrio::spawn(serve(listener, hello_app()).into_future());
            let client = client(Connector::https(client_config), false);
            let (version, text) = get_text(&client, &format!("https://localhost:{port}/")).await;
            assert_eq!(version, want);
            assert_eq!(text, "hello");
            // 1 MiB both ways: TLS reads go through the generic path.
            let body = big();
            let uri = format!("https://localhost:{port}/echo");
            assert_eq!(echo(&client, &uri, body.clone()).await, body);
            server.cancel();
        }
    });
}

#[test]
fn an_https_uri_without_a_tls_config_is_a_clear_error() {
    let rt = rt(1);
    rt.block_on(async {
        use tower_service::Service;
        let mut connector = Connector::new();
        let uri = "https://localhost:1/".parse().unwrap();
        let err = connector.call(uri).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(err.to_string().starts_with("ferrio: "), "{err}");
        let uri = "ftp://localhost:1/".parse().unwrap();
        let err = connector.call(uri).await.unwrap_err();
        assert!(err.to_string().contains("scheme"), "{err}");
    });
}

/// Connects until the listener is gone (its port refuses): the server has
/// seen the signal and stopped accepting.
async fn until_refused(addr: std::net::SocketAddr) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match TcpStream::connect(addr).await {
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => return,
            _ => {
                assert!(Instant::now() < deadline, "the listener is still open");
                ferrio::sleep(Duration::from_millis(1)).await;
            }
        }
    }
}

#[test]
fn a_graceful_shutdown_answers_the_request_in_flight_then_ends() {
    let rt = rt(2);
    rt.block_on(async {
        for h2 in [false, true] {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let (started, release) = (Arc::new(Event::new()), Arc::new(Event::new()));
            let stop = Arc::new(Event::new());
            let signal = stop.clone();
            let server = ferrio::spawn(
                serve(listener, app(started.clone(), release.clone()))
                    .with_graceful_shutdown(async move { signal.wait().await })
                    .into_future(),
            );
            let client = client(Connector::new(), h2);
            // An idle keep-alive connection, too: the shutdown closes it.
            assert_eq!(
                get_text(&client, &format!("http://{addr}/")).await.1,
                "hello"
            );
            let slow = {
                let client = client.clone();
                ferrio::spawn(
                    async move { get_text(&client, &format!("http://{addr}/slow")).await },
                )
            };
            started.wait().await;
            stop.set();
            until_refused(addr).await;
            // The slow request holds its connection, so the server waits.
            assert!(
                !server.is_done(),
                "the server ended with a request in flight"
            );
            assert!(!slow.is_done());
            release.set();
            let (_, text) = slow.await.unwrap();
            assert_eq!(text, "slow and done");
            ferrio::wait_for(server, Duration::from_secs(20))
                .await
                .expect("the server ends once its connections closed")
                .unwrap()
                .unwrap();
        }
    });
}

/// Fails `accept` with EMFILE `errors` times, noting when, then accepts
/// from the real listener.
struct Flaky {
    tcp: TcpListener,
    errors: usize,
    calls: Mutex<Vec<Instant>>,
}

impl Listener for Arc<Flaky> {
    type Io = TcpStream;
    type Addr = std::net::SocketAddr;

    async fn accept(&self) -> io::Result<(TcpStream, Self::Addr)> {
        let failed = {
            let mut calls = self.calls.lock().unwrap();
            calls.push(Instant::now());
            calls.len() <= self.errors
        };
        if failed {
            return Err(io::Error::from_raw_os_error(libc::EMFILE));
        }
        self.tcp.accept().await
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

#[test]
fn accept_errors_back_off_and_serving_goes_on() {
    let rt = rt(2);
    rt.block_on(async {
        let flaky = Arc::new(Flaky {
            tcp: TcpListener::bind("127.0.0.1:0").unwrap(),
            errors: 5,
            calls: Mutex::new(Vec::new()),
        });
        let addr = flaky.local_addr().unwrap();
        let server = ferrio::spawn(serve(flaky.clone(), hello_app()).into_future());
        let client = client(Connector::new(), false);
        assert_eq!(
            get_text(&client, &format!("http://{addr}/")).await.1,
            "hello"
        );
        let calls = flaky.calls.lock().unwrap().clone();
        assert!(calls.len() > 5, "{} accepts", calls.len());
        // 10, 20, 40, 80, 160 ms at least between the failed accepts and
        // the next: doubled each time, never spun.
        for (i, pair) in calls.windows(2).take(5).enumerate() {
            let gap = pair[1] - pair[0];
            let least = Duration::from_millis(10 << i);
            assert!(gap >= least, "wait {i} was {gap:?}, under {least:?}");
        }
        server.cancel();
    });
}

#[test]
fn a_shutdown_signal_ends_the_backoff_wait() {
    let rt = rt(2);
    rt.block_on(async {
        let flaky = Arc::new(Flaky {
            tcp: TcpListener::bind("127.0.0.1:0").unwrap(),
            errors: usize::MAX,
            calls: Mutex::new(Vec::new()),
        });
        let stop = Arc::new(Event::new());
        let signal = stop.clone();
        let server = ferrio::spawn(
            serve(flaky.clone(), hello_app())
                .with_graceful_shutdown(async move { signal.wait().await })
                .into_future(),
        );
        let seen = flaky.clone();
        super::common::until("a failed accept", move || {
            !seen.calls.lock().unwrap().is_empty()
        })
        .await;
        stop.set();
        ferrio::wait_for(server, Duration::from_secs(20))
            .await
            .expect("the signal ends the server")
            .unwrap()
            .unwrap();
    });
}

#[test]
fn dropping_the_server_stops_accepting_but_open_connections_go_on() {
    let rt = rt(2);
    rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (started, release) = (Arc::new(Event::new()), Arc::new(Event::new()));
        let server =
            ferrio::spawn(serve(listener, app(started.clone(), release.clone())).into_future());
        let client = client(Connector::new(), false);
        let slow = {
            let client = client.clone();
            ferrio::spawn(async move { get_text(&client, &format!("http://{addr}/slow")).await })
        };
        started.wait().await;
        server.cancel();
        until_refused(addr).await;
        release.set();
        assert_eq!(slow.await.unwrap().1, "slow and done");
    });
}

/// A stream that is not ferrio's: `Io` cannot tell whether it gathers.
struct Opaque(TcpStream);

impl futures_io::AsyncWrite for Opaque {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<io::Result<usize>> {
        std::pin::Pin::new(&mut self.0).poll_write(cx, buf)
    }
    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_flush(cx)
    }
    fn poll_close(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_close(cx)
    }
}

#[test]
fn io_says_which_streams_gather_and_a_vectored_write_sends_every_slice() {
    use hyper::rt::Write as _;
    let rt = rt(1);
    rt.block_on(async {
        let (a, b) = super::common::tcp_pair().await;
        let mut io = Io::new(a);
        assert!(io.is_write_vectored(), "ferrio's TcpStream gathers");
        let (c, _d) = super::common::tcp_pair().await;
        assert!(!Io::new(Opaque(c)).is_write_vectored());
        let (e, _f) = super::common::tcp_pair().await;
        assert!(Io::with_write_vectored(Opaque(e), true).is_write_vectored());
        // One vectored write takes the slices in order.
        let slices = [
            io::IoSlice::new(b"head "),
            io::IoSlice::new(b""),
            io::IoSlice::new(b"and body"),
        ];
        let n =
            std::future::poll_fn(|cx| std::pin::Pin::new(&mut io).poll_write_vectored(cx, &slices))
                .await
                .unwrap();
        assert_eq!(n, 13, "all of it fits one write");
        std::future::poll_fn(|cx| std::pin::Pin::new(&mut io).poll_flush(cx))
            .await
            .unwrap();
        let (res, got) = b.read_exact(vec![0u8; 13]).await;
        res.unwrap();
        assert_eq!(&got[..], b"head and body");
        // More than one write's worth: a prefix is taken, in order.
        let (x, y) = (vec![1u8; 10_000], vec![2u8; 30_000]);
        let slices = [io::IoSlice::new(&x), io::IoSlice::new(&y)];
        let n =
            std::future::poll_fn(|cx| std::pin::Pin::new(&mut io).poll_write_vectored(cx, &slices))
                .await
                .unwrap();
        assert!(n > 10_000 && n < 40_000, "took {n}");
        std::future::poll_fn(|cx| std::pin::Pin::new(&mut io).poll_flush(cx))
            .await
            .unwrap();
        let (res, got) = b.read_exact(vec![0u8; n]).await;
        res.unwrap();
        assert!(got[..10_000].iter().all(|&v| v == 1) && got[10_000..].iter().all(|&v| v == 2));
    });
}

/// A connect dropped after its first polls (an https one mid-handshake:
/// the server never answers) leaves no waker and no operation behind.
#[test]
fn a_dropped_connect_leaves_nothing_behind() {
    use tower_service::Service;
    let rt = rt(1);
    let handle = rt.handle().clone();
    rt.block_on(async move {
        // Accepts and stays silent: the TLS handshake waits for ever.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (_, client_config) = tls_configs(&[b"h2"]);
        for uri in [
            format!("http://127.0.0.1:{port}/"),
            format!("https://127.0.0.1:{port}/"),
            format!("https://localhost:{port}/"),
        ] {
            let waker = super::common::TestWaker::new();
            let mut connecting =
                Box::pin(Connector::https(client_config.clone()).call(uri.parse().unwrap()));
            // Poll until the connect is under way (the name lookup, the
            // TCP connect and the handshake may each take a round).
            let mut polls = 0;
            while waker.poll(connecting.as_mut()).is_pending() && polls < 3 {
                polls += 1;
                super::common::let_others_run().await;
            }
            drop(connecting);
            // A name lookup dropped mid-way lets go of the waker when the
            // blocking pool's job ends: let the runtime run meanwhile.
            super::common::until(&format!("{uri}: a waker left behind"), || {
                waker.outstanding() == 0
            })
            .await;
            super::common::no_op_in_flight(&handle, &uri).await;
        }
        drop(listener);
    });
}
