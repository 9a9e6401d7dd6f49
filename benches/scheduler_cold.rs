//! tokio's `rt_multi_threaded` workloads run **cold and alternating**:
//! both runtimes are built once, with the default worker count; each
//! sample runs the workload once on ferrio, then once on tokio, with a
//! pause before each run long enough for the workers to park (as a
//! server's workers are between bursts). criterion's `iter` (in
//! `benches/scheduler.rs`) runs warm, back to back, one runtime at a time:
//! a state servers are rarely in.
//!
//! `cargo bench --bench scheduler_cold -- [REPEATS] [SAMPLES] [PAUSE_MS]`
//! (defaults 3, 21, 20): per repeat, the median time of each runtime and
//! the ratio ferrio / tokio; then the range of the ratios. `ONLY=<name>`
//! runs one workload.

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

mod common;

const NUM_SPAWN: usize = 10_000;
const NUM_PINGS: usize = 1_000;
const NUM_YIELD_TASKS: usize = 200;
const NUM_YIELDS: usize = 1_000;
const CHAIN_DEPTH: usize = 1_000;

/// One workload, written once per runtime by the macro below.
macro_rules! workloads {
    ($rt:ident, $spawn:path, $yield:path) => {{
        fn spawn_many_local(rt: &$rt) {
            let (tx, rx) = mpsc::sync_channel(1);
            let rem = Arc::new(AtomicUsize::new(NUM_SPAWN));
            drop(rt.spawn(async move {
                for _ in 0..NUM_SPAWN {
                    let tx = tx.clone();
                    let rem = rem.clone();
                    drop($spawn(async move {
                        if rem.fetch_sub(1, Relaxed) == 1 {
                            tx.send(()).unwrap();
                        }
                    }));
                }
            }));
            rx.recv().unwrap();
        }
        fn spawn_many_remote_idle(rt: &$rt) {
            let mut handles = Vec::with_capacity(NUM_SPAWN);
            for _ in 0..NUM_SPAWN {
                handles.push(rt.spawn(async {}));
            }
            rt.block_on(async {
                for h in handles {
                    h.await.unwrap();
                }
            });
        }
        fn ping_pong(rt: &$rt) {
            let (done_tx, done_rx) = mpsc::sync_channel(1);
            let rem = Arc::new(AtomicUsize::new(NUM_PINGS));
            drop(rt.spawn(async move {
                for _ in 0..NUM_PINGS {
                    let rem = rem.clone();
                    let done_tx = done_tx.clone();
                    drop($spawn(async move {
                        let (tx1, rx1) = tokio::sync::oneshot::channel::<()>();
                        let (tx2, rx2) = tokio::sync::oneshot::channel::<()>();
                        drop($spawn(async move {
                            rx1.await.unwrap();
                            tx2.send(()).unwrap();
                        }));
                        tx1.send(()).unwrap();
                        rx2.await.unwrap();
                        if rem.fetch_sub(1, Relaxed) == 1 {
                            done_tx.send(()).unwrap();
                        }
                    }));
                }
            }));
            done_rx.recv().unwrap();
        }
        fn yield_many(rt: &$rt) {
            let (tx, rx) = mpsc::sync_channel(NUM_YIELD_TASKS);
            for _ in 0..NUM_YIELD_TASKS {
                let tx = tx.clone();
                drop(rt.spawn(async move {
                    for _ in 0..NUM_YIELDS {
                        $yield().await;
                    }
                    tx.send(()).unwrap();
                }));
            }
            for _ in 0..NUM_YIELD_TASKS {
                rx.recv().unwrap();
            }
        }
        fn chained_spawn(rt: &$rt) {
            fn chain(done: mpsc::SyncSender<()>, n: usize) {
                if n == 0 {
                    done.send(()).unwrap();
                } else {
                    drop($spawn(async move { chain(done, n - 1) }));
                }
            }
            let (tx, rx) = mpsc::sync_channel(1);
            drop(rt.spawn(async move { chain(tx, CHAIN_DEPTH) }));
            rx.recv().unwrap();
        }
        let list: [(&str, fn(&$rt)); 5] = [
            ("spawn_many_local", spawn_many_local),
            ("spawn_many_remote_idle", spawn_many_remote_idle),
            ("ping_pong", ping_pong),
            ("yield_many", yield_many),
            ("chained_spawn", chained_spawn),
        ];
        list
    }};
}

type FerrioRt = ferrio::Runtime;
type TokioRt = tokio::runtime::Runtime;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let arg = |i: usize, d: u64| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(d);
    let (repeats, samples, pause) = (arg(0, 3), arg(1, 21) as usize, arg(2, 20));
    let pause = Duration::from_millis(pause);
    let workers = num_cpus::get();
    let ferrio_rt = common::ferrio_rt(workers);
    let tokio_rt = common::tokio_rt(workers);
    let ferrio_loads = workloads!(FerrioRt, ferrio::spawn, ferrio::yield_now);
    let tokio_loads = workloads!(TokioRt, tokio::spawn, tokio::task::yield_now);
    println!(
        "cold, alternating: {workers} workers each, {samples} samples per repeat, {} ms pause before each run",
        pause.as_millis()
    );
    // ONLY=<workload> runs that one (for `perf record`).
    let only = std::env::var("ONLY").ok();
    for ((name, f), (_, t)) in ferrio_loads.iter().zip(tokio_loads.iter()) {
        if only.as_deref().is_some_and(|o| o != *name) {
            continue;
        }
        let mut ratios = Vec::new();
        for r in 0..repeats {
            let (mut fs, mut ts) = (Vec::new(), Vec::new());
            for _ in 0..samples {
                std::thread::sleep(pause);
                let start = Instant::now();
                f(&ferrio_rt);
                fs.push(start.elapsed());
                std::thread::sleep(pause);
                let start = Instant::now();
                t(&tokio_rt);
                ts.push(start.elapsed());
            }
            let (fm, tm) = (median(fs), median(ts));
            let ratio = fm.as_secs_f64() / tm.as_secs_f64();
            ratios.push(ratio);
            println!(
                "{name:>24} repeat {r}: ferrio {fm:>10.2?}  tokio {tm:>10.2?}  ratio {ratio:.2}"
            );
        }
        ratios.sort_by(|a, b| a.partial_cmp(b).unwrap());
        println!(
            "{name:>24}: ferrio / tokio {:.2}-{:.2} (median {:.2})",
            ratios[0],
            ratios[ratios.len() - 1],
            ratios[ratios.len() / 2]
        );
    }
}
