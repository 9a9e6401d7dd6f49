//! Cancellation harness for the network operations: each future is
//! polled 1, 2, ... K times (yielding to the runtime between polls, so
//! its SQE is still queued, in the ring, or in the kernel), then dropped: in a task on the worker, in `block_on` (its SQE goes
//! through the remote queue), or polled in `block_on` and dropped on the
//! worker. After each drop the harness checks that no op is left in
//! flight (the runtime's metrics come back to idle) and that the stream
//! loses, duplicates and reorders no byte.

use std::future::Future;
use std::io;
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use futures::{AsyncReadExt, AsyncWriteExt};

use super::common::{no_op_in_flight, poll_once, rt, tcp_pair};
use ferrio::net::{TcpListener, TcpStream, UdpSocket, UnixStream};
use ferrio::Runtime;

/// How many polls, at most, before the drop.
const K: usize = 4;

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// Where a future is polled and where it is dropped. `BlockOnThenWorker`
/// holds the worker busy until the drop, so the op is dropped while its
/// SQE still waits in the remote queue (its cancel must not overtake it).
#[derive(Clone, Copy, Debug)]
enum Place {
    Worker,
    BlockOn,
    BlockOnThenWorker,
}

const PLACES: [Place; 3] = [Place::Worker, Place::BlockOn, Place::BlockOnThenWorker];

/// Polls `fut` up to `k` times, yielding between polls; its output if it
/// finished, else `None` (and it is dropped here, unless handed back).
async fn poll_k<F: Future + Unpin>(fut: &mut F, k: usize) -> Option<F::Output> {
    for i in 0..k {
        if i > 0 {
            ferrio::yield_now().await;
        }
        let polled = poll_once(Pin::new(&mut *fut)).await;
        if let Poll::Ready(out) = polled {
            return Some(out);
        }
    }
    None
}

/// Polls `fut` `k` times at `place`, drops it there (or on the worker),
/// and waits until no op is in flight. Returns its output if it finished.
fn cancel_after<T: Send + 'static>(
    rt: &Runtime,
    place: Place,
    k: usize,
    fut: BoxFuture<T>,
) -> Option<T> {
    let handle = rt.handle();
    let out = match place {
        Place::Worker => rt
            .block_on(rt.spawn(async move {
                let mut fut = fut;
                poll_k(&mut fut, k).await
            }))
            .unwrap(),
        Place::BlockOn => rt.block_on(async move {
            let mut fut = fut;
            poll_k(&mut fut, k).await
        }),
        Place::BlockOnThenWorker => rt.block_on(async move {
            // A task holds the (only) worker until the future is dropped
            // there, so the op's SQE stays in the remote queue meanwhile.
            let (started_tx, started_rx) = std::sync::mpsc::channel::<()>();
            let (fut_tx, fut_rx) = std::sync::mpsc::channel::<BoxFuture<T>>();
            let dropper = ferrio::spawn(async move {
                started_tx.send(()).unwrap();
                drop(fut_rx.recv());
            });
            started_rx.recv().unwrap();
            let mut fut = fut;
            let out = poll_k(&mut fut, k).await;
            if out.is_none() {
                fut_tx.send(fut).unwrap();
            }
            drop(fut_tx);
            dropper.await.unwrap();
            out
        }),
    };
    rt.block_on(no_op_in_flight(&handle, "the dropped op"));
    out
}

/// A byte stream both harness ends can drive through owned buffers.
trait OwnedStream: Send + Sync + 'static {
    fn read_owned(self: Arc<Self>, buf: Vec<u8>) -> BoxFuture<(io::Result<usize>, Vec<u8>)>;
    fn read_pooled_owned(self: Arc<Self>) -> BoxFuture<io::Result<Vec<u8>>>;
    fn write_owned(self: Arc<Self>, buf: Vec<u8>) -> BoxFuture<(io::Result<usize>, Vec<u8>)>;
    fn write_all_owned(self: Arc<Self>, buf: Vec<u8>) -> BoxFuture<io::Result<()>>;
}

