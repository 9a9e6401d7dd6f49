//! `io::copy` and `io::copy_bidirectional`: exact bytes, end of stream,
//! half-close, cancellation, files, errors, and which path a copy takes
//! (splice between ferrio descriptors, a buffer otherwise). Each test runs
//! on the driver `FERRIO_IO_DRIVER` picks (the suite runs under both).
//!
//! The tests that count splices (a process-wide counter) hold `PATHS`, so
//! no other copy runs meanwhile; every test here copies, so all hold it.

use std::pin::{pin, Pin};
use std::sync::Mutex;
use std::task::{Context, Poll};

use futures::{AsyncReadExt, AsyncWriteExt};

use super::common::{no_op_in_flight, poll_once, rt, tcp_pair, temp_path, within, TestWaker};
use super::hooks::io_copy_splices;
use ferrio::net::TcpStream;

static PATHS: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    PATHS.lock().unwrap_or_else(|e| e.into_inner())
}

/// `n` bytes no shift or repeat of a short block reproduces.
fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 31 + i / 4099) as u8).collect()
}

const MIB: usize = 1 << 20;

/// Writes `data` to `s` and shuts its write side, from a task.
fn send_and_close(mut s: TcpStream, data: Vec<u8>) -> ferrio::Task<TcpStream> {
    ferrio::spawn(async move {
        AsyncWriteExt::write_all(&mut s, &data).await.unwrap();
        s.close().await.unwrap();
        s
    })
}

/// Reads `s` to its end of stream, from a task.
fn receive_all(mut s: TcpStream) -> ferrio::Task<(Vec<u8>, TcpStream)> {
    ferrio::spawn(async move {
        let mut out = Vec::new();
        s.read_to_end(&mut out).await.unwrap();
        (out, s)
    })
}

#[test]
fn copy_moves_a_mebibyte_exactly_between_tcp_pairs_by_splice() {
    let _serial = serial();
    rt(2).block_on(async {
        let (c1, mut s1) = tcp_pair().await;
        let (mut c2, s2) = tcp_pair().await;
        let data = pattern(MIB);
        let sender = send_and_close(c1, data.clone());
        let receiver = receive_all(s2);
        let before = io_copy_splices();
        let n = ferrio::io::copy(&mut s1, &mut c2).await.unwrap();
        let splices = io_copy_splices() - before;
        c2.close().await.unwrap();
        let (got, _) = receiver.await.unwrap();
        sender.await.unwrap();
        assert_eq!(n, MIB as u64);
        assert!(got == data, "the bytes differ ({} received)", got.len());
        // Into the pipe and out of it, at least once each (the pipe grows
        // to 1 MiB on its first fill, so there may be few).
        assert!(splices >= 2, "only {splices} splices: not the splice path");
    });
}

#[test]
fn copy_of_an_ended_stream_is_zero_and_leaves_the_writer_open() {
    let _serial = serial();
    rt(1).block_on(async {
        let (mut c1, mut s1) = tcp_pair().await;
        let (mut c2, mut s2) = tcp_pair().await;
        c1.close().await.unwrap();
        assert_eq!(ferrio::io::copy(&mut s1, &mut c2).await.unwrap(), 0);
        // The copy shut nothing: the destination still carries bytes.
        AsyncWriteExt::write_all(&mut c2, b"still open")
            .await
            .unwrap();
        c2.close().await.unwrap();
        let mut got = Vec::new();
        s2.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"still open");
        // And the source still reads end of stream.
        let mut rest = Vec::new();
        assert_eq!(s1.read_to_end(&mut rest).await.unwrap(), 0);
    });
}

#[test]
fn copy_sends_the_bytes_a_stream_already_buffered_first() {
    let _serial = serial();
    rt(1).block_on(async {
        let (c1, mut s1) = tcp_pair().await;
        let (mut c2, s2) = tcp_pair().await;
        let data = pattern(200_000);
        let sender = send_and_close(c1, data.clone());
        // A 10-byte futures-io read leaves the rest of its receive
        // buffered in the stream.
        let mut head = [0u8; 10];
        AsyncReadExt::read_exact(&mut s1, &mut head).await.unwrap();
        let receiver = receive_all(s2);
        let n = ferrio::io::copy(&mut s1, &mut c2).await.unwrap();
        c2.close().await.unwrap();
        let (got, _) = receiver.await.unwrap();
        sender.await.unwrap();
        assert_eq!(&head, &data[..10]);
        assert_eq!(n, (data.len() - 10) as u64);
        assert!(got == data[10..], "the bytes differ or are out of order");
    });
}

