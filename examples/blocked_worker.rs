//! One handler blocks its worker for a second; nothing else waits for it.
//!
//! An echo server on the default workers (at least 2), 32 clients in
//! ping-pong from plain threads (half of them hitting a handler that
//! awaits a 2 ms sleep before replying), and one request whose handler
//! blocks its thread for 1 s: with `std::thread::sleep` (`sleep`, the
//! default), a CPU loop (`spin`), or inside `task::block_in_place`
//! (`in-place`). While it blocks, the program measures every other
//! connection's round trips, how late the handlers' sleeps fire, a new
//! connection's first round trip, and a task spawned from outside; it
//! prints them and exits non-zero when a bound is missed (50 ms round
//! trips, sleeps within 20 ms of their deadline). CI runs it on both
//! drivers.
//!
//! ```sh
//! cargo run --release --example blocked_worker            # std::thread::sleep
//! cargo run --release --example blocked_worker -- spin
//! FERRIO_IO_DRIVER=epoll cargo run --release --example blocked_worker
//! ```

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const CLIENTS: usize = 32;
const BLOCK: Duration = Duration::from_secs(1);
const RTT_BOUND: Duration = Duration::from_millis(50);
const SLEEP_BOUND: Duration = Duration::from_millis(20);

fn main() {
    let mode = std::env::args().nth(1).unwrap_or_else(|| "sleep".into());
    if !matches!(mode.as_str(), "sleep" | "spin" | "in-place") {
        eprintln!("usage: blocked_worker [sleep|spin|in-place]");
        std::process::exit(2);
    }
    let workers = num_cpus::get().max(2);
    let rt = ferrio::Runtime::builder()
        .worker_threads(workers)
        .on_blocked_worker(Duration::from_millis(100), |report| {
            println!("watchdog: {report}");
        })
        .build()
        .expect("runtime");
    let late_us = Arc::new(AtomicU64::new(0));
    let blocking = Arc::new(AtomicBool::new(false));
    let addr = start_server(&rt, mode.clone(), late_us.clone(), blocking.clone());
    println!(
        "driver {:?}, {workers} workers, blocker: {mode}",
        rt.handle().io_driver().driver()
    );

    // Ping-pong clients on plain threads, recording their slowest round
    // trip while the blocker runs.
    let stop = Arc::new(AtomicBool::new(false));
    let worst = Arc::new(Mutex::new(Vec::new()));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let (stop, worst, blocking) = (stop.clone(), worst.clone(), blocking.clone());
            std::thread::spawn(move || {
                let mut conn = connect(addr);
                let msg = if i % 2 == 0 { b'S' } else { b'E' };
                let mut max_during = Duration::ZERO;
                while !stop.load(Ordering::SeqCst) {
                    let rtt = round_trip(&mut conn, msg);
                    if blocking.load(Ordering::SeqCst) {
                        max_during = max_during.max(rtt);
                    }
                }
                worst.lock().unwrap().push(max_during);
            })
        })
        .collect();

    std::thread::sleep(Duration::from_millis(300));
    // The blocker: its handler holds its worker for BLOCK.
    let mut blocker = connect(addr);
    blocker.write_all(b"B").unwrap();
    // Wait until the handler is in its blocking call.
    while !blocking.load(Ordering::SeqCst) {
        std::thread::yield_now();
    }
    std::thread::sleep(Duration::from_millis(100));
    // A new connection is accepted and served while the worker blocks.
    let t = Instant::now();
    let mut fresh = connect(addr);
    round_trip(&mut fresh, b'E');
    let new_conn = t.elapsed();
    // A task spawned from outside runs on another worker.
    let t = Instant::now();
    let spawned = rt.handle().spawn(async { 7 });
    let (tx, rx) = std::sync::mpsc::channel();
    let handle = rt.handle();
    std::thread::spawn(move || {
        let _ = tx.send(handle.block_on(spawned));
    });
    let spawned_ok = rx
        .recv_timeout(Duration::from_secs(5))
        .ok()
        .and_then(|r| r.ok())
        == Some(7);
    let spawn_latency = t.elapsed();
    // run_coroutine_threadsafe from a plain thread.
    let t = Instant::now();
    let mut fut = ferrio::run_coroutine_threadsafe(async { 8 }, &rt.handle());
    let rcts_ok = fut.result(Some(Duration::from_secs(5))).ok() == Some(8);
    let rcts_latency = t.elapsed();

    // Wait for the blocker's reply (it comes after BLOCK).
    let mut reply = [0u8; 1];
    blocker.read_exact(&mut reply).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    stop.store(true, Ordering::SeqCst);
    for c in clients {
        c.join().unwrap();
    }
    let worst = worst.lock().unwrap().clone();
    let worst_rtt = worst.iter().copied().max().unwrap_or_default();
    let over = worst.iter().filter(|&&d| d >= RTT_BOUND).count();
    let late = Duration::from_micros(late_us.load(Ordering::SeqCst));
    println!("while one worker blocked for {BLOCK:?}:");
    println!("  slowest round trip of the other {CLIENTS} connections: {worst_rtt:?} ({over} over {RTT_BOUND:?})");
    println!("  latest sleep: {late:?} past its deadline");
    println!("  a new connection's first round trip: {new_conn:?}");
    println!("  a task spawned from outside: {spawn_latency:?} (ok: {spawned_ok})");
    println!("  run_coroutine_threadsafe: {rcts_latency:?} (ok: {rcts_ok})");
    let ok = over == 0
        && late < SLEEP_BOUND
        && new_conn < RTT_BOUND
        && spawned_ok
        && spawn_latency < RTT_BOUND
        && rcts_ok
        && rcts_latency < RTT_BOUND;
    drop(rt);
    if !ok {
        eprintln!("blocked_worker: a bound was missed");
        std::process::exit(1);
    }
    println!("blocked_worker: every bound held");
}