macro_rules! owned_stream {
    ($ty:ty) => {
        impl OwnedStream for $ty {
            fn read_owned(
                self: Arc<Self>,
                buf: Vec<u8>,
            ) -> BoxFuture<(io::Result<usize>, Vec<u8>)> {
                Box::pin(async move { self.read(buf).await })
            }
            fn read_pooled_owned(self: Arc<Self>) -> BoxFuture<io::Result<Vec<u8>>> {
                Box::pin(async move { self.read_pooled().await.map(|b| b.to_vec()) })
            }
            fn write_owned(
                self: Arc<Self>,
                buf: Vec<u8>,
            ) -> BoxFuture<(io::Result<usize>, Vec<u8>)> {
                Box::pin(async move { self.write(buf).await })
            }
            fn write_all_owned(self: Arc<Self>, buf: Vec<u8>) -> BoxFuture<io::Result<()>> {
                Box::pin(async move { self.write_all(buf).await.0 })
            }
        }
    };
}
owned_stream!(TcpStream);
owned_stream!(UnixStream);

/// Reads exactly `n` bytes (owned-buffer reads), bounded in time.
fn read_n<S: OwnedStream>(rt: &Runtime, s: &Arc<S>, n: usize) -> Vec<u8> {
    let s = s.clone();
    rt.block_on(async move {
        let mut got = Vec::new();
        while got.len() < n {
            let read = s.clone().read_owned(vec![0u8; n - got.len()]);
            let (r, buf) = ferrio::wait_for(read, Duration::from_secs(10))
                .await
                .expect("the bytes arrive: no dropped read took them");
            let k = r.unwrap();
            assert!(k > 0, "end of stream after {got:?}");
            got.extend_from_slice(&buf[..k]);
        }
        got
    })
}

fn send_all<S: OwnedStream>(rt: &Runtime, s: &Arc<S>, bytes: &[u8]) {
    rt.block_on(s.clone().write_all_owned(bytes.to_vec()))
        .unwrap();
}

/// Reads (owned and pooled) dropped while nothing has arrived: the next
/// message goes whole to the next read.
fn dropped_reads_take_nothing<S: OwnedStream>(rt: &Runtime, a: Arc<S>, b: Arc<S>) {
    for place in PLACES {
        for k in 1..=K {
            for pooled in [false, true] {
                let fut: BoxFuture<Option<usize>> = if pooled {
                    let f = a.clone().read_pooled_owned();
                    Box::pin(async move { f.await.ok().map(|v| v.len()) })
                } else {
                    let f = a.clone().read_owned(vec![0u8; 64]);
                    Box::pin(async move { f.await.0.ok() })
                };
                let out = cancel_after(rt, place, k, fut);
                assert!(out.is_none(), "{place:?} k={k}: nothing was sent");
                let msg = format!("{place:?}/{k}/{pooled}");
                send_all(rt, &b, msg.as_bytes());
                assert_eq!(read_n(rt, &a, msg.len()), msg.as_bytes(), "{place:?} k={k}");
            }
        }
    }
}

/// Writes dropped after k polls: the peer gets the message whole or not
/// at all, and always before what is written next.
fn dropped_writes_keep_the_order<S: OwnedStream>(rt: &Runtime, a: Arc<S>, b: Arc<S>) {
    for place in PLACES {
        for k in 1..=K {
            let msg = format!("[{place:?}/{k}]");
            let out = cancel_after(
                rt,
                place,
                k,
                a.clone().write_owned(msg.clone().into_bytes()),
            );
            let marker = format!("<{place:?}/{k}>");
            send_all(rt, &a, marker.as_bytes());
            let sent = match out {
                Some((r, _)) => r.unwrap(),
                None => {
                    // Not known: the peer's first byte says.
                    let first = read_n(rt, &b, 1);
                    let whole = if first[0] == b'[' { msg.len() } else { 0 };
                    let rest = read_n(rt, &b, whole + marker.len() - 1);
                    let got = [first, rest].concat();
                    let expected = format!("{}{marker}", &msg[..whole]);
                    assert_eq!(got, expected.as_bytes(), "{place:?} k={k}");
                    continue;
                }
            };
            assert_eq!(sent, msg.len(), "a small send completes whole");
            let got = read_n(rt, &b, sent + marker.len());
            assert_eq!(got, format!("{msg}{marker}").as_bytes(), "{place:?} k={k}");
        }
    }
}

