// Over 500 lines: one file per the net row (TcpSocket, the
// readiness calls, split/reunite, UDP options, UnixDatagram, AsyncFd and
// their cancellation), each part a handful of tests sharing the helpers
// at the top.
//! The net row of issue 25: `TcpSocket`, `TcpStream`'s readiness calls
//! and borrowed split, `reunite`, the UDP options and `peek_from`,
//! `UnixDatagram`, `AsyncFd`. Run on both drivers (`FERRIO_IO_DRIVER`).

use std::future::Future;
use std::io::{self, ErrorKind};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use futures::{AsyncReadExt, AsyncWriteExt};

use super::common::TestWaker;
use super::common::{no_op_in_flight, poll_once, rt, tcp_pair, tell_when_pending, temp_dir};
use ferrio::io::unix::AsyncFd;
use ferrio::io::Interest;
use ferrio::net::{TcpListener, TcpSocket, TcpStream, UdpSocket, UnixDatagram, UnixStream};

fn would_block<T: std::fmt::Debug>(r: io::Result<T>) -> bool {
    match r {
        Err(e) if e.kind() == ErrorKind::WouldBlock => true,
        Err(e) => panic!("expected WouldBlock, got {e}"),
        Ok(v) => panic!("expected WouldBlock, got Ok({v:?})"),
    }
}

fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// Reports a test part the machine cannot run, past the harness's
/// capture (as `hooks::skip_unless_io_uring` does).
fn report_skip(what: &str, e: &io::Error) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr().lock(), "skipped: {what}: {e}");
}

// --- TcpSocket -------------------------------------------------------------

#[test]
fn tcp_socket_options_read_back() {
    rt(1).block_on(async {
        let s = TcpSocket::new_v4().unwrap();
        assert!(!s.reuseaddr().unwrap());
        s.set_reuseaddr(true).unwrap();
        assert!(s.reuseaddr().unwrap());
        assert!(!s.reuseport().unwrap());
        s.set_reuseport(true).unwrap();
        assert!(s.reuseport().unwrap());
        assert!(!s.keepalive().unwrap());
        s.set_keepalive(true).unwrap();
        assert!(s.keepalive().unwrap());
        assert!(!s.nodelay().unwrap());
        s.set_nodelay(true).unwrap();
        assert!(s.nodelay().unwrap());
        assert_eq!(s.linger().unwrap(), None);
        s.set_linger(Some(Duration::from_secs(5))).unwrap();
        assert_eq!(s.linger().unwrap(), Some(Duration::from_secs(5)));
        s.set_linger(None).unwrap();
        assert_eq!(s.linger().unwrap(), None);
        // Linux doubles what it is given (and clamps it to its maximum,
        // which is at least 208 KiB by default).
        s.set_send_buffer_size(32 * 1024).unwrap();
        assert_eq!(s.send_buffer_size().unwrap(), 64 * 1024);
        s.set_recv_buffer_size(48 * 1024).unwrap();
        assert_eq!(s.recv_buffer_size().unwrap(), 96 * 1024);
        let too_big = s.set_send_buffer_size(u32::MAX).unwrap_err();
        assert_eq!(too_big.kind(), ErrorKind::InvalidInput);
        assert!(too_big.to_string().starts_with("ferrio"), "{too_big}");
        assert!(s.take_error().unwrap().is_none());

        // The options go with the stream `connect` makes.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let stream = s.connect(listener.local_addr().unwrap()).await.unwrap();
        assert!(stream.nodelay().unwrap());

        match TcpSocket::new_v6() {
            Ok(s6) => {
                s6.bind("[::1]:0".parse().unwrap()).unwrap();
                assert!(s6.local_addr().unwrap().is_ipv6());
                // An address of the other family is refused.
                assert!(s6.bind(loopback()).is_err());
            }
            Err(e) => report_skip("IPv6 TcpSocket", &e),
        }
    });
}

#[test]
fn stream_and_udp_options_read_back() {
    rt(1).block_on(async {
        let (a, _b) = tcp_pair().await;
        a.set_nodelay(true).unwrap();
        assert!(a.nodelay().unwrap());
        a.set_ttl(42).unwrap();
        assert_eq!(a.ttl().unwrap(), 42);
        assert_eq!(a.linger().unwrap(), None);
        a.set_linger(Some(Duration::from_secs(3))).unwrap();
        assert_eq!(a.linger().unwrap(), Some(Duration::from_secs(3)));
        assert!(a.take_error().unwrap().is_none());

        let u = UdpSocket::bind("127.0.0.1:0").unwrap();
        u.set_ttl(7).unwrap();
        assert_eq!(u.ttl().unwrap(), 7);
        assert!(!u.broadcast().unwrap());
        u.set_broadcast(true).unwrap();
        assert!(u.broadcast().unwrap());
        assert!(u.multicast_loop_v4().unwrap());
        u.set_multicast_loop_v4(false).unwrap();
        assert!(!u.multicast_loop_v4().unwrap());
        u.set_multicast_ttl_v4(3).unwrap();
        assert_eq!(u.multicast_ttl_v4().unwrap(), 3);
    });
}

