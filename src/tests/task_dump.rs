//! `Handle::dump`: each field of a dumped task (id, name, state, spawn
//! location, the leaf waited on with its detail and the file:line of the
//! `.await` that reached it, how long), for each kind of leaf; TaskGroup
//! children under their owner; a dump while a worker is stuck in a poll;
//! a dump of 100,000 tasks; UDP, Unix, split-half, channel and
//! `Queue::join` waits at the caller's `.await`.

use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::common::{pipe, rt, spin_until, tcp_pair};
use ferrio::task::{DumpState, DumpedTask, WaitOn};
use ferrio::{Handle, TaskId};

/// Dumps until task `id` shows a wait, and checks the fields every leaf
/// shares: the id, `Task-<id>` as its name, idle, spawned at line
/// `spawned`, waiting at line `awaited` of this file, for no longer than
/// since `start`.
fn waiting(h: &Handle, id: TaskId, spawned: u32, awaited: u32, start: Instant) -> DumpedTask {
    waiting_in(file!(), h, id, spawned, awaited, start)
}

/// [`waiting`], for a test in `file`.
pub(super) fn waiting_in(
    file: &str,
    h: &Handle,
    id: TaskId,
    spawned: u32,
    awaited: u32,
    start: Instant,
) -> DumpedTask {
    let mut entry = None;
    spin_until("the task shows its wait in a dump", || {
        entry = h
            .dump()
            .get(id)
            .filter(|t| t.wait.is_some() && t.state == DumpState::Idle)
            .cloned();
        entry.is_some()
    });
    let t = entry.unwrap();
    assert_eq!(t.id, id);
    assert_eq!(t.name, format!("Task-{id}"));
    assert_eq!(t.state, DumpState::Idle);
    assert_eq!(t.spawned_at.file(), file);
    assert_eq!(t.spawned_at.line(), spawned, "spawn line of {t}");
    let w = t.wait.as_ref().unwrap();
    assert_eq!(w.at.file(), file, "{t}");
    assert_eq!(w.at.line(), awaited, "await line of {t}");
    // The coarse clock's resolution (a few ms) on top of the real wait.
    assert!(
        w.waited <= start.elapsed() + Duration::from_millis(20),
        "{t}"
    );
    let shown = t.to_string();
    assert!(shown.contains(&format!("{}:{}", file, awaited)), "{shown}");
    t
}

#[test]
fn dump_shows_a_lock_wait() {
    let rt = rt(2);
    let lock = Arc::new(ferrio::sync::Lock::new(0));
    let held = rt.block_on(lock.lock());
    let l = lock.clone();
    let start = Instant::now();
    let line = line!() + 2;
    let task = rt.spawn(async move {
        *l.lock().await += 1;
    });
    let t = waiting(&rt.handle(), task.id(), line - 1, line, start);
    assert_eq!(t.wait.unwrap().on, WaitOn::Lock);
    drop(held);
    let id = task.id();
    rt.block_on(task).unwrap();
    // Done: no longer dumped.
    assert!(rt.handle().dump().get(id).is_none());
}

#[test]
fn dump_shows_semaphore_event_barrier_condition_waits() {
    let rt = rt(2);
    let sem = Arc::new(ferrio::sync::Semaphore::new(0));
    let event = Arc::new(ferrio::sync::Event::new());
    let barrier = Arc::new(ferrio::sync::Barrier::new(2));
    let cond = Arc::new(ferrio::sync::Condition::new(false));
    let start = Instant::now();

    let s = sem.clone();
    let line = line!() + 2;
    let a = rt.spawn(async move {
        s.acquire().await.forget();
    });
    let t = waiting(&rt.handle(), a.id(), line - 1, line, start);
    assert_eq!(t.wait.unwrap().on, WaitOn::Semaphore);

    let e = event.clone();
    let line = line!() + 2;
    let b = rt.spawn(async move {
        e.wait().await;
    });
    let t = waiting(&rt.handle(), b.id(), line - 1, line, start);
    assert_eq!(t.wait.unwrap().on, WaitOn::Event);

    let br = barrier.clone();
    let line = line!() + 2;
    let c = rt.spawn(async move {
        br.wait().await.unwrap();
    });
    let t = waiting(&rt.handle(), c.id(), line - 1, line, start);
    assert_eq!(t.wait.unwrap().on, WaitOn::Barrier);

    let cv = cond.clone();
    let line = line!() + 3;
    let d = rt.spawn(async move {
        let g = cv.lock().await;
        let g = cv.wait_for(g, |ready| *ready).await;
        assert!(*g);
    });
    let t = waiting(&rt.handle(), d.id(), line - 2, line, start);
    assert_eq!(t.wait.unwrap().on, WaitOn::Condition);

    sem.release();
    event.set();
    rt.block_on(barrier.wait()).unwrap();
    rt.block_on(async {
        *cond.lock().await = true;
        cond.notify_all();
    });
    for t in [a, b, c, d] {
        rt.block_on(t).unwrap();
    }
}

