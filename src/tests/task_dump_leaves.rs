// Over 500 lines: one test per family of leaves, each a few spawns with
// their line arithmetic; splitting them apart would only scatter them.
//! `Handle::dump` on the leaves covered after the first round: senders'
//! `closed`, `poll_recv` and the `Stream` impls, interval ticks, incoming
//! connections, `JoinSet`, cancellation tokens, signals, `RwLock`,
//! `Promise`, `OnceCell`, owned semaphore permits, readiness waits,
//! asyncio Streams, subprocess pipes, path operations, and a guarded
//! future (`wait_for`, a timeout scope) whose wait is the body's, not the
//! timer's. Each asserts the leaf's kind and the caller's file:line.

use std::future::poll_fn;
use std::os::fd::AsRawFd;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::common::{rt, stream_pair, tcp_pair, temp_path};
use super::task_dump::waiting_in;
use ferrio::task::{DumpedTask, WaitOn};
use ferrio::{Handle, TaskId};
use futures_core::Stream;

/// The dumped task `id` once it waits, spawned at line `spawned` and
/// waiting at line `awaited` of this file.
fn waiting(h: &Handle, id: TaskId, spawned: u32, awaited: u32, start: Instant) -> DumpedTask {
    waiting_in(file!(), h, id, spawned, awaited, start)
}

/// [`waiting`], on `on`.
fn waits_on(h: &Handle, id: TaskId, spawned: u32, awaited: u32, start: Instant, on: WaitOn) {
    let t = waiting(h, id, spawned, awaited, start);
    assert_eq!(t.wait.as_ref().unwrap().on, on, "{t}");
}

#[test]
fn dump_shows_senders_waiting_for_close() {
    use ferrio::sync::{mpsc, watch};
    let rt = rt(2);
    let h = rt.handle();
    let start = Instant::now();

    let (tx, rx) = mpsc::channel::<u32>(1);
    let line = line!() + 2;
    let closed = rt.spawn(async move {
        tx.closed().await;
    });
    let t = waiting(&h, closed.id(), line - 1, line, start);
    assert_eq!(t.wait.as_ref().unwrap().on, WaitOn::ChannelClosed);
    assert!(t.to_string().contains("channel close"), "{t}");
    drop(rx);
    rt.block_on(closed).unwrap();

    let (utx, urx) = mpsc::unbounded_channel::<u32>();
    let line = line!() + 2;
    let closed = rt.spawn(async move {
        utx.closed().await;
    });
    waits_on(
        &h,
        closed.id(),
        line - 1,
        line,
        start,
        WaitOn::ChannelClosed,
    );
    drop(urx);
    rt.block_on(closed).unwrap();

    let (wtx, wrx) = watch::channel(0u32);
    let line = line!() + 2;
    let closed = rt.spawn(async move {
        wtx.closed().await;
    });
    waits_on(
        &h,
        closed.id(),
        line - 1,
        line,
        start,
        WaitOn::ChannelClosed,
    );
    drop(wrx);
    rt.block_on(closed).unwrap();
}

#[test]
fn dump_shows_poll_recv_and_receiver_streams_at_the_caller() {
    use ferrio::sync::mpsc;
    let rt = rt(2);
    let h = rt.handle();
    let start = Instant::now();

    let (tx, mut rx) = mpsc::channel::<u32>(1);
    let line = line!() + 2;
    let polled = rt.spawn(async move {
        assert_eq!(poll_fn(|cx| rx.poll_recv(cx)).await, Some(1));
        // Then as a Stream: the caller of `poll_next` is named.
        assert_eq!(poll_fn(|cx| Pin::new(&mut rx).poll_next(cx)).await, Some(2));
    });
    waits_on(&h, polled.id(), line - 1, line, start, WaitOn::ChannelRecv);
    rt.block_on(tx.send(1)).unwrap();
    waits_on(
        &h,
        polled.id(),
        line - 1,
        line + 2,
        start,
        WaitOn::ChannelRecv,
    );
    rt.block_on(tx.send(2)).unwrap();
    rt.block_on(polled).unwrap();

    let (utx, mut urx) = mpsc::unbounded_channel::<u32>();
    let line = line!() + 2;
    let polled = rt.spawn(async move {
        assert_eq!(poll_fn(|cx| urx.poll_recv(cx)).await, Some(3));
        let next = poll_fn(|cx| Pin::new(&mut urx).poll_next(cx)).await;
        assert_eq!(next, Some(4));
    });
    waits_on(&h, polled.id(), line - 1, line, start, WaitOn::ChannelRecv);
    utx.send(3).unwrap();
    waits_on(
        &h,
        polled.id(),
        line - 1,
        line + 1,
        start,
        WaitOn::ChannelRecv,
    );
    utx.send(4).unwrap();
    rt.block_on(polled).unwrap();
}

