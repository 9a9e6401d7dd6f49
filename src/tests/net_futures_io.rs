//! TCP streams through the futures-io traits (write-behind, flush and
//! close), their split halves, and their hand-over to std (`into_std`,
//! `into_std_parts`, the blocking mode they leave with).

use std::pin::Pin;
use std::time::Duration;

use futures::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};

use super::common::{no_op_in_flight, poll_noop, rt, tcp_pair};
use ferrio::net::{TcpListener, TcpStream};

#[test]
fn futures_io_traits_carry_a_line_protocol() {
    rt(2).block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = ferrio::spawn(async move {
            let (conn, _) = listener.accept().await.unwrap();
            // AsyncBufRead on the stream itself: lines without a BufReader.
            let mut conn = conn;
            let mut line = String::new();
            let mut count = 0;
            loop {
                line.clear();
                if conn.read_line(&mut line).await.unwrap() == 0 {
                    break;
                }
                count += 1;
                AsyncWriteExt::write_all(&mut conn, line.to_uppercase().as_bytes())
                    .await
                    .unwrap();
            }
            conn.close().await.unwrap();
            count
        });
        let mut client = TcpStream::connect(addr).await.unwrap();
        let mut expected = String::new();
        for i in 0..2_000 {
            let l = format!("line number {i} with some padding to cross packets\n");
            AsyncWriteExt::write_all(&mut client, l.as_bytes())
                .await
                .unwrap();
            expected.push_str(&l.to_uppercase());
        }
        client.close().await.unwrap();
        let mut got = String::new();
        client.read_to_string(&mut got).await.unwrap();
        assert_eq!(server.await.unwrap(), 2_000);
        assert_eq!(got, expected);
    });
}

#[test]
fn into_std_after_futures_io_use_keeps_the_connection_working() {
    rt(2).block_on(async {
        let (client, server) = tcp_pair().await;
        let mut client = client;
        AsyncWriteExt::write_all(&mut client, b"before")
            .await
            .unwrap();
        client.flush().await.unwrap();
        let (r, buf) = server.read_exact(Vec::with_capacity(6)).await;
        r.unwrap();
        assert_eq!(buf, b"before");
        // Back to std: the descriptor (or a duplicate, while a cancelled
        // operation still holds the original) carries on.
        let mut std_client = client.into_std().unwrap();
        std::io::Write::write_all(&mut std_client, b"after").unwrap();
        let (r, buf) = server.read_exact(Vec::with_capacity(5)).await;
        r.unwrap();
        assert_eq!(buf, b"after");
        drop(std_client);
        let (n, _) = server.read(Vec::with_capacity(8)).await;
        assert_eq!(
            n.unwrap(),
            0,
            "closing the std stream closes the connection"
        );
    });
}

#[test]
fn split_halves_read_and_write_from_two_tasks() {
    rt(2).block_on(async {
        let (client, server) = tcp_pair().await;
        // The server echoes through its two halves, in two tasks.
        let (mut rd, mut wr) = server.into_split();
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<Vec<u8>>();
        let reader = ferrio::spawn(async move {
            let mut line = String::new();
            loop {
                line.clear();
                if rd.read_line(&mut line).await.unwrap() == 0 {
                    return;
                }
                tx.send(line.clone().into_bytes()).unwrap();
            }
        });
        let writer = ferrio::spawn(async move {
            let mut rx = rx;
            while let Some(line) = rx.recv().await {
                AsyncWriteExt::write_all(&mut wr, &line).await.unwrap();
            }
            wr.close().await.unwrap(); // flush, then FIN
        });
        let (mut crd, mut cwr) = client.into_split();
        let mut expected = Vec::new();
        for i in 0..500 {
            let l = format!("message {i}\n").into_bytes();
            AsyncWriteExt::write_all(&mut cwr, &l).await.unwrap();
            expected.extend_from_slice(&l);
        }
        cwr.close().await.unwrap();
        let mut got = Vec::new();
        crd.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, expected);
        reader.await.unwrap();
        writer.await.unwrap();
    });
}

/// Whether `O_NONBLOCK` is set on the file description of `fd`.
fn is_nonblocking(fd: &impl std::os::fd::AsRawFd) -> bool {
    // SAFETY: a plain fcntl on a live descriptor.
    let flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) };
    assert!(flags >= 0);
    flags & libc::O_NONBLOCK != 0
}

