//! The io_uring driver: round trips, pipes, cancellation in flight, the
//! unavailable path, and where idle workers sleep.

use std::future::Future;
use std::os::fd::{FromRawFd, OwnedFd};
use std::pin::Pin;
use std::sync::{mpsc, Arc};
use std::time::Duration;

use super::common::{no_op_in_flight, pipe, poll_noop, rt};
use ferrio::net::UnixStream;

#[test]
fn nop_round_trips_on_workers_and_block_on() {
    let rt = rt(2);
    rt.block_on(async {
        ferrio::io::nop().await.unwrap();
        let tasks: Vec<_> = (0..1_000)
            .map(|_| ferrio::spawn(async { ferrio::io::nop().await }))
            .collect();
        for t in tasks {
            t.await.unwrap().unwrap();
        }
    });
    let m = rt.handle().metrics();
    if !super::hooks::skip_unless_io_uring(&rt.handle(), "ring op counters") {
        assert!(m.ops_completed >= 1_001, "{m:?}");
    }
}

#[test]
fn pipe_write_then_read() {
    ferrio::run(async {
        let (rd, wr) = pipe();
        let (n, _) = wr.write(b"hello ferrio".to_vec()).await;
        assert_eq!(n.unwrap(), 12);
        let (n, buf) = rd.read(Vec::with_capacity(64)).await;
        assert_eq!(n.unwrap(), 12);
        assert_eq!(&buf[..], b"hello ferrio");
    });
}

#[test]
fn dropping_a_read_in_flight_then_writing_is_safe() {
    // One worker, inside a task: the read, its cancellation and the next
    // write go to the same ring in that order, so the cancel lands before
    // the data (a read cancelled after it completed would take the data
    // with it, as with any dropped read).
    let rt = rt(1);
    let task = rt.spawn(async {
        let (rd, wr) = pipe();
        for round in 0..50u8 {
            // Start a read that cannot complete, poll it once, drop it.
            {
                let mut read = Box::pin(rd.read(vec![0u8; 4096]));
                assert!(poll_noop(read.as_mut()).is_pending());
            }
            ferrio::yield_now().await;
            // Whatever happens to the cancelled read, later reads work.
            let (n, _) = wr.write(vec![round; 8]).await;
            assert_eq!(n.unwrap(), 8);
            let (n, buf) = rd.read(Vec::with_capacity(8)).await;
            let n = n.unwrap();
            assert!(n > 0);
            assert!(buf.iter().all(|&b| b == round));
            // The cancelled read may have consumed some bytes of this round
            // (a read the kernel completed before the cancel arrived):
            // drain what is left so rounds stay separate.
            if n < 8 {
                let (m, _) = rd.read(Vec::with_capacity(8 - n)).await;
                assert_eq!(n + m.unwrap(), 8);
            }
        }
    });
    rt.block_on(task).unwrap();
}

type BoxedRead = Pin<Box<dyn Future<Output = (std::io::Result<usize>, Vec<u8>)> + Send>>;

/// A read first polled in `block_on` (its SQE waits in the worker's
/// remote queue) and dropped on that worker before the queue is drained
/// is cancelled: its cancel does not overtake it into the ring (to find
/// nothing there while the read runs on and takes the next bytes).
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
        assert!(poll_noop(read.as_mut()).is_pending(), "no data yet");
        fut_tx.send(read).unwrap();
        dropper.await.unwrap();

        // Every op reaches its end: the dropped read is cancelled.
        no_op_in_flight(&handle, "the dropped read").await;
        let (r, _) = b.write_all(b"DATA".to_vec()).await;
        r.unwrap();
        let got = ferrio::wait_for(a.read(vec![0u8; 16]), Duration::from_secs(10)).await;
        let (n, buf) = got.expect("a fresh read gets the bytes, not the dropped one");
        assert_eq!(&buf[..n.unwrap()], b"DATA");
    });
}