#[test]
fn bind_before_connect_with_reuseaddr() {
    rt(1).block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let target = listener.local_addr().unwrap();

        let first = TcpSocket::new_v4().unwrap();
        first.set_reuseaddr(true).unwrap();
        first.bind(loopback()).unwrap();
        let from = first.local_addr().unwrap();
        assert_ne!(from.port(), 0);
        let stream = first.connect(target).await.unwrap();
        let (conn, peer) = listener.accept().await.unwrap();
        assert_eq!(peer, from, "the connection comes from the bound address");
        assert_eq!(stream.local_addr().unwrap(), from);

        // The address is in use by a connection: only a socket that asks
        // for SO_REUSEADDR may bind it too.
        let plain = TcpSocket::new_v4().unwrap();
        let e = plain.bind(from).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::AddrInUse, "{e}");
        let reusing = TcpSocket::new_v4().unwrap();
        reusing.set_reuseaddr(true).unwrap();
        reusing.bind(from).unwrap();
        assert_eq!(reusing.local_addr().unwrap(), from);

        // The connection works.
        stream.write_all(b"bound".to_vec()).await.0.unwrap();
        let (res, buf) = conn.read_exact(Vec::with_capacity(5)).await;
        res.unwrap();
        assert_eq!(buf, b"bound");
    });
}

#[test]
fn reuseport_lets_two_listeners_share_a_port() {
    rt(1).block_on(async {
        let one = TcpSocket::new_v4().unwrap();
        one.set_reuseport(true).unwrap();
        one.bind(loopback()).unwrap();
        let addr = one.local_addr().unwrap();
        let one = one.listen(16).unwrap();

        let plain = TcpSocket::new_v4().unwrap();
        assert_eq!(plain.bind(addr).unwrap_err().kind(), ErrorKind::AddrInUse);

        let two = TcpSocket::new_v4().unwrap();
        two.set_reuseport(true).unwrap();
        two.bind(addr).unwrap();
        let two = two.listen(16).unwrap();
        assert_eq!(two.local_addr().unwrap(), addr);
        assert_eq!(one.local_addr().unwrap(), addr);
    });
}

/// `TCP_INFO` of a listening socket: (connections queued, backlog).
fn listen_queue(l: &TcpListener) -> (u32, u32) {
    // SAFETY: all-zero bytes are a valid tcp_info.
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: `info`/`len` describe a live local struct.
    let r = unsafe {
        libc::getsockopt(
            l.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&mut info as *mut libc::tcp_info).cast(),
            &mut len,
        )
    };
    assert_eq!(r, 0, "{}", io::Error::last_os_error());
    (info.tcpi_unacked, info.tcpi_sacked)
}

#[test]
fn listen_uses_the_backlog_asked_for() {
    rt(1).block_on(async {
        let s = TcpSocket::new_v4().unwrap();
        s.bind(loopback()).unwrap();
        let listener = s.listen(7).unwrap();
        assert_eq!(listen_queue(&listener), (0, 7));
        let addr = listener.local_addr().unwrap();
        let mut clients = Vec::new();
        for _ in 0..3 {
            clients.push(TcpStream::connect(addr).await.unwrap());
        }
        // A connect returns once the handshake is done: each connection
        // waits in the queue.
        assert_eq!(listen_queue(&listener), (3, 7));
        for _ in 0..3 {
            listener.accept().await.unwrap();
        }
        assert_eq!(listen_queue(&listener).0, 0);

        // Unbound, a socket listens on a port the kernel picks.
        let any = TcpSocket::new_v4().unwrap().listen(1).unwrap();
        assert_ne!(any.local_addr().unwrap().port(), 0);
    });
}

#[test]
fn tcp_socket_connect_to_a_closed_port_is_refused() {
    rt(1).block_on(async {
        let closed = {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        let e = TcpSocket::new_v4()
            .unwrap()
            .connect(closed)
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ConnectionRefused, "{e}");
    });
}

#[test]
fn from_std_stream_keeps_the_connection() {
    rt(1).block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let std_stream = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        std_stream.set_nonblocking(true).unwrap();
        let socket = TcpSocket::from_std_stream(std_stream);
        socket.set_nodelay(true).unwrap();
        assert!(socket.nodelay().unwrap());
        assert!(socket.local_addr().unwrap().ip().is_loopback());
    });
}

// --- TcpStream readiness -----------------------------------------------------

