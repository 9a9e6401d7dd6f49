//! The epoll driver where io_uring is denied, and what only the epoll
//! driver has: readiness registrations, files on the blocking pool.
//!
//! `a_seccomp_profile_denying_io_uring_falls_back_to_epoll` runs the body
//! of `seccomp_child` in a child process (this test binary, one test) so
//! that its seccomp filter touches nothing else of the suite.

use std::os::unix::process::CommandExt as _;
use std::time::Duration;

use super::common::rt_on;
use ferrio::{IoBackend, IoDriver, Runtime};

/// What the child prints last when every check passed.
const CHILD_OK: &str = "seccomp child: all checks passed";

#[test]
fn a_seccomp_profile_denying_io_uring_falls_back_to_epoll() {
    let exe = std::env::current_exe().unwrap();
    let out = std::process::Command::new(exe)
        .args([
            "--ignored",
            "--exact",
            "tests::epoll::seccomp_child",
            "--nocapture",
            "--test-threads=1",
        ])
        // The child must choose as a default `Runtime::new()` does.
        .env_remove("FERRIO_IO_DRIVER")
        .process_group(0)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains(CHILD_OK),
        "child failed: {:?}\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
}

/// Installs a seccomp filter on this thread (and the threads it starts)
/// that answers `io_uring_setup`, `io_uring_enter` and
/// `io_uring_register` with EPERM, as Docker's and containerd's default
/// profiles do, and allows everything else.
fn deny_io_uring_like_docker() {
    const RET_ALLOW: u32 = 0x7fff_0000;
    const RET_ERRNO: u32 = 0x0005_0000;
    #[cfg(target_arch = "x86_64")]
    const ARCH: u32 = 0xC000_003E;
    #[cfg(target_arch = "aarch64")]
    const ARCH: u32 = 0xC000_00B7;
    let ld = |k: u32| libc::sock_filter {
        code: (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16,
        jt: 0,
        jf: 0,
        k,
    };
    let jeq = |k: u32, jt: u8, jf: u8| libc::sock_filter {
        code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
        jt,
        jf,
        k,
    };
    let ret = |k: u32| libc::sock_filter {
        code: (libc::BPF_RET | libc::BPF_K) as u16,
        jt: 0,
        jf: 0,
        k,
    };
    // seccomp_data: nr at offset 0, arch at offset 4.
    let mut program = [
        ld(4),
        jeq(ARCH, 0, 4), // another ABI: allow
        ld(0),
        jeq(libc::SYS_io_uring_setup as u32, 3, 0),
        jeq(libc::SYS_io_uring_enter as u32, 2, 0),
        jeq(libc::SYS_io_uring_register as u32, 1, 0),
        ret(RET_ALLOW),
        ret(RET_ERRNO | libc::EPERM as u32),
    ];
    let prog = libc::sock_fprog {
        len: program.len() as u16,
        filter: program.as_mut_ptr(),
    };
    // SAFETY: prctl with plain integer arguments, then with a pointer to
    // a filter program that lives across the call (the kernel copies it).
    unsafe {
        assert_eq!(libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0);
        assert_eq!(
            libc::prctl(
                libc::PR_SET_SECCOMP,
                libc::SECCOMP_MODE_FILTER,
                &prog as *const libc::sock_fprog
            ),
            0,
            "{}",
            std::io::Error::last_os_error()
        );
    }
}

/// The child's body (run by the test above, in its own process).
#[test]
#[ignore = "the body of a_seccomp_profile_denying_io_uring_falls_back_to_epoll, run in a child process"]
fn seccomp_child() {
    assert!(
        std::env::var_os("FERRIO_IO_DRIVER").is_none(),
        "the default choice is under test"
    );
    deny_io_uring_like_docker();
    // SAFETY: a raw syscall with null arguments; the filter answers it.
    let probe = unsafe { libc::syscall(libc::SYS_io_uring_setup, 1, std::ptr::null_mut::<u8>()) };
    assert_eq!(probe, -1);
    assert_eq!(
        std::io::Error::last_os_error().raw_os_error(),
        Some(libc::EPERM)
    );

    let rt = Runtime::new().expect("the default runtime starts under the filter");
    let info = rt.handle().io_driver();
    assert_eq!(info.driver(), IoBackend::Epoll, "{info}");
    assert_eq!(info.requested(), IoDriver::Auto);
    assert_eq!(info.fallback_os_error(), Some(libc::EPERM), "{info}");
    let reason = info.fallback_reason().unwrap();
    assert!(reason.contains("io_uring is unavailable"), "{reason}");
    println!("seccomp child: {info}");

    rt.block_on(async {
        // TCP echo through asyncio Streams.
        let server = ferrio::start_server(
            |mut reader: ferrio::StreamReader, writer: ferrio::StreamWriter| async move {
                while let Ok(line) = reader.readline().await {
                    if line.is_empty() {
                        break;
                    }
                    writer.write(&line).unwrap();
                    writer.drain().await.unwrap();
                }
            },
            "127.0.0.1:0",
        )
        .await
        .unwrap();
        let (mut reader, writer) = ferrio::open_connection(server.local_addr()).await.unwrap();
        for i in 0..100 {
            let line = format!("line {i}\n");
            writer.write(line.as_bytes()).unwrap();
            writer.drain().await.unwrap();
            assert_eq!(reader.readline().await.unwrap(), line.as_bytes());
        }
        // A file round trip (on the blocking pool).
        let dir = std::env::temp_dir().join(format!("ferrio-seccomp-{}", std::process::id()));
        ferrio::fs::create_dir(&dir).await.unwrap();
        let path = dir.join("data");
        ferrio::fs::write(&path, b"written under seccomp".to_vec())
            .await
            .unwrap();
        assert_eq!(
            ferrio::fs::read(&path).await.unwrap(),
            b"written under seccomp"
        );
        assert_eq!(ferrio::fs::metadata(&path).await.unwrap().len(), 21);
        ferrio::fs::remove_file(&path).await.unwrap();
        ferrio::fs::remove_dir(&dir).await.unwrap();
        // A sleep.
        let start = std::time::Instant::now();
        ferrio::sleep(Duration::from_millis(20)).await;
        assert!(start.elapsed() >= Duration::from_millis(20));
        // A subprocess (its exit through the pidfd's readiness).
        let out = ferrio::process::Command::new("sh")
            .args(["-c", "echo from-child"])
            .output()
            .await
            .unwrap();
        assert!(out.status.success());
        assert_eq!(out.stdout, b"from-child\n");
        // to_thread.
        assert_eq!(ferrio::to_thread(|| 6 * 7).await.unwrap(), 42);
    });
    let m = rt.handle().metrics();
    assert_eq!(m.io_driver, IoBackend::Epoll);
    assert_eq!(m.io_uring_enters, 0);
    drop(rt);
    println!("{CHILD_OK}");
}

#[test]
fn a_read_waiting_for_readiness_fails_at_shutdown_instead_of_hanging() {
    let rt = rt_on(IoDriver::Epoll, 1);
    let (a, b) = rt
        .block_on(async { ferrio::net::UnixStream::pair() })
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    // A plain thread's read outlives the runtime: it waits on a worker's
    // epoll instance, which closes at shutdown.
    let handle = rt.handle();
    let reader = std::thread::spawn(move || {
        let res = handle.block_on(super::common::tell_when_pending(a.read(vec![0u8; 8]), tx));
        res.0
    });
    rx.recv().unwrap();
    drop(rt);
    let res = reader.join().unwrap();
    let err = res.unwrap_err();
    assert!(err.to_string().contains("shutting down"), "{err}");
    drop(b);
}

#[test]
fn files_run_on_the_blocking_pool_under_epoll() {
    let rt = rt_on(IoDriver::Epoll, 1);
    rt.block_on(async {
        let path = std::env::temp_dir().join(format!("ferrio-epoll-file-{}", std::process::id()));
        let f = ferrio::fs::File::create(&path).await.unwrap();
        let (n, _) = f.write_at(b"0123456789".to_vec(), 0).await;
        assert_eq!(n.unwrap(), 10);
        f.sync_all().await.unwrap();
        drop(f);
        let f = ferrio::fs::File::open(&path).await.unwrap();
        let (n, buf) = f.read_at(vec![0u8; 4], 3).await;
        assert_eq!(&buf[..n.unwrap()], b"3456");
        drop(f);
        ferrio::fs::remove_file(&path).await.unwrap();
    });
    assert!(
        rt.handle().blocking_threads() >= 1,
        "file ops ran on the pool"
    );
}

#[test]
fn a_socket_outliving_its_epoll_runtime_works_in_the_next() {
    let (a, b) = {
        let first = rt_on(IoDriver::Epoll, 1);
        let pair = first.block_on(async {
            let (a, b) = ferrio::net::UnixStream::pair().unwrap();
            // Registered with `first`'s epoll: this read waits once.
            let t = ferrio::spawn(async move {
                let (n, buf) = b.read(vec![0u8; 4]).await;
                (n.unwrap(), buf, b)
            });
            ferrio::sleep(Duration::from_millis(1)).await;
            a.write_all(b"one".to_vec()).await.0.unwrap();
            let (n, buf, b) = t.await.unwrap();
            assert_eq!(&buf[..n], b"one");
            (a, b)
        });
        drop(first);
        pair
    };
    let second = rt_on(IoDriver::Epoll, 1);
    let got = second.block_on(async move {
        let t = ferrio::spawn(async move {
            let (n, buf) = b.read(vec![0u8; 4]).await;
            buf[..n.unwrap()].to_vec()
        });
        ferrio::sleep(Duration::from_millis(1)).await;
        a.write_all(b"two".to_vec()).await.0.unwrap();
        t.await.unwrap()
    });
    assert_eq!(got, b"two");
}

#[test]
fn many_connections_echo_on_epoll_with_two_workers() {
    let rt = rt_on(IoDriver::Epoll, 2);
    rt.block_on(async {
        let listener = ferrio::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = ferrio::spawn(async move {
            for _ in 0..50 {
                let (s, _) = listener.accept().await.unwrap();
                drop(ferrio::spawn(async move {
                    loop {
                        let (n, buf) = s.read(vec![0u8; 1024]).await;
                        let n = n.unwrap();
                        if n == 0 {
                            break;
                        }
                        s.write_all(buf[..n].to_vec()).await.0.unwrap();
                    }
                }));
            }
        });
        let clients: Vec<_> = (0..50)
            .map(|i| {
                ferrio::spawn(async move {
                    let c = ferrio::net::TcpStream::connect(addr).await.unwrap();
                    for j in 0..20 {
                        let msg = format!("{i}:{j}").into_bytes();
                        c.write_all(msg.clone()).await.0.unwrap();
                        let (r, buf) = c.read_exact(vec![0u8; msg.len()]).await;
                        r.unwrap();
                        assert_eq!(buf, msg);
                    }
                })
            })
            .collect();
        for c in clients {
            c.await.unwrap();
        }
        server.await.unwrap();
    });
    assert_eq!(rt.handle().metrics().io_driver, IoBackend::Epoll);
}

#[test]
fn a_file_op_queued_on_the_blocking_pool_fails_at_shutdown_instead_of_hanging() {
    let rt = Runtime::builder()
        .worker_threads(1)
        .io_driver(IoDriver::Epoll)
        .max_blocking_threads(1)
        .build()
        .unwrap();
    // The pool's one thread is kept busy, so the file op below waits in
    // its queue when the runtime shuts down.
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let _busy = rt.handle().run_in_executor(move || {
        started_tx.send(()).unwrap();
        let _ = release_rx.recv();
    });
    started_rx.recv().unwrap();
    let handle = rt.handle();
    let (polled_tx, polled_rx) = std::sync::mpsc::channel();
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let res = handle.block_on(super::common::tell_when_pending(
            ferrio::fs::File::open("/proc/self/stat"),
            polled_tx,
        ));
        let _ = done_tx.send(res.map(drop));
    });
    polled_rx.recv().unwrap();
    drop(rt);
    let res = done_rx
        .recv_timeout(Duration::from_secs(20))
        .expect("the blocked thread never returned");
    release_tx.send(()).unwrap();
    let err = res.unwrap_err();
    assert!(err.to_string().contains("shutting down"), "{err}");
}