#[test]
fn tcp_owned_reads_and_writes_survive_cancellation() {
    let rt = rt(1);
    let (a, b) = rt.block_on(tcp_pair());
    let (a, b) = (Arc::new(a), Arc::new(b));
    dropped_reads_take_nothing(&rt, a.clone(), b.clone());
    dropped_writes_keep_the_order(&rt, a, b);
}

#[test]
fn unix_owned_reads_and_writes_survive_cancellation() {
    let rt = rt(1);
    let (a, b) = rt.block_on(async { UnixStream::pair().unwrap() });
    let (a, b) = (Arc::new(a), Arc::new(b));
    dropped_reads_take_nothing(&rt, a.clone(), b.clone());
    dropped_writes_keep_the_order(&rt, a, b);
}

/// `AsyncRead::read` futures dropped after k polls, with data arriving
/// between polls: the stream keeps its receive, so everything sent is read
/// once, in order.
async fn futures_io_reads<S>(mut a: S, b: impl OwnedStream)
where
    S: futures::AsyncRead + Unpin,
{
    let b = Arc::new(b);
    let handle = ferrio::Handle::current();
    let (mut sent, mut got) = (Vec::new(), Vec::new());
    for k in 1..=K {
        let mut buf = [0u8; 8];
        let out = {
            let mut read = pin!(AsyncReadExt::read(&mut a, &mut buf));
            let first = poll_k(&mut read, 1).await;
            let chunk = format!("chunk{k};");
            b.clone()
                .write_all_owned(chunk.clone().into_bytes())
                .await
                .unwrap();
            sent.extend_from_slice(chunk.as_bytes());
            match first {
                Some(out) => Some(out),
                None => poll_k(&mut read, k - 1).await,
            }
        };
        if let Some(n) = out {
            got.extend_from_slice(&buf[..n.unwrap()]);
        }
    }
    let mut rest = vec![0u8; sent.len() - got.len()];
    let read_rest = ferrio::wait_for(a.read_exact(&mut rest), Duration::from_secs(10));
    read_rest.await.expect("every byte arrives").unwrap();
    got.extend_from_slice(&rest);
    assert_eq!(got, sent);
    drop(a);
    no_op_in_flight(&handle, "the dropped futures-io calls").await;
}

/// `AsyncWrite::write` futures of large buffers dropped after k polls:
/// the peer reads exactly the bytes the writes accepted, in order.
async fn futures_io_writes<S, R>(mut a: S, b: R)
where
    S: futures::AsyncWrite + Unpin,
    R: futures::AsyncRead + Unpin + Send + 'static,
{
    let handle = ferrio::Handle::current();
    let reader = ferrio::spawn(async move {
        let mut b = b;
        let mut all = Vec::new();
        b.read_to_end(&mut all).await.unwrap();
        all
    });
    let mut accepted = Vec::new();
    for k in 1..=K {
        let big: Vec<u8> = (0..256 * 1024).map(|i| (i % 251) as u8 ^ k as u8).collect();
        let out = {
            let mut write = pin!(AsyncWriteExt::write(&mut a, &big));
            poll_k(&mut write, k).await
        };
        if let Some(n) = out {
            accepted.extend_from_slice(&big[..n.unwrap()]);
        }
    }
    a.close().await.unwrap();
    let got = ferrio::wait_for(reader, Duration::from_secs(20))
        .await
        .expect("the reader ends")
        .unwrap();
    assert_eq!(got.len(), accepted.len());
    assert!(
        got == accepted,
        "the peer reads the accepted bytes, in order"
    );
    drop(a);
    no_op_in_flight(&handle, "the dropped futures-io calls").await;
}

#[test]
fn futures_io_reads_and_writes_survive_cancellation() {
    let rt = rt(1);
    for on_worker in [true, false] {
        let run = |f: BoxFuture<()>| {
            if on_worker {
                rt.block_on(rt.spawn(f)).unwrap()
            } else {
                rt.block_on(f)
            }
        };
        run(Box::pin(async {
            let (a, b) = tcp_pair().await;
            futures_io_reads(a, b).await
        }));
        run(Box::pin(async {
            let (a, b) = UnixStream::pair().unwrap();
            futures_io_reads(a, b).await
        }));
        run(Box::pin(async {
            let (a, b) = tcp_pair().await;
            futures_io_writes(a, b).await
        }));
        run(Box::pin(async {
            let (a, b) = UnixStream::pair().unwrap();
            futures_io_writes(a, b).await
        }));
    }
}