#[test]
fn peek_does_not_consume() {
    rt(2).block_on(async {
        let (a, b) = tcp_pair().await;
        // Waits for data first.
        let (tx, rx) = std::sync::mpsc::channel();
        let writer = ferrio::spawn(async move {
            rx.recv().unwrap();
            a.write_all(b"peekaboo".to_vec()).await.0.unwrap();
            a
        });
        let mut buf = [0u8; 4];
        let n = tell_when_pending(b.peek(&mut buf), tx).await.unwrap();
        assert!(n > 0);
        assert_eq!(&buf[..n], &b"peek"[..n]);
        let _a = writer.await.unwrap();
        // Twice: the same bytes.
        let mut again = [0u8; 4];
        let m = b.peek(&mut again).await.unwrap();
        assert_eq!(&again[..m], &b"peek"[..m]);
        let (res, all) = b.read_exact(Vec::with_capacity(8)).await;
        res.unwrap();
        assert_eq!(all, b"peekaboo");
    });
}

#[test]
fn peek_at_end_of_stream_is_zero() {
    rt(1).block_on(async {
        let (a, b) = tcp_pair().await;
        drop(a);
        let mut buf = [0u8; 4];
        assert_eq!(b.peek(&mut buf).await.unwrap(), 0);
    });
}

#[test]
fn readable_then_try_read_loop() {
    rt(2).block_on(async {
        let (a, b) = tcp_pair().await;
        let mut buf = [0u8; 1024];
        assert!(would_block(b.try_read(&mut buf)), "nothing sent yet");
        let sender = ferrio::spawn(async move {
            for i in 0..50u8 {
                a.write_all(vec![i; 1000]).await.0.unwrap();
                ferrio::yield_now().await;
            }
        });
        let mut got = Vec::new();
        loop {
            b.readable().await.unwrap();
            match b.try_read(&mut buf) {
                Ok(0) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => continue,
                Err(e) => panic!("{e}"),
            }
        }
        sender.await.unwrap();
        let want: Vec<u8> = (0..50u8).flat_map(|i| vec![i; 1000]).collect();
        assert_eq!(got, want);
    });
}

/// A connected pair with small socket buffers, so a writer fills them fast.
async fn small_buffered_pair() -> (TcpStream, TcpStream) {
    let listener = TcpSocket::new_v4().unwrap();
    // Accepted connections inherit the listener's receive buffer.
    set_rcvbuf(&listener, 8 * 1024);
    listener.bind(loopback()).unwrap();
    let listener = listener.listen(8).unwrap();
    let s = TcpSocket::new_v4().unwrap();
    s.set_send_buffer_size(8 * 1024).unwrap();
    let (client, accepted) =
        futures::join!(s.connect(listener.local_addr().unwrap()), listener.accept());
    (client.unwrap(), accepted.unwrap().0)
}

fn set_rcvbuf(s: &impl AsRawFd, bytes: i32) {
    // SAFETY: a live local int.
    let r = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&bytes as *const i32).cast(),
            4,
        )
    };
    assert_eq!(r, 0);
}

