//! A small server with tasks stuck on a Lock, a Queue and a socket, and
//! the task dump that shows where each one waits (`Handle::dump`).
//!
//! `cargo run --example task_dump`: prints the dump, and exits non-zero
//! if a stuck task is missing from it or shows the wrong wait.

use std::sync::Arc;
use std::time::Duration;

use ferrio::task::{DumpState, WaitOn};

/// Accepts connections; each handler (a `TaskGroup` child) reads.
async fn serve(listener: ferrio::net::TcpListener) -> std::io::Result<()> {
    let group = ferrio::TaskGroup::<std::io::Error>::new();
    loop {
        let (conn, _) = listener.accept().await?;
        let handler = async move {
            let (n, _) = conn.read(vec![0u8; 512]).await;
            n.map(drop)
        };
        if group.spawn(handler).is_err() {
            return Ok(());
        }
    }
}

fn main() {
    let rt = ferrio::Runtime::new().expect("runtime");
    let handle = rt.handle();
    let (lock, queue) = (
        Arc::new(ferrio::sync::Lock::new(0u64)),
        Arc::new(ferrio::sync::Queue::<String>::new(0)),
    );
    let held = rt.block_on(lock.lock());

    // A server: one acceptor, one handler per connection, reading.
    let listener = ferrio::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = rt.spawn(serve(listener));
    // A counter update stuck behind the lock; a consumer on an empty queue.
    let l = lock.clone();
    let counter = ferrio::task::Builder::new()
        .name("counter")
        .spawn_on(async move { *l.lock().await += 1 }, &handle);
    let q = queue.clone();
    let consumer = ferrio::task::Builder::new()
        .name("consumer")
        .spawn_on(async move { q.get().await.ok() }, &handle);
    // A client that connects and sends nothing.
    let client = std::net::TcpStream::connect(addr).expect("connect");

    // Let them all reach their waits (in a real hang you would just dump).
    let dump = loop {
        std::thread::sleep(Duration::from_millis(20));
        let dump = handle.dump();
        let reading = dump
            .tasks
            .iter()
            .any(|t| matches!(t.wait.as_ref().map(|w| w.on), Some(WaitOn::Read { .. })));
        let waits = |id| dump.get(id).is_some_and(|t| t.wait.is_some());
        if reading && waits(counter.id()) && waits(consumer.id()) && waits(server.id()) {
            break dump;
        }
    };
    println!("{dump}");

    let on = |id| dump.get(id).and_then(|t| t.wait.as_ref()).map(|w| w.on);
    let ok = on(counter.id()) == Some(WaitOn::Lock)
        && on(consumer.id()) == Some(WaitOn::QueueGet)
        && matches!(on(server.id()), Some(WaitOn::Accept { .. }))
        && dump
            .tasks
            .iter()
            .all(|t| t.state != DumpState::Running || t.wait.is_none());
    drop((held, client));
    queue.put_nowait("done".into()).expect("put");
    rt.block_on(counter).expect("counter");
    rt.block_on(consumer).expect("consumer");
    server.cancel();
    if !ok {
        eprintln!("task_dump: the dump did not show the expected waits");
        std::process::exit(1);
    }
}