#[test]
fn dump_shows_queue_get_and_put() {
    let rt = rt(2);
    let empty = Arc::new(ferrio::sync::Queue::<u32>::new(0));
    let full = Arc::new(ferrio::sync::Queue::<u32>::new(1));
    full.put_nowait(1).unwrap();
    let start = Instant::now();
    let q = empty.clone();
    let line = line!() + 2;
    let getter = rt.spawn(async move {
        assert_eq!(q.get().await.unwrap(), 7);
    });
    let t = waiting(&rt.handle(), getter.id(), line - 1, line, start);
    assert_eq!(t.wait.unwrap().on, WaitOn::QueueGet);
    let q = full.clone();
    let line = line!() + 2;
    let putter = rt.spawn(async move {
        q.put(2).await.unwrap();
    });
    let t = waiting(&rt.handle(), putter.id(), line - 1, line, start);
    assert_eq!(t.wait.unwrap().on, WaitOn::QueuePut);
    empty.put_nowait(7).unwrap();
    rt.block_on(getter).unwrap();
    assert_eq!(full.get_nowait().unwrap(), 1);
    rt.block_on(putter).unwrap();
}

#[test]
fn dump_shows_a_sleep_with_its_deadline() {
    let rt = rt(2);
    let start = Instant::now();
    let deadline = start + Duration::from_secs(3600);
    let line = line!() + 2;
    let task = rt.spawn(async move {
        ferrio::time::sleep_until(deadline).await;
    });
    let t = waiting(&rt.handle(), task.id(), line - 1, line, start);
    match t.wait.unwrap().on {
        WaitOn::Sleep { deadline: d } => {
            let off = if d > deadline {
                d - deadline
            } else {
                deadline - d
            };
            assert!(off <= Duration::from_millis(20), "deadline off by {off:?}");
        }
        other => panic!("expected a sleep, got {other:?}"),
    }
    task.cancel();
}

#[test]
fn dump_shows_a_join_and_a_to_thread_job() {
    let rt = rt(2);
    let release = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let inner = rt.spawn(std::future::pending::<()>());
    let inner_id = inner.id();
    let line = line!() + 2;
    let joiner = rt.spawn(async move {
        let _ = inner.await;
    });
    let t = waiting(&rt.handle(), joiner.id(), line - 1, line, start);
    assert_eq!(t.wait.unwrap().on, WaitOn::Join { task: inner_id });
    joiner.cancel();

    let r = release.clone();
    let line = line!() + 3;
    let job = {
        let _entered = rt.enter();
        ferrio::to_thread(move || spin_until("released", || r.load(Ordering::SeqCst)))
    };
    // The job's task: spawned where `to_thread` was called, waiting on the
    // blocking pool from there.
    let t = waiting(&rt.handle(), job.id(), line, line, start);
    assert_eq!(t.wait.unwrap().on, WaitOn::ToThread);
    release.store(true, Ordering::SeqCst);
    rt.block_on(job).unwrap();
}

