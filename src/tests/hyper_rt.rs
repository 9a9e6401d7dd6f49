//! hyper 1.x on ferrio (feature `hyper`), all over loopback and all on
//! ferrio: HTTP/1.1 keep-alive and 10 MiB streamed both ways, a header
//! read timeout fired by `ferrio::hyper::Timer`, HTTP/2 with 100
//! concurrent streams on one connection, hyper-util's auto (h1 + h2)
//! builder, and SIGTERM ending the `hyper_server` example gracefully.
#![cfg(feature = "hyper")]

use std::convert::Infallible;
use std::io::{BufRead, Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response};

use ferrio::hyper::{Executor, Io, Timer};
use ferrio::net::{TcpListener, TcpStream};

use super::common::rt;

type Body = BoxBody<Bytes, hyper::Error>;

/// `/echo` streams the request body back; anything else says hello.
async fn service(req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    if req.uri().path() == "/echo" {
        return Ok(Response::new(req.into_body().boxed()));
    }
    let hello = Full::new(Bytes::from_static(b"hello")).map_err(|never| match never {});
    Ok(Response::new(hello.boxed()))
}

/// 10 MiB in 160 chunks of 64 KiB, each chunk filled with its index.
fn big_body() -> StreamBody<impl futures::Stream<Item = Result<Frame<Bytes>, Infallible>>> {
    StreamBody::new(futures::stream::iter((0..160u32).map(|i| {
        Ok::<_, Infallible>(Frame::data(Bytes::from(vec![i as u8; 64 << 10])))
    })))
}

fn check_big(body: &[u8]) {
    assert_eq!(body.len(), 10 << 20);
    for (i, chunk) in body.chunks(64 << 10).enumerate() {
        assert!(
            chunk.iter().all(|&b| b == i as u8),
            "chunk {i} came back wrong"
        );
    }
}

#[test]
fn http1_keep_alive_and_10_mib_streamed_both_ways() {
    let rt = rt(2);
    rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        let server = ferrio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            count.fetch_add(1, SeqCst);
            hyper::server::conn::http1::Builder::new()
                .timer(Timer)
                .serve_connection(Io::new(stream), hyper::service::service_fn(service))
                .await
        });
        let stream = TcpStream::connect(addr).await.unwrap();
        let (mut sender, conn) = hyper::client::conn::http1::handshake(Io::new(stream))
            .await
            .unwrap();
        let conn = ferrio::spawn(conn);
        // Keep-alive: three requests, one connection.
        for _ in 0..3 {
            let req = Request::get("/")
                .body(Empty::<Bytes>::new().boxed())
                .unwrap();
            // A keep-alive connection takes the next request once it is
            // ready (the previous response fully read).
            sender.ready().await.unwrap();
            let resp = sender.send_request(req).await.unwrap();
            assert_eq!(resp.status(), 200);
            let body = resp.into_body().collect().await.unwrap().to_bytes();
            assert_eq!(&body[..], b"hello");
        }
        // 10 MiB up, streamed back down.
        let req = Request::post("/echo").body(big_body().boxed()).unwrap();
        sender.ready().await.unwrap();
        let resp = sender.send_request(req).await.unwrap();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        check_big(&body);
        drop(sender);
        conn.await.unwrap().unwrap();
        server.await.unwrap().unwrap();
        assert_eq!(
            accepted.load(SeqCst),
            1,
            "every request used the one connection"
        );
    });
}

#[test]
fn header_read_timeout_fires_through_the_ferrio_timer() {
    let rt = rt(2);
    rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = ferrio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            hyper::server::conn::http1::Builder::new()
                .timer(Timer)
                .header_read_timeout(Duration::from_millis(100))
                .serve_connection(Io::new(stream), hyper::service::service_fn(service))
                .await
        });
        // Half a request line, then silence.
        let client = TcpStream::connect(addr).await.unwrap();
        let (res, _) = client.write_all(b"GET / HTTP/1.1\r\n".to_vec()).await;
        res.unwrap();
        let err = ferrio::wait_for(server, Duration::from_secs(10))
            .await
            .expect("the header timeout ended the connection")
            .unwrap()
            .expect_err("an incomplete request is an error");
        assert!(err.is_timeout(), "{err}");
    });
}

