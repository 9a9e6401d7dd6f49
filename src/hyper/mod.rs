//! hyper 1.x on ferrio.
//!
//! - feature `hyper`: [`Io`] (any `futures-io` stream, a TLS one too, as
//!   hyper's `rt::Read`/`rt::Write`), [`Executor`], [`Timer`];
//! - feature `hyper-server`: [`serve`], an accept loop for an axum `Router`
//!   or any tower service, HTTP/1.1 and HTTP/2, with a graceful shutdown;
//! - feature `hyper-client`: [`Connector`], hyper-util's legacy `Client` on
//!   ferrio's sockets; with feature `tls`, `https` over rustls.
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
//! # Executor and timer
//! [`Executor`] spawns hyper's background futures (HTTP/2 streams and
//! pings) on the current runtime. [`Timer`] runs hyper's timeouts (header
//! read timeout, keep-alive) on the worker's timer wheel; `reset` moves
//! the same [`Sleep`](crate::time::Sleep) (no new allocation of the
//! boxed sleep hyper holds).
//!
//! How [`Io`] reads and writes (one copy each way on ferrio's sockets) is
//! told on [`Io`].

#[cfg(feature = "hyper-client")]
mod connect;
mod io;
mod rt;
#[cfg(feature = "hyper-server")]
mod serve;

#[cfg(feature = "hyper-client")]
pub use connect::{ClientStream, Connecting, Connector};
pub use io::{Io, GENERIC_READ};
pub use rt::{Executor, Timer};
#[cfg(feature = "hyper-server")]
pub use serve::{serve, Listener, Serve, Serving, WithGracefulShutdown};