#[test]
fn dump_shows_socket_accept_read_and_write() {
    let rt = rt(2);
    let start = Instant::now();
    let listener = ferrio::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let listen_fd = listener.as_raw_fd();
    let line = line!() + 2;
    let acceptor = rt.spawn(async move {
        let _ = listener.accept().await;
    });
    let t = waiting(&rt.handle(), acceptor.id(), line - 1, line, start);
    assert_eq!(t.wait.unwrap().on, WaitOn::Accept { fd: listen_fd });
    acceptor.cancel();

    let (a, b) = rt.block_on(tcp_pair());
    let (a, b) = (Arc::new(a), Arc::new(b));
    let a_fd = a.as_raw_fd();
    let r = a.clone();
    let line = line!() + 2;
    let reader = rt.spawn(async move {
        let _ = r.read(vec![0u8; 16]).await;
    });
    let t = waiting(&rt.handle(), reader.id(), line - 1, line, start);
    assert_eq!(t.wait.unwrap().on, WaitOn::Read { fd: a_fd });
    reader.cancel();

    // Nobody reads `a`: writes to `b` fill both socket buffers.
    let b_fd = b.as_raw_fd();
    let w = b.clone();
    let line = line!() + 3;
    let writer = rt.spawn(async move {
        loop {
            let (res, _) = w.write_all(vec![0u8; 1 << 20]).await;
            res.unwrap();
        }
    });
    let t = waiting(&rt.handle(), writer.id(), line - 2, line, start);
    assert_eq!(t.wait.unwrap().on, WaitOn::Write { fd: b_fd });
    writer.cancel();
}

#[test]
fn dump_shows_a_file_op() {
    let rt = rt(2);
    let start = Instant::now();
    let (rd, wr) = pipe();
    let fd = rd.as_raw_fd();
    // A read of a pipe's end, through `File`: a file operation on its fd.
    let line = line!() + 2;
    let reader = rt.spawn(async move {
        let (n, _) = rd.read(vec![0u8; 8]).await;
        assert_eq!(n.unwrap(), 2);
    });
    let t = waiting(&rt.handle(), reader.id(), line - 1, line, start);
    assert_eq!(t.wait.unwrap().on, WaitOn::File { fd });
    let (n, _) = rt.block_on(wr.write(b"hi".to_vec()));
    n.unwrap();
    rt.block_on(reader).unwrap();
}

#[test]
fn dump_shows_a_subprocess_wait() {
    let rt = rt(2);
    let start = Instant::now();
    let mut child = rt
        .block_on(async { ferrio::process::Command::new("sleep").arg("3600").spawn() })
        .unwrap();
    let pid = child.id();
    let line = line!() + 2;
    let waiter = rt.spawn(async move {
        let _ = child.wait().await;
        drop(child);
    });
    let t = waiting(&rt.handle(), waiter.id(), line - 1, line, start);
    assert_eq!(t.wait.unwrap().on, WaitOn::Process { pid });
    // SAFETY: plain kill of our own child.
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    rt.block_on(waiter).unwrap();
}

static CHILD_LINE: AtomicU32 = AtomicU32::new(0);

async fn child(e: Arc<ferrio::sync::Event>) -> Result<(), ()> {
    CHILD_LINE.store(line!() + 1, Ordering::SeqCst);
    e.wait().await;
    Ok(())
}

#[test]
fn dump_shows_group_children_under_their_owner() {
    let rt = rt(2);
    let start = Instant::now();
    let event = Arc::new(ferrio::sync::Event::new());
    let e = event.clone();
    let line = line!() + 1;
    let owner = rt.spawn(async move {
        let group = ferrio::TaskGroup::<()>::new();
        group.spawn(child(e.clone())).unwrap();
        group.spawn(child(e.clone())).unwrap();
        group.join().await.unwrap();
    });
    let mut children = Vec::new();
    spin_until("both children wait in the dump", || {
        let dump = rt.handle().dump();
        children = dump
            .tasks
            .iter()
            .filter(|t| t.group_owner == Some(owner.id()))
            .filter(|t| t.wait.is_some())
            .cloned()
            .collect();
        children.len() == 2
    });
    for c in &children {
        let w = c.wait.as_ref().unwrap();
        assert_eq!(w.on, WaitOn::Event);
        assert_eq!(w.at.file(), file!());
        assert_eq!(w.at.line(), CHILD_LINE.load(Ordering::SeqCst));
        assert_eq!(c.spawned_at.file(), file!());
        assert!([line + 2, line + 3].contains(&c.spawned_at.line()), "{c}");
        assert_eq!(c.state, DumpState::Idle);
    }
    let t = waiting(&rt.handle(), owner.id(), line, line + 4, start);
    assert_eq!(t.wait.unwrap().on, WaitOn::TaskGroup);
    let shown = rt.handle().dump().to_string();
    let owner_at = shown.find(&format!("task {} ", owner.id())).unwrap();
    let group_at = shown
        .find(&format!("task group of task {}:", owner.id()))
        .unwrap();
    assert!(owner_at < group_at, "{shown}");
    for c in &children {
        let child_at = shown.find(&format!("└ task {} ", c.id)).unwrap();
        assert!(group_at < child_at, "{shown}");
    }
    event.set();
    rt.block_on(owner).unwrap();
}

