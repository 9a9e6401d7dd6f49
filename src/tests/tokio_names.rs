//! Every ferrio name in README's "Coming from tokio" table, used the way
//! the table says (the file fails to compile when a row names something
//! that is gone), and run where that is quick and needs no outside help.

use std::future::pending;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{AsyncReadExt, AsyncWriteExt};

use super::common::temp_dir;

#[ferrio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runtime_and_task_rows() {
    // Runtime, Handle.
    let handle = ferrio::Handle::current();
    assert!(ferrio::Handle::try_current().is_some());
    let spawned = handle.spawn(async { 1 });
    assert_eq!(spawned.await.unwrap(), 1);

    // spawn, Task, TaskError, cancel, abort_handle, is_done.
    let task = ferrio::spawn(pending::<()>());
    let abort: ferrio::task::AbortHandle = task.abort_handle();
    assert!(!abort.is_finished());
    assert!(task.cancel());
    let err: ferrio::TaskError = task.await.unwrap_err();
    assert!(err.is_cancelled() && !err.is_panic());
    let other = ferrio::spawn(pending::<()>());
    assert!(other.abort_handle().abort());
    let panicked = ferrio::spawn(async { panic!("boom") }).await.unwrap_err();
    assert!(panicked.is_panic());
    drop(panicked.into_panic());
    let done = ferrio::spawn(async {});
    while !done.is_done() {
        ferrio::yield_now().await;
    }

    // JoinSet.
    let mut set = ferrio::task::JoinSet::new();
    set.spawn(async { 2 });
    assert_eq!(set.join_next().await.unwrap().unwrap(), 2);
    set.spawn(pending());
    set.abort_all();
    set.shutdown().await;
    set.spawn(async { 3 });
    assert_eq!(set.join_all().await, vec![3]);

    // select!, gather!, try_gather, gather.
    let picked = ferrio::select! {
        biased;
        v = async { 4 }, if true => v,
        _ = pending::<()>() => 0,
        else => 0,
    };
    assert_eq!(picked, 4);
    assert_eq!(ferrio::gather!(async { 1 }, async { "a" }).await, (1, "a"));
    let all: Result<Vec<u8>, &str> =
        ferrio::try_gather((1..=2).map(|i| async move { Ok(i) })).await;
    assert_eq!(all, Ok(vec![1, 2]));
    assert_eq!(
        ferrio::gather((5..=6).map(|i| async move { i })).await,
        vec![5, 6]
    );

    // Blocking work.
    assert_eq!(ferrio::to_thread(|| 7).await.unwrap(), 7);
    assert_eq!(handle.run_in_executor(|| 8).await.unwrap(), 8);
    assert_eq!(ferrio::task::block_in_place(|| 9), 9);
    ferrio::task::yield_now().await;

    // task_local!
    ferrio::task_local! {
        static REQUEST: u32;
    }
    let seen = REQUEST.scope(10, async { REQUEST.with(|v| *v) }).await;
    assert_eq!(seen, 10);
    assert_eq!(REQUEST.sync_scope(11, || REQUEST.get()), 11);
}

#[test]
fn runtime_builder_rows() {
    let rt = ferrio::Runtime::builder()
        .worker_threads(1)
        .build()
        .unwrap();
    let task = rt.spawn(async { 1 });
    assert_eq!(rt.block_on(task).unwrap(), 1);
    {
        let _guard = rt.handle().enter();
        assert!(ferrio::Handle::try_current().is_some());
    }
    rt.shutdown_timeout(Duration::from_secs(5));
}

#[ferrio::test]
async fn time_rows() {
    let mut sleep = Box::pin(ferrio::sleep(Duration::from_secs(60)));
    sleep.as_mut().reset(Instant::now());
    sleep.await;
    ferrio::sleep_until(Instant::now()).await;
    let late: Result<(), ferrio::TimeoutError> =
        ferrio::wait_for(pending(), Duration::from_millis(1)).await;
    assert!(late.is_err());
    assert_eq!(
        ferrio::timeout(Duration::from_secs(60))
            .run(async { 1 })
            .await,
        Ok(1)
    );
    let mut every = ferrio::interval(Duration::from_millis(1));
    every.tick().await;
    let mut later = ferrio::time::interval_at(Instant::now(), Duration::from_millis(1));
    later.set_missed_tick_behavior(ferrio::time::MissedTickBehavior::Skip);
    later.tick().await;
}