#[test]
fn try_write_until_would_block_then_the_peer_drains() {
    rt(2).block_on(async {
        let (a, b) = small_buffered_pair().await;
        let chunk = vec![7u8; 16 * 1024];
        let mut written = 0usize;
        // Fill until a write would block and writability does not come
        // back by itself (the peer reads nothing).
        loop {
            match a.try_write(&chunk) {
                Ok(n) => {
                    written += n;
                    continue;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => panic!("{e}"),
            }
            let mut w = Box::pin(a.writable());
            if poll_once(w.as_mut()).await.is_pending() {
                break;
            }
        }
        assert!(written > 0);
        // The writer waits; the peer drains with readable/try_read.
        let writable = ferrio::spawn(async move {
            a.writable().await.unwrap();
            a
        });
        let mut buf = vec![0u8; 64 * 1024];
        let mut drained = 0usize;
        while drained < written {
            b.readable().await.unwrap();
            match b.try_read(&mut buf) {
                Ok(0) => panic!("end of stream after {drained} of {written}"),
                Ok(n) => drained += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => panic!("{e}"),
            }
        }
        let a = writable.await.unwrap();
        assert!(
            a.try_write(b"more").unwrap() > 0,
            "writable after the drain"
        );
        assert_eq!(drained, written);
    });
}

#[test]
fn ready_reports_the_directions_found() {
    rt(1).block_on(async {
        let (a, b) = tcp_pair().await;
        let r = a
            .ready(Interest::READABLE | Interest::WRITABLE)
            .await
            .unwrap();
        assert!(r.is_writable() && !r.is_readable(), "{r:?}");
        b.write_all(b"x".to_vec()).await.0.unwrap();
        let r = a.ready(Interest::READABLE).await.unwrap();
        assert!(r.is_readable() && !r.is_writable(), "{r:?}");
        let mut one = [0u8; 1];
        assert_eq!(a.try_read(&mut one).unwrap(), 1);
        // The peer hangs up and we shut our side: both directions closed.
        drop(b);
        assert_eq!(a.peek(&mut one).await.unwrap(), 0);
        a.shutdown(std::net::Shutdown::Write).unwrap();
        let r = a.ready(Interest::READABLE).await.unwrap();
        assert!(r.is_readable() && r.is_read_closed(), "{r:?}");
        let r = a.ready(Interest::WRITABLE).await.unwrap();
        assert!(r.is_write_closed() && !r.is_read_closed(), "{r:?}");
    });
}

#[test]
fn a_peek_loop_that_never_waits_lets_a_sibling_run() {
    rt(1).block_on(async {
        let (a, b) = tcp_pair().await;
        a.write_all(b"data".to_vec()).await.0.unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let peeks = Arc::new(AtomicU64::new(0));
        let looping = {
            let (stop, peeks) = (stop.clone(), peeks.clone());
            ferrio::spawn(async move {
                let mut buf = [0u8; 4];
                while !stop.load(SeqCst) && peeks.load(SeqCst) < 1_000_000 {
                    assert!(b.peek(&mut buf).await.unwrap() > 0);
                    peeks.fetch_add(1, SeqCst);
                }
            })
        };
        let sibling = ferrio::spawn({
            let stop = stop.clone();
            async move { stop.store(true, SeqCst) }
        });
        sibling.await.unwrap();
        looping.await.unwrap();
        // The bound: a budget of 128 per poll, and a worker looks at the
        // injector (where the sibling waits) every few dozen polls: some
        // thousands of peeks, never the million the loop would make
        // without the budget.
        let n = peeks.load(SeqCst);
        assert!(n < 100_000, "the sibling ran only after {n} peeks");
        drop(a);
    });
}

// --- split / reunite ---------------------------------------------------------

#[test]
fn borrowed_split_reads_and_writes_at_once() {
    rt(2).block_on(async {
        let (mut a, mut b) = tcp_pair().await;
        let peer = ferrio::spawn(async move {
            let (mut r, mut w) = TcpStream::split(&mut b);
            futures::io::copy(&mut r, &mut w).await.unwrap();
            w.close().await.unwrap();
        });
        let payload: Vec<u8> = (0..200_000u32).map(|i| i as u8).collect();
        let (mut r, mut w) = TcpStream::split(&mut a);
        let send = async {
            AsyncWriteExt::write_all(&mut w, &payload).await.unwrap();
            w.close().await.unwrap();
        };
        let mut back = Vec::new();
        let recv = async { r.read_to_end(&mut back).await.unwrap() };
        futures::join!(send, recv);
        assert_eq!(back, payload);
        peer.await.unwrap();
        // The halves are gone: the stream is whole again.
        assert_eq!(AsyncReadExt::read(&mut a, &mut [0u8; 1]).await.unwrap(), 0);
    });
}

#[test]
fn a_borrowed_write_half_gives_its_write_behind_back() {
    rt(1).block_on(async {
        let (mut a, b) = tcp_pair().await;
        {
            let (_r, mut w) = TcpStream::split(&mut a);
            // Not flushed: on a ring the write may still be in flight.
            AsyncWriteExt::write(&mut w, b"behind").await.unwrap();
        }
        // The stream's own flush and close finish it.
        a.close().await.unwrap();
        let mut got = Vec::new();
        loop {
            let (n, buf) = b.read(Vec::with_capacity(64)).await;
            match n.unwrap() {
                0 => break,
                n => got.extend_from_slice(&buf[..n]),
            }
        }
        assert_eq!(got, b"behind");
    });
}

#[test]
fn reunite_puts_the_stream_back_and_refuses_mismatched_halves() {
    rt(1).block_on(async {
        let (a, peer_a) = tcp_pair().await;
        let (c, _peer_c) = tcp_pair().await;
        let (ar, aw) = a.into_split();
        let (cr, cw) = c.into_split();
        // Halves of two streams: an error, both halves back.
        let err = ar.reunite(cw).unwrap_err();
        assert!(err.to_string().starts_with("ferrio"), "{err}");
        let ferrio::net::ReuniteError(ar, cw) = err;
        // A TCP stream's halves are not a Unix stream's.
        let ferrio::net::ReuniteError(ar, aw) = ar.reunite_unix(aw).unwrap_err();
        let mut a = ar.reunite(aw).unwrap();
        let _c = cr.reunite(cw).unwrap();
        // Reuniting shut nothing down: the peer gets the bytes, then end
        // of stream only when we close.
        AsyncWriteExt::write_all(&mut a, b"whole").await.unwrap();
        a.flush().await.unwrap();
        let (res, buf) = peer_a.read_exact(Vec::with_capacity(5)).await;
        res.unwrap();
        assert_eq!(buf, b"whole");
        peer_a.write_all(b"back".to_vec()).await.0.unwrap();
        let mut four = [0u8; 4];
        AsyncReadExt::read_exact(&mut a, &mut four).await.unwrap();
        assert_eq!(&four, b"back");
        a.close().await.unwrap();
        let (n, _) = peer_a.read(Vec::with_capacity(4)).await;
        assert_eq!(n.unwrap(), 0);
    });
}

#[test]
fn unix_halves_reunite_and_owned_halves_have_the_readiness_calls() {
    rt(1).block_on(async {
        let (a, b) = UnixStream::pair().unwrap();
        let (r, w) = a.into_split();
        assert_eq!(w.try_write(b"self").unwrap(), 4);
        let (br, bw) = b.into_split();
        br.readable().await.unwrap();
        let mut four = [0u8; 4];
        assert_eq!(br.peek(&mut four).await.unwrap(), 4);
        assert_eq!(br.try_read(&mut four).unwrap(), 4);
        assert_eq!(&four, b"self");
        assert!(would_block(br.try_read(&mut four)));
        bw.writable().await.unwrap();
        bw.write_all(b"pong".to_vec()).await.0.unwrap();
        assert!(r.ready(Interest::READABLE).await.unwrap().is_readable());
        let a = r.reunite_unix(w).unwrap();
        let (res, buf) = a.read_exact(Vec::with_capacity(4)).await;
        res.unwrap();
        assert_eq!(buf, b"pong");
        // `forget` drops a write half without shutting down.
        bw.forget();
        let mut one = [0u8; 1];
        assert!(
            would_block(a.try_read(&mut one)),
            "forget shut nothing down"
        );
        drop(br);
        let (n, _) = a.read(Vec::with_capacity(1)).await;
        assert_eq!(n.unwrap(), 0, "the last half closed the socket");
    });
}

// --- UDP ---------------------------------------------------------------------

#[test]
fn udp_peek_from_does_not_consume() {
    rt(1).block_on(async {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut buf = [0u8; 16];
        assert!(would_block(b.try_peek_from(&mut buf)));
        a.send_to(b"first".to_vec(), b.local_addr().unwrap())
            .await
            .0
            .unwrap();
        a.send_to(b"second".to_vec(), b.local_addr().unwrap())
            .await
            .0
            .unwrap();
        for _ in 0..2 {
            let (n, from) = b.peek_from(&mut buf).await.unwrap();
            assert_eq!((&buf[..n], from), (&b"first"[..], a.local_addr().unwrap()));
        }
        // A short buffer truncates the copy only.
        let mut two = [0u8; 2];
        assert_eq!(b.peek_from(&mut two).await.unwrap().0, 2);
        let (res, got) = b.recv_from(Vec::with_capacity(16)).await;
        assert_eq!(res.unwrap().0, 5);
        assert_eq!(got, b"first");
        let (n, _) = b.peek_from(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"second");
    });
}

#[test]
fn multicast_join_and_leave_on_the_loopback() {
    rt(1).block_on(async {
        let group = Ipv4Addr::new(239, 255, 42, 99);
        let receiver = UdpSocket::bind("0.0.0.0:0").unwrap();
        match receiver.join_multicast_v4(group, Ipv4Addr::LOCALHOST) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::ENODEV) => {
                return report_skip("IPv4 multicast on the loopback (ENODEV)", &e);
            }
            Err(e) => panic!("join_multicast_v4: {e}"),
        }
        // A datagram sent to the group through the loopback arrives.
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        sender.set_multicast_loop_v4(true).unwrap();
        let lo = libc::in_addr {
            s_addr: u32::from_ne_bytes(Ipv4Addr::LOCALHOST.octets()),
        };
        // SAFETY: a live local in_addr of the size given.
        let r = unsafe {
            libc::setsockopt(
                sender.as_raw_fd(),
                libc::IPPROTO_IP,
                libc::IP_MULTICAST_IF,
                (&lo as *const libc::in_addr).cast(),
                std::mem::size_of::<libc::in_addr>() as libc::socklen_t,
            )
        };
        assert_eq!(r, 0);
        let port = receiver.local_addr().unwrap().port();
        let (sent, _) = sender
            .send_to(b"to the group".to_vec(), SocketAddr::from((group, port)))
            .await;
        match sent {
            Ok(n) => {
                assert_eq!(n, 12);
                let (res, buf) = receiver.recv_from(Vec::with_capacity(32)).await;
                let (n, from) = res.unwrap();
                assert_eq!(&buf[..n], b"to the group");
                assert_eq!(from, sender.local_addr().unwrap());
            }
            Err(e) => report_skip("a multicast datagram through the loopback", &e),
        }
        receiver
            .leave_multicast_v4(group, Ipv4Addr::LOCALHOST)
            .unwrap();
        // Left: a second leave finds no membership.
        let e = receiver
            .leave_multicast_v4(group, Ipv4Addr::LOCALHOST)
            .unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EADDRNOTAVAIL), "{e}");

        // IPv6, on the loopback's index.
        let Ok(r6) = UdpSocket::bind("[::]:0") else {
            return;
        };
        // SAFETY: a NUL-terminated name.
        let lo_index = unsafe { libc::if_nametoindex(c"lo".as_ptr()) };
        let group6: Ipv6Addr = "ff02::1:ff42".parse().unwrap();
        match r6.join_multicast_v6(&group6, lo_index) {
            Ok(()) => {
                r6.leave_multicast_v6(&group6, lo_index).unwrap();
                assert!(r6.leave_multicast_v6(&group6, lo_index).is_err());
            }
            Err(e) => report_skip("IPv6 multicast on the loopback", &e),
        }
    });
}

