//! Sockets: UDP, Unix, owned-buffer reads and writes (read_exact, slices,
//! the ring's buffer pool), name lookup, fairness of a busy sender, reads
//! stopped short by the kernel, and the fault cases (reset, invalid
//! input). The futures-io side and the hand-over to std are in
//! `net_futures_io.rs`, listeners in `net_accept.rs`.

use std::io::ErrorKind;
use std::sync::Arc;
use std::time::Duration;

use super::common::{rt, tell_when_pending, temp_dir};
use ferrio::io::Slice;
use ferrio::net::{TcpListener, TcpStream, UdpSocket, UnixListener, UnixStream};

#[test]
fn udp_send_to_recv_from_and_connected_send_recv() {
    rt(2).block_on(async {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b_addr = b.local_addr().unwrap();
        for i in 0..10u8 {
            let (n, _) = a.send_to(vec![i; 100 + i as usize], b_addr).await;
            assert_eq!(n.unwrap(), 100 + i as usize);
            let (res, buf) = b.recv_from(Vec::with_capacity(2048)).await;
            let (n, from) = res.unwrap();
            assert_eq!(from, a.local_addr().unwrap());
            assert_eq!(&buf[..n], &vec![i; 100 + i as usize][..]);
        }
        // Connected: send/recv without addresses; datagram boundaries kept.
        a.connect(b_addr).unwrap();
        b.connect(a.local_addr().unwrap()).unwrap();
        a.send(b"one".to_vec()).await.0.unwrap();
        a.send(b"two!".to_vec()).await.0.unwrap();
        let (n, buf) = b.recv(Vec::with_capacity(64)).await;
        assert_eq!(&buf[..n.unwrap()], b"one");
        let (n, buf) = b.recv(Vec::with_capacity(64)).await;
        assert_eq!(&buf[..n.unwrap()], b"two!");
        // A datagram larger than the buffer is truncated, not an error.
        a.send(vec![7u8; 1000]).await.0.unwrap();
        let (n, _) = b.recv(Vec::with_capacity(10)).await;
        assert_eq!(n.unwrap(), 10);
        // Bad input is an error, not a panic.
        let (r, _) = a.send_to(b"x".to_vec(), "not an address").await;
        assert!(r.is_err());
    });
}

#[test]
fn unix_stream_echo_and_pair() {
    let dir = temp_dir("unix");
    let path = dir.join("echo.sock");
    rt(2).block_on(async {
        let listener = UnixListener::bind(&path).unwrap();
        let server = ferrio::spawn(async move {
            let (conn, _) = listener.accept().await.unwrap();
            let mut buf = Vec::with_capacity(4096);
            loop {
                buf.clear();
                let (n, b) = conn.read(buf).await;
                if n.unwrap() == 0 {
                    return;
                }
                let (r, b) = conn.write_all(b).await;
                r.unwrap();
                buf = b;
            }
        });
        let client = UnixStream::connect(&path).await.unwrap();
        let payload: Vec<u8> = (0..200_000u32).map(|i| i as u8).collect();
        let client = Arc::new(client);
        let writer = {
            let c = client.clone();
            let p = payload.clone();
            ferrio::spawn(async move {
                c.write_all(p).await.0.unwrap();
                c.shutdown(std::net::Shutdown::Write).unwrap();
            })
        };
        let (r, got) = client.read_exact(Vec::with_capacity(payload.len())).await;
        r.unwrap();
        assert!(got == payload);
        writer.await.unwrap();
        server.await.unwrap();

        let (x, y) = UnixStream::pair().unwrap();
        x.write_all(&b"pair"[..]).await.0.unwrap();
        let (r, buf) = y.read_exact(vec![0u8; 4].into_boxed_slice()).await;
        r.unwrap();
        assert_eq!(&buf[..], b"pair");

        let long = "x".repeat(200);
        let err = UnixStream::connect(dir.join(long)).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        let err = UnixStream::connect(dir.join("missing.sock"))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound);
    });
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn read_exact_at_end_of_stream_is_unexpected_eof_with_the_bytes_kept() {
    ferrio::run(async {
        let (a, b) = UnixStream::pair().unwrap();
        a.write_all(b"abc".to_vec()).await.0.unwrap();
        drop(a);
        let (r, buf) = b.read_exact(Vec::with_capacity(10)).await;
        assert_eq!(r.unwrap_err().kind(), ErrorKind::UnexpectedEof);
        assert_eq!(buf, b"abc");
    });
}

