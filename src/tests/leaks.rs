//! Counts live heap bytes around runtimes that are dropped with tasks in
//! every state: nothing may stay allocated. Its own test binary
//! (`harness = false`, declared in Cargo.toml) so that the counting
//! allocator sees no other test's allocations.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering::Relaxed};

// The helpers the in-crate tests share (this binary is its own crate).
#[path = "common.rs"]
mod common;
use common::{pipe, rt};

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

fn live() -> isize {
    LIVE.load(Relaxed)
}

/// One runtime lifetime with tasks finished, pending, panicking, cancelled,
/// detached and awaited from outside.
fn round(tasks: usize) {
    let rt = ferrio::Runtime::builder()
        .worker_threads(2)
        .on_task_panic(|_, _| {})
        .build()
        .unwrap();
    let mut keep = Vec::new();
    let mut senders = Vec::new();
    for i in 0..tasks {
        let payload = vec![i as u8; 512];
        match i % 5 {
            0 => drop(rt.spawn(async move { payload.len() })),
            1 => {
                let (tx, rx) = std::sync::mpsc::channel::<()>();
                senders.push(tx);
                keep.push(rt.spawn(async move {
                    let _p = payload;
                    // Pending until shutdown (rx is never sent to).
                    std::future::poll_fn(move |_| {
                        let _ = rx.try_recv();
                        std::task::Poll::<()>::Pending
                    })
                    .await;
                    0
                }));
            }
            2 => drop(rt.spawn(async move {
                if !payload.is_empty() {
                    panic!("leak test panic");
                }
                0
            })),
            3 => {
                let t = rt.spawn(async move {
                    std::future::pending::<()>().await;
                    payload.len()
                });
                t.cancel();
                keep.push(t);
            }
            _ => keep.push(rt.spawn(async move {
                ferrio::yield_now().await;
                payload.len()
            })),
        }
    }
    drop(rt);
    drop(keep);
    drop(senders);
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Thousands of reads in flight, most cancelled at once, the rest left to
/// the runtime's shutdown: every buffer is freed only after its completion
/// (the counting allocator and valgrind/ASan runs see no leak and no
/// use-after-free) and no descriptor is left open.
fn in_flight_reads_round() {
    let rt = rt(2);
    rt.block_on(async {
        let pipes: Vec<_> = (0..200).map(|_| std::sync::Arc::new(pipe())).collect();
        let tasks: Vec<_> = (0..5_000)
            .map(|i| {
                let p = pipes[i % pipes.len()].clone();
                ferrio::spawn(async move {
                    let (r, _) = p.0.read(vec![0u8; 256]).await;
                    r
                })
            })
            .collect();
        for _ in 0..10 {
            ferrio::yield_now().await;
        }
        for (i, t) in tasks.iter().enumerate() {
            if i % 3 != 0 {
                t.cancel();
            }
        }
    });
    drop(rt);
}

/// Accepts dropped in flight while clients connect: a connection the
/// kernel accepted for a dropped future is closed, not leaked.
fn cancelled_accepts_round() {
    let rt = rt(2);
    rt.block_on(async {
        let listener = std::sync::Arc::new(ferrio::net::TcpListener::bind("127.0.0.1:0").unwrap());
        let addr = listener.local_addr().unwrap();
        for _ in 0..50 {
            let l = listener.clone();
            let accept = ferrio::spawn(async move { l.accept().await.map(drop) });
            let client = ferrio::spawn(async move { ferrio::net::TcpStream::connect(addr).await });
            ferrio::yield_now().await;
            accept.cancel();
            drop(client.await.unwrap());
        }
    });
    drop(rt);
}

/// A small xorshift generator: random cancellation points without a
/// dependency, seeded for reproducibility.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// 10,000 reads (owned and pooled), accepts (single- and multi-shot) and
/// opens, each dropped at a random point
/// (before its first poll, in flight, or after completing) while data
/// and connections arrive: every descriptor an operation produced is
/// closed, whether or not its future was still there to take it.
fn random_cancellation_round(seed: u64) {
    let rt = rt(2);
    rt.block_on(async move {
        use std::sync::Arc;
        let mut rng = Rng(seed);
        let listener = Arc::new(ferrio::net::TcpListener::bind("127.0.0.1:0").unwrap());
        let addr = listener.local_addr().unwrap();
        let mut pairs = Vec::new();
        for _ in 0..64 {
            let client = ferrio::net::TcpStream::connect(addr).await.unwrap();
            let (server, _) = listener.accept().await.unwrap();
            pairs.push((Arc::new(client), Arc::new(server)));
        }
        let mut clients = Vec::new();
        let mut outstanding: Vec<ferrio::Task<()>> = Vec::new();
        for i in 0..10_000u64 {
            let task = match i % 5 {
                0 => {
                    let (_, server) = pairs[rng.below(64) as usize].clone();
                    ferrio::spawn(async move {
                        let _ = server.read(Vec::with_capacity(64)).await;
                    })
                }
                1 => {
                    let l = listener.clone();
                    ferrio::spawn(async move {
                        let _ = l.accept().await;
                    })
                }
                2 => ferrio::spawn(async move {
                    let _ = ferrio::fs::File::open("/dev/null").await;
                }),
                3 => {
                    // A receive into the ring's buffer pool.
                    let (_, server) = pairs[rng.below(64) as usize].clone();
                    ferrio::spawn(async move {
                        let _ = server.read_pooled().await;
                    })
                }
                _ => {
                    // A multi-shot accept, dropped with connections queued.
                    let l = listener.clone();
                    ferrio::spawn(async move {
                        use futures::StreamExt;
                        let mut incoming = l.incoming();
                        let _ = incoming.next().await;
                        let _ = incoming.next().await;
                    })
                }
            };
            outstanding.push(task);
            // Traffic at random moments: bytes for the reads, connections
            // for the accepts.
            match rng.below(8) {
                0 => {
                    let (client, _) = &pairs[rng.below(64) as usize];
                    let _ = client.write(vec![1u8; 8]).await;
                }
                1 => clients.push(ferrio::net::TcpStream::connect(addr).await.unwrap()),
                _ => {}
            }
            for _ in 0..rng.below(3) {
                ferrio::yield_now().await;
            }
            // Cancel a random outstanding operation, wherever it is.
            if !outstanding.is_empty() && rng.below(2) == 0 {
                let k = rng.below(outstanding.len() as u64) as usize;
                outstanding.swap_remove(k).cancel();
            }
            if clients.len() > 200 {
                clients.clear();
            }
        }
        for t in &outstanding {
            t.cancel();
        }
        drop(clients);
        drop(pairs);
    });
    drop(rt);
}

/// Accepting with no descriptors left: `start_server`'s loop gets EMFILE,
/// backs off instead of spinning, keeps the listener, and serves the
/// waiting connection once descriptors are free again.
fn accept_backs_off_on_emfile() -> bool {
    use std::io::Read;
    let rt = rt(1);
    let handle = rt.handle();
    let server = rt.block_on(async {
        ferrio::start_server(
            |_r: ferrio::StreamReader, w: ferrio::StreamWriter| async move {
                w.write(b"served\n").unwrap();
                w.close();
                let _ = w.wait_closed().await;
            },
            "127.0.0.1:0",
        )
        .await
        .unwrap()
    });
    let addr = server.local_addr();
    // Lower the soft descriptor limit to just above what is open (a
    // container's limit may be a million), use up every descriptor but
    // one, then connect with that one.
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    assert_eq!(
        // SAFETY: `limit` is a valid rlimit for the call to fill and read.
        unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) },
        0
    );
    let lowered = libc::rlimit {
        rlim_cur: (open_fds() as libc::rlim_t + 64).min(limit.rlim_cur),
        rlim_max: limit.rlim_max,
    };
    // SAFETY: as above.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lowered) }, 0);
    let mut hog = Vec::new();
    while let Ok(f) = std::fs::File::open("/dev/null") {
        hog.push(f);
    }
    drop(hog.pop());
    let mut client = std::net::TcpStream::connect(addr).unwrap();
    let before = handle.metrics().ops_submitted;
    std::thread::sleep(std::time::Duration::from_millis(500));
    let during = handle.metrics().ops_submitted - before;
    drop(hog);
    // SAFETY: restores the limit read above.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) }, 0);
    client
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let mut got = String::new();
    let read = client.read_to_string(&mut got);
    println!(
        "EMFILE: {during} ring ops in 500 ms while out of descriptors; then read {read:?} {got:?}"
    );
    drop(server);
    drop(rt);
    // A spinning accept loop would submit tens of thousands of ops here;
    // backing off for 100 ms between tries submits about 10 (accept +
    // timer per try).
    during < 100 && got == "served\n"
}

