//! A TCP proxy between clients and an echo server: the CPU the proxy
//! spends per MiB it moves, for
//! - `uring-splice`: ferrio on io_uring, `ferrio::io::copy_bidirectional`
//!   on its `TcpStream`s (the splice path: no byte through user space);
//! - `uring-buffer`: the same runtime, the streams behind a wrapper ferrio
//!   cannot see through (the buffered path, 64 KiB buffers);
//! - `epoll-splice`, `epoll-buffer`: the same on the epoll driver;
//! - `tokio`: `tokio::io::copy_bidirectional` on tokio's `TcpStream`s.
//!
//! The echo server and the clients are plain threads with blocking
//! sockets, the same for every proxy: `CONNS` connections, each sending
//! `SIZE`-byte messages and reading each echo back before the next (a
//! writer and a reader thread per connection). Runs alternate between the
//! proxies, each proxy on its own runtime (default worker count), parked
//! between its runs.
//!
//! The proxy's CPU is the process's (`getrusage`, which counts io_uring's
//! kernel workers: the ring runs each splice on one) minus the echo and
//! client threads' own (their CPU clocks). Bytes are counted once per
//! direction: a message and its echo are `2 * SIZE` through the proxy.
//!
//! ```text
//! cargo bench --bench proxy_copy -- [ROUNDS] [SECONDS] [CONNS] [SIZE]
//! ```
//! (defaults 5, 2, 4, 1048576). Prints each run, then per proxy the
//! median CPU per MiB and its ratio to tokio's.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// CPU clocks of the threads that are not the proxy.
static OTHERS: Mutex<Vec<libc::clockid_t>> = Mutex::new(Vec::new());

/// Registers the calling thread's CPU clock as not the proxy's.
fn not_the_proxy() {
    let mut id: libc::clockid_t = 0;
    // SAFETY: `pthread_self` is this thread; `id` is a live local.
    let r = unsafe { libc::pthread_getcpuclockid(libc::pthread_self(), &mut id) };
    assert_eq!(r, 0);
    OTHERS.lock().unwrap().push(id);
}

fn clock_ns(id: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a live local; a clock of an exited thread fails,
    // counted as 0 (the bench's threads live to the end).
    if unsafe { libc::clock_gettime(id, &mut ts) } != 0 {
        return 0;
    }
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// CPU nanoseconds of the whole process (all threads, exited ones too).
fn process_ns() -> u64 {
    // SAFETY: zeroed rusage is valid; getrusage fills it.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let us = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
    (us(ru.ru_utime) + us(ru.ru_stime)) * 1000
}

/// CPU nanoseconds of the proxy so far.
fn proxy_ns() -> u64 {
    let others: u64 = OTHERS.lock().unwrap().iter().map(|&c| clock_ns(c)).sum();
    process_ns().saturating_sub(others)
}

/// The echo server: a thread per connection.
fn echo_server() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let mut conn = conn.unwrap();
            conn.set_nodelay(true).unwrap();
            std::thread::spawn(move || {
                not_the_proxy();
                let mut buf = vec![0u8; 1 << 20];
                loop {
                    match conn.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            if conn.write_all(&buf[..n]).is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        }
    });
    addr
}

/// A stream behind a wrapper, so ferrio copies it through a buffer.
struct Opaque(ferrio::net::TcpStream);

impl futures::AsyncRead for Opaque {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl futures::AsyncWrite for Opaque {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }
    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_close(cx)
    }
}

/// A ferrio proxy to `echo` on `driver`; `splice`: copy the streams
/// themselves (else behind `Opaque`).
fn ferrio_proxy(
    driver: ferrio::IoDriver,
    splice: bool,
    echo: SocketAddr,
) -> (ferrio::Runtime, SocketAddr) {
    let rt = ferrio::Runtime::builder()
        .io_driver(driver)
        .build()
        .unwrap();
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let listener = rt
        .block_on(async { ferrio::net::TcpListener::from_std(l) })
        .unwrap();
    drop(rt.spawn(async move {
        loop {
            let Ok((mut a, _)) = listener.accept().await else {
                continue;
            };
            drop(ferrio::spawn(async move {
                let mut b = ferrio::net::TcpStream::connect(echo).await.unwrap();
                a.set_nodelay(true).unwrap();
                b.set_nodelay(true).unwrap();
                let _ = if splice {
                    ferrio::io::copy_bidirectional(&mut a, &mut b).await
                } else {
                    let (mut a, mut b) = (Opaque(a), Opaque(b));
                    ferrio::io::copy_bidirectional(&mut a, &mut b).await
                };
            }));
        }
    }));
    (rt, addr)
}

/// tokio's proxy to `echo`.
fn tokio_proxy(echo: SocketAddr) -> (tokio::runtime::Runtime, SocketAddr) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_io()
        .build()
        .unwrap();
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    l.set_nonblocking(true).unwrap();
    rt.spawn(async move {
        let listener = tokio::net::TcpListener::from_std(l).unwrap();
        loop {
            let Ok((mut a, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let mut b = tokio::net::TcpStream::connect(echo).await.unwrap();
                a.set_nodelay(true).unwrap();
                b.set_nodelay(true).unwrap();
                let _ = tokio::io::copy_bidirectional(&mut a, &mut b).await;
            });
        }
    });
    (rt, addr)
}