#[test]
fn dump_names_and_shows_a_running_task() {
    let rt = rt(2);
    let go = Arc::new(AtomicBool::new(false));
    let g = go.clone();
    let task = ferrio::task::Builder::new().name("spinner").spawn_on(
        async move { spin_until("released", || g.load(Ordering::SeqCst)) },
        &rt.handle(),
    );
    // A worker stuck in one poll: the dump neither waits for it nor polls
    // the task, and the watchdog's view makes it "blocked".
    let mut entry = None;
    spin_until("the dump shows the poll blocked", || {
        entry = rt.handle().dump().get(task.id()).cloned();
        matches!(
            entry.as_ref().map(|t| t.state),
            Some(DumpState::Blocked { .. })
        )
    });
    let t = entry.unwrap();
    assert_eq!(t.name, "spinner");
    assert!(t.wait.is_none());
    match t.state {
        DumpState::Blocked { in_poll_for, .. } => assert!(in_poll_for >= Duration::from_millis(4)),
        _ => unreachable!(),
    }
    assert!(t.to_string().contains("BLOCKED in a poll"));
    go.store(true, Ordering::SeqCst);
    rt.block_on(task).unwrap();
    assert!(rt.handle().dump().get(t.id).is_none());
}

#[test]
fn dump_of_100k_tasks_is_quick() {
    let rt = rt(2);
    let event = Arc::new(ferrio::sync::Event::new());
    let tasks: Vec<_> = (0..100_000)
        .map(|_| {
            let e = event.clone();
            rt.spawn(async move { e.wait().await })
        })
        .collect();
    spin_until("all tasks wait", || {
        rt.handle()
            .dump()
            .tasks
            .iter()
            .filter(|t| t.wait.is_some())
            .count()
            == 100_000
    });
    let start = Instant::now();
    let dump = rt.handle().dump();
    let took = start.elapsed();
    eprintln!("a dump of 100,000 tasks took {took:?}");
    assert_eq!(dump.tasks.len(), 100_000);
    assert!(
        took < Duration::from_secs(1),
        "a dump of 100k tasks took {took:?}"
    );
    event.set();
    for t in tasks {
        rt.block_on(t).unwrap();
    }
}

#[test]
fn the_wait_record_costs_24_bytes_per_task() {
    // State word, vtable, id, owned-list slot (32 bytes before the dump),
    // and the three words of the wait record.
    assert_eq!(super::hooks::task_header_size(), 32 + 24);
}

async fn outer_frame(e: Arc<ferrio::sync::Event>) {
    inner_frame(e).await
}

async fn inner_frame(e: Arc<ferrio::sync::Event>) {
    e.wait().await
}