// --- UnixDatagram ------------------------------------------------------------

#[test]
fn unix_datagram_round_trips() {
    use std::os::linux::net::SocketAddrExt;
    rt(1).block_on(async {
        let dir = temp_dir("unix-dgram");
        let server_path = dir.join("server");
        let client_path = dir.join("client");
        let server = UnixDatagram::bind(&server_path).unwrap();
        assert_eq!(
            server.local_addr().unwrap().as_pathname(),
            Some(server_path.as_path())
        );

        // From an unbound socket: the sender is unnamed.
        let unbound = UnixDatagram::unbound().unwrap();
        assert_eq!(
            unbound
                .send_to(b"anon".to_vec(), &server_path)
                .await
                .0
                .unwrap(),
            4
        );
        let (res, buf) = server.recv_from(Vec::with_capacity(16)).await;
        let (n, from) = res.unwrap();
        assert_eq!(&buf[..n], b"anon");
        assert!(from.is_unnamed());

        // From a bound one: its path; the reply goes back there.
        let client = UnixDatagram::bind(&client_path).unwrap();
        client
            .send_to(b"named".to_vec(), &server_path)
            .await
            .0
            .unwrap();
        let (res, buf) = server.recv_from(Vec::with_capacity(16)).await;
        let (n, from) = res.unwrap();
        assert_eq!(&buf[..n], b"named");
        let back = from.as_pathname().unwrap().to_path_buf();
        assert_eq!(back, client_path);
        server.send_to(b"reply".to_vec(), &back).await.0.unwrap();
        let (n, buf) = client.recv(Vec::with_capacity(16)).await;
        assert_eq!(&buf[..n.unwrap()], b"reply");

        // From an abstract name.
        let name = format!("ferrio-test-abstract-{}", std::process::id());
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let abs =
            UnixDatagram::from_std(std::os::unix::net::UnixDatagram::bind_addr(&addr).unwrap())
                .unwrap();
        abs.send_to(b"abs".to_vec(), &server_path).await.0.unwrap();
        let (res, _) = server.recv_from(Vec::with_capacity(16)).await;
        assert_eq!(res.unwrap().1.as_abstract_name(), Some(name.as_bytes()));

        // Connected: send/recv, and the peer's address.
        client.connect(&server_path).unwrap();
        assert_eq!(
            client.peer_addr().unwrap().as_pathname(),
            Some(server_path.as_path())
        );
        client.send(b"connected".to_vec()).await.0.unwrap();
        let (res, buf) = server.recv_from(Vec::with_capacity(4)).await;
        // A datagram longer than the buffer is truncated.
        assert_eq!(res.unwrap().0, 4);
        assert_eq!(buf, b"conn");

        // Not connected: send has no peer.
        assert!(unbound.send(b"x".to_vec()).await.0.is_err());
        assert!(server.peer_addr().is_err());
        let long = dir.join("x".repeat(200));
        let e = unbound.send_to(b"x".to_vec(), &long).await.0.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        std::fs::remove_dir_all(&dir).unwrap();
    });
}

