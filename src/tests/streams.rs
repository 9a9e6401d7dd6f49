//! asyncio Streams: reader edge cases and limits, writer flow control,
//! buffer release and close (across a shutdown too), server lifecycle.

use std::io::ErrorKind;
use std::sync::Arc;
use std::time::Duration;

use super::common::{on_worker, rt, stream_pair, temp_dir, until};
use ferrio::net::TcpStream;
use ferrio::sync::Event;
use ferrio::{IncompleteReadError, LimitOverrunError, StreamReader, StreamWriter};

/// A server whose handler hands its reader/writer out through a queue, so
/// a test drives both ends.
async fn connected_pair() -> (ferrio::Server, (StreamReader, StreamWriter), TcpStream) {
    let (tx, rx) = std::sync::mpsc::channel::<(StreamReader, StreamWriter)>();
    let tx = std::sync::Mutex::new(tx);
    let got = Arc::new(Event::new());
    let g = got.clone();
    let server = ferrio::start_server(
        move |r, w| {
            tx.lock().unwrap().send((r, w)).unwrap();
            g.set();
            async {}
        },
        "127.0.0.1:0",
    )
    .await
    .unwrap();
    let client = TcpStream::connect(server.local_addr()).await.unwrap();
    client.set_nodelay(true).unwrap();
    got.wait().await;
    let pair = rx.recv().unwrap();
    (server, pair, client)
}

#[test]
fn readline_handles_split_packets_and_eof_mid_line() {
    rt(2).block_on(async {
        let (_server, (mut reader, _w), client) = connected_pair().await;
        for piece in ["hel", "lo\nwor", "ld\n", "no newline at the end"] {
            client.write_all(piece.as_bytes().to_vec()).await.0.unwrap();
            ferrio::yield_now().await;
        }
        client.shutdown(std::net::Shutdown::Write).unwrap();
        assert_eq!(reader.readline().await.unwrap(), b"hello\n");
        assert_eq!(reader.readline().await.unwrap(), b"world\n");
        assert!(!reader.at_eof());
        assert_eq!(reader.readline().await.unwrap(), b"no newline at the end");
        assert!(reader.at_eof());
        assert_eq!(reader.readline().await.unwrap(), b"");
        assert_eq!(reader.read(10).await.unwrap(), b"");
    });
}

#[test]
fn readexactly_reports_the_partial_bytes() {
    rt(2).block_on(async {
        let (_server, (mut reader, _w), client) = connected_pair().await;
        client.write_all(b"0123456789abc".to_vec()).await.0.unwrap();
        client.shutdown(std::net::Shutdown::Write).unwrap();
        assert_eq!(reader.readexactly(10).await.unwrap(), b"0123456789");
        let e = reader.readexactly(10).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::UnexpectedEof);
        let inc = IncompleteReadError::from_io(&e).unwrap();
        assert_eq!(inc.partial, b"abc");
        assert_eq!(inc.expected, Some(10));
        assert!(reader.at_eof());
    });
}

#[test]
fn readuntil_limit_overrun_loses_nothing_and_separators_may_straddle_reads() {
    rt(2).block_on(async {
        let (_server, (mut reader, _w), client) = connected_pair().await;
        reader.set_limit(16);
        client
            .write_all(b"0123456789ABCDEFGHIJ\r".to_vec())
            .await
            .0
            .unwrap();
        // The limit is hit before the separator arrives.
        let e = reader.readuntil(b"\r\n").await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidData);
        let consumed = LimitOverrunError::from_io(&e).unwrap().consumed;
        assert!(consumed > 16, "{consumed}");
        // Nothing was lost: read it back, then a separator split in two.
        assert_eq!(
            reader.readexactly(21).await.unwrap(),
            b"0123456789ABCDEFGHIJ\r"
        );
        client.write_all(b"short\r".to_vec()).await.0.unwrap();
        ferrio::yield_now().await;
        client.write_all(b"\nrest".to_vec()).await.0.unwrap();
        assert_eq!(reader.readuntil(b"\r\n").await.unwrap(), b"short\r\n");
        client.shutdown(std::net::Shutdown::Write).unwrap();
        let e = reader.readuntil(b"\r\n").await.unwrap_err();
        assert_eq!(IncompleteReadError::into_partial(e).unwrap(), b"rest");
        assert_eq!(
            reader.readuntil(b"").await.unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
    });
}

