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
//! Each round also runs the same tasks without the sleep (a control):
//! the CPU above it is the timers' own, reported as a second ratio.

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
    let (mut f_cpus, mut t_cpus, mut f_ctls, mut t_ctls) = (vec![], vec![], vec![], vec![]);
    for round in 0..rounds {
        let (f_cpu, f_wall) = measure(|| ferrio_rt.block_on(ferrio_tasks(timers, true)));
        let (t_cpu, t_wall) = measure(|| tokio_rt.block_on(tokio_tasks(timers, true)));
        // The control: the same tasks without the sleep, so what is left
        // above it is the timers' own cost.
        let (f_ctl, _) = measure(|| ferrio_rt.block_on(ferrio_tasks(timers, false)));
        let (t_ctl, _) = measure(|| tokio_rt.block_on(tokio_tasks(timers, false)));
        let ratio = f_cpu.as_secs_f64() / t_cpu.as_secs_f64();
        println!(
            "round {round}: ferrio CPU {:>7.2?} (wall {:>7.2?}, no-sleep control {:>7.2?})  \
             tokio CPU {:>7.2?} (wall {:>7.2?}, control {:>7.2?})  ratio {ratio:.2}",
            f_cpu, f_wall, f_ctl, t_cpu, t_wall, t_ctl
        );
        ratios.push(ratio);
        f_cpus.push(f_cpu);
        t_cpus.push(t_cpu);
        f_ctls.push(f_ctl);
        t_ctls.push(t_ctl);
    }
    ratios.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!(
        "ferrio / tokio CPU: {:.2}-{:.2} (median {:.2})",
        ratios[0],
        ratios[ratios.len() - 1],
        ratios[ratios.len() / 2]
    );
    // Medians first, then the difference: a per-round difference of two
    // noisy numbers is noisier than either.
    let median = |mut v: Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let (f_cpu, t_cpu) = (median(f_cpus), median(t_cpus));
    let (f_ctl, t_ctl) = (median(f_ctls), median(t_ctls));
    let (f_timers, t_timers) = (f_cpu.saturating_sub(f_ctl), t_cpu.saturating_sub(t_ctl));
    println!(
        "medians: ferrio {f_cpu:.2?} - control {f_ctl:.2?} = timers {f_timers:.2?}; \
         tokio {t_cpu:.2?} - control {t_ctl:.2?} = timers {t_timers:.2?}; \
         timers alone ferrio / tokio {:.2}",
        f_timers.as_secs_f64() / t_timers.as_secs_f64().max(1e-9)
    );
}

/// `n` ferrio tasks, each sleeping 1-10 ms if `sleep`, awaited in turn.
async fn ferrio_tasks(n: usize, sleep: bool) {
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            ferrio::spawn(async move {
                if sleep {
                    ferrio::sleep(Duration::from_millis(1 + (i % 10) as u64)).await
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
}

/// `n` tokio tasks, each sleeping 1-10 ms if `sleep`, awaited in turn.
async fn tokio_tasks(n: usize, sleep: bool) {
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            tokio::spawn(async move {
                if sleep {
                    tokio::time::sleep(Duration::from_millis(1 + (i % 10) as u64)).await
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
}