fn connect(addr: SocketAddr) -> TcpStream {
    let conn = TcpStream::connect(addr).expect("connect");
    conn.set_nodelay(true).unwrap();
    conn
}

fn round_trip(conn: &mut TcpStream, msg: u8) -> Duration {
    let t = Instant::now();
    conn.write_all(&[msg]).unwrap();
    let mut reply = [0u8; 1];
    conn.read_exact(&mut reply).unwrap();
    t.elapsed()
}

/// The server: an accept loop in a task, a task per connection.
fn start_server(
    rt: &ferrio::Runtime,
    mode: String,
    late_us: Arc<AtomicU64>,
    blocking: Arc<AtomicBool>,
) -> SocketAddr {
    let listener = rt
        .block_on(async { ferrio::net::TcpListener::bind("127.0.0.1:0") })
        .expect("bind");
    let addr = listener.local_addr().unwrap();
    drop(rt.spawn(async move {
        loop {
            let Ok((conn, _)) = listener.accept().await else {
                continue;
            };
            let _ = conn.set_nodelay(true);
            let (mode, late_us, blocking) = (mode.clone(), late_us.clone(), blocking.clone());
            drop(ferrio::spawn(async move {
                let mut buf = Vec::with_capacity(64);
                loop {
                    buf.clear();
                    let (res, b) = conn.read(buf).await;
                    if !matches!(res, Ok(n) if n > 0) {
                        return;
                    }
                    match b[0] {
                        b'S' => {
                            let deadline = Instant::now() + Duration::from_millis(2);
                            ferrio::sleep_until(deadline).await;
                            let late = deadline.elapsed().as_micros() as u64;
                            late_us.fetch_max(late, Ordering::SeqCst);
                        }
                        b'B' => {
                            blocking.store(true, Ordering::SeqCst);
                            match mode.as_str() {
                                "spin" => {
                                    let start = Instant::now();
                                    while start.elapsed() < BLOCK {
                                        std::hint::spin_loop();
                                    }
                                }
                                "in-place" => {
                                    ferrio::task::block_in_place(|| std::thread::sleep(BLOCK))
                                }
                                _ => std::thread::sleep(BLOCK),
                            }
                            blocking.store(false, Ordering::SeqCst);
                        }
                        _ => {}
                    }
                    let (res, b) = conn.write_all(b).await;
                    if res.is_err() {
                        return;
                    }
                    buf = b;
                }
            }));
        }
    }));
    addr
}