/// `readuntil`'s limit counts the bytes before the separator (asyncio's
/// rule: the separator must *start* within the limit).
#[test]
fn readuntil_limit_counts_bytes_before_the_separator() {
    on_worker(async {
        let ((mut reader, _w), peer) = stream_pair().await;
        reader.set_limit(10);
        // 11 bytes with the separator: the separator starts at 10.
        peer.write_all(b"0123456789\n".to_vec()).await.0.unwrap();
        assert_eq!(reader.readuntil(b"\n").await.unwrap(), b"0123456789\n");
        // A two-byte separator starting at 10, arriving in two pieces: the
        // first piece alone (11 bytes, no separator yet) is not an overrun.
        peer.write_all(b"0123456789\r".to_vec()).await.0.unwrap();
        let first = ferrio::wait_for(reader.readuntil(b"\r\n"), Duration::from_millis(50)).await;
        assert!(first.is_err(), "must wait for the rest: {first:?}");
        peer.write_all(b"\n".to_vec()).await.0.unwrap();
        assert_eq!(reader.readuntil(b"\r\n").await.unwrap(), b"0123456789\r\n");
        // 12 bytes: the separator starts at 11, past the limit.
        peer.write_all(b"0123456789A\n".to_vec()).await.0.unwrap();
        let e = reader.readuntil(b"\n").await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidData);
        assert_eq!(LimitOverrunError::from_io(&e).unwrap().consumed, 12);
        // Nothing was taken.
        assert_eq!(reader.readexactly(12).await.unwrap(), b"0123456789A\n");
        // Not found and unable to start within the limit any more.
        peer.write_all(b"0123456789AB".to_vec()).await.0.unwrap();
        let e = reader.readuntil(b"\n").await.unwrap_err();
        assert!(LimitOverrunError::from_io(&e).is_some(), "{e}");
        assert_eq!(reader.readexactly(12).await.unwrap(), b"0123456789AB");
        // readline follows the same rule.
        peer.write_all(b"abcdefghij\n".to_vec()).await.0.unwrap();
        assert_eq!(reader.readline().await.unwrap(), b"abcdefghij\n");
    });
}

#[test]
fn readline_is_cancellation_safe() {
    rt(2).block_on(async {
        let (_server, (mut reader, _w), client) = connected_pair().await;
        client.write_all(b"partial".to_vec()).await.0.unwrap();
        // Time out while the line is incomplete: the buffered bytes stay.
        for _ in 0..3 {
            let r = ferrio::wait_for(reader.readline(), std::time::Duration::from_millis(20)).await;
            assert!(r.is_err(), "no newline yet");
        }
        client.write_all(b" line\n".to_vec()).await.0.unwrap();
        assert_eq!(reader.readline().await.unwrap(), b"partial line\n");
    });
}

#[test]
fn a_receive_completed_under_a_cancelled_readline_is_not_lost() {
    let rt = rt(1);
    let task = rt.spawn(async {
        let (_server, (mut reader, _w), client) = connected_pair().await;
        for round in 0..20u32 {
            let msg = format!("line {round}\n");
            {
                let mut line = std::pin::pin!(reader.readline());
                // The receive is submitted and waits for data.
                assert!(futures::poll!(line.as_mut()).is_pending());
                client.write_all(msg.clone().into_bytes()).await.0.unwrap();
                // Run past a maintenance tick, so the worker reaps the
                // receive's completion while the readline is not polled.
                for _ in 0..130 {
                    ferrio::yield_now().await;
                }
                // Cancelled here, with the bytes already received.
            }
            // A lost line would leave this waiting: a generous bound turns
            // that into a failure.
            let line = ferrio::wait_for(reader.readline(), std::time::Duration::from_secs(10))
                .await
                .expect("the received line was lost with the cancelled call");
            assert_eq!(line.unwrap(), msg.as_bytes());
        }
    });
    rt.block_on(task).unwrap();
}

