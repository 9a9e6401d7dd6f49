//! `io::copy` and `io::copy_bidirectional` (tokio's): copy until end of
//! stream and return the bytes copied.
//!
//! **Which path.** Both functions take any `futures-io` reader and writer.
//! When both ends are ferrio descriptors ([`TcpStream`], [`UnixStream`],
//! [`File`], and the owned halves of a split: the read half as a source,
//! the write half as a destination), the copy splices (`splice.rs`): the
//! kernel moves the bytes through a pipe and none pass through user space,
//! on io_uring (`IORING_OP_SPLICE`) and on epoll (`splice(2)` after
//! readiness). Any other pair copies through a buffer (`buffered.rs`). The
//! pick is made per call from the two types, with no trait to implement:
//! a type's identity is compared with the ferrio types' (lifetimes
//! ignored, see [`stream_of`]); a ferrio stream behind a wrapper (a TLS
//! stream, a `BufReader`) is copied through the buffer.
//!
//! Bytes a ferrio stream's `futures-io` side already holds are copied
//! first, through the traits: its received bytes not yet read, and its
//! write-behind (flushed). A stream with a receive in flight (a read
//! future dropped mid-way) copies through the buffer instead, so that
//! receive's bytes keep their place.
//!
//! This module is its own node in the layering (`.ci/layers`): it names
//! `net`'s and `fs`'s types, which themselves build on `io`.

use std::any::TypeId;
use std::io;
use std::marker::PhantomData;

use futures_io::{AsyncRead, AsyncWrite};

use crate::fs::File;
use crate::io::compat::FdStream;
use crate::net::{OwnedReadHalf, OwnedWriteHalf, TcpStream, UnixStream};

mod buffered;
mod splice;

/// Splices made so far by every copy (tests: which path a copy took).
#[cfg(test)]
pub(crate) fn splices() -> u64 {
    splice::SPLICES.load(std::sync::atomic::Ordering::Relaxed)
}

/// Copies everything `reader` yields until its end of stream into
/// `writer`, then flushes `writer`; the number of bytes copied (tokio's
/// `tokio::io::copy`). The writer is not closed.
///
/// Between ferrio descriptors ([`TcpStream`], [`UnixStream`], [`File`],
/// an [`OwnedReadHalf`] as the reader, an [`OwnedWriteHalf`] as the
/// writer) the bytes are spliced through a pipe in the kernel and never
/// copied through user space, on either I/O driver. Any other reader or
/// writer, a ferrio stream behind a wrapper included, goes through a 64
/// KiB buffer. Bytes a ferrio stream already received through its
/// `futures-io` side and did not hand out are copied first; a stream
/// with a read in flight (a read future dropped mid-way) is copied
/// through the buffer, so that read's bytes keep their place.
///
/// # Errors
/// The first error of a read or a write; a writer that accepts no bytes
/// is `WriteZero`.
///
/// # Cancellation
/// Dropping the future stops the copy; what was written stays written.
/// Bytes already read and not yet written are lost to the writer: on the
/// splice path, those in the pipe between the two (at most one pipe:
/// 64 KiB, or 1 MiB once a bulk copy grew it); on the buffered path,
/// those in the buffer (as with tokio's `copy`). Both descriptors stay
/// usable.
///
/// ```
/// use futures::{AsyncReadExt, AsyncWriteExt};
/// use ferrio::net::{TcpListener, TcpStream};
///
/// ferrio::run(async {
///     let listener = TcpListener::bind("127.0.0.1:0").unwrap();
///     let addr = listener.local_addr().unwrap();
///     let sender = ferrio::spawn(async move {
///         let mut s = TcpStream::connect(addr).await.unwrap();
///         s.write_all(&b"spliced by the kernel"[..]).await.0.unwrap();
///     });
///     let (mut from, _) = listener.accept().await.unwrap();
///
///     let (mut to, mut out) = ferrio::net::UnixStream::pair().unwrap();
///     let n = ferrio::io::copy(&mut from, &mut to).await.unwrap();
///     sender.await.unwrap();
///     drop(to);
///     let mut got = String::new();
///     out.read_to_string(&mut got).await.unwrap();
///     assert_eq!((n, got.as_str()), (21, "spliced by the kernel"));
/// });
/// ```
pub async fn copy<R, W>(reader: &mut R, writer: &mut W) -> io::Result<u64>
where
    R: AsyncRead + Unpin + ?Sized,
    W: AsyncWrite + Unpin + ?Sized,
{
    if let (Some(r), Some(w)) = (stream_of(reader, End::Read), stream_of(writer, End::Write)) {
        if !r.read_in_flight() {
            return splice_copy(r, w).await;
        }
    }
    let mut buf = buffered::CopyBuffer::new();
    std::future::poll_fn(|cx| {
        buf.poll_copy(
            cx,
            std::pin::Pin::new(&mut *reader),
            std::pin::Pin::new(&mut *writer),
        )
    })
    .await
}

