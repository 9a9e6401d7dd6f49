//! An HTTP server on ferrio: an axum `Router` served by
//! `ferrio::hyper::serve` (HTTP/1.1 and HTTP/2), hello world, a streamed
//! body, and a graceful shutdown on SIGINT or SIGTERM: stop accepting, let
//! requests in flight finish for up to 10 s, exit 0. A second signal during
//! that drain exits at once (status 130).
//!
//! ```sh
//! cargo run --release --features hyper-server --example hyper_server     # 127.0.0.1:8080
//! curl http://127.0.0.1:8080/ ; curl -s http://127.0.0.1:8080/stream | wc -c
//! curl --http2-prior-knowledge http://127.0.0.1:8080/
//! wrk -t1 -c64 -d5s http://127.0.0.1:8080/
//! ```

use std::convert::Infallible;
use std::future::IntoFuture;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use futures::future::{select, Either};

use ferrio::sync::Event;

fn app() -> Router {
    Router::new()
        .route("/", get(|| async { "Hello, world!\n" }))
        // 16 chunks of 64 KiB, sent as they are produced.
        .route(
            "/stream",
            get(|| async {
                let chunks = futures::stream::iter(
                    (0..16).map(|_| Ok::<_, Infallible>(Bytes::from(vec![b'x'; 64 << 10]))),
                );
                Body::from_stream(chunks)
            }),
        )
        // A request that never ends: only a second signal (or the 10 s
        // bound) ends a drain that waits for it.
        .route(
            "/hang",
            get(|| async {
                println!("hang request started");
                std::future::pending::<&str>().await
            }),
        )
        // A request that takes a while: a shutdown lets it finish.
        .route(
            "/slow",
            get(|| async {
                println!("slow request started");
                ferrio::sleep(Duration::from_millis(500)).await;
                "slow and done\n"
            }),
        )
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
        // The signals are watched by a task of their own: the first starts
        // the drain, a second ends the process at once.
        let mut sigint = ferrio::signal::signal(libc::SIGINT).expect("SIGINT");
        let mut sigterm = ferrio::signal::signal(libc::SIGTERM).expect("SIGTERM");
        let stop = Arc::new(Event::new());
        let told = stop.clone();
        drop(ferrio::spawn(async move {
            select(Box::pin(sigint.recv()), Box::pin(sigterm.recv())).await;
            println!("shutting down: no new connections; finishing requests in flight");
            told.set();
            let second = match select(Box::pin(sigint.recv()), Box::pin(sigterm.recv())).await {
                Either::Left((got, _)) | Either::Right((got, _)) => got,
            };
            // An error is the runtime shutting down after the drain ended
            // (its waiting `recv`s fail): no second signal came.
            if second.is_ok() {
                eprintln!("second signal: exiting now");
                std::process::exit(130);
            }
        }));
        let signal = stop.clone();
        let server = ferrio::hyper::serve(listener, app())
            .with_graceful_shutdown(async move { signal.wait().await })
            .into_future();
        // The drain may take 10 s from the first signal, no more.
        let deadline = async {
            stop.wait().await;
            ferrio::sleep(Duration::from_secs(10)).await;
        };
        match select(server, Box::pin(deadline)).await {
            Either::Left((result, _)) => result.expect("serve"),
            Either::Right(_) => eprintln!("some connections did not finish within 10 s"),
        }
        println!("bye");
    });
}