#[test]
fn drain_applies_backpressure_until_the_peer_reads() {
    rt(2).block_on(async {
        let (_server, (_r, writer), client) = connected_pair().await;
        let chunk = vec![7u8; 1 << 20];
        let total = 64usize << 20;
        for _ in 0..64 {
            writer.write(&chunk).unwrap();
        }
        // Far more is queued than loopback buffers hold: drain must wait.
        let mut drain = std::pin::pin!(writer.drain());
        assert!(futures::poll!(drain.as_mut()).is_pending());
        assert!(writer.buffered() > 64 * 1024);
        let reader = ferrio::spawn(async move {
            let mut n = 0;
            let mut buf = Vec::with_capacity(1 << 20);
            loop {
                buf.clear();
                let (r, b) = client.read(buf).await;
                buf = b;
                match r.unwrap() {
                    0 => return n,
                    k => n += k,
                }
            }
        });
        drain.await.unwrap();
        assert!(writer.buffered() <= 16 * 1024);
        writer.close();
        writer.wait_closed().await.unwrap();
        assert_eq!(reader.await.unwrap(), total);
        assert_eq!(
            writer.write(b"late").unwrap_err().kind(),
            ErrorKind::BrokenPipe
        );
    });
}

/// After an 8 MiB response has gone out, the idle writer keeps at most a
/// modest buffer, not the response's capacity.
/// After an 8 MiB response has gone out, the idle writer keeps at most a
/// modest buffer, not the response's capacity.
#[test]
fn writer_frees_a_large_write_buffer_once_sent() {
    on_worker(async {
        let ((_r, writer), peer) = stream_pair().await;
        let big = vec![0x5au8; 8 << 20];
        writer.write(&big).unwrap();
        let reader = ferrio::spawn(async move {
            let mut n = 0;
            let mut buf = Vec::with_capacity(1 << 20);
            while n < 8 << 20 {
                buf.clear();
                let (r, b) = peer.read(buf).await;
                buf = b;
                n += r.unwrap();
            }
            peer
        });
        let peer = reader.await.unwrap();
        until("writer idle", || writer.buffered() == 0).await;
        let kept = super::hooks::writer_queue_capacity(&writer);
        assert!(kept <= 2 * 64 * 1024, "idle writer keeps {kept} bytes");
        drop(peer);
    });
}

/// `drain` and `wait_closed` on a writer whose runtime shut down end with
/// an error (instead of waiting for the dropped sender task), and later
/// writes fail.
#[test]
fn writer_waiters_end_when_the_runtime_shuts_down() {
    let runtime = rt(1);
    let handle = runtime.handle();
    let ((_reader, writer), peer) = runtime.block_on(runtime.spawn(stream_pair())).unwrap();
    // More than the socket buffers take while the peer does not read.
    writer.write(&vec![0u8; 16 << 20]).unwrap();
    drop(runtime);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let drained = handle.block_on(writer.drain());
        writer.close();
        let closed = handle.block_on(writer.wait_closed());
        let _ = tx.send((drained, closed, writer.write(b"late")));
        drop(peer);
    });
    let (drained, closed, late) = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("drain/wait_closed hung after shutdown");
    assert!(drained.is_err() && closed.is_err() && late.is_err());
}

#[test]
fn server_lifecycle_serve_forever_close_wait_closed() {
    rt(2).block_on(async {
        let release = Arc::new(Event::new());
        let r = release.clone();
        let server = Arc::new(
            ferrio::start_server(
                move |mut reader: StreamReader, writer: StreamWriter| {
                    let r = r.clone();
                    async move {
                        let line = reader.readline().await.unwrap();
                        writer.write(&line).unwrap();
                        writer.drain().await.unwrap();
                        r.wait().await;
                    }
                },
                "127.0.0.1:0",
            )
            .await
            .unwrap(),
        );
        let addr = server.local_addr();
        let forever = ferrio::spawn({
            let s = server.clone();
            async move { s.serve_forever().await }
        });
        let (mut reader, writer) = ferrio::open_connection(addr).await.unwrap();
        writer.write(b"ping\n").unwrap();
        assert_eq!(reader.readline().await.unwrap(), b"ping\n");
        assert!(server.is_serving());
        server.close();
        forever.await.unwrap();
        assert!(!server.is_serving());
        // New connections are refused once closed.
        assert!(ferrio::open_connection(addr).await.is_err());
        // wait_closed waits for the handler still running.
        let mut waiting = std::pin::pin!(server.wait_closed());
        assert!(futures::poll!(waiting.as_mut()).is_pending());
        release.set();
        waiting.await;
    });
}