#[test]
fn unix_datagram_pair_waits_for_a_datagram() {
    rt(2).block_on(async {
        let (a, b) = UnixDatagram::pair().unwrap();
        assert!(a.local_addr().unwrap().is_unnamed());
        let (tx, rx) = std::sync::mpsc::channel();
        let sender = ferrio::spawn(async move {
            rx.recv().unwrap();
            a.send(b"late".to_vec()).await.0.unwrap();
            a.send(b"later".to_vec()).await.0.unwrap();
            a
        });
        let (n, buf) = tell_when_pending(b.recv(Vec::with_capacity(16)), tx).await;
        assert_eq!(&buf[..n.unwrap()], b"late");
        b.readable().await.unwrap();
        let (n, buf) = b.recv(Vec::with_capacity(16)).await;
        assert_eq!(&buf[..n.unwrap()], b"later");
        let a = sender.await.unwrap();
        a.writable().await.unwrap();
    });
}

// --- AsyncFd -------------------------------------------------------------------

fn eventfd() -> OwnedFd {
    // SAFETY: plain syscall; checked.
    let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
    assert!(fd >= 0, "{}", io::Error::last_os_error());
    // SAFETY: a fresh descriptor we own.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

fn eventfd_read(fd: &OwnedFd) -> io::Result<u64> {
    let mut v = 0u64;
    // SAFETY: 8 writable bytes.
    let r = unsafe { libc::read(fd.as_raw_fd(), (&mut v as *mut u64).cast(), 8) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(v)
}

fn eventfd_write(fd: i32, v: u64) {
    // SAFETY: 8 readable bytes.
    let r = unsafe { libc::write(fd, (&v as *const u64).cast(), 8) };
    assert_eq!(r, 8);
}

#[test]
fn async_fd_on_an_eventfd() {
    rt(2).block_on(async {
        let efd = AsyncFd::new(eventfd()).unwrap();
        let raw = efd.as_raw_fd();
        let (tx, rx) = std::sync::mpsc::channel();
        let poster = std::thread::spawn(move || {
            rx.recv().unwrap();
            eventfd_write(raw, 5);
        });
        let mut guard = tell_when_pending(efd.readable(), tx).await.unwrap();
        assert!(guard.ready().is_readable());
        let v = guard
            .try_io(|fd| eventfd_read(fd.get_ref()))
            .unwrap()
            .unwrap();
        assert_eq!(v, 5);
        // Drained: the next call would block; the guard says wait again.
        assert!(guard.try_io(|fd| eventfd_read(fd.get_ref())).is_err());
        assert!(guard.ready().is_empty());
        poster.join().unwrap();
        // An eventfd is writable while its counter has room.
        let g = efd.writable().await.unwrap();
        assert!(g.ready().is_writable());
        assert_eq!(g.get_inner().as_raw_fd(), raw);
        // async_io: the whole wait-and-retry loop.
        eventfd_write(raw, 2);
        let v = efd
            .async_io(Interest::READABLE, eventfd_read)
            .await
            .unwrap();
        assert_eq!(v, 2);
        let inner = efd.into_inner();
        assert!(
            would_block(eventfd_read(&inner)),
            "the descriptor is still ours"
        );
    });
}

/// A non-blocking pipe: (read end, write end).
fn nonblocking_pipe() -> (std::fs::File, std::fs::File) {
    let mut fds = [0; 2];
    // SAFETY: plain syscall with a valid array.
    let r = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) };
    assert_eq!(r, 0);
    // SAFETY: fresh descriptors we own.
    unsafe {
        (
            std::fs::File::from_raw_fd(fds[0]),
            std::fs::File::from_raw_fd(fds[1]),
        )
    }
}