#[test]
fn a_deep_dump_shows_the_async_fn_frames_down_to_the_leaf() {
    let rt = rt(2);
    let event = Arc::new(ferrio::sync::Event::new());
    ferrio::task::capture_wait_frames(true);
    let task = rt.spawn(outer_frame(event.clone()));
    let mut entry = None;
    spin_until("the deep dump shows the frames", || {
        entry = rt.handle().dump().get(task.id()).cloned();
        entry.as_ref().is_some_and(|t| t.frames.is_some())
    });
    ferrio::task::capture_wait_frames(false);
    let t = entry.unwrap();
    assert_eq!(t.wait.as_ref().unwrap().on, WaitOn::Event);
    let frames = t.frames.as_ref().unwrap().to_string();
    let (inner, outer) = (
        frames.find("inner_frame").expect("inner frame"),
        frames.find("outer_frame").expect("outer frame"),
    );
    // Innermost first: the leaf's caller before its caller.
    assert!(inner < outer, "{frames}");
    assert!(t.to_string().contains("stack at the leaf"));
    // The task's frames: the leaf's poll first, the task's future last;
    // neither the recorder below nor the runtime above.
    let own = t.task_frames().unwrap();
    let first = own.lines().next().unwrap();
    assert!(
        first.contains("EventWait") && first.contains("poll"),
        "{own}"
    );
    let last_symbol = own
        .lines()
        .rev()
        .find(|l| !l.trim_start().starts_with("at "))
        .unwrap();
    assert!(last_symbol.contains("outer_frame"), "{own}");
    for gone in [
        "wait::record",
        "harness",
        "scheduler",
        "catch_unwind",
        "std::thread",
    ] {
        assert!(!own.contains(gone), "{gone} in {own}");
        assert!(!t.to_string().contains(gone), "{gone} in {t}");
    }
    assert!(
        frames.contains("harness"),
        "the full stack keeps them: {frames}"
    );
    event.set();
    rt.block_on(task).unwrap();
}

/// `waiting`, and the leaf it waits on.
fn waits_on(h: &Handle, id: TaskId, spawned: u32, awaited: u32, start: Instant, on: WaitOn) {
    let t = waiting(h, id, spawned, awaited, start);
    assert_eq!(t.wait.as_ref().unwrap().on, on, "{t}");
}

#[test]
fn dump_shows_udp_waits_at_the_callers_await() {
    let rt = rt(2);
    let h = rt.handle();
    let start = Instant::now();
    let sock = Arc::new(ferrio::net::UdpSocket::bind("127.0.0.1:0").unwrap());
    let fd = sock.as_raw_fd();
    let s = sock.clone();
    let line = line!() + 2;
    let a = rt.spawn(async move {
        let _ = s.recv(vec![0u8; 16]).await;
    });
    waits_on(&h, a.id(), line - 1, line, start, WaitOn::Read { fd });
    a.cancel();
    let s = sock.clone();
    let line = line!() + 2;
    let b = rt.spawn(async move {
        let _ = s.recv_from(vec![0u8; 16]).await;
    });
    waits_on(&h, b.id(), line - 1, line, start, WaitOn::Read { fd });
    b.cancel();
    let s = sock.clone();
    let line = line!() + 3;
    let c = rt.spawn(async move {
        let mut buf = [0u8; 16];
        let _ = s.peek_from(&mut buf).await;
    });
    waits_on(&h, c.id(), line - 2, line, start, WaitOn::Ready { fd });
    c.cancel();
    let s = sock.clone();
    let line = line!() + 2;
    let d = rt.spawn(async move {
        let _ = s.readable().await;
    });
    waits_on(&h, d.id(), line - 1, line, start, WaitOn::Ready { fd });
    d.cancel();
}