#[test]
fn http2_serves_100_concurrent_streams_on_one_connection() {
    let rt = rt(2);
    rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = ferrio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            hyper::server::conn::http2::Builder::new(Executor)
                .timer(Timer)
                .serve_connection(Io::new(stream), hyper::service::service_fn(service))
                .await
        });
        let stream = TcpStream::connect(addr).await.unwrap();
        let (sender, conn) = hyper::client::conn::http2::Builder::new(Executor)
            .timer(Timer)
            .handshake(Io::new(stream))
            .await
            .unwrap();
        let conn = ferrio::spawn(conn);
        let requests: Vec<_> = (0..100)
            .map(|i| {
                let mut sender = sender.clone();
                ferrio::spawn(async move {
                    let body = Full::new(Bytes::from(format!("stream {i}")));
                    let req = Request::post("/echo").body(body).unwrap();
                    sender.ready().await.unwrap();
                    let resp = sender.send_request(req).await.unwrap();
                    assert_eq!(resp.status(), 200);
                    resp.into_body().collect().await.unwrap().to_bytes()
                })
            })
            .collect();
        for (i, body) in ferrio::gather(requests).await.into_iter().enumerate() {
            assert_eq!(body.unwrap(), format!("stream {i}").as_bytes());
        }
        drop(sender);
        conn.await.unwrap().unwrap();
        server.await.unwrap().unwrap();
    });
}

#[test]
fn hyper_util_auto_builder_serves_http1_and_http2() {
    let rt = rt(2);
    rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = ferrio::spawn(async move {
            for _ in 0..2 {
                let (stream, _) = listener.accept().await.unwrap();
                drop(ferrio::spawn(async move {
                    hyper_util::server::conn::auto::Builder::new(Executor)
                        .serve_connection(Io::new(stream), hyper::service::service_fn(service))
                        .await
                        .unwrap();
                }));
            }
        });
        // HTTP/1.1.
        let stream = TcpStream::connect(addr).await.unwrap();
        let (mut h1, conn) = hyper::client::conn::http1::handshake(Io::new(stream))
            .await
            .unwrap();
        drop(ferrio::spawn(conn));
        h1.ready().await.unwrap();
        let resp = h1
            .send_request(Request::get("/").body(Empty::<Bytes>::new()).unwrap())
            .await
            .unwrap();
        assert_eq!(resp.version(), hyper::Version::HTTP_11);
        assert_eq!(
            &resp.into_body().collect().await.unwrap().to_bytes()[..],
            b"hello"
        );
        // HTTP/2, prior knowledge.
        let stream = TcpStream::connect(addr).await.unwrap();
        let (mut h2, conn) = hyper::client::conn::http2::Builder::new(Executor)
            .timer(Timer)
            .handshake(Io::new(stream))
            .await
            .unwrap();
        drop(ferrio::spawn(conn));
        h2.ready().await.unwrap();
        let resp = h2
            .send_request(Request::get("/").body(Empty::<Bytes>::new()).unwrap())
            .await
            .unwrap();
        assert_eq!(resp.version(), hyper::Version::HTTP_2);
        assert_eq!(
            &resp.into_body().collect().await.unwrap().to_bytes()[..],
            b"hello"
        );
        server.await.unwrap();
    });
}

/// The `hyper_server` example that `cargo test --features hyper-server`
/// builds beside this test binary.
#[cfg(feature = "hyper-server")]
fn hyper_server_example() -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    let path = dir.join("examples").join("hyper_server");
    assert!(
        path.exists(),
        "{} is missing: `cargo test --features hyper-server` builds it",
        path.display()
    );
    path
}

