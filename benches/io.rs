//! I/O throughput side by side: TCP echo ping-pong (ferrio, tokio and
//! monoio servers, the same client) and 4 KiB random file reads (ferrio's
//! io_uring reads against `tokio::fs` and tokio's `spawn_blocking` +
//! `pread`).
//!
//! `cargo bench --bench io`; criterion prints each row's throughput
//! (requests/s or reads/s) and time, and this bench prints ferrio's
//! `io_uring_enter` calls per request.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const WORKERS: usize = 2;

/// The echo servers get one worker each, pinned to CPU 1, and the client
/// is pinned to CPU 0: on a 2-core machine that is the only split where
/// a server's own efficiency shows, instead of the client and the server
/// fighting over both cores.
const ECHO_WORKERS: usize = 1;
const SERVER_CPU: usize = 1;
const CLIENT_CPU: usize = 0;

/// Pins the calling thread to `cpu` (ignored where there are fewer CPUs).
fn pin_to(cpu: usize) {
    if cpu >= num_cpus() {
        return;
    }
    // SAFETY: a zeroed cpu_set_t is empty; CPU_SET writes inside it;
    // sched_setaffinity reads it for the calling thread (0).
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

/// Lets the calling thread run on every CPU again.
fn unpin() {
    // SAFETY: as in `pin_to`.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        for cpu in 0..num_cpus() {
            libc::CPU_SET(cpu, &mut set);
        }
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

fn num_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// ferrio echo server (owned buffers, a task per connection).
fn ferrio_server() -> (ferrio::Runtime, SocketAddr) {
    let rt = common::ferrio_rt(ECHO_WORKERS);
    rt.block_on(rt.spawn(async { pin_to(SERVER_CPU) })).unwrap();
    let addr = common::serve_ferrio_echo(&rt);
    (rt, addr)
}

/// tokio echo server, the same shape.
fn tokio_server() -> (tokio::runtime::Runtime, SocketAddr) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(ECHO_WORKERS)
        .thread_name("tokio-server")
        .on_thread_start(|| pin_to(SERVER_CPU))
        .enable_io()
        .build()
        .unwrap();
    let addr = common::serve_tokio_echo(&rt);
    (rt, addr)
}

/// monoio echo server: thread per core, so `WORKERS` threads each
/// accepting on the same listening socket (its own ring each).
fn monoio_server() -> SocketAddr {
    let std_l = common::std_listener();
    let addr = std_l.local_addr().unwrap();
    for _ in 0..WORKERS {
        let l = std_l.try_clone().unwrap();
        std::thread::Builder::new()
            .name("monoio-server".into())
            .spawn(move || {
                let mut rt = monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
                    .build()
                    .expect("monoio runtime");
                rt.block_on(async move {
                    use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
                    let listener = monoio::net::TcpListener::from_std(l).unwrap();
                    loop {
                        let Ok((mut conn, _)) = listener.accept().await else {
                            continue;
                        };
                        conn.set_nodelay(true).unwrap();
                        monoio::spawn(async move {
                            let mut buf = Vec::with_capacity(4096);
                            loop {
                                let (r, b) = conn.read(buf).await;
                                if !matches!(r, Ok(n) if n > 0) {
                                    return;
                                }
                                let (r, mut b) = conn.write_all(b).await;
                                if r.is_err() {
                                    return;
                                }
                                b.clear();
                                buf = b;
                            }
                        });
                    }
                });
            })
            .unwrap();
    }
    addr
}

/// Runs one echo row and reports the server threads' CPU per request.
fn echo_row(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    threads: &str,
    addr: SocketAddr,
    conns: usize,
    size: usize,
) -> u64 {
    let mut client = Client::connect(addr, conns);
    let cpu_before = common::thread_usage(threads).0;
    let mut requests = 0u64;
    g.bench_function(BenchmarkId::new(name, conns), |b| {
        b.iter_custom(|iters| {
            requests += iters * conns as u64;
            client.run(iters, size)
        })
    });
    let cpu = common::thread_usage(threads).0 - cpu_before;
    eprintln!(
        "{name} echo {size} B x {conns} conns: server CPU {:.2} us per request ({requests} requests)",
        cpu as f64 * 10_000.0 / requests as f64
    );
    requests
}

/// The one client every server faces: a single-threaded tokio runtime
/// driving `conns` connections, each writing `size` bytes and reading the
/// echo, in lock step.
struct Client {
    rt: tokio::runtime::Runtime,
    conns: Vec<tokio::net::TcpStream>,
}

impl Client {
    fn connect(addr: SocketAddr, n: usize) -> Client {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
            .unwrap();
        let conns = rt.block_on(async {
            let mut v = Vec::new();
            for _ in 0..n {
                let s = tokio::net::TcpStream::connect(addr).await.unwrap();
                s.set_nodelay(true).unwrap();
                v.push(s);
            }
            v
        });
        Client { rt, conns }
    }

    /// Every connection does `rounds` round trips; returns the time.
    fn run(&mut self, rounds: u64, size: usize) -> Duration {
        let start = Instant::now();
        let conns = &mut self.conns;
        self.rt.block_on(async {
            let jobs = conns.iter_mut().map(|c| async move {
                let out = vec![7u8; size];
                let mut back = vec![0u8; size];
                for _ in 0..rounds {
                    c.write_all(&out).await.unwrap();
                    c.read_exact(&mut back).await.unwrap();
                }
            });
            futures::future::join_all(jobs).await;
        });
        start.elapsed()
    }
}