#[test]
fn async_fd_on_a_pipe() {
    use std::io::{Read, Write};
    rt(2).block_on(async {
        let (rd, wr) = nonblocking_pipe();
        let mut rd = AsyncFd::new(rd).unwrap();
        let wr = AsyncFd::new(wr).unwrap();
        // Fill the pipe until a write would block (a full pipe is not
        // writable: the wait must not end).
        let chunk = vec![1u8; 4096];
        let mut written = 0;
        loop {
            match wr.get_ref().write(&chunk) {
                Ok(n) => written += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => panic!("{e}"),
            }
        }
        let mut full = Box::pin(wr.writable());
        assert!(poll_once(full.as_mut()).await.is_pending(), "a full pipe");
        drop(full);
        // Drain through the mutable guard, while the writer waits.
        let writer = ferrio::spawn(async move {
            let ready = wr.writable().await.unwrap().ready();
            assert!(ready.is_writable());
            wr
        });
        let mut buf = vec![0u8; 64 * 1024];
        let mut drained = 0;
        while drained < written {
            let mut g = rd.readable_mut().await.unwrap();
            if let Ok(n) = g.try_io(|r| r.get_mut().read(&mut buf)) {
                drained += n.unwrap();
            }
        }
        assert_eq!(drained, written);
        let wr = writer.await.unwrap();
        // The write end closed: the read end is readable, at end of file.
        drop(wr);
        let n = rd
            .async_io_mut(Interest::READABLE, |r| r.read(&mut buf))
            .await
            .unwrap();
        assert_eq!(n, 0);
    });
}