/// One client connection through `proxy`, driven while `go` is set:
/// message after message, each read back whole before the next. Returns
/// the bytes echoed back so far (shared).
struct Client {
    echoed: Arc<AtomicU64>,
}

fn client(proxy: SocketAddr, size: usize, go: Arc<AtomicBool>) -> Client {
    let conn = TcpStream::connect(proxy).unwrap();
    conn.set_nodelay(true).unwrap();
    let echoed = Arc::new(AtomicU64::new(0));
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<()>();
    {
        let mut w = conn.try_clone().unwrap();
        let go = go.clone();
        std::thread::spawn(move || {
            not_the_proxy();
            let msg: Vec<u8> = (0..size).map(|i| i as u8).collect();
            loop {
                while !go.load(Ordering::Acquire) {
                    std::thread::park_timeout(Duration::from_millis(5));
                }
                if w.write_all(&msg).is_err() {
                    return;
                }
                // The reader says when the echo is back.
                if ready_rx.recv().is_err() {
                    return;
                }
            }
        });
    }
    {
        let mut r = conn;
        let echoed = echoed.clone();
        std::thread::spawn(move || {
            not_the_proxy();
            let mut buf = vec![0u8; 1 << 20];
            let mut got = 0usize;
            loop {
                match r.read(&mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => {
                        got += n;
                        echoed.fetch_add(n as u64, Ordering::Relaxed);
                        while got >= size {
                            got -= size;
                            if ready_tx.send(()).is_err() {
                                return;
                            }
                        }
                    }
                }
            }
        });
    }
    Client { echoed }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let arg = |i: usize, d: u64| args.get(i).and_then(|s| s.parse().ok()).unwrap_or(d);
    let (rounds, secs, conns, size) = (
        arg(0, 5),
        arg(1, 2),
        arg(2, 4) as usize,
        arg(3, 1 << 20) as usize,
    );
    println!("proxy_copy: {rounds} rounds x {secs} s, {conns} connections, {size}-byte messages");
    not_the_proxy();
    let echo = echo_server();

    // Each proxy with its clients, idle until its run.
    let names = [
        "uring-splice",
        "uring-buffer",
        "epoll-splice",
        "epoll-buffer",
        "tokio",
    ];
    let mut keep_ferrio = Vec::new();
    let mut keep_tokio = Vec::new();
    let mut addrs = Vec::new();
    for name in names {
        let addr = match name {
            "tokio" => {
                let (rt, a) = tokio_proxy(echo);
                keep_tokio.push(rt);
                a
            }
            _ => {
                let driver = if name.starts_with("uring") {
                    ferrio::IoDriver::IoUring
                } else {
                    ferrio::IoDriver::Epoll
                };
                let (rt, a) = ferrio_proxy(driver, name.ends_with("splice"), echo);
                keep_ferrio.push(rt);
                a
            }
        };
        addrs.push(addr);
    }
    let gos: Vec<Arc<AtomicBool>> = names
        .iter()
        .map(|_| Arc::new(AtomicBool::new(false)))
        .collect();
    let clients: Vec<Vec<Client>> = addrs
        .iter()
        .zip(&gos)
        .map(|(&a, go)| (0..conns).map(|_| client(a, size, go.clone())).collect())
        .collect();

    let mut per_mib: Vec<Vec<f64>> = names.iter().map(|_| Vec::new()).collect();
    for round in 0..rounds {
        for (i, name) in names.iter().enumerate() {
            let echoed = || -> u64 {
                clients[i]
                    .iter()
                    .map(|c| c.echoed.load(Ordering::Relaxed))
                    .sum()
            };
            let (b0, c0, t0) = (echoed(), proxy_ns(), Instant::now());
            gos[i].store(true, Ordering::Release);
            std::thread::sleep(Duration::from_secs(secs));
            gos[i].store(false, Ordering::Release);
            // Let the messages in flight come back before reading the clocks.
            std::thread::sleep(Duration::from_millis(200));
            let (b1, c1, t1) = (echoed(), proxy_ns(), t0.elapsed());
            let mib = 2.0 * (b1 - b0) as f64 / (1 << 20) as f64;
            let cpu_ms = (c1 - c0) as f64 / 1e6;
            let v = cpu_ms / mib;
            per_mib[i].push(v);
            println!(
                "round {round} {name:>12}: {:8.1} MiB/s through the proxy, {:6.3} ms CPU per MiB",
                mib / t1.as_secs_f64(),
                v
            );
        }
    }
    let tokio = median(&mut per_mib[4].clone());
    println!("\nmedian CPU per MiB (ratio to tokio):");
    for (i, name) in names.iter().enumerate() {
        let m = median(&mut per_mib[i]);
        println!("  {name:>12}: {m:6.3} ms ({:.2})", m / tokio);
    }
    // Exit without dropping the runtimes: their proxies' copies are still
    // open (clients parked), and nothing here measures shutdown.
    std::mem::forget((clients, keep_ferrio, keep_tokio));
    std::process::exit(0);
}