/// Copies `a` to `b` and `b` to `a` at once, until both reach end of
/// stream; `(bytes a to b, bytes b to a)` (tokio's
/// `tokio::io::copy_bidirectional`). When one side's reader ends, the
/// other side's write side is shut (`shutdown(SHUT_WR)` on a socket, a
/// close on other writers), so its peer reads end of stream, and the
/// other direction goes on.
///
/// Between ferrio descriptors the two directions splice (each through its
/// own pipe), so a proxy copies no byte through user space.
///
/// # Errors
/// The first error in either direction ends both.
///
/// # Cancellation
/// As [`copy`], for each direction.
///
/// ```
/// use futures::{AsyncReadExt, AsyncWriteExt};
/// use ferrio::net::UnixStream;
///
/// ferrio::run(async {
///     // client <-> (a | proxy | b) <-> server
///     let (mut client, mut a) = UnixStream::pair().unwrap();
///     let (mut b, mut server) = UnixStream::pair().unwrap();
///     let proxy = ferrio::spawn(async move {
///         ferrio::io::copy_bidirectional(&mut a, &mut b).await
///     });
///     client.write_all(&b"ping"[..]).await.0.unwrap();
///     client.close().await.unwrap(); // half-close: the server reads EOF
///     let mut req = Vec::new();
///     server.read_to_end(&mut req).await.unwrap();
///     server.write_all(&b"pong!"[..]).await.0.unwrap();
///     server.close().await.unwrap();
///     let mut reply = Vec::new();
///     client.read_to_end(&mut reply).await.unwrap();
///     assert_eq!((&req[..], &reply[..]), (&b"ping"[..], &b"pong!"[..]));
///     assert_eq!(proxy.await.unwrap().unwrap(), (4, 5));
/// });
/// ```
pub async fn copy_bidirectional<A, B>(a: &mut A, b: &mut B) -> io::Result<(u64, u64)>
where
    A: AsyncRead + AsyncWrite + Unpin + ?Sized,
    B: AsyncRead + AsyncWrite + Unpin + ?Sized,
{
    if let (Some(sa), Some(sb)) = (stream_of(a, End::Both), stream_of(b, End::Both)) {
        if !sa.read_in_flight() && !sb.read_in_flight() {
            return splice_bidirectional(sa, sb).await;
        }
    }
    buffered::bidirectional(a, b).await
}

/// The splice path of [`copy`].
async fn splice_copy(r: &mut FdStream, w: &mut FdStream) -> io::Result<u64> {
    splice::flush(w).await?;
    let mut total = splice::write_buffered(r, w).await?;
    splice::flush(w).await?;
    let mut pipe = splice::Pipe::new()?;
    total += splice::one_way(r.fd(), w.fd(), &mut pipe, r.is_socket()).await?;
    Ok(total)
}

/// The splice path of [`copy_bidirectional`].
async fn splice_bidirectional(a: &mut FdStream, b: &mut FdStream) -> io::Result<(u64, u64)> {
    splice::flush(a).await?;
    splice::flush(b).await?;
    let early_ab = splice::write_buffered(a, b).await?;
    let early_ba = splice::write_buffered(b, a).await?;
    splice::flush(a).await?;
    splice::flush(b).await?;
    let (mut pipe_ab, mut pipe_ba) = (splice::Pipe::new()?, splice::Pipe::new()?);
    let (fa, fb) = (a.fd().clone(), b.fd().clone());
    let (a_socket, b_socket) = (a.is_socket(), b.is_socket());
    let ab = async {
        let n = splice::one_way(&fa, &fb, &mut pipe_ab, a_socket).await?;
        splice::shutdown_write(&fb, b_socket)?;
        Ok::<u64, io::Error>(n)
    };
    let ba = async {
        let n = splice::one_way(&fb, &fa, &mut pipe_ba, b_socket).await?;
        splice::shutdown_write(&fa, a_socket)?;
        Ok::<u64, io::Error>(n)
    };
    let (ab, ba) = try_join(ab, ba).await?;
    Ok((early_ab + ab, early_ba + ba))
}

