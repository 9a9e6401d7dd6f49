//! Regression tests for the I/O defects of issue 14 (5, 6, 7): an op that
//! overtook its own cancel, a split that stranded a write, a conversion
//! to std that dropped received bytes.

use std::future::Future;
use std::pin::Pin;
use std::sync::mpsc;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use futures::{AsyncReadExt, AsyncWriteExt};

use super::common::{ops_in_flight, rt, tcp_pair, until};
use ferrio::net::{TcpStream, UnixStream};

/// Polls `fut` once with a waker that does nothing.
fn poll_once<F: Future + Unpin>(fut: &mut F) -> Poll<F::Output> {
    Pin::new(fut).poll(&mut Context::from_waker(Waker::noop()))
}

type BoxedRead = Pin<Box<dyn Future<Output = (std::io::Result<usize>, Vec<u8>)> + Send>>;

/// Defect 5: a read first polled in `block_on` (its SQE waits in the
/// worker's remote queue) and dropped on that worker before the queue is
/// drained. Its cancel used to go straight into the ring, ahead of the
/// read, find nothing, and the read then ran uncancelled and took the
/// next bytes.
#[test]
fn op_dropped_on_the_worker_before_its_remote_submit_is_cancelled() {
    let rt = rt(1);
    let handle = rt.handle();
    rt.block_on(async {
        let (a, b) = UnixStream::pair().unwrap();
        let a = Arc::new(a);
        // A task holds the only worker until it has dropped the read, so
        // the worker drains its remote queue only afterwards.
        let (started_tx, started_rx) = mpsc::channel::<()>();
        let (fut_tx, fut_rx) = mpsc::channel::<BoxedRead>();
        let dropper = ferrio::spawn(async move {
            started_tx.send(()).unwrap();
            let read = fut_rx.recv().unwrap();
            drop(read);
        });
        started_rx.recv().unwrap();
        let a2 = a.clone();
        let mut read: BoxedRead = Box::pin(async move { a2.read(vec![0u8; 16]).await });
        assert!(poll_once(&mut read).is_pending(), "no data yet");
        fut_tx.send(read).unwrap();
        dropper.await.unwrap();

        // Every op reaches its end: the dropped read is cancelled.
        until("the dropped read is cancelled", || {
            ops_in_flight(&handle) == 0
        })
        .await;
        let (r, _) = b.write_all(b"DATA".to_vec()).await;
        r.unwrap();
        let got = ferrio::wait_for(a.read(vec![0u8; 16]), Duration::from_secs(10)).await;
        let (n, buf) = got.expect("a fresh read gets the bytes, not the dropped one");
        assert_eq!(&buf[..n.unwrap()], b"DATA");
    });
}

/// Defect 6: `into_split` left the write-behind state of an accepted
/// `AsyncWrite::write` in the read half; the write half's `close` then
/// shut the socket at once, without waiting for (or reporting) the send.
#[test]
fn into_split_keeps_an_unflushed_write_with_the_write_half() {
    rt(1).block_on(async {
        let (client, server) = tcp_pair().await;
        let mut client = client;
        assert_eq!(
            AsyncWriteExt::write(&mut client, b"hello").await.unwrap(),
            5
        );
        let (_rd, mut wr) = client.into_split();
        wr.close().await.unwrap();
        let mut server = server;
        let mut got = Vec::new();
        server.read_to_end(&mut got).await.unwrap();
        assert_eq!(
            got, b"hello",
            "the peer reads the bytes, then end of stream"
        );
    });
}

/// The peer sent "hello"; the client's `AsyncRead` has a receive pending
/// (polled once), then the client is converted with `convert`. Returns
/// what the conversion handed over and what the std stream then reads.
async fn convert_with_a_receive_pending(
    convert: fn(TcpStream) -> std::io::Result<(std::net::TcpStream, Vec<u8>)>,
) -> std::io::Result<Vec<u8>> {
    let (mut client, server) = tcp_pair().await;
    let (r, _) = server.write_all(b"hello".to_vec()).await;
    r.unwrap();
    let mut buf = [0u8; 16];
    let mut read = AsyncReadExt::read(&mut client, &mut buf);
    assert!(poll_once(&mut read).is_pending(), "the receive is queued");
    drop(read);
    let (mut std_client, mut got) = convert(client)?;
    // Let the ring run whatever the conversion left behind before the
    // std stream reads (a receive still in flight would take the bytes).
    let handle = ferrio::Handle::current();
    until("no op in flight", || ops_in_flight(&handle) == 0).await;
    drop(server); // the std read below ends at end of stream
    std_client.set_nonblocking(false).unwrap();
    std_client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    std::io::Read::read_to_end(&mut std_client, &mut got).unwrap();
    Ok(got)
}

fn via_into_std(s: TcpStream) -> std::io::Result<(std::net::TcpStream, Vec<u8>)> {
    s.into_std().map(|s| (s, Vec::new()))
}

fn via_into_std_parts(s: TcpStream) -> std::io::Result<(std::net::TcpStream, Vec<u8>)> {
    s.into_std_parts()
}

/// Defect 7: `into_std` with a receive pending dropped what it took. Now
/// the bytes reach the std stream's reader or the conversion refuses;
/// `into_std_parts` always hands them over. Both on a worker (the receive
/// is in the ring's submission queue, ahead of its cancel) and in
/// `block_on` (it waits in the remote queue).
#[test]
fn into_std_hands_over_the_bytes_a_pending_receive_took() {
    let rt = rt(1);
    if super::hooks::skip_unless_io_uring(&rt.handle(), "a receive in flight in the ring") {
        return;
    }
    for on_worker in [true, false] {
        let run = |f: fn(TcpStream) -> std::io::Result<(std::net::TcpStream, Vec<u8>)>| {
            if on_worker {
                rt.block_on(rt.spawn(convert_with_a_receive_pending(f)))
                    .unwrap()
            } else {
                rt.block_on(convert_with_a_receive_pending(f))
            }
        };
        match run(via_into_std) {
            Ok(got) => assert_eq!(got, b"hello", "on_worker={on_worker}"),
            Err(e) => {
                assert_eq!(e.kind(), std::io::ErrorKind::InvalidData, "{e}");
                assert!(e.to_string().contains("into_std_parts"), "{e}");
            }
        }
        let got = run(via_into_std_parts).unwrap();
        assert_eq!(got, b"hello", "on_worker={on_worker}");
    }
}