#[ferrio::test]
async fn sync_rows() {
    use ferrio::sync::{
        broadcast, mpsc, watch, Barrier, CancellationToken, Condition, Event, Lock, OnceCell,
        Promise, RwLock, Semaphore,
    };

    let lock = Arc::new(Lock::new(0));
    *lock.lock().await += 1;
    assert!(lock.try_lock().is_some());
    let owned: ferrio::sync::OwnedLockGuard<i32> = lock.clone().lock_owned().await;
    drop(owned);
    let rw = RwLock::new(1);
    assert_eq!(*rw.read().await, 1);
    *rw.write().await = 2;
    let cell = OnceCell::new();
    assert_eq!(*cell.get_or_init(|| async { 3 }).await, 3);
    assert_eq!(Barrier::new(1).wait().await, Ok(0));

    let sem = Arc::new(Semaphore::new(1));
    let permit: ferrio::sync::SemaphorePermit<'_> = sem.acquire().await;
    assert!(sem.try_acquire().is_none());
    drop(permit);
    drop(sem.clone().acquire_owned().await);

    let event = Event::new();
    event.set();
    event.wait().await;
    let cond = Condition::new(0);
    cond.notify(1);
    cond.notify_all();

    let promise = Promise::new();
    promise.set_result(4).unwrap();
    assert_eq!(promise.clone().await, Ok(4));

    let (tx, mut rx) = mpsc::channel(1);
    tx.send(5).await.unwrap();
    assert_eq!(rx.recv().await, Some(5));
    let (utx, mut urx) = mpsc::unbounded_channel();
    utx.send(6).unwrap();
    assert_eq!(urx.recv().await, Some(6));
    let (btx, mut brx) = broadcast::channel(4);
    btx.send(7).unwrap();
    assert_eq!(brx.recv().await, Ok(7));
    let (wtx, mut wrx) = watch::channel(8);
    wtx.send(9).unwrap();
    wrx.changed().await.unwrap();
    assert_eq!(*wrx.borrow(), 9);

    let token = CancellationToken::new();
    let child = token.child_token();
    let guard = token.clone().drop_guard();
    drop(guard);
    child.cancelled().await;
    assert!(token.is_cancelled());
}

#[ferrio::test]
async fn net_rows() -> std::io::Result<()> {
    use ferrio::net::{
        lookup_host, TcpListener, TcpSocket, TcpStream, UdpSocket, UnixDatagram, UnixListener,
        UnixStream,
    };

    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    assert!(lookup_host(addr.to_string()).await?.next().is_some());
    let client = ferrio::spawn(async move {
        let mut stream = TcpStream::connect(addr).await?;
        // The trait's `write_all`: the inherent one (owned buffers) has
        // the same name and wins method resolution.
        AsyncWriteExt::write_all(&mut stream, b"ping").await?;
        AsyncWriteExt::flush(&mut stream).await?;
        let (mut read, _write) = stream.split();
        let mut reply = [0u8; 4];
        AsyncReadExt::read_exact(&mut read, &mut reply).await?;
        Ok::<_, std::io::Error>(reply)
    });
    let (stream, _) = listener.accept().await?;
    stream.readable().await?;
    let mut buf = [0u8; 4];
    assert_eq!(stream.try_read(&mut buf)?, 4);
    let (_read, write) = stream.into_split();
    let (result, _) = write.write_all(b"pong".to_vec()).await;
    result?;
    assert_eq!(&client.await.unwrap()?, b"pong");

    let socket = TcpSocket::new_v4()?;
    socket.bind("127.0.0.1:0".parse().unwrap())?;
    drop(socket.listen(16)?);
    drop(UdpSocket::bind("127.0.0.1:0")?);

    let dir = temp_dir("tokio-names-unix");
    let unix = UnixListener::bind(dir.join("s"))?;
    let connect = ferrio::spawn(UnixStream::connect(dir.join("s")));
    drop(unix.accept().await?);
    drop(connect.await.unwrap()?);
    drop(UnixDatagram::bind(dir.join("d"))?);
    let udp = std::net::UdpSocket::bind("127.0.0.1:0")?;
    udp.set_nonblocking(true)?;
    let fd: ferrio::io::unix::AsyncFd<std::net::UdpSocket> = ferrio::io::unix::AsyncFd::new(udp)?;
    drop(fd);
    std::fs::remove_dir_all(dir)?;
    Ok(())
}

#[ferrio::test]
async fn fs_process_signal_rows() -> std::io::Result<()> {
    use ferrio::fs;

    let dir = temp_dir("tokio-names-fs");
    fs::create_dir_all(dir.join("a/b")).await?;
    fs::write(dir.join("f"), b"text".to_vec()).await?;
    assert_eq!(fs::read(dir.join("f")).await?, b"text");
    assert_eq!(fs::read_to_string(dir.join("f")).await?, "text");
    let file = fs::OpenOptions::new()
        .read(true)
        .open(dir.join("f"))
        .await?;
    let (n, _) = file.read(vec![0u8; 4]).await;
    assert_eq!(n?, 4);
    drop(fs::File::create(dir.join("g")).await?);
    fs::rename(dir.join("g"), dir.join("h")).await?;
    fs::remove_file(dir.join("h")).await?;
    assert!(fs::metadata(dir.join("f")).await?.is_file());
    let mut entries = fs::read_dir(&dir).await?;
    assert!(entries.next_entry().await?.is_some());
    std::fs::remove_dir_all(dir)?;

    let mut command = ferrio::process::Command::new("true");
    command.kill_on_drop(true);
    assert!(command.status().await?.success());
    assert!(command.output().await?.status.success());
    let mut child: ferrio::process::Child = command.spawn()?;
    assert!(child.wait().await?.success());

    // Created, not awaited: a test cannot send itself Ctrl-C safely.
    drop(ferrio::signal::ctrl_c());
    let listener = ferrio::signal::signal(libc::SIGUSR2)?;
    assert_eq!(listener.signum(), libc::SIGUSR2);
    Ok(())
}