/// SIGTERM while a request is in flight: the example stops accepting,
/// answers that request, and exits 0.
#[cfg(feature = "hyper-server")]
#[test]
fn sigterm_lets_the_hyper_example_finish_its_request_and_exit_0() {
    let mut child = std::process::Command::new(hyper_server_example())
        .arg("127.0.0.1:0")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let addr = first
        .strip_prefix("hyper server listening on ")
        .unwrap_or_else(|| panic!("unexpected first line: {first}"))
        .to_string();
    let mut client = std::net::TcpStream::connect(&addr).unwrap();
    client
        .write_all(b"GET /slow HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    // The server says when the slow request has started.
    loop {
        let line = lines.next().expect("the example's output ended").unwrap();
        if line.starts_with("slow request started") {
            break;
        }
    }
    // SAFETY: a plain syscall on our child's pid.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
    let mut response = String::new();
    client.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.ends_with("slow and done\n"), "{response}");
    let status = child.wait().unwrap();
    assert!(status.success(), "the example exited with {status}");
}

/// A second signal during the drain ends the example at once (status
/// 130), with a request in flight that never ends (`/hang`): only that
/// signal (or the 10 s bound) can end the drain.
#[cfg(feature = "hyper-server")]
#[test]
fn a_second_signal_during_the_drain_exits_the_hyper_example_at_once() {
    let mut child = std::process::Command::new(hyper_server_example())
        .arg("127.0.0.1:0")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let addr = first
        .strip_prefix("hyper server listening on ")
        .unwrap_or_else(|| panic!("unexpected first line: {first}"))
        .to_string();
    let mut client = std::net::TcpStream::connect(&addr).unwrap();
    client
        .write_all(b"GET /hang HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut wait_for_line = |prefix: &str| loop {
        let line = lines.next().expect("the example's output ended").unwrap();
        if line.starts_with(prefix) {
            break;
        }
    };
    wait_for_line("hang request started");
    // SAFETY: a plain syscall on our child's pid.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    wait_for_line("shutting down");
    // SAFETY: as above.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "the example exited with {status}");
    // The connection went with the process, unanswered.
    let mut response = String::new();
    let _ = client.read_to_string(&mut response);
    assert!(response.is_empty(), "{response}");
}

/// A client that reads its response and closes at once: the server's
/// response write may still be in flight (write-behind) when the EOF
/// arrives, and must not turn into `IncompleteMessage`. Many rounds, so
/// the completions often arrive together.
#[test]
fn a_client_closing_right_after_its_response_is_a_clean_end() {
    let rt = rt(2);
    rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let rounds = 1000;
        let server = ferrio::spawn(async move {
            let mut conns = Vec::new();
            for _ in 0..rounds {
                let (stream, _) = listener.accept().await.unwrap();
                conns.push(ferrio::spawn(
                    hyper::server::conn::http1::Builder::new()
                        .timer(Timer)
                        .serve_connection(Io::new(stream), hyper::service::service_fn(service)),
                ));
            }
            let mut failures = Vec::new();
            for c in conns {
                if let Err(e) = c.await.unwrap() {
                    failures.push(e.to_string());
                }
            }
            failures
        });
        for _ in 0..rounds {
            let client = TcpStream::connect(addr).await.unwrap();
            let (res, _) = client
                .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec())
                .await;
            res.unwrap();
            let mut got = Vec::new();
            while !got.ends_with(b"hello") {
                let (res, buf) = client.read(Vec::with_capacity(256)).await;
                assert!(res.unwrap() > 0, "the server closed early");
                got.extend_from_slice(&buf);
            }
            drop(client);
        }
        let failures = server.await.unwrap();
        assert!(
            failures.is_empty(),
            "{} of {rounds}: {:?}",
            failures.len(),
            failures.first()
        );
    });
}