#[test]
fn a_stream_leaves_ferrio_with_the_blocking_mode_it_came_with() {
    rt(1).block_on(async {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let client = std::net::TcpStream::connect(addr).unwrap();
        let (server, _) = listener.accept().unwrap();
        // A second owner of the same file description (as a dup of a
        // terminal's stdin would be).
        let other_owner = server.try_clone().unwrap();
        assert!(!is_nonblocking(&other_owner));
        let stream = TcpStream::from_std(server).unwrap();
        stream.write_all(b"ping".to_vec()).await.0.unwrap();
        drop(stream);
        assert!(
            !is_nonblocking(&other_owner),
            "the shared description was left non-blocking"
        );
        // `into_std` hands back a blocking stream, on either driver.
        let mut client = client;
        let mut got = [0u8; 4];
        std::io::Read::read_exact(&mut client, &mut got).unwrap();
        let stream = TcpStream::from_std(client).unwrap();
        stream.write_all(b"pong".to_vec()).await.0.unwrap();
        let back = stream.into_std().unwrap();
        assert!(
            !is_nonblocking(&back),
            "into_std returned a non-blocking stream"
        );
    });
}

#[test]
fn a_request_written_without_flush_is_sent_while_the_reply_is_awaited() {
    use std::io::{Read as _, Write as _};
    rt(2).block_on(async {
        const LEN: usize = 4 << 20; // far more than a socket buffer holds
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut request = vec![0u8; LEN];
            s.read_exact(&mut request).unwrap();
            assert!(request.iter().all(|&b| b == 7));
            s.write_all(b"ok").unwrap();
        });
        let mut stream = TcpStream::connect(addr).await.unwrap();
        AsyncWriteExt::write_all(&mut stream, &vec![7u8; LEN])
            .await
            .unwrap();
        // No flush: awaiting the reply must move the request's tail on.
        let mut reply = [0u8; 2];
        ferrio::wait_for(
            AsyncReadExt::read_exact(&mut stream, &mut reply),
            Duration::from_secs(20),
        )
        .await
        .expect("the request's tail was never sent")
        .unwrap();
        assert_eq!(&reply, b"ok");
        server.join().unwrap();
    });
}

#[test]
fn a_request_written_through_the_write_half_is_sent_while_the_read_half_awaits_the_reply() {
    use std::io::{Read as _, Write as _};
    rt(2).block_on(async {
        const LEN: usize = 4 << 20; // far more than a socket buffer holds
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut request = vec![0u8; LEN];
            s.read_exact(&mut request).unwrap();
            assert!(request.iter().all(|&b| b == 7));
            s.write_all(b"ok").unwrap();
        });
        let stream = TcpStream::connect(addr).await.unwrap();
        let (mut read_half, mut write_half) = stream.into_split();
        AsyncWriteExt::write_all(&mut write_half, &vec![7u8; LEN])
            .await
            .unwrap();
        // No flush, and the read half cannot move the write half's bytes:
        // `write_all` must not have claimed bytes that are still unsent.
        let reader = ferrio::spawn(async move {
            let mut reply = [0u8; 2];
            AsyncReadExt::read_exact(&mut read_half, &mut reply)
                .await
                .map(|_| reply)
        });
        let reply = ferrio::wait_for(reader, Duration::from_secs(20))
            .await
            .expect("the request's tail was never sent")
            .unwrap()
            .unwrap();
        assert_eq!(&reply, b"ok");
        server.join().unwrap();
        drop(write_half);
    });
}

#[test]
fn dropping_the_write_half_sends_end_of_stream() {
    use std::io::Read as _;
    rt(1).block_on(async {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let stream = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (mut peer, _) = listener.accept().unwrap();
        let (read_half, write_half) = stream.into_split();
        drop(write_half);
        peer.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(peer.read(&mut buf).unwrap(), 0, "no end of stream");
        drop(read_half);
    });
}

/// `into_split` keeps the write-behind state of an accepted
/// `AsyncWrite::write` with the write half: its `close` waits for (and
/// reports) the send before it shuts the socket.
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
    assert!(
        poll_noop(Pin::new(&mut read)).is_pending(),
        "the receive is queued"
    );
    drop(read);
    let (mut std_client, mut got) = convert(client)?;
    // Let the ring run whatever the conversion left behind before the
    // std stream reads (a receive still in flight would take the bytes).
    let handle = ferrio::Handle::current();
    no_op_in_flight(&handle, "the conversion").await;
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

/// `into_std` with a receive pending keeps what it took: the bytes reach
/// the std stream's reader, or the conversion refuses; `into_std_parts`
/// always hands them over. Both on a worker (the receive is in the ring's
/// submission queue, ahead of its cancel) and in `block_on` (it waits in
/// the remote queue).
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