#[test]
fn io_uring_unavailable_is_a_clear_error() {
    for (errno, needle) in [
        (libc::EPERM, "seccomp"),
        (libc::ENOSYS, "no io_uring"),
        (libc::ENOMEM, "locked-memory"),
        (libc::EOPNOTSUPP, "not supported"),
    ] {
        // Forced io_uring: the runtime does not start, and says why.
        let builder = ferrio::Runtime::builder()
            .worker_threads(1)
            .io_driver(ferrio::IoDriver::IoUring);
        let err = super::hooks::simulate_io_uring_setup_error(builder, errno)
            .build()
            .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("io_uring is unavailable"), "{msg}");
        // EPERM names the sysctl instead when it is set.
        let sysctl =
            std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled").unwrap_or_default();
        let names_cause = errno != libc::EPERM || sysctl.trim() == "0" || sysctl.is_empty();
        if names_cause {
            assert!(msg.contains(needle), "{msg}");
        }
        // Auto (the default): the runtime falls back to epoll, keeps the
        // reason, and runs I/O.
        let builder = ferrio::Runtime::builder()
            .worker_threads(1)
            .io_driver(ferrio::IoDriver::Auto);
        let rt = super::hooks::simulate_io_uring_setup_error(builder, errno)
            .build()
            .unwrap();
        let info = rt.handle().io_driver();
        assert_eq!(info.driver(), ferrio::IoBackend::Epoll);
        assert_eq!(info.requested(), ferrio::IoDriver::Auto);
        assert_eq!(info.fallback_os_error(), Some(errno));
        let reason = info.fallback_reason().unwrap();
        assert!(reason.contains("io_uring is unavailable"), "{reason}");
        if names_cause {
            assert!(reason.contains(needle), "{reason}");
        }
        assert_eq!(rt.handle().metrics().io_driver, ferrio::IoBackend::Epoll);
        let echoed = rt.block_on(async {
            let (a, b) = ferrio::net::UnixStream::pair().unwrap();
            a.write_all(b"ping".to_vec()).await.0.unwrap();
            let (n, buf) = b.read(vec![0; 8]).await;
            buf[..n.unwrap()].to_vec()
        });
        assert_eq!(echoed, b"ping");
    }
}

#[test]
fn a_setup_error_that_is_not_unavailability_does_not_fall_back() {
    // Out of descriptors is a shortage to report, not a reason to run
    // another driver.
    let builder = ferrio::Runtime::builder().io_driver(ferrio::IoDriver::Auto);
    let err = super::hooks::simulate_io_uring_setup_error(builder, libc::EMFILE)
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("open-file limit"), "{err}");
}

#[test]
fn io_driver_env_values_are_parsed_and_bad_ones_rejected() {
    use ferrio::IoDriver;
    let pick = |env: &str| super::hooks::resolve_io_driver(None, Some(env.to_string()));
    assert_eq!(pick("epoll").unwrap().driver(), ferrio::IoBackend::Epoll);
    assert_eq!(pick(" EPOLL ").unwrap().requested(), IoDriver::Epoll);
    assert_eq!(pick("auto").unwrap().requested(), IoDriver::Auto);
    let err = pick("kqueue").unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("FERRIO_IO_DRIVER"), "{err}");
    // A choice made in code wins over the environment.
    let code = super::hooks::resolve_io_driver(Some(IoDriver::Epoll), Some("io_uring".into()));
    assert_eq!(code.unwrap().driver(), ferrio::IoBackend::Epoll);
    assert_eq!(IoDriver::parse("io_uring"), Some(IoDriver::IoUring));
    assert_eq!(IoDriver::default(), IoDriver::Auto);
}