#[test]
fn slices_write_and_fill_parts_of_a_buffer() {
    ferrio::run(async {
        let (a, b) = UnixStream::pair().unwrap();
        let (r, whole) = a.write_all(Slice::new(b"0123456789".to_vec(), 3..7)).await;
        r.unwrap();
        assert_eq!(whole.into_inner(), b"0123456789");
        let mut buf = Vec::with_capacity(8);
        buf.extend_from_slice(b"ab");
        let (n, s) = b.read(Slice::new(buf, 2..)).await;
        assert_eq!(n.unwrap(), 4);
        assert_eq!(s.into_inner(), b"ab3456");
    });
}

#[test]
fn reading_a_reset_connection_is_connection_reset() {
    rt(1).block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let client = std::net::TcpStream::connect(addr).unwrap();
        let (server_side, _) = listener.accept().await.unwrap();
        // SO_LINGER 0 then close: the peer sends RST instead of FIN.
        let linger = libc::linger {
            l_onoff: 1,
            l_linger: 0,
        };
        use std::os::fd::AsRawFd;
        // SAFETY: plain setsockopt with a valid linger struct.
        let r = unsafe {
            libc::setsockopt(
                client.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_LINGER,
                (&linger as *const libc::linger).cast(),
                std::mem::size_of::<libc::linger>() as libc::socklen_t,
            )
        };
        assert_eq!(r, 0);
        drop(client);
        let (r, _) = server_side.read(Vec::with_capacity(16)).await;
        assert_eq!(r.unwrap_err().kind(), ErrorKind::ConnectionReset);
        // The runtime is unharmed.
        ferrio::io::nop().await.unwrap();
    });
}

#[test]
fn invalid_addresses_are_clear_errors() {
    ferrio::run(async {
        assert!(TcpListener::bind("256.0.0.1:80").is_err());
        let e = TcpStream::connect("127.0.0.1:99999").await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        assert!(UdpSocket::bind("no-such-host.invalid:1").is_err());
    });
}

/// Connected pairs over loopback, `n` of them.
async fn tcp_pairs(n: usize) -> Vec<(TcpStream, TcpStream)> {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let mut pairs = Vec::new();
    for _ in 0..n {
        let client = TcpStream::connect(addr).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        pairs.push((client, server));
    }
    pairs
}

#[test]
fn pooled_reads_share_the_ring_pool_and_fall_back_when_it_is_empty() {
    // One worker: one ring, one pool of 128 buffers.
    let rt = rt(1);
    if super::hooks::skip_unless_io_uring(&rt.handle(), "the provided-buffer pool") {
        return;
    }
    assert!(
        rt.handle().metrics().provided_buffers,
        "this kernel has buffer rings"
    );
    rt.block_on(async {
        let pairs = tcp_pairs(140).await;
        for round in 0..3u8 {
            for (client, _) in &pairs {
                client.write_all(vec![round; 100]).await.0.unwrap();
            }
            let mut held = Vec::new();
            for (_, server) in &pairs {
                let buf = server.read_pooled().await.unwrap();
                assert_eq!(&buf[..], &[round; 100][..]);
                held.push(buf);
            }
            // All 128 pool buffers are lent out; the rest fell back to
            // plain allocations, and the data is right either way.
            let pooled = held.iter().filter(|b| b.is_pooled()).count();
            assert_eq!(pooled, 128, "round {round}");
            drop(held); // every pool buffer goes back
        }
        // Reads dropped in flight, some after their data arrived: their
        // buffers go back too, so the whole pool is available after.
        for i in 0..500usize {
            let (client, server) = &pairs[i % pairs.len()];
            let mut read = std::pin::pin!(server.read_pooled());
            assert!(futures::poll!(read.as_mut()).is_pending());
            if i % 2 == 0 {
                client.write_all(vec![9u8; 10]).await.0.unwrap();
                for _ in 0..3 {
                    ferrio::yield_now().await;
                }
            }
        }
        // Drain the bytes whose reads were dropped before their data came,
        // then hold 128 pool buffers again.
        for (client, _) in &pairs {
            client.write_all(vec![1u8; 10]).await.0.unwrap();
        }
        let mut held = Vec::new();
        for (_, server) in &pairs {
            held.push(server.read_pooled().await.unwrap());
        }
        assert_eq!(held.iter().filter(|b| b.is_pooled()).count(), 128);
        // End of stream is an empty buffer.
        drop(held);
        let (client, server) = &pairs[0];
        client.shutdown(std::net::Shutdown::Write).unwrap();
        loop {
            if server.read_pooled().await.unwrap().is_empty() {
                break;
            }
        }
    });
}