#[test]
fn close_clients_cancels_handlers_and_writer_drop_closes() {
    rt(2).block_on(async {
        let started = Arc::new(ferrio::sync::Semaphore::new(0));
        let s = started.clone();
        let server = ferrio::start_server(
            move |mut reader: StreamReader, _writer: StreamWriter| {
                let s = s.clone();
                async move {
                    s.release();
                    // Never returns on its own.
                    let _ = reader.readexactly(usize::MAX / 2).await;
                    std::future::pending::<()>().await
                }
            },
            "127.0.0.1:0",
        )
        .await
        .unwrap();
        let mut clients = Vec::new();
        for _ in 0..5 {
            clients.push(ferrio::open_connection(server.local_addr()).await.unwrap());
        }
        // Every connection is in its handler (closing the listener resets
        // connections still waiting in its backlog, as in asyncio).
        for _ in 0..5 {
            started.acquire().await.forget();
        }
        server.close();
        server.close_clients();
        server.wait_closed().await;
        // The handlers' writers were dropped: each client reads EOF.
        for (mut r, _w) in clients {
            assert_eq!(r.read_to_end().await.unwrap(), b"");
        }
    });
}

#[test]
fn unix_streams_round_trip() {
    let dir = temp_dir("ustreams");
    let path = dir.join("s.sock");
    rt(2).block_on(async {
        let server = ferrio::streams::start_unix_server(
            |mut r: StreamReader, w: StreamWriter| async move {
                let data = r.read_to_end().await.unwrap();
                w.write(&data).unwrap();
            },
            &path,
        )
        .await
        .unwrap();
        let (mut r, w) = ferrio::streams::open_unix_connection(&path).await.unwrap();
        w.writelines([&b"a"[..], b"b", b"c"]).unwrap();
        w.close();
        w.wait_closed().await.unwrap();
        assert_eq!(r.read_to_end().await.unwrap(), b"abc");
        drop(server);
    });
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Reads until the connection ends (EOF or an error); returns the bytes.
async fn read_until_closed(client: &TcpStream) -> usize {
    let mut received = 0;
    let mut buf = Vec::with_capacity(1 << 20);
    loop {
        buf.clear();
        let (r, b) = client.read(buf).await;
        buf = b;
        match r {
            Ok(0) | Err(_) => return received,
            Ok(n) => received += n,
        }
    }
}

#[test]
fn abort_clients_reaches_a_writer_still_flushing_after_its_handler_returned() {
    rt(2).block_on(async {
        const QUEUED: usize = 64 << 20;
        let handled = Arc::new(ferrio::sync::Semaphore::new(0));
        let h = handled.clone();
        let server = ferrio::start_server(
            move |_reader: StreamReader, writer: StreamWriter| {
                let h = h.clone();
                async move {
                    // Queue far more than the socket holds and return: the
                    // dropped writer goes on flushing on its own.
                    for _ in 0..QUEUED >> 20 {
                        writer.write(&[1u8; 1 << 20]).unwrap();
                    }
                    h.release();
                }
            },
            "127.0.0.1:0",
        )
        .await
        .unwrap();
        let client = TcpStream::connect(server.local_addr()).await.unwrap();
        // The handler ran (closing before it was accepted would reset the
        // connection and prove nothing).
        handled.acquire().await.forget();
        server.close();
        // Every handler has returned: only the flushing writer is left.
        server.wait_closed().await;
        server.abort_clients();
        // The client sees the end long before all it was sent.
        let received = read_until_closed(&client).await;
        assert!(
            received < QUEUED,
            "all {received} bytes arrived: not aborted"
        );
    });
}

#[test]
fn abort_clients_ends_connections_whose_peer_stopped_reading() {
    rt(2).block_on(async {
        let started = Arc::new(ferrio::sync::Semaphore::new(0));
        let s = started.clone();
        let server = ferrio::start_server(
            move |_reader: StreamReader, writer: StreamWriter| {
                let s = s.clone();
                async move {
                    // Queue far more than the peer will ever read.
                    for _ in 0..64 {
                        writer.write(&[1u8; 1 << 20]).unwrap();
                    }
                    s.release();
                    let _ = writer.drain().await;
                    std::future::pending::<()>().await
                }
            },
            "127.0.0.1:0",
        )
        .await
        .unwrap();
        let client = TcpStream::connect(server.local_addr()).await.unwrap();
        started.acquire().await.forget();
        server.close();
        server.abort_clients();
        // The handler is gone even though its writer still held bytes.
        server.wait_closed().await;
        // The client sees the connection end (after whatever was sent).
        read_until_closed(&client).await;
    });
}