#[test]
fn dump_shows_unix_stream_listener_and_datagram_waits() {
    let rt = rt(2);
    let h = rt.handle();
    let start = Instant::now();
    let dir = std::env::temp_dir().join(format!("ferrio-dump-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let listener = ferrio::net::UnixListener::bind(dir.join("l.sock")).unwrap();
    let lfd = listener.as_raw_fd();
    let line = line!() + 2;
    let acceptor = rt.spawn(async move {
        let _ = listener.accept().await;
    });
    waits_on(
        &h,
        acceptor.id(),
        line - 1,
        line,
        start,
        WaitOn::Accept { fd: lfd },
    );
    acceptor.cancel();

    let (a, b) = ferrio::net::UnixStream::pair().unwrap();
    let (a, b) = (Arc::new(a), Arc::new(b));
    let a_fd = a.as_raw_fd();
    let r = a.clone();
    let line = line!() + 2;
    let reader = rt.spawn(async move {
        let _ = r.read(vec![0u8; 16]).await;
    });
    waits_on(
        &h,
        reader.id(),
        line - 1,
        line,
        start,
        WaitOn::Read { fd: a_fd },
    );
    reader.cancel();
    let r = a.clone();
    let line = line!() + 2;
    let pooled = rt.spawn(async move {
        let _ = r.read_pooled().await;
    });
    waits_on(
        &h,
        pooled.id(),
        line - 1,
        line,
        start,
        WaitOn::Read { fd: a_fd },
    );
    pooled.cancel();
    let r = a.clone();
    let line = line!() + 2;
    let exact = rt.spawn(async move {
        let _ = r.read_exact(vec![0u8; 16]).await;
    });
    waits_on(
        &h,
        exact.id(),
        line - 1,
        line,
        start,
        WaitOn::Read { fd: a_fd },
    );
    exact.cancel();
    // Nobody reads `a`: writes to `b` fill the socket buffer.
    let b_fd = b.as_raw_fd();
    let w = b.clone();
    let line = line!() + 3;
    let writer = rt.spawn(async move {
        loop {
            let (res, _) = w.write_all(vec![0u8; 1 << 20]).await;
            res.unwrap();
        }
    });
    waits_on(
        &h,
        writer.id(),
        line - 2,
        line,
        start,
        WaitOn::Write { fd: b_fd },
    );
    writer.cancel();

    let (d, _peer) = ferrio::net::UnixDatagram::pair().unwrap();
    let d = Arc::new(d);
    let d_fd = d.as_raw_fd();
    let r = d.clone();
    let line = line!() + 2;
    let drecv = rt.spawn(async move {
        let _ = r.recv(vec![0u8; 16]).await;
    });
    waits_on(
        &h,
        drecv.id(),
        line - 1,
        line,
        start,
        WaitOn::Read { fd: d_fd },
    );
    drecv.cancel();
    let r = d.clone();
    let line = line!() + 2;
    let dfrom = rt.spawn(async move {
        let _ = r.recv_from(vec![0u8; 16]).await;
    });
    waits_on(
        &h,
        dfrom.id(),
        line - 1,
        line,
        start,
        WaitOn::Read { fd: d_fd },
    );
    dfrom.cancel();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn dump_shows_split_half_waits_at_the_callers_await() {
    let rt = rt(2);
    let h = rt.handle();
    let start = Instant::now();
    // Owned halves.
    let (a, _b) = rt.block_on(tcp_pair());
    let a_fd = a.as_raw_fd();
    let (r, w) = a.into_split();
    let (r, w) = (Arc::new(r), Arc::new(w));
    let r1 = r.clone();
    let line = line!() + 2;
    let reader = rt.spawn(async move {
        let _ = r1.read(vec![0u8; 16]).await;
    });
    waits_on(
        &h,
        reader.id(),
        line - 1,
        line,
        start,
        WaitOn::Read { fd: a_fd },
    );
    reader.cancel();
    let r1 = r.clone();
    let line = line!() + 2;
    let pooled = rt.spawn(async move {
        let _ = r1.read_pooled().await;
    });
    waits_on(
        &h,
        pooled.id(),
        line - 1,
        line,
        start,
        WaitOn::Read { fd: a_fd },
    );
    pooled.cancel();
    let w1 = w.clone();
    let line = line!() + 3;
    let writer = rt.spawn(async move {
        loop {
            let (res, _) = w1.write_all(vec![0u8; 1 << 20]).await;
            res.unwrap();
        }
    });
    waits_on(
        &h,
        writer.id(),
        line - 2,
        line,
        start,
        WaitOn::Write { fd: a_fd },
    );
    writer.cancel();

    // Borrowed halves.
    let (mut c, _d) = rt.block_on(tcp_pair());
    let c_fd = c.as_raw_fd();
    let line = line!() + 3;
    let reader = rt.spawn(async move {
        let (r, _w) = c.split();
        let _ = r.read(vec![0u8; 16]).await;
    });
    waits_on(
        &h,
        reader.id(),
        line - 2,
        line,
        start,
        WaitOn::Read { fd: c_fd },
    );
    reader.cancel();
    let (mut e, _f) = rt.block_on(tcp_pair());
    let e_fd = e.as_raw_fd();
    let line = line!() + 4;
    let writer = rt.spawn(async move {
        let (_r, w) = e.split();
        loop {
            let (res, _) = w.write_all(vec![0u8; 1 << 20]).await;
            res.unwrap();
        }
    });
    waits_on(
        &h,
        writer.id(),
        line - 3,
        line,
        start,
        WaitOn::Write { fd: e_fd },
    );
    writer.cancel();
}

#[test]
fn dump_shows_channel_waits() {
    use ferrio::sync::{broadcast, mpsc, watch};
    let rt = rt(2);
    let h = rt.handle();
    let start = Instant::now();

    let (tx, mut rx) = mpsc::channel::<u32>(1);
    let line = line!() + 2;
    let recv = rt.spawn(async move {
        assert_eq!(rx.recv().await, Some(1));
    });
    let t = waiting(&h, recv.id(), line - 1, line, start);
    assert_eq!(t.wait.as_ref().unwrap().on, WaitOn::ChannelRecv);
    assert!(t.to_string().contains("channel receive"), "{t}");
    rt.block_on(tx.send(1)).unwrap();
    rt.block_on(recv).unwrap();

    let (tx, mut rx) = mpsc::channel::<u32>(1);
    tx.try_send(1).unwrap();
    let tx = Arc::new(tx);
    let t1 = tx.clone();
    let line = line!() + 2;
    let send = rt.spawn(async move {
        t1.send(2).await.unwrap();
    });
    let t = waiting(&h, send.id(), line - 1, line, start);
    assert_eq!(t.wait.as_ref().unwrap().on, WaitOn::ChannelSend);
    assert!(t.to_string().contains("channel send"), "{t}");
    let t1 = tx.clone();
    let line = line!() + 2;
    let reserve = rt.spawn(async move {
        t1.reserve().await.unwrap().send(3);
    });
    waits_on(&h, reserve.id(), line - 1, line, start, WaitOn::ChannelSend);
    rt.block_on(async {
        for want in 1..=3 {
            assert_eq!(rx.recv().await, Some(want));
        }
    });
    rt.block_on(send).unwrap();
    rt.block_on(reserve).unwrap();

    let (utx, mut urx) = mpsc::unbounded_channel::<u32>();
    let line = line!() + 2;
    let urecv = rt.spawn(async move {
        assert_eq!(urx.recv().await, Some(4));
    });
    waits_on(&h, urecv.id(), line - 1, line, start, WaitOn::ChannelRecv);
    utx.send(4).unwrap();
    rt.block_on(urecv).unwrap();

    let (btx, mut brx) = broadcast::channel::<u32>(4);
    let line = line!() + 2;
    let brecv = rt.spawn(async move {
        assert_eq!(brx.recv().await.unwrap(), 5);
    });
    waits_on(&h, brecv.id(), line - 1, line, start, WaitOn::ChannelRecv);
    btx.send(5).unwrap();
    rt.block_on(brecv).unwrap();

    let (wtx, mut wrx) = watch::channel(0u32);
    let line = line!() + 2;
    let changed = rt.spawn(async move {
        wrx.changed().await.unwrap();
        assert_eq!(*wrx.borrow(), 6);
    });
    waits_on(&h, changed.id(), line - 1, line, start, WaitOn::ChannelRecv);
    wtx.send(6).unwrap();
    rt.block_on(changed).unwrap();
}

#[test]
fn dump_shows_a_queue_join() {
    let rt = rt(2);
    let start = Instant::now();
    let queue = Arc::new(ferrio::sync::Queue::<u32>::new(0));
    queue.put_nowait(1).unwrap();
    let q = queue.clone();
    let line = line!() + 2;
    let joiner = rt.spawn(async move {
        q.join().await;
    });
    let t = waiting(&rt.handle(), joiner.id(), line - 1, line, start);
    assert_eq!(t.wait.as_ref().unwrap().on, WaitOn::QueueJoin);
    assert!(t.to_string().contains("Queue join"), "{t}");
    assert_eq!(queue.get_nowait().unwrap(), 1);
    queue.task_done().unwrap();
    rt.block_on(joiner).unwrap();
}