#[test]
fn idle_workers_sleep_in_io_uring_enter() {
    let rt = rt(2);
    let before = rt.handle().metrics();
    // Sleep-driven idling: every wake-up is a timer or a spawn.
    rt.block_on(async {
        for _ in 0..5 {
            ferrio::sleep(Duration::from_millis(2)).await;
            ferrio::spawn(async {}).await.unwrap();
        }
    });
    let after = rt.handle().metrics();
    assert!(after.parks > before.parks, "{before:?} → {after:?}");
    match after.io_driver {
        ferrio::IoBackend::Epoll => {
            // Every park is one epoll_wait; none is an io_uring_enter.
            assert!(after.epoll_waits >= after.parks, "{after:?}");
            assert_eq!(after.io_uring_enters, 0);
        }
        _ => {
            assert!(after.io_uring_enters >= after.parks);
            assert_eq!(after.epoll_waits, 0);
        }
    }
}

#[test]
fn tcp_echo_round_trip_with_a_large_payload() {
    let rt = rt(2);
    rt.block_on(async {
        let listener = ferrio::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = ferrio::spawn(async move {
            let (conn, peer) = listener.accept().await.unwrap();
            assert!(peer.ip().is_loopback());
            let mut buf = Vec::with_capacity(64 * 1024);
            loop {
                let (n, b) = conn.read(buf).await;
                let n = n.unwrap();
                if n == 0 {
                    break;
                }
                let (w, b) = conn.write_all(b).await;
                w.unwrap();
                buf = b;
                buf.clear();
            }
        });
        let client = ferrio::net::TcpStream::connect(addr).await.unwrap();
        client.set_nodelay(true).unwrap();
        let payload: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
        let writer = {
            let payload = payload.clone();
            let client = std::sync::Arc::new(client);
            let c = client.clone();
            (
                ferrio::spawn(async move {
                    let (r, _) = c.write_all(payload).await;
                    r.unwrap();
                    c.shutdown(std::net::Shutdown::Write).unwrap();
                }),
                client,
            )
        };
        let (write_task, client) = writer;
        let mut got = Vec::new();
        loop {
            let (n, buf) = client.read(Vec::with_capacity(64 * 1024)).await;
            let n = n.unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        write_task.await.unwrap();
        server.await.unwrap();
        assert_eq!(got.len(), payload.len());
        assert!(got == payload);
    });
}

#[test]
fn connecting_to_a_closed_port_is_refused() {
    ferrio::run(async {
        // A port held by a bound socket that never listens: closed, and no
        // other test can take it meanwhile.
        // SAFETY: plain socket calls on a descriptor owned below; the
        // address structs outlive the calls that read or fill them.
        let (_held, port) = unsafe {
            let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
            assert!(fd >= 0);
            let held = OwnedFd::from_raw_fd(fd);
            let mut sa: libc::sockaddr_in = std::mem::zeroed();
            sa.sin_family = libc::AF_INET as libc::sa_family_t;
            sa.sin_addr.s_addr = u32::from(std::net::Ipv4Addr::LOCALHOST).to_be();
            let mut len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
            assert_eq!(
                libc::bind(fd, (&sa as *const libc::sockaddr_in).cast(), len),
                0
            );
            assert_eq!(
                libc::getsockname(fd, (&mut sa as *mut libc::sockaddr_in).cast(), &mut len),
                0
            );
            (held, u16::from_be(sa.sin_port))
        };
        let err = ferrio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
        let bad = ferrio::net::TcpStream::connect("not an address").await;
        assert!(bad.is_err());
    });
}

#[test]
fn writing_to_a_closed_peer_is_an_error() {
    ferrio::run(async {
        let listener = ferrio::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let client = ferrio::net::TcpStream::connect(addr).await.unwrap();
        let (server_side, _) = listener.accept().await.unwrap();
        drop(server_side);
        // The first writes may still be accepted by the kernel; keep
        // writing until the reset shows (it arrives asynchronously, later
        // on a loaded machine).
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let err = loop {
            let (r, _) = client.write(vec![0u8; 4096]).await;
            if let Err(e) = r {
                break e;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "writes to a closed peer must fail"
            );
            ferrio::sleep(Duration::from_millis(1)).await;
        };
        let kind = err.kind();
        assert!(
            matches!(
                kind,
                std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset
            ),
            "{kind:?}"
        );
    });
}