#[test]
fn pooled_reads_work_without_a_pool() {
    let rt = ferrio::Runtime::builder()
        .worker_threads(1)
        .recv_buffer_pool(0, 0)
        .build()
        .unwrap();
    assert!(!rt.handle().metrics().provided_buffers);
    rt.block_on(async {
        let (a, b) = UnixStream::pair().unwrap();
        a.write_all(b"no pool".to_vec()).await.0.unwrap();
        let buf = b.read_pooled().await.unwrap();
        assert_eq!(&buf[..], b"no pool");
        assert!(!buf.is_pooled());
    });
}

/// A host name given to `connect` is looked up on the blocking pool, not
/// on the worker, which keeps running its other tasks meanwhile; a
/// literal address takes no trip to the pool.
#[test]
fn connect_resolves_names_on_the_blocking_pool() {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
    let rt = rt(1);
    rt.block_on(async {
        let listener = ferrio::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let ticks = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (t, s) = (ticks.clone(), stop.clone());
        let ticker = ferrio::spawn(async move {
            while !s.load(SeqCst) {
                t.fetch_add(1, SeqCst);
                ferrio::yield_now().await;
            }
        });
        let connect = ferrio::spawn(async move {
            ferrio::net::TcpStream::connect(format!("localhost:{port}")).await
        });
        let (accepted, connected) = ferrio::gather!(listener.accept(), connect).await;
        accepted.unwrap();
        let stream = connected.unwrap().unwrap();
        assert!(stream.peer_addr().unwrap().ip().is_loopback());
        let thread = super::hooks::last_lookup_thread().expect("a lookup ran");
        assert!(thread.ends_with("-blocking"), "looked up on {thread}");
        stop.store(true, SeqCst);
        ticker.await.unwrap();
        assert!(
            ticks.load(SeqCst) > 0,
            "the worker kept running its other task"
        );
        // lookup_host on a literal: no pool thread is needed.
        let addrs: Vec<_> = ferrio::net::lookup_host(("127.0.0.1", port))
            .await
            .unwrap()
            .collect();
        assert_eq!(
            addrs,
            vec![std::net::SocketAddr::from(([127, 0, 0, 1], port))]
        );
    });
}

#[test]
fn a_send_loop_that_never_waits_lets_a_sibling_on_its_worker_run() {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
    use std::sync::Arc;
    // One worker: the loop and the sibling share it. Each send succeeds
    // at once (UDP to a bound socket), so only the coop budget can make
    // the loop yield.
    rt(1).block_on(async {
        let stop = Arc::new(AtomicBool::new(false));
        let sends = Arc::new(AtomicU64::new(0));
        let looping = {
            let (stop, sends) = (stop.clone(), sends.clone());
            ferrio::spawn(async move {
                let a = UdpSocket::bind("127.0.0.1:0").unwrap();
                let b = UdpSocket::bind("127.0.0.1:0").unwrap();
                a.connect(b.local_addr().unwrap()).unwrap();
                let mut buf = vec![0u8; 32];
                while !stop.load(SeqCst) && sends.load(SeqCst) < 1_000_000 {
                    let (res, back) = a.send(buf).await;
                    res.unwrap();
                    buf = back;
                    sends.fetch_add(1, SeqCst);
                }
            })
        };
        let sibling = {
            let stop = stop.clone();
            ferrio::spawn(async move {
                stop.store(true, SeqCst);
            })
        };
        sibling.await.unwrap();
        looping.await.unwrap();
        let n = sends.load(SeqCst);
        assert!(n < 10_000, "the sibling ran only after {n} sends");
    });
}