/// A reader ferrio cannot see through: its copies go through a buffer.
struct Opaque(TcpStream);

impl futures::AsyncRead for Opaque {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

#[test]
fn copy_from_another_reader_goes_through_a_buffer_with_the_same_bytes() {
    let _serial = serial();
    rt(2).block_on(async {
        let (c1, s1) = tcp_pair().await;
        let (mut c2, s2) = tcp_pair().await;
        let data = pattern(MIB + 17);
        let sender = send_and_close(c1, data.clone());
        let receiver = receive_all(s2);
        let mut from = Opaque(s1);
        let before = io_copy_splices();
        let n = ferrio::io::copy(&mut from, &mut c2).await.unwrap();
        assert_eq!(io_copy_splices(), before, "a buffered copy spliced");
        c2.close().await.unwrap();
        let (got, _) = receiver.await.unwrap();
        sender.await.unwrap();
        assert_eq!(n, data.len() as u64);
        assert!(got == data, "the bytes differ ({} received)", got.len());
    });
}

#[test]
fn copy_from_a_file_to_a_socket_splices_the_whole_file() {
    let _serial = serial();
    let path = temp_path("io_copy_file");
    let data = pattern(MIB + 123);
    std::fs::write(&path, &data).unwrap();
    rt(1).block_on(async {
        let (mut c2, s2) = tcp_pair().await;
        let receiver = receive_all(s2);
        let mut file = ferrio::fs::File::open(&path).await.unwrap();
        let before = io_copy_splices();
        let n = ferrio::io::copy(&mut file, &mut c2).await.unwrap();
        assert!(io_copy_splices() > before, "the file copy did not splice");
        c2.close().await.unwrap();
        let (got, _) = receiver.await.unwrap();
        assert_eq!(n, data.len() as u64);
        assert!(got == data, "the bytes differ ({} received)", got.len());
    });
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn copy_to_a_socket_whose_peer_is_gone_reports_the_error() {
    let _serial = serial();
    // A copy that missed the reset (or a shutdown) would hang: bounded.
    within(
        "copy to a socket whose peer is gone reports the error",
        || {
            rt(2).block_on(async {
                let (c1, mut s1) = tcp_pair().await;
                let (mut c2, s2) = tcp_pair().await;
                drop(s2);
                // More than the socket buffers hold: the peer's reset arrives
                // while the copy still has bytes to send.
                let sender = ferrio::spawn(async move {
                    let mut c1 = c1;
                    let _ = AsyncWriteExt::write_all(&mut c1, &pattern(8 * MIB)).await;
                    let _ = c1.close().await;
                });
                let err = ferrio::io::copy(&mut s1, &mut c2).await.unwrap_err();
                assert!(
                    matches!(
                        err.kind(),
                        std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset
                    ),
                    "unexpected error: {err:?}"
                );
                drop(s1);
                sender.await.unwrap();
            });
        },
    );
}

#[test]
fn copy_bidirectional_half_closes_each_way_and_counts_both() {
    let _serial = serial();
    // A copy that missed the reset (or a shutdown) would hang: bounded.
    within(
        "copy bidirectional half closes each way and counts both",
        || {
            rt(2).block_on(async {
                // client <-> a | proxy | b <-> server
                let (mut client, mut a) = tcp_pair().await;
                let (mut b, mut server) = tcp_pair().await;
                let request = pattern(MIB);
                let reply = pattern(300_000);
                let before = io_copy_splices();
                let proxy =
                    ferrio::spawn(
                        async move { ferrio::io::copy_bidirectional(&mut a, &mut b).await },
                    );
                let server_side = {
                    let reply = reply.clone();
                    ferrio::spawn(async move {
                        // The server sees end of stream only if the proxy shut
                        // its write side after the client's half-close.
                        let mut got = Vec::new();
                        server.read_to_end(&mut got).await.unwrap();
                        AsyncWriteExt::write_all(&mut server, &reply).await.unwrap();
                        server.close().await.unwrap();
                        got
                    })
                };
                AsyncWriteExt::write_all(&mut client, &request)
                    .await
                    .unwrap();
                client.close().await.unwrap();
                let mut got_reply = Vec::new();
                client.read_to_end(&mut got_reply).await.unwrap();
                let got_request = server_side.await.unwrap();
                let counts = proxy.await.unwrap().unwrap();
                assert!(got_request == request, "the request differs");
                assert!(got_reply == reply, "the reply differs");
                assert_eq!(counts, (MIB as u64, 300_000));
                assert!(io_copy_splices() > before, "the proxy did not splice");
            });
        },
    );
}

#[test]
fn dropping_a_copy_mid_way_leaves_no_op_or_waker_and_both_sockets_usable() {
    let _serial = serial();
    let rt = rt(2);
    let handle = rt.handle().clone();
    rt.block_on(async {
        let (mut c1, mut s1) = tcp_pair().await;
        let (mut c2, s2) = tcp_pair().await;
        let data = pattern(100 * 1024);
        AsyncWriteExt::write_all(&mut c1, &data).await.unwrap();
        c1.flush().await.unwrap();
        let reader = ferrio::spawn(async move {
            let (r, buf) = s2.read_exact(Vec::with_capacity(100 * 1024)).await;
            r.unwrap();
            (buf, s2)
        });
        let tw = TestWaker::new();
        {
            let mut copy = pin!(ferrio::io::copy(&mut s1, &mut c2));
            // Polled by hand until every byte reached the far end: the
            // copy then waits for more from a source that stays open.
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
            while !reader.is_done() {
                assert!(tw.poll(copy.as_mut()).is_pending(), "the copy ended");
                assert!(std::time::Instant::now() < deadline, "the copy stalled");
                ferrio::sleep(std::time::Duration::from_millis(1)).await;
            }
            assert!(tw.poll(copy.as_mut()).is_pending());
        }
        tw.settle("a dropped copy");
        no_op_in_flight(&handle, "a dropped copy").await;
        let (got, mut s2) = reader.await.unwrap();
        assert!(got == data, "the bytes before the drop differ");
        // The source: the next bytes are read by their reader, not by a
        // splice left behind.
        AsyncWriteExt::write_all(&mut c1, b"after").await.unwrap();
        c1.flush().await.unwrap();
        let mut after = [0u8; 5];
        AsyncReadExt::read_exact(&mut s1, &mut after).await.unwrap();
        assert_eq!(&after, b"after");
        // The destination still carries bytes, in order.
        AsyncWriteExt::write_all(&mut c2, b"again").await.unwrap();
        c2.flush().await.unwrap();
        let mut again = [0u8; 5];
        AsyncReadExt::read_exact(&mut s2, &mut again).await.unwrap();
        assert_eq!(&again, b"again");
    });
}

#[test]
fn copy_after_a_dropped_read_copies_through_the_buffer_in_order() {
    let _serial = serial();
    rt(1).block_on(async {
        let (c1, mut s1) = tcp_pair().await;
        let (mut c2, s2) = tcp_pair().await;
        // A read polled once on an idle socket and dropped leaves its
        // receive in flight inside the stream.
        {
            let mut buf = [0u8; 4];
            let mut read = pin!(AsyncReadExt::read(&mut s1, &mut buf));
            assert!(poll_once(read.as_mut()).await.is_pending());
        }
        let data = pattern(300_000);
        let sender = send_and_close(c1, data.clone());
        let receiver = receive_all(s2);
        let before = io_copy_splices();
        let n = ferrio::io::copy(&mut s1, &mut c2).await.unwrap();
        assert_eq!(
            io_copy_splices(),
            before,
            "spliced past a receive in flight"
        );
        c2.close().await.unwrap();
        let (got, _) = receiver.await.unwrap();
        sender.await.unwrap();
        assert_eq!(n, data.len() as u64);
        assert!(got == data, "the bytes differ or are out of order");
    });
}