#[test]
fn dump_shows_interval_ticks_at_the_callers_await() {
    let rt = rt(2);
    let h = rt.handle();
    let start = Instant::now();
    let line = line!() + 4;
    let ticker = rt.spawn(async move {
        let mut every = ferrio::time::interval(Duration::from_secs(3600));
        every.tick().await; // the first tick: at once
        every.tick().await;
    });
    let t = waiting(&h, ticker.id(), line - 3, line, start);
    let WaitOn::Sleep { deadline } = t.wait.as_ref().unwrap().on else {
        panic!("a tick is a sleep: {t}");
    };
    assert!(deadline > start + Duration::from_secs(3500), "{t}");
    ticker.cancel();

    let line = line!() + 4;
    let ticker = rt.spawn(async move {
        let mut every = ferrio::time::interval(Duration::from_secs(3600));
        every.tick().await;
        poll_fn(|cx| every.poll_tick(cx)).await;
    });
    let t = waiting(&h, ticker.id(), line - 3, line, start);
    assert!(matches!(t.wait.unwrap().on, WaitOn::Sleep { .. }));
    ticker.cancel();
}

#[test]
fn dump_shows_incoming_connections_as_accepts() {
    let rt = rt(2);
    let h = rt.handle();
    let start = Instant::now();
    let listener = ferrio::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let fd = listener.as_raw_fd();
    let line = line!() + 3;
    let acceptor = rt.spawn(async move {
        let mut incoming = listener.incoming();
        let _ = poll_fn(|cx| Pin::new(&mut incoming).poll_next(cx)).await;
    });
    waits_on(
        &h,
        acceptor.id(),
        line - 2,
        line,
        start,
        WaitOn::Accept { fd },
    );
    acceptor.cancel();

    let path = temp_path("dump-unix-incoming");
    let listener = ferrio::net::UnixListener::bind(&path).unwrap();
    let fd = listener.as_raw_fd();
    let line = line!() + 3;
    let acceptor = rt.spawn(async move {
        let mut incoming = listener.incoming();
        let _ = poll_fn(|cx| Pin::new(&mut incoming).poll_next(cx)).await;
    });
    waits_on(
        &h,
        acceptor.id(),
        line - 2,
        line,
        start,
        WaitOn::Accept { fd },
    );
    acceptor.cancel();
    let _ = std::fs::remove_file(&path);
}

#[test]
fn dump_shows_a_join_set() {
    let rt = rt(2);
    let h = rt.handle();
    let start = Instant::now();
    let line = line!() + 4;
    let joiner = rt.spawn(async move {
        let mut set = ferrio::task::JoinSet::new();
        set.spawn(std::future::pending::<()>());
        let _ = set.join_next().await;
    });
    let t = waiting(&h, joiner.id(), line - 3, line, start);
    assert_eq!(t.wait.as_ref().unwrap().on, WaitOn::JoinSet { tasks: 1 });
    assert!(t.to_string().contains("JoinSet of 1 task(s)"), "{t}");
    joiner.cancel();

    let line = line!() + 5;
    let joiner = rt.spawn(async move {
        let mut set = ferrio::task::JoinSet::new();
        set.spawn(std::future::pending::<()>());
        set.spawn(std::future::pending::<()>());
        let _ = poll_fn(|cx| set.poll_join_next(cx)).await;
    });
    waits_on(
        &h,
        joiner.id(),
        line - 4,
        line,
        start,
        WaitOn::JoinSet { tasks: 2 },
    );
    joiner.cancel();

    let line = line!() + 4;
    let joiner = rt.spawn(async move {
        let mut set = ferrio::task::JoinSet::new();
        set.spawn(std::future::pending::<()>());
        set.join_all().await;
    });
    waits_on(
        &h,
        joiner.id(),
        line - 3,
        line,
        start,
        WaitOn::JoinSet { tasks: 1 },
    );
    joiner.cancel();
}

