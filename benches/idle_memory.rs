//! Heap memory per idle connection: N connections that each wait in a
//! read, on a ferrio server reading through the worker's buffer pool
//! (`read_pooled`, also what `futures-io` reads and Streams use), on a
//! ferrio server reading into an owned 4 KiB buffer, and on tokio servers
//! (`read` into a 4 KiB buffer, and `readable()` with no buffer); then
//! the heap of an idle task alone (awaiting `pending()`) on both.
//!
//! `cargo bench --bench idle_memory` (a bench binary, not criterion: it
//! measures bytes, counted by a global allocator, not time). Kernel socket
//! memory is the same for every row and not counted.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards to the system allocator, only counting sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

const CONNS: usize = 8_000;

/// Opens `CONNS` client sockets (plain std, blocking) to `addr`, waits
/// until the server counted them all as waiting in a read, and returns
/// the heap growth per connection on the server's side.
fn measure(addr: std::net::SocketAddr, waiting: &AtomicUsize) -> f64 {
    let before = LIVE.load(Relaxed);
    let mut clients = Vec::with_capacity(CONNS);
    for _ in 0..CONNS {
        clients.push(std::net::TcpStream::connect(addr).unwrap());
    }
    let client_bytes = (clients.capacity() * std::mem::size_of::<std::net::TcpStream>()) as isize;
    while waiting.load(Relaxed) < CONNS {
        std::thread::yield_now();
    }
    // Let the last reads reach the kernel.
    std::thread::sleep(std::time::Duration::from_millis(200));
    let grown = LIVE.load(Relaxed) - before - client_bytes;
    drop(clients);
    grown as f64 / CONNS as f64
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // cargo bench --no-run / criterion-style listing
    }
    let mut rows = Vec::new();

    for pooled in [true, false] {
        let rt = ferrio::Runtime::builder()
            .worker_threads(2)
            .build()
            .unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let listener = ferrio::net::TcpListener::from_std(listener).unwrap();
        let waiting = Arc::new(AtomicUsize::new(0));
        let w = waiting.clone();
        drop(rt.spawn(async move {
            loop {
                let (conn, _) = listener.accept().await.unwrap();
                let w = w.clone();
                drop(ferrio::spawn(async move {
                    w.fetch_add(1, Relaxed);
                    if pooled {
                        let _ = conn.read_pooled().await;
                    } else {
                        let _ = conn.read(Vec::with_capacity(4096)).await;
                    }
                }));
            }
        }));
        let per = measure(addr, &waiting);
        rows.push((
            if pooled {
                "ferrio read_pooled (buffer pool)"
            } else {
                "ferrio read(Vec::with_capacity(4096))"
            },
            per,
        ));
        drop(rt);
        // Let the runtime's threads finish freeing before the next row.
        std::thread::sleep(std::time::Duration::from_millis(500));
    }

    for with_buffer in [true, false] {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_io()
            .build()
            .unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let waiting = Arc::new(AtomicUsize::new(0));
        let w = waiting.clone();
        rt.spawn(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            loop {
                let (mut conn, _) = listener.accept().await.unwrap();
                let w = w.clone();
                tokio::spawn(async move {
                    use tokio::io::AsyncReadExt;
                    w.fetch_add(1, Relaxed);
                    if with_buffer {
                        let mut buf = vec![0u8; 4096];
                        let _ = conn.read(&mut buf).await;
                    } else {
                        // readable() may report readiness at once; a read
                        // that would block clears it, then it waits.
                        loop {
                            let _ = conn.readable().await;
                            let mut probe = [0u8; 1];
                            match conn.try_read(&mut probe) {
                                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                                _ => break,
                            }
                        }
                    }
                });
            }
        });
        let per = measure(addr, &waiting);
        rows.push((
            if with_buffer {
                "tokio read(&mut [0u8; 4096] on the heap)"
            } else {
                "tokio readable() + try_read (no buffer)"
            },
            per,
        ));
        drop(rt);
        // Let the runtime's threads finish freeing before the next row.
        std::thread::sleep(std::time::Duration::from_millis(500));
    }

    println!("heap bytes per idle connection ({CONNS} connections, 2 workers):");
    for (name, per) in rows {
        println!("  {per:>8.0} B  {name}");
    }
    let (ferrio_task, tokio_task) = idle_tasks();
    println!("heap bytes per idle task ({TASKS} boxed tasks awaiting `pending()`, 2 workers):");
    println!("  {ferrio_task:>8.0} B  ferrio");
    println!("  {tokio_task:>8.0} B  tokio");
}

const TASKS: usize = 100_000;

/// The task alone: `TASKS` tasks, each polled once and then pending
/// forever; heap growth per task on each runtime.
fn idle_tasks() -> (f64, f64) {
    type Idle = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;
    // Spawns the tasks through `spawn` and returns the growth per task.
    fn per_task(spawn: &dyn Fn(Idle)) -> f64 {
        let started = Arc::new(AtomicUsize::new(0));
        let before = LIVE.load(Relaxed);
        for _ in 0..TASKS {
            let started = started.clone();
            spawn(Box::pin(async move {
                started.fetch_add(1, Relaxed);
                std::future::pending::<()>().await;
            }));
        }
        while started.load(Relaxed) < TASKS {
            std::thread::yield_now();
        }
        (LIVE.load(Relaxed) - before) as f64 / TASKS as f64
    }
    let ferrio = ferrio::Runtime::builder()
        .worker_threads(2)
        .build()
        .unwrap();
    // The boxed future is spawned as it is on both (the same extra box).
    let ferrio_per = per_task(&|f| drop(ferrio.spawn(f)));
    drop(ferrio);
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let tokio_per = per_task(&|f| drop(tokio.spawn(f)));
    drop(tokio);
    (ferrio_per, tokio_per)
}