#[test]
fn a_read_stopped_by_an_urgent_mark_is_not_taken_for_drained() {
    use std::io::Write as _;
    use std::os::fd::AsRawFd as _;
    rt(1).block_on(async {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut peer = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let stream = TcpStream::from_std(listener.accept().unwrap().0).unwrap();
        let (waiting_tx, waiting_rx) = std::sync::mpsc::channel();
        let sender = std::thread::spawn(move || {
            waiting_rx.recv().unwrap();
            peer.write_all(b"abc").unwrap();
            // SAFETY: one byte from a live local, on our own socket.
            let sent =
                unsafe { libc::send(peer.as_raw_fd(), b"X".as_ptr().cast(), 1, libc::MSG_OOB) };
            assert_eq!(sent, 1);
            peer.write_all(b"def").unwrap();
            peer
        });
        // The first read waits (so the socket is registered), then gets
        // the bytes before the urgent mark: a short read.
        let first = tell_when_pending(stream.read(Vec::with_capacity(64)), waiting_tx).await;
        let _peer = sender.join().unwrap();
        let (n, buf) = first;
        let mut got = buf[..n.unwrap()].to_vec();
        // The bytes behind the mark are queued: the next reads get them
        // without any new data arriving.
        while got.len() < 6 {
            let (n, buf) =
                ferrio::wait_for(stream.read(Vec::with_capacity(64)), Duration::from_secs(5))
                    .await
                    .expect("a read waited for new data while bytes were queued");
            got.extend_from_slice(&buf[..n.unwrap()]);
        }
        assert_eq!(got, b"abcdef");
    });
}

/// Sends `data` on `sock` with one descriptor (`fd`) attached.
fn send_with_fd(sock: &std::os::unix::net::UnixStream, data: &[u8], fd: i32) {
    use std::os::fd::AsRawFd as _;
    // SAFETY: the message header points at live locals for the call: the
    // data, and a control buffer sized and aligned by CMSG_SPACE for one
    // descriptor, filled through the CMSG_* accessors.
    unsafe {
        let mut iov = libc::iovec {
            iov_base: data.as_ptr() as *mut libc::c_void,
            iov_len: data.len(),
        };
        let space = libc::CMSG_SPACE(std::mem::size_of::<i32>() as u32) as usize;
        let mut control = vec![0u64; space.div_ceil(8)];
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = space;
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<i32>() as u32) as usize;
        std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<i32>(), fd);
        assert_eq!(
            libc::sendmsg(sock.as_raw_fd(), &msg, 0),
            data.len() as isize
        );
    }
}

#[test]
fn a_unix_read_stopped_by_a_message_with_descriptors_is_not_taken_for_drained() {
    use std::io::Write as _;
    use std::os::fd::AsRawFd as _;
    rt(1).block_on(async {
        let (mut peer, ours) = std::os::unix::net::UnixStream::pair().unwrap();
        let stream = UnixStream::from_std(ours).unwrap();
        let (waiting_tx, waiting_rx) = std::sync::mpsc::channel();
        let sender = std::thread::spawn(move || {
            waiting_rx.recv().unwrap();
            // A read stops right after a message that carried
            // descriptors, with "def" still queued behind it.
            let passed = std::fs::File::open("/dev/null").unwrap();
            send_with_fd(&peer, b"abc", passed.as_raw_fd());
            peer.write_all(b"def").unwrap();
            peer
        });
        let first = tell_when_pending(stream.read(Vec::with_capacity(64)), waiting_tx).await;
        let _peer = sender.join().unwrap();
        let (n, buf) = first;
        let mut got = buf[..n.unwrap()].to_vec();
        while got.len() < 6 {
            let (n, buf) =
                ferrio::wait_for(stream.read(Vec::with_capacity(64)), Duration::from_secs(5))
                    .await
                    .expect("a read waited for new data while bytes were queued");
            got.extend_from_slice(&buf[..n.unwrap()]);
        }
        assert_eq!(got, b"abcdef");
    });
}
