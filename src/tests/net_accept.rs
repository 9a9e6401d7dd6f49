//! Listeners: one multi-shot accept for many connections, an unpolled
//! `incoming` stream that stops at its limit (also while its worker is
//! stuck in a poll), and a Unix connect that waits on a full backlog.

use std::time::Duration;

use super::common::{rt, tell_when_pending, temp_dir, until};
use ferrio::net::{TcpListener, UnixStream};

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
fn an_unpolled_incoming_stream_stops_accepting_at_its_limit() {
    let probe = rt(1);
    if super::hooks::skip_unless_io_uring(&probe.handle(), "multi-shot accept's queue limit") {
        return;
    }
    drop(probe);
    use futures::StreamExt;
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

#[test]
fn a_stuck_workers_multishot_accept_still_pauses_at_its_limit() {
    let probe = rt(1);
    if super::hooks::skip_unless_io_uring(&probe.handle(), "multi-shot accept's queue limit") {
        return;
    }
    drop(probe);
    use futures::StreamExt;
    let rt = rt(1);
    let handle = rt.handle();
    let task = rt.spawn(async move {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let mut incoming = listener.incoming();
        assert!(futures::poll!(incoming.next()).is_pending());
        let before = handle.metrics().ops_completed;
        // From here this poll never returns until the end of the test's
        // second wave: the watchdog delivers the ring's completions.
        let mut clients = connect_from_a_thread(addr, 70);
        // The accept's final CQE (its pause at the limit) is delivered
        // while the owner is still stuck: the watchdog queued the cancel
        // and had the owner's thread submit it.
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while handle.metrics().ops_completed == before {
            assert!(
                std::time::Instant::now() < deadline,
                "the accept was never paused while its worker was stuck"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        // A second wave finds the accept paused: it waits in the backlog.
        clients.extend(connect_from_a_thread(addr, 50));
        let waiting = accept_queue_len(&listener);
        let accepted_unpolled = clients.len() - waiting;
        assert!(
            accepted_unpolled <= 70,
            "{accepted_unpolled} connections accepted while the worker was stuck"
        );
        // Taking them resumes the accept: every connection arrives.
        for _ in 0..clients.len() {
            incoming.next().await.unwrap().unwrap();
        }
    });
    rt.block_on(task).unwrap();
}

#[test]
fn a_unix_connect_to_a_full_backlog_completes_once_the_listener_accepts() {
    let dir = temp_dir("backlog");
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
