//! Sockets: UDP, Unix, the futures-io traits, read_exact, and the fault
//! cases (reset, invalid input).

use std::io::ErrorKind;
use std::sync::Arc;
use std::time::Duration;

use futures::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};

use super::common::{rt, tell_when_pending, until};
use ferrio::io::Slice;
use ferrio::net::{TcpListener, TcpStream, UdpSocket, UnixListener, UnixStream};

fn temp_dir(tag: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("ferrio-test-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

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
fn incoming_accepts_many_connections_with_one_multishot_accept() {
    use futures::StreamExt;
    let rt = rt(1);
    let handle = rt.handle();
    rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        // Clients from a plain thread, so the ring sees only the accepts.
        let clients = std::thread::spawn(move || {
            (0..200)
                .map(|_| std::net::TcpStream::connect(addr).unwrap())
                .collect::<Vec<_>>()
        });
        let before = handle.metrics().ops_submitted;
        let mut incoming = listener.incoming();
        let mut conns = Vec::new();
        for _ in 0..200 {
            conns.push(incoming.next().await.unwrap().unwrap());
        }
        let ops = handle.metrics().ops_submitted - before;
        // One SQE for all of them (a few more if the kernel ended the
        // multi-shot, e.g. on a full completion queue).
        assert!(ops <= 5, "{ops} accept SQEs for 200 connections");
        let clients = clients.join().unwrap();
        drop(clients);
    });
}

#[test]
fn into_std_after_futures_io_use_keeps_the_connection_working() {
    rt(2).block_on(async {
        let pairs = tcp_pairs(1).await;
        let (client, server) = pairs.into_iter().next().unwrap();
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
fn an_unpolled_incoming_stream_stops_accepting_at_its_limit() {
    let probe = rt(1);
    if super::hooks::skip_unless_io_uring(&probe.handle(), "multi-shot accept's queue limit") {
        return;
    }
    drop(probe);
    use futures::StreamExt;
    // Connections waiting in the listener's accept queue. Counting this
    // process's descriptors instead would race with the tests running
    // beside this one.
    fn accept_queue_len(listener: &TcpListener) -> usize {
        use std::os::fd::AsRawFd;
        // SAFETY: tcp_info is plain data; zeroes are a valid value.
        let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
        // SAFETY: the pointers name `info` and `len`, which outlive the
        // call; the kernel writes at most `len` bytes.
        let rc = unsafe {
            libc::getsockopt(
                listener.as_raw_fd(),
                libc::IPPROTO_TCP,
                libc::TCP_INFO,
                (&mut info as *mut libc::tcp_info).cast(),
                &mut len,
            )
        };
        assert_eq!(rc, 0, "{}", std::io::Error::last_os_error());
        // On a listening socket the kernel reports its accept queue here.
        info.tcpi_unacked as usize
    }
    fn connect_from_a_thread(addr: std::net::SocketAddr, n: usize) -> Vec<std::net::TcpStream> {
        std::thread::spawn(move || {
            (0..n)
                .map(|_| std::net::TcpStream::connect(addr).unwrap())
                .collect::<Vec<_>>()
        })
        .join()
        .unwrap()
    }
    let rt = rt(1);
    let task = rt.spawn(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let mut incoming = listener.incoming();
        // Arm the multi-shot accept, then stop polling it.
        assert!(futures::poll!(incoming.next()).is_pending());
        // A first wave past the limit (64): however the ring batches the
        // completions, reaping them pauses the accept.
        let mut clients = connect_from_a_thread(addr, 70);
        // Until the ring has taken at least the limit's worth (however
        // slowly a loaded machine gets there) ...
        until("64 accepted", || {
            clients.len() - accept_queue_len(&listener) >= 64
        })
        .await;
        // ... and a few parks more, each an enter that reaps and cancels.
        for _ in 0..20 {
            ferrio::sleep(Duration::from_millis(1)).await;
        }
        // A second wave finds the accept paused: it waits in the backlog.
        clients.extend(connect_from_a_thread(addr, 50));
        // Parks (enters) in which a broken pause would accept them.
        for _ in 0..20 {
            ferrio::sleep(Duration::from_millis(1)).await;
        }
        let waiting = accept_queue_len(&listener);
        assert!(waiting <= clients.len());
        let accepted_unpolled = clients.len() - waiting;
        assert!(
            accepted_unpolled <= 70,
            "{accepted_unpolled} connections accepted for a stream nobody polled"
        );
        // Taking them resumes the accept: every connection arrives.
        for _ in 0..clients.len() {
            incoming.next().await.unwrap().unwrap();
        }
    });
    rt.block_on(task).unwrap();
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

#[test]
fn split_halves_read_and_write_from_two_tasks() {
    rt(2).block_on(async {
        let pairs = tcp_pairs(1).await;
        let (client, server) = pairs.into_iter().next().unwrap();
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

#[test]
fn a_unix_connect_to_a_full_backlog_completes_once_the_listener_accepts() {
    let dir = std::env::temp_dir().join(format!("ferrio-backlog-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("sock");
    let _ = std::fs::remove_file(&path);
    // A listener with a backlog of 0: one pending connection fills it.
    let listener = {
        let std_listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        use std::os::fd::AsRawFd as _;
        // SAFETY: plain syscall on the listener's own descriptor.
        assert_eq!(unsafe { libc::listen(std_listener.as_raw_fd(), 0) }, 0);
        std_listener
    };
    let first = std::os::unix::net::UnixStream::connect(&path).unwrap();
    let rt = rt(1);
    let (pending_tx, pending_rx) = std::sync::mpsc::channel();
    let task = {
        let path = path.clone();
        // Only this task polls the connect, and only when woken.
        rt.spawn(async move { tell_when_pending(UnixStream::connect(&path), pending_tx).await })
    };
    pending_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the backlog of 0 was not full: the scenario did not arise");
    // Room in the backlog: the connect must complete on its own.
    let (accepted, _) = listener.accept().unwrap();
    let stream = rt
        .block_on(ferrio::wait_for(task, Duration::from_secs(10)))
        .expect("the connect never completed after the backlog had room")
        .unwrap()
        .unwrap();
    drop((stream, accepted));
    drop((first, listener));
    std::fs::remove_dir_all(&dir).unwrap();
}
