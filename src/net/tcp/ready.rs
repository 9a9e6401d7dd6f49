//! `TcpStream`'s readiness calls: waits, and the non-blocking calls made
//! after them (tokio's `readable`, `try_read`, `peek`, ...).

use std::future::Future;
use std::io;

use super::super::split;
use super::TcpStream;
use crate::io::ready::{ready, try_recv, try_send};
use crate::io::{Interest, Ready};
use crate::task::core::wait::At;

/// Readiness: waits, and the non-blocking calls made after them (tokio's
/// readiness API), beside the owned-buffer calls.
impl TcpStream {
    /// Waits until the stream is readable: data, end of stream or an
    /// error is there, so [`try_read`](TcpStream::try_read) will not
    /// answer `WouldBlock` (unless another reader takes the data first).
    /// The wait answers the socket's state when it ends (io_uring: an
    /// `IORING_OP_POLL_ADD`; epoll: the readiness wait and a `poll`), so
    /// it never returns for data already read. Dropping it cancels it.
    ///
    /// ```
    /// ferrio::run(async {
    ///     let listener = ferrio::net::TcpListener::bind("127.0.0.1:0").unwrap();
    ///     let addr = listener.local_addr().unwrap();
    ///     let client = ferrio::net::TcpStream::connect(addr).await.unwrap();
    ///     let (server, _) = listener.accept().await.unwrap();
    ///     server.write_all(b"hello".to_vec()).await.0.unwrap();
    ///     let mut buf = [0u8; 16];
    ///     let n = loop {
    ///         client.readable().await.unwrap();
    ///         match client.try_read(&mut buf) {
    ///             Ok(n) => break n,
    ///             Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
    ///             Err(e) => panic!("{e}"),
    ///         }
    ///     };
    ///     assert_eq!(&buf[..n], b"hello");
    /// });
    /// ```
    #[track_caller]
    pub fn readable(&self) -> impl Future<Output = io::Result<()>> + '_ {
        At::here(async move { split::readable(self.inner.fd()).await })
    }

    /// Waits until the stream is writable: the socket's send buffer has
    /// room (or the connection failed), so
    /// [`try_write`](TcpStream::try_write) will take some bytes. As
    /// [`readable`](TcpStream::readable), it answers the state when it
    /// ends.
    #[track_caller]
    pub fn writable(&self) -> impl Future<Output = io::Result<()>> + '_ {
        At::here(async move { split::writable(self.inner.fd()).await })
    }

    /// Waits until the stream is ready for one of `interest`'s directions
    /// and says which ([`Ready`]; a hang-up is `READ_CLOSED` /
    /// `WRITE_CLOSED`).
    ///
    /// ```
    /// use ferrio::io::Interest;
    /// ferrio::run(async {
    ///     let listener = ferrio::net::TcpListener::bind("127.0.0.1:0").unwrap();
    ///     let client = ferrio::net::TcpStream::connect(listener.local_addr().unwrap())
    ///         .await
    ///         .unwrap();
    ///     // Nothing to read yet; an empty send buffer is writable.
    ///     let ready = client.ready(Interest::READABLE | Interest::WRITABLE).await.unwrap();
    ///     assert!(ready.is_writable());
    /// });
    /// ```
    #[track_caller]
    pub fn ready(&self, interest: Interest) -> impl Future<Output = io::Result<Ready>> + '_ {
        At::here(async move { ready(self.inner.fd(), interest).await })
    }

    /// Receives what is there into `buf` without waiting (`recv` with
    /// `MSG_DONTWAIT`, which holds on both drivers: the io_uring driver
    /// keeps sockets blocking): `WouldBlock` when nothing is, `Ok(0)` at
    /// end of stream. A plain call on the caller's thread with a borrowed
    /// slice; like the owned-buffer reads it does not see bytes the
    /// `futures-io` side buffered, so use one or the other per direction.
    pub fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        try_recv(self.inner.fd(), buf, 0)
    }

    /// Sends what fits of `buf` without waiting (`send` with
    /// `MSG_DONTWAIT | MSG_NOSIGNAL`): `WouldBlock` when the send buffer
    /// is full; a closed peer is an error, never a SIGPIPE.
    pub fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        try_send(self.inner.fd(), buf)
    }

    /// Copies the bytes waiting to be read into `buf` without taking them
    /// (`recv` with `MSG_PEEK`), waiting for some first: the next read
    /// gets them again. `Ok(0)` at end of stream. A borrowed slice, as
    /// tokio's (the copy is made at once, after readiness); dropping the
    /// future takes nothing.
    ///
    /// ```
    /// ferrio::run(async {
    ///     let listener = ferrio::net::TcpListener::bind("127.0.0.1:0").unwrap();
    ///     let client = ferrio::net::TcpStream::connect(listener.local_addr().unwrap())
    ///         .await
    ///         .unwrap();
    ///     let (server, _) = listener.accept().await.unwrap();
    ///     client.write_all(b"GET /".to_vec()).await.0.unwrap();
    ///     let mut head = [0u8; 3];
    ///     let n = server.peek(&mut head).await.unwrap();
    ///     assert_eq!(&head[..n], b"GET");
    ///     let (res, buf) = server.read_exact(Vec::with_capacity(5)).await;
    ///     res.unwrap();
    ///     assert_eq!(buf, b"GET /"); // peek took nothing
    /// });
    /// ```
    #[track_caller]
    pub fn peek<'a>(&'a self, buf: &'a mut [u8]) -> impl Future<Output = io::Result<usize>> + 'a {
        At::here(async move { split::peek(self.inner.fd(), buf).await })
    }
}
