//! CPU to fire timers, ferrio and tokio side by side: 50,000 tasks each
//! sleeping 1–10 ms, awaited from `block_on`, on the default worker
//! count. Runs alternate (ferrio, tokio, repeat) with a pause between so
//! the workers park; the cost is the process's CPU time (`getrusage`:
//! user + system, every thread) over the run, which only the runtime
//! running uses. Wall time is bound by the 10 ms sleeps; CPU is what a
//! server with many timeouts pays.
//!
//! `cargo bench --bench timers_cpu -- [ROUNDS] [TIMERS]` (defaults 7,
//! 50000): per round the CPU of each runtime, then the ratio's range.

use std::time::{Duration, Instant};

mod common;

/// User + system CPU of the whole process so far.
fn process_cpu() -> Duration {
    // SAFETY: zeroed rusage is valid plain data; getrusage fills it.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: a live rusage for the call.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// CPU and wall time of `run`, after a pause that lets workers park.
fn measure(run: impl FnOnce()) -> (Duration, Duration) {
    std::thread::sleep(Duration::from_millis(100));
    let (cpu0, t0) = (process_cpu(), Instant::now());
    run();
    (process_cpu() - cpu0, t0.elapsed())
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let arg = |i: usize, d: usize| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(d);
    let (rounds, timers) = (arg(0, 7), arg(1, 50_000));
    let workers = num_cpus::get();
    let ferrio_rt = common::ferrio_rt(workers);
    let tokio_rt = common::tokio_rt(workers);
    println!("{timers} timers of 1-10 ms, {workers} workers, {rounds} rounds, alternating");
    let mut ratios = Vec::new();
    for round in 0..rounds {
        let (f_cpu, f_wall) = measure(|| {
            ferrio_rt.block_on(async {
                let tasks: Vec<_> = (0..timers)
                    .map(|i| {
                        ferrio::spawn(async move {
                            ferrio::sleep(Duration::from_millis(1 + (i % 10) as u64)).await
                        })
                    })
                    .collect();
                for t in tasks {
                    t.await.unwrap();
                }
            })
        });
        let (t_cpu, t_wall) = measure(|| {
            tokio_rt.block_on(async {
                let tasks: Vec<_> = (0..timers)
                    .map(|i| {
                        tokio::spawn(async move {
                            tokio::time::sleep(Duration::from_millis(1 + (i % 10) as u64)).await
                        })
                    })
                    .collect();
                for t in tasks {
                    t.await.unwrap();
                }
            })
        });
        let ratio = f_cpu.as_secs_f64() / t_cpu.as_secs_f64();
        println!(
            "round {round}: ferrio CPU {:>7.2?} (wall {:>7.2?})  tokio CPU {:>7.2?} (wall {:>7.2?})  ratio {ratio:.2}",
            f_cpu, f_wall, t_cpu, t_wall
        );
        ratios.push(ratio);
    }
    ratios.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!(
        "ferrio / tokio CPU: {:.2}-{:.2} (median {:.2})",
        ratios[0],
        ratios[ratios.len() - 1],
        ratios[ratios.len() / 2]
    );
}