/// The index of the worker running the caller, if it is one.
fn worker_index() -> Option<usize> {
    crate::scheduler::current::with_worker(|w| w.map(|w| w.index()))
}

#[test]
fn a_descriptor_follows_its_waiter_to_another_worker() {
    use std::io::Write as _;
    use std::sync::mpsc;
    use std::task::Poll;
    let rt = rt_on(IoDriver::Epoll, 2);
    let (mut peer, ours) = std::os::unix::net::UnixStream::pair().unwrap();
    let ours = std::sync::Arc::new(
        rt.block_on(async { ferrio::net::UnixStream::from_std(ours) })
            .unwrap(),
    );
    let (stuck_tx, stuck_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let first = ours.clone();
    let handle = rt.handle();
    let stuck_task = handle.spawn(async move {
        // One read waits here, so the descriptor registers with this
        // worker's epoll...
        {
            let mut read = std::pin::pin!(first.read(vec![0u8; 4]));
            std::future::poll_fn(|cx| {
                assert!(std::future::Future::poll(read.as_mut(), cx).is_pending());
                Poll::Ready(())
            })
            .await;
        }
        stuck_tx.send(worker_index().unwrap()).unwrap();
        // ...and this worker is kept busy while the next read starts.
        release_rx.recv().unwrap();
    });
    let first_worker = stuck_rx.recv().unwrap();
    // Spawned from outside while the first worker is busy: the other one
    // runs it, and its read waits there.
    let (waiting_tx, waiting_rx) = mpsc::channel();
    let (done_tx, done_rx) = mpsc::channel();
    let _reader = handle.spawn(async move {
        let waited_on = worker_index().unwrap();
        let (n, buf) = super::common::tell_when_pending(ours.read(vec![0u8; 4]), waiting_tx).await;
        let woken_on = worker_index().unwrap();
        let _ = done_tx.send((waited_on, woken_on, buf[..n.unwrap()].to_vec()));
    });
    waiting_rx.recv().unwrap();
    // Both workers free again: whichever instance holds the registration
    // delivers the event and the reader is woken onto its worker.
    release_tx.send(()).unwrap();
    rt.block_on(stuck_task).unwrap();
    peer.write_all(b"ping").unwrap();
    let (waited_on, woken_on, data) = done_rx.recv().unwrap();
    assert_eq!(data, b"ping");
    assert_ne!(waited_on, first_worker);
    assert_eq!(
        woken_on, waited_on,
        "the event came through the first worker's epoll, and the reader with it"
    );
    let moves: u64 = rt
        .handle()
        .shared
        .each_ring()
        .map(|d| match d {
            crate::driver::DriverShared::Epoll(e) => {
                e.stats.moves_in.load(std::sync::atomic::Ordering::Relaxed)
            }
            _ => 0,
        })
        .sum();
    assert_eq!(moves, 1, "one registration moved, once");
}