/// Both futures' outputs, or the first error (the other is dropped).
async fn try_join<X, Y>(
    x: impl std::future::Future<Output = io::Result<X>>,
    y: impl std::future::Future<Output = io::Result<Y>>,
) -> io::Result<(X, Y)> {
    use std::task::Poll;
    let (mut x, mut y) = (std::pin::pin!(x), std::pin::pin!(y));
    let (mut xo, mut yo) = (None, None);
    std::future::poll_fn(|cx| {
        if xo.is_none() {
            if let Poll::Ready(r) = x.as_mut().poll(cx) {
                xo = Some(r?);
            }
        }
        if yo.is_none() {
            if let Poll::Ready(r) = y.as_mut().poll(cx) {
                yo = Some(r?);
            }
        }
        if xo.is_some() && yo.is_some() {
            Poll::Ready(Ok((xo.take().unwrap(), yo.take().unwrap())))
        } else {
            Poll::Pending
        }
    })
    .await
}

/// Which side of a stream a copy uses.
#[derive(Clone, Copy, PartialEq, Eq)]
enum End {
    Read,
    Write,
    Both,
}

/// The `TypeId` of `T` with its lifetimes erased, so that a type that may
/// borrow (any `R` a caller passes) can be compared with the ferrio
/// types, which borrow nothing.
fn erased_type_id<T: ?Sized>() -> TypeId {
    trait Id {
        fn id(&self) -> TypeId
        where
            Self: 'static;
    }
    impl<T: ?Sized> Id for PhantomData<T> {
        fn id(&self) -> TypeId
        where
            Self: 'static,
        {
            TypeId::of::<T>()
        }
    }
    let marker = PhantomData::<T>;
    let object: &dyn Id = &marker;
    // SAFETY: only the trait object's lifetime bound is extended, and the
    // object is used for one call that reads no data (a `PhantomData`
    // holds none) and returns a plain value: nothing of `T`'s lifetimes
    // escapes. The method, monomorphised for `T`, returns `T`'s type id
    // with lifetimes erased, as code generation sees the type.
    let object: &(dyn Id + 'static) = unsafe { std::mem::transmute(object) };
    object.id()
}

/// `t` as the ferrio stream type `U`, if it is one.
fn downcast<T: ?Sized, U: 'static>(t: &mut T) -> Option<&mut U> {
    if erased_type_id::<T>() != TypeId::of::<U>() {
        return None;
    }
    // SAFETY: `T`'s type, lifetimes erased, is `U`, which has no
    // lifetime parameters: so `T` is `U` itself (sized), and the pointer
    // cast keeps the borrow's lifetime.
    Some(unsafe { &mut *(t as *mut T).cast::<U>() })
}

/// The `futures-io` state of `t` when it is a ferrio descriptor whose
/// `end` a copy may splice past (see the module docs).
fn stream_of<T: ?Sized>(t: &mut T, end: End) -> Option<&mut FdStream> {
    if erased_type_id::<T>() == TypeId::of::<TcpStream>() {
        return downcast::<T, TcpStream>(t).map(TcpStream::io);
    }
    if erased_type_id::<T>() == TypeId::of::<UnixStream>() {
        return downcast::<T, UnixStream>(t).map(UnixStream::io);
    }
    if erased_type_id::<T>() == TypeId::of::<File>() {
        return downcast::<T, File>(t).map(File::io);
    }
    match end {
        End::Read => downcast::<T, OwnedReadHalf>(t).map(OwnedReadHalf::io),
        End::Write => downcast::<T, OwnedWriteHalf>(t).map(OwnedWriteHalf::io),
        End::Both => None,
    }
}