fn echo(c: &mut Criterion) {
    pin_to(CLIENT_CPU);
    let (ferrio_rt, ferrio_addr) = ferrio_server();
    let (_tokio_rt, tokio_addr) = tokio_server();
    let monoio_addr = monoio_server();
    for size in [100usize, 1024] {
        let mut g = c.benchmark_group(format!("echo_{size}B"));
        g.sample_size(10)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(3));
        for conns in [64usize, 256] {
            g.throughput(Throughput::Elements(conns as u64));
            let before = ferrio_rt.handle().metrics();
            let requests = echo_row(&mut g, "ferrio", "ferrio-worker", ferrio_addr, conns, size);
            let after = ferrio_rt.handle().metrics();
            let enters = after.io_uring_enters - before.io_uring_enters;
            eprintln!(
                "ferrio echo {size} B x {conns} conns: {:.3} io_uring_enter per request ({:.3} of them parks)",
                enters as f64 / requests as f64,
                (after.parks - before.parks) as f64 / requests as f64
            );
            echo_row(&mut g, "tokio", "tokio-server", tokio_addr, conns, size);
            echo_row(&mut g, "monoio", "monoio-server", monoio_addr, conns, size);
        }
        g.finish();
    }
    unpin();
}

const FILE_SIZE: u64 = 64 << 20;
const BLOCK: usize = 4096;
const IN_FLIGHT: usize = 64;
const READS_PER_TASK: usize = 128;

fn test_file() -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("ferrio-bench-{}.dat", std::process::id()));
    let block: Vec<u8> = (0..1 << 20).map(|i: u32| (i * 31) as u8).collect();
    let mut f = std::fs::File::create(&path).unwrap();
    for _ in 0..(FILE_SIZE >> 20) {
        std::io::Write::write_all(&mut f, &block).unwrap();
    }
    f.sync_all().unwrap();
    path
}

/// Block-aligned random offsets, different per task.
fn offsets(task: usize) -> impl Iterator<Item = u64> {
    let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ (task as u64 + 1).wrapping_mul(0xD1B5_4A32_D192_ED03);
    (0..READS_PER_TASK).map(move |_| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x % (FILE_SIZE / BLOCK as u64)) * BLOCK as u64
    })
}

fn files(c: &mut Criterion) {
    let path = test_file();
    // Read it once so every runtime reads from the page cache.
    let _ = std::fs::read(&path).unwrap();
    let mut g = c.benchmark_group("file_random_4k_64_in_flight");
    g.sample_size(10).measurement_time(Duration::from_secs(3));
    g.throughput(Throughput::Elements((IN_FLIGHT * READS_PER_TASK) as u64));

    let rt = common::ferrio_rt(WORKERS);
    let file = Arc::new(rt.block_on(ferrio::fs::File::open(&path)).unwrap());
    g.bench_function("ferrio", |b| {
        b.iter(|| {
            rt.block_on(async {
                let tasks: Vec<_> = (0..IN_FLIGHT)
                    .map(|t| {
                        let file = file.clone();
                        ferrio::spawn(async move {
                            let mut buf = Vec::with_capacity(BLOCK);
                            for off in offsets(t) {
                                let (r, b) = file.read_at(buf, off).await;
                                assert_eq!(r.unwrap(), BLOCK);
                                buf = b;
                            }
                        })
                    })
                    .collect();
                for t in tasks {
                    t.await.unwrap();
                }
            })
        })
    });

    let trt = common::tokio_rt(WORKERS);
    g.bench_function("tokio_fs", |b| {
        b.iter(|| {
            trt.block_on(async {
                let tasks: Vec<_> = (0..IN_FLIGHT)
                    .map(|t| {
                        let path = path.clone();
                        tokio::spawn(async move {
                            use tokio::io::AsyncSeekExt;
                            let mut f = tokio::fs::File::open(&path).await.unwrap();
                            let mut buf = vec![0u8; BLOCK];
                            for off in offsets(t) {
                                f.seek(std::io::SeekFrom::Start(off)).await.unwrap();
                                f.read_exact(&mut buf).await.unwrap();
                            }
                        })
                    })
                    .collect();
                for t in tasks {
                    t.await.unwrap();
                }
            })
        })
    });

    let std_file = Arc::new(std::fs::File::open(&path).unwrap());
    g.bench_function("tokio_spawn_blocking_pread", |b| {
        b.iter(|| {
            trt.block_on(async {
                let tasks: Vec<_> = (0..IN_FLIGHT)
                    .map(|t| {
                        let f = std_file.clone();
                        tokio::spawn(async move {
                            let mut buf = vec![0u8; BLOCK];
                            for off in offsets(t) {
                                let f = f.clone();
                                buf = tokio::task::spawn_blocking(move || {
                                    use std::os::unix::fs::FileExt;
                                    f.read_exact_at(&mut buf, off).unwrap();
                                    buf
                                })
                                .await
                                .unwrap();
                            }
                        })
                    })
                    .collect();
                for t in tasks {
                    t.await.unwrap();
                }
            })
        })
    });
    g.finish();
    let _ = std::fs::remove_file(&path);
}

criterion_group!(benches, echo, files);
criterion_main!(benches);