#[test]
fn async_fd_refuses_a_blocking_descriptor() {
    rt(1).block_on(async {
        let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
        let (a, e) = AsyncFd::try_new(a).unwrap_err().into_parts();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        assert!(e.to_string().starts_with("ferrio"), "{e}");
        a.set_nonblocking(true).unwrap();
        let fd = AsyncFd::new(a).unwrap();
        // The duplicate is closed with the AsyncFd; the value lives on.
        let a = fd.into_inner();
        assert!(a.set_nonblocking(true).is_ok());
    });
}

// --- cancellation ------------------------------------------------------------

/// Polls `fut` once on this thread with a counted waker (it must wait),
/// drops it, and checks that no waker clone and no op is left behind.
async fn dropped_while_waiting(what: &str, fut: impl Future) {
    let w = TestWaker::new();
    let mut fut = Box::pin(fut);
    assert!(w.poll(fut.as_mut()).is_pending(), "{what}: meant to wait");
    drop(fut);
    w.settle(what);
    no_op_in_flight(&ferrio::Handle::current(), what).await;
}

/// The same on a worker: polled once by a task, dropped there.
async fn dropped_in_a_task<F: Future + Send + 'static>(what: &str, fut: F) {
    let waited = ferrio::spawn(async move {
        let mut fut = Box::pin(fut);
        poll_once(fut.as_mut()).await.is_pending()
    })
    .await
    .unwrap();
    assert!(waited, "{what}: meant to wait");
    no_op_in_flight(&ferrio::Handle::current(), what).await;
}

#[test]
fn dropped_readiness_waits_leave_nothing_behind() {
    rt(1).block_on(async {
        let (a, b) = tcp_pair().await;
        let (a, b) = (Arc::new(a), Arc::new(b));
        dropped_while_waiting("readable", a.readable()).await;
        dropped_while_waiting("ready(READABLE)", a.ready(Interest::READABLE)).await;
        let mut buf = [0u8; 8];
        dropped_while_waiting("peek", a.peek(&mut buf)).await;
        {
            let a = a.clone();
            dropped_in_a_task("readable in a task", async move { a.readable().await }).await;
        }
        let efd = Arc::new(AsyncFd::new(eventfd()).unwrap());
        dropped_while_waiting("AsyncFd::readable", efd.readable()).await;
        {
            let efd = efd.clone();
            dropped_in_a_task("AsyncFd::readable in a task", async move {
                efd.readable().await.map(drop)
            })
            .await;
        }
        let u = UdpSocket::bind("127.0.0.1:0").unwrap();
        dropped_while_waiting("peek_from", u.peek_from(&mut buf)).await;

        // Nothing was lost: the next wait sees what arrives.
        b.write_all(b"after".to_vec()).await.0.unwrap();
        a.readable().await.unwrap();
        let n = loop {
            match a.try_read(&mut buf) {
                Ok(n) => break n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => a.readable().await.unwrap(),
                Err(e) => panic!("{e}"),
            }
        };
        assert_eq!(&buf[..n], &b"after"[..n]);
        eventfd_write(efd.as_raw_fd(), 1);
        let v = efd
            .async_io(Interest::READABLE, eventfd_read)
            .await
            .unwrap();
        assert_eq!(v, 1);
    });
}

#[test]
fn a_dropped_writable_or_both_way_wait_leaves_nothing_behind() {
    rt(1).block_on(async {
        let (a, b) = small_buffered_pair().await;
        let chunk = vec![0u8; 16 * 1024];
        loop {
            while a.try_write(&chunk).is_ok() {}
            let mut w = Box::pin(a.writable());
            if poll_once(w.as_mut()).await.is_pending() {
                break;
            }
        }
        dropped_while_waiting("writable", a.writable()).await;
        dropped_while_waiting(
            "ready(READABLE | WRITABLE)",
            a.ready(Interest::READABLE | Interest::WRITABLE),
        )
        .await;
        // The peer drains; the writer is told.
        let drain = ferrio::spawn(async move {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                b.readable().await.unwrap();
                match b.try_read(&mut buf) {
                    Ok(0) => return,
                    Ok(_) => {}
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                    Err(e) => panic!("{e}"),
                }
            }
        });
        let r = a
            .ready(Interest::READABLE | Interest::WRITABLE)
            .await
            .unwrap();
        assert!(r.is_writable() && !r.is_readable(), "{r:?}");
        drop(a);
        drain.await.unwrap();
    });
}

#[test]
fn readiness_outside_a_runtime_is_an_error() {
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let std_stream = std::net::TcpStream::connect(std_listener.local_addr().unwrap()).unwrap();
    let stream = TcpStream::from_std(std_stream).unwrap();
    let res = super::common::block_on_plain(stream.readable());
    let e = res.unwrap_err();
    assert!(e.to_string().starts_with("ferrio"), "{e}");
    let mut fut = Box::pin(stream.writable());
    assert!(matches!(
        super::common::poll_noop(fut.as_mut()),
        Poll::Ready(Err(_))
    ));
}
