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

use std::time::{Duration, Instant};

#[macro_use]
mod common;

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
    let ferrio_loads = scheduler_workloads!(FerrioRt, ferrio::spawn, ferrio::yield_now);
    let tokio_loads = scheduler_workloads!(TokioRt, tokio::spawn, tokio::task::yield_now);
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
