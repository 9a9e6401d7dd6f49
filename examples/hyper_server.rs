//! A hyper 1.x server on ferrio: hello world, a streamed body, and a
//! graceful shutdown on SIGINT or SIGTERM (stop accepting, let requests in
//! flight finish for up to 10 s, exit 0).
//!
//! ```sh
//! cargo run --release --features hyper --example hyper_server            # 127.0.0.1:8080
//! curl http://127.0.0.1:8080/ ; curl -s http://127.0.0.1:8080/stream | wc -c
//! wrk -t1 -c64 -d5s http://127.0.0.1:8080/
//! ```

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::future::{select, Either};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response};

use ferrio::sync::Event;

type Body = BoxBody<Bytes, Infallible>;

async fn handle(req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    Ok(match req.uri().path() {
        // 16 chunks of 64 KiB, sent as they are produced.
        "/stream" => {
            let chunks = futures::stream::iter(
                (0..16)
                    .map(|_| Ok::<_, Infallible>(Frame::data(Bytes::from(vec![b'x'; 64 << 10])))),
            );
            Response::new(StreamBody::new(chunks).boxed())
        }
        // A request that takes a while: a shutdown lets it finish.
        "/slow" => {
            println!("slow request started");
            ferrio::sleep(Duration::from_millis(500)).await;
            Response::new(Full::new(Bytes::from("slow and done\n")).boxed())
        }
        _ => Response::new(Full::new(Bytes::from("Hello, world!\n")).boxed()),
    })
}

/// Counts open connections; the last one to close sets `drained`.
struct Connections {
    open: AtomicUsize,
    drained: Event,
}

fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8080".to_string());
    ferrio::run(async move {
        let listener = ferrio::net::TcpListener::bind(addr.as_str()).expect("bind");
        println!(
            "hyper server listening on {}",
            listener.local_addr().unwrap()
        );
        let mut sigint = ferrio::signal::signal(libc::SIGINT).expect("SIGINT");
        let mut sigterm = ferrio::signal::signal(libc::SIGTERM).expect("SIGTERM");
        let stop = Arc::new(Event::new());
        let conns = Arc::new(Connections {
            open: AtomicUsize::new(0),
            drained: Event::new(),
        });
        conns.drained.set();
        loop {
            let signal = select(Box::pin(sigint.recv()), Box::pin(sigterm.recv()));
            let (stream, _) = match select(Box::pin(listener.accept()), signal).await {
                Either::Left((Ok(accepted), _)) => accepted,
                Either::Left((Err(e), _)) => {
                    eprintln!("accept: {e}");
                    continue;
                }
                Either::Right(_) => break,
            };
            let _ = stream.set_nodelay(true);
            let stop = stop.clone();
            let conns = conns.clone();
            if conns.open.fetch_add(1, SeqCst) == 0 {
                conns.drained.clear();
            }
            drop(ferrio::spawn(async move {
                let conn = hyper::server::conn::http1::Builder::new()
                    .timer(ferrio::hyper::Timer)
                    .header_read_timeout(Duration::from_secs(10))
                    .serve_connection(
                        ferrio::hyper::Io::new(stream),
                        hyper::service::service_fn(handle),
                    );
                let mut conn = std::pin::pin!(conn);
                if let Either::Right((_, _)) = select(conn.as_mut(), Box::pin(stop.wait())).await {
                    // Shutting down: finish the request in flight, then close.
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
                if conns.open.fetch_sub(1, SeqCst) == 1 {
                    conns.drained.set();
                }
            }));
        }
        println!("shutting down: no new connections; finishing requests in flight");
        drop(listener);
        stop.set();
        if ferrio::wait_for(conns.drained.wait(), Duration::from_secs(10))
            .await
            .is_err()
        {
            eprintln!("some connections did not finish within 10 s");
        }
        println!("bye");
    });
}