fn main() {
    // Silence the default hook: the panics are intended.
    std::panic::set_hook(Box::new(|_| {}));
    // Warm up lazily initialised statics (crossbeam's epoch collector,
    // std's thread bookkeeping).
    round(1_000);
    let start = live();
    let mut after = Vec::new();
    for _ in 0..4 {
        round(20_000);
        after.push(live());
    }
    // In-flight io_uring reads dropped at shutdown.
    let fds_before = open_fds();
    in_flight_reads_round();
    let mem_before_io = live();
    in_flight_reads_round();
    in_flight_reads_round();
    let io_growth = live() - mem_before_io;
    cancelled_accepts_round();
    random_cancellation_round(0x9E37_79B9_7F4A_7C15);
    let mem_before_random = live();
    random_cancellation_round(0xD1B5_4A32_D192_ED03);
    let random_growth = live() - mem_before_random;
    let fds_after = open_fds();
    println!("10,000 random cancellations: bytes drift {random_growth}");
    println!("in-flight reads: fds {fds_before} -> {fds_after}, bytes drift {io_growth}");
    if fds_after != fds_before || io_growth > 256 * 1024 || random_growth > 256 * 1024 {
        println!("leaks: 1 passed, 1 failed (fds or memory leaked with operations in flight)");
        std::process::exit(1);
    }
    // Last: it uses up the process's descriptors for a moment.
    if !accept_backs_off_on_emfile() {
        println!("leaks: 2 passed, 1 failed (accept under EMFILE)");
        std::process::exit(1);
    }

    let growth = after[3] - start;
    let drift = after[3] - after[0];
    println!("live bytes: start {start}, after each round {after:?}");
    // 20,000 tasks with 512-byte payloads per round: a leak of even 1% of
    // them would be > 100 KB per round and accumulate.
    let ok = growth < 2 * 1024 * 1024 && drift < 256 * 1024;
    if ok {
        println!("leaks: 3 passed, 0 failed");
    } else {
        println!("leaks: 2 passed, 1 failed (growth {growth} B, drift {drift} B)");
        std::process::exit(1);
    }
}