/// Accepts dropped with no connection pending take none; connects dropped
/// part-way leave at most a closed connection behind; new ones work.
#[test]
fn accept_and_connect_survive_cancellation() {
    let rt = rt(1);
    let listener = Arc::new(rt.block_on(async { TcpListener::bind("127.0.0.1:0").unwrap() }));
    let addr = listener.local_addr().unwrap();
    for place in PLACES {
        for k in 1..=K {
            let l = listener.clone();
            let accept: BoxFuture<bool> = Box::pin(async move { l.accept().await.is_ok() });
            assert!(
                cancel_after(&rt, place, k, accept).is_none(),
                "nobody connected"
            );
            let connect: BoxFuture<bool> =
                Box::pin(async move { TcpStream::connect(addr).await.is_ok() });
            let connected = cancel_after(&rt, place, k, connect);
            let l = listener.clone();
            rt.block_on(async move {
                let client = TcpStream::connect(addr).await.unwrap();
                let me = client.local_addr().unwrap();
                let mut stale = 0;
                loop {
                    let accepted = ferrio::wait_for(l.accept(), Duration::from_secs(10)).await;
                    let (server, peer) = accepted.expect("the new connection is accepted").unwrap();
                    if peer == me {
                        break;
                    }
                    // The dropped connect's socket: closed, not leaked.
                    stale += 1;
                    let (n, _) = server.read(vec![0u8; 8]).await;
                    assert_eq!(n.unwrap(), 0, "{place:?} k={k}");
                }
                assert!(stale <= 1, "{place:?} k={k}: {stale} stale connections");
                if connected == Some(true) {
                    assert_eq!(stale, 1, "{place:?} k={k}: the finished connect's stream");
                }
            });
        }
    }
}

/// Receives dropped with nothing sent take nothing; sends dropped part-way
/// deliver their datagram whole or not at all, before the next one.
#[test]
fn udp_send_to_and_recv_from_survive_cancellation() {
    let rt = rt(1);
    let (a, b) = rt.block_on(async {
        (
            Arc::new(UdpSocket::bind("127.0.0.1:0").unwrap()),
            Arc::new(UdpSocket::bind("127.0.0.1:0").unwrap()),
        )
    });
    let (a_addr, b_addr) = (a.local_addr().unwrap(), b.local_addr().unwrap());
    let recv = |s: &Arc<UdpSocket>| {
        let s = s.clone();
        rt.block_on(async move {
            let r = ferrio::wait_for(s.recv_from(vec![0u8; 64]), Duration::from_secs(10)).await;
            let (res, buf) = r.expect("the datagram arrives");
            let (n, _) = res.unwrap();
            buf[..n].to_vec()
        })
    };
    for place in PLACES {
        for k in 1..=K {
            let s = a.clone();
            let fut: BoxFuture<bool> =
                Box::pin(async move { s.recv_from(vec![0u8; 64]).await.0.is_ok() });
            assert!(cancel_after(&rt, place, k, fut).is_none(), "nothing sent");
            let msg = format!("{place:?}/{k}");
            let (r, _) = rt.block_on(b.send_to(msg.clone().into_bytes(), a_addr));
            r.unwrap();
            assert_eq!(recv(&a), msg.as_bytes(), "{place:?} k={k}");

            let s = a.clone();
            let dgram = format!("d{place:?}/{k}");
            let d = dgram.clone().into_bytes();
            let fut: BoxFuture<bool> =
                Box::pin(async move { s.send_to(d, b_addr).await.0.is_ok() });
            let sent = cancel_after(&rt, place, k, fut);
            let marker = format!("m{place:?}/{k}");
            let (r, _) = rt.block_on(a.send_to(marker.clone().into_bytes(), b_addr));
            r.unwrap();
            let first = recv(&b);
            if first == dgram.as_bytes() {
                assert_eq!(recv(&b), marker.as_bytes(), "{place:?} k={k}");
            } else {
                assert_eq!(first, marker.as_bytes(), "{place:?} k={k}");
                assert_ne!(sent, Some(true), "a finished send's datagram arrives");
            }
        }
    }
}
