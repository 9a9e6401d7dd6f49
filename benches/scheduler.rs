//! Scheduler benchmarks: ferrio and tokio side by side on tokio's own
//! `rt_multi_threaded` workloads (`common/workloads.rs`), same worker
//! count, same run. Warm: criterion's `iter` runs back to back, one
//! runtime at a time; `scheduler_cold.rs` runs the same workloads cold and
//! alternating.
//!
//! `cargo bench --bench scheduler` prints, per workload, one line for
//! `ferrio` and one for `tokio`; the ratio of the two times is the figure
//! to read.

use criterion::{criterion_group, criterion_main, Criterion};

#[macro_use]
mod common;

type FerrioRt = ferrio::Runtime;
type TokioRt = tokio::runtime::Runtime;

fn workers() -> usize {
    num_cpus::get()
}

fn scheduler(c: &mut Criterion) {
    let ferrio_loads = scheduler_workloads!(FerrioRt, ferrio::spawn, ferrio::yield_now);
    let tokio_loads = scheduler_workloads!(TokioRt, tokio::spawn, tokio::task::yield_now);
    for ((name, f), (_, t)) in ferrio_loads.iter().zip(tokio_loads.iter()) {
        let mut g = c.benchmark_group(*name);
        g.sample_size(20);
        {
            let rt = common::ferrio_rt(workers());
            g.bench_function("ferrio", |b| b.iter(|| f(&rt)));
        }
        {
            let rt = common::tokio_rt(workers());
            g.bench_function("tokio", |b| b.iter(|| t(&rt)));
        }
        g.finish();
    }
}

criterion_group!(benches, scheduler);
criterion_main!(benches);