#[test]
fn dump_shows_cancellation_tokens_signals_and_promises() {
    let rt = rt(2);
    let h = rt.handle();
    let start = Instant::now();

    let token = ferrio::sync::CancellationToken::new();
    let t1 = token.clone();
    let line = line!() + 2;
    let waiter = rt.spawn(async move {
        t1.cancelled().await;
    });
    let t = waiting(&h, waiter.id(), line - 1, line, start);
    assert_eq!(t.wait.as_ref().unwrap().on, WaitOn::Cancelled);
    let t2 = token.clone();
    let line = line!() + 2;
    let owned = rt.spawn(async move {
        t2.cancelled_owned().await;
    });
    waits_on(&h, owned.id(), line - 1, line, start, WaitOn::Cancelled);
    token.cancel();
    rt.block_on(waiter).unwrap();
    rt.block_on(owned).unwrap();

    let line = line!() + 3;
    let listener = rt.spawn(async move {
        let mut hup = ferrio::signal::signal(libc::SIGHUP).unwrap();
        let _ = hup.recv().await;
    });
    let t = waiting(&h, listener.id(), line - 2, line, start);
    assert_eq!(
        t.wait.as_ref().unwrap().on,
        WaitOn::Signal {
            signo: libc::SIGHUP
        }
    );
    listener.cancel();

    let promise = ferrio::sync::Promise::<u32>::new();
    let p = promise.clone();
    let line = line!() + 2;
    let awaiting = rt.spawn(async move {
        assert_eq!(p.await.unwrap(), 7);
    });
    waits_on(&h, awaiting.id(), line - 1, line, start, WaitOn::Promise);
    promise.set_result(7).unwrap();
    rt.block_on(awaiting).unwrap();
}

#[test]
fn dump_shows_rwlock_oncecell_and_owned_permit_waits() {
    let rt = rt(2);
    let h = rt.handle();
    let start = Instant::now();

    let lock = Arc::new(ferrio::sync::RwLock::new(0u32));
    let held = rt.block_on(lock.write());
    let l = lock.clone();
    let line = line!() + 2;
    let reader = rt.spawn(async move {
        let _ = *l.read().await;
    });
    let t = waiting(&h, reader.id(), line - 1, line, start);
    assert_eq!(t.wait.as_ref().unwrap().on, WaitOn::RwLockRead);
    let l = lock.clone();
    let line = line!() + 2;
    let writer = rt.spawn(async move {
        *l.write_owned().await += 1;
    });
    waits_on(&h, writer.id(), line - 1, line, start, WaitOn::RwLockWrite);
    drop(held);
    rt.block_on(reader).unwrap();
    rt.block_on(writer).unwrap();

    // The initialiser's own wait shows where it is; a second caller waits
    // on the cell at its own line.
    let cell = Arc::new(ferrio::sync::OnceCell::<u32>::new());
    let gate = Arc::new(ferrio::sync::Event::new());
    let (c, g) = (cell.clone(), gate.clone());
    let line = line!() + 4;
    let init = rt.spawn(async move {
        let v = c
            .get_or_init(|| async move {
                g.wait().await;
                1
            })
            .await;
        assert_eq!(*v, 1);
    });
    waits_on(&h, init.id(), line - 3, line, start, WaitOn::Event);
    let c = cell.clone();
    let line = line!() + 2;
    let second = rt.spawn(async move {
        assert_eq!(*c.get_or_init(|| async { 2 }).await, 1);
    });
    let t = waiting(&h, second.id(), line - 1, line, start);
    assert_eq!(t.wait.as_ref().unwrap().on, WaitOn::OnceCell);
    gate.set();
    rt.block_on(init).unwrap();
    rt.block_on(second).unwrap();

    let sem = Arc::new(ferrio::sync::Semaphore::new(0));
    let s = sem.clone();
    let line = line!() + 2;
    let acquirer = rt.spawn(async move {
        s.acquire_owned().await.forget();
    });
    waits_on(&h, acquirer.id(), line - 1, line, start, WaitOn::Semaphore);
    sem.release();
    rt.block_on(acquirer).unwrap();
}

#[test]
fn dump_shows_readiness_and_peek_at_the_callers_await() {
    let rt = rt(2);
    let h = rt.handle();
    let start = Instant::now();
    let (a, _b) = rt.block_on(tcp_pair());
    let fd = a.as_raw_fd();
    let a = Arc::new(a);
    let a1 = a.clone();
    let line = line!() + 2;
    let readable = rt.spawn(async move {
        a1.readable().await.unwrap();
    });
    waits_on(
        &h,
        readable.id(),
        line - 1,
        line,
        start,
        WaitOn::Ready { fd },
    );
    readable.cancel();
    let a1 = a.clone();
    let line = line!() + 3;
    let peeker = rt.spawn(async move {
        let mut buf = [0u8; 4];
        let _ = a1.peek(&mut buf).await;
    });
    waits_on(&h, peeker.id(), line - 2, line, start, WaitOn::Ready { fd });
    peeker.cancel();

    let (x, _y) = std::os::unix::net::UnixStream::pair().unwrap();
    x.set_nonblocking(true).unwrap();
    let xfd = x.as_raw_fd();
    let line = line!() + 3;
    let waiter = rt.spawn(async move {
        let x = ferrio::io::unix::AsyncFd::new(x).unwrap();
        let _ = x.readable().await;
    });
    let t = waiting(&h, waiter.id(), line - 2, line, start);
    // AsyncFd waits on its own duplicate of the descriptor.
    assert!(
        matches!(t.wait.as_ref().unwrap().on, WaitOn::Ready { fd } if fd >= 0 && fd != xfd),
        "{t}"
    );
    waiter.cancel();
}

#[test]
fn dump_shows_asyncio_streams_at_the_callers_await() {
    let rt = rt(2);
    let h = rt.handle();
    let start = Instant::now();
    let ((mut reader, writer), peer) = rt.block_on(stream_pair());
    let line = line!() + 2;
    let read = rt.spawn(async move {
        let _ = reader.readline().await;
    });
    let t = waiting(&h, read.id(), line - 1, line, start);
    assert!(
        matches!(t.wait.as_ref().unwrap().on, WaitOn::Read { .. }),
        "{t}"
    );
    read.cancel();

    // The peer reads nothing: the writer's queue fills.
    let writer = Arc::new(writer);
    let w = writer.clone();
    let line = line!() + 5;
    let drainer = rt.spawn(async move {
        let chunk = vec![0u8; 1 << 20];
        loop {
            w.write(&chunk).unwrap();
            w.drain().await.unwrap();
        }
    });
    waits_on(&h, drainer.id(), line - 4, line, start, WaitOn::StreamDrain);
    drainer.cancel();
    drop(peer);

    let server = rt
        .block_on(ferrio::start_server(
            |_r, _w| async {},
            "127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap(),
        ))
        .unwrap();
    let server = Arc::new(server);
    let s = server.clone();
    let line = line!() + 2;
    let serving = rt.spawn(async move {
        s.serve_forever().await;
    });
    waits_on(
        &h,
        serving.id(),
        line - 1,
        line,
        start,
        WaitOn::ServerClosed,
    );
    server.close();
    rt.block_on(serving).unwrap();
}

#[test]
fn dump_shows_pipe_reads_and_path_ops_at_the_callers_await() {
    let rt = rt(2);
    let h = rt.handle();
    let start = Instant::now();
    let mut child = {
        let _in_rt = rt.enter();
        ferrio::process::Command::new("sleep")
            .arg("3600")
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let stdout = child.stdout.take().unwrap();
    let out_fd = std::os::fd::AsFd::as_fd(&stdout).as_raw_fd();
    let line = line!() + 2;
    let reader = rt.spawn(async move {
        let _ = stdout.read(Vec::with_capacity(16)).await;
    });
    waits_on(
        &h,
        reader.id(),
        line - 1,
        line,
        start,
        WaitOn::Read { fd: out_fd },
    );
    reader.cancel();
    rt.block_on(child.kill()).unwrap();

    // Opening a FIFO waits for its writer.
    let fifo = temp_path("dump-fifo");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid C string.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let f = fifo.clone();
    // (On epoll a FIFO is not seekable: the positioned read fails.)
    let line = line!() + 2;
    let opener = rt.spawn(async move {
        let _ = ferrio::fs::read(&f).await;
    });
    // The open, or (where the driver opens without waiting for a writer)
    // the read on the FIFO.
    let t = waiting(&h, opener.id(), line - 1, line, start);
    assert!(
        matches!(t.wait.as_ref().unwrap().on, WaitOn::File { .. }),
        "{t}"
    );
    // The reader may be gone before the byte is written (epoll: its read
    // fails at once): a broken pipe then.
    let _ = std::fs::write(&fifo, b"x");
    rt.block_on(opener).unwrap();
    std::fs::remove_file(&fifo).unwrap();
}

#[test]
fn a_guarded_wait_is_the_bodys_not_the_timers() {
    let rt = rt(2);
    let h = rt.handle();
    let start = Instant::now();
    let lock = Arc::new(ferrio::sync::Lock::new(()));
    let held = rt.block_on(lock.lock());
    let l = lock.clone();
    let line = line!() + 4;
    let guarded = rt.spawn(async move {
        let _ = ferrio::time::wait_for(
            async {
                let _g = l.lock().await;
            },
            Duration::from_secs(3600),
        )
        .await;
    });
    waits_on(&h, guarded.id(), line - 3, line, start, WaitOn::Lock);
    guarded.cancel();
    let l = lock.clone();
    let line = line!() + 5;
    let scoped = rt.spawn(async move {
        let scope = ferrio::time::timeout(Duration::from_secs(3600));
        let _ = scope
            .run(async {
                let _g = l.lock().await;
            })
            .await;
    });
    waits_on(&h, scoped.id(), line - 4, line, start, WaitOn::Lock);
    scoped.cancel();
    drop(held);
}
