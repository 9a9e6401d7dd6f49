//! Scheduler benchmarks: ferrio and tokio side by side on tokio's own
//! `rt_multi_threaded` workloads, same worker count, same run.
//!
//! `cargo bench --bench scheduler` prints, per workload, one line for
//! `ferrio` and one for `tokio`; the ratio of the two times is the figure
//! to read.

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{mpsc, Arc};

use criterion::{criterion_group, criterion_main, Criterion};

mod common;

const NUM_SPAWN: usize = 10_000;
const NUM_PINGS: usize = 1_000;
const NUM_YIELD_TASKS: usize = 200;
const NUM_YIELDS: usize = 1_000;
const CHAIN_DEPTH: usize = 1_000;

fn workers() -> usize {
    num_cpus::get()
}

/// Runs one workload on both runtimes. `$spawn` is the runtime's free
/// `spawn` function, `$yield` its `yield_now`.
macro_rules! both {
    ($c:expr, $name:literal, |$rt:ident, $spawn:ident, $yield:ident| $body:expr) => {{
        let mut g = $c.benchmark_group($name);
        g.sample_size(20);
        {
            let $rt = common::ferrio_rt(workers());
            #[allow(unused_imports)]
            use ferrio::{spawn as $spawn, yield_now as $yield};
            g.bench_function("ferrio", |b| b.iter(|| $body));
        }
        {
            let $rt = common::tokio_rt(workers());
            #[allow(unused_imports)]
            use tokio::{spawn as $spawn, task::yield_now as $yield};
            g.bench_function("tokio", |b| b.iter(|| $body));
        }
        g.finish();
    }};
}

fn spawn_many_local(c: &mut Criterion) {
    both!(c, "spawn_many_local", |rt, spawn, yield_now| {
        let (tx, rx) = mpsc::sync_channel(1);
        let rem = Arc::new(AtomicUsize::new(NUM_SPAWN));
        drop(rt.spawn(async move {
            for _ in 0..NUM_SPAWN {
                let tx = tx.clone();
                let rem = rem.clone();
                drop(spawn(async move {
                    if rem.fetch_sub(1, Relaxed) == 1 {
                        tx.send(()).unwrap();
                    }
                }));
            }
        }));
        rx.recv().unwrap();
    });
}

fn spawn_many_remote_idle(c: &mut Criterion) {
    both!(c, "spawn_many_remote_idle", |rt, spawn, yield_now| {
        let mut handles = Vec::with_capacity(NUM_SPAWN);
        for _ in 0..NUM_SPAWN {
            handles.push(rt.spawn(async {}));
        }
        rt.block_on(async {
            for h in handles {
                h.await.unwrap();
            }
        });
    });
}

fn ping_pong(c: &mut Criterion) {
    both!(c, "ping_pong", |rt, spawn, yield_now| {
        let (done_tx, done_rx) = mpsc::sync_channel(1);
        let rem = Arc::new(AtomicUsize::new(NUM_PINGS));
        drop(rt.spawn(async move {
            for _ in 0..NUM_PINGS {
                let rem = rem.clone();
                let done_tx = done_tx.clone();
                drop(spawn(async move {
                    let (tx1, rx1) = tokio::sync::oneshot::channel::<()>();
                    let (tx2, rx2) = tokio::sync::oneshot::channel::<()>();
                    drop(spawn(async move {
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
    });
}

fn yield_many(c: &mut Criterion) {
    both!(c, "yield_many", |rt, spawn, yield_now| {
        let (tx, rx) = mpsc::sync_channel(NUM_YIELD_TASKS);
        for _ in 0..NUM_YIELD_TASKS {
            let tx = tx.clone();
            drop(rt.spawn(async move {
                for _ in 0..NUM_YIELDS {
                    yield_now().await;
                }
                tx.send(()).unwrap();
            }));
        }
        for _ in 0..NUM_YIELD_TASKS {
            rx.recv().unwrap();
        }
    });
}

fn chained_spawn(c: &mut Criterion) {
    fn ferrio_chain(done: mpsc::SyncSender<()>, n: usize) {
        if n == 0 {
            done.send(()).unwrap();
        } else {
            drop(ferrio::spawn(async move { ferrio_chain(done, n - 1) }));
        }
    }
    fn tokio_chain(done: mpsc::SyncSender<()>, n: usize) {
        if n == 0 {
            done.send(()).unwrap();
        } else {
            drop(tokio::spawn(async move { tokio_chain(done, n - 1) }));
        }
    }
    let mut g = c.benchmark_group("chained_spawn");
    g.sample_size(20);
    {
        let rt = common::ferrio_rt(workers());
        g.bench_function("ferrio", |b| {
            b.iter(|| {
                let (tx, rx) = mpsc::sync_channel(1);
                drop(rt.spawn(async move { ferrio_chain(tx, CHAIN_DEPTH) }));
                rx.recv().unwrap();
            })
        });
    }
    {
        let rt = common::tokio_rt(workers());
        g.bench_function("tokio", |b| {
            b.iter(|| {
                let (tx, rx) = mpsc::sync_channel(1);
                drop(rt.spawn(async move { tokio_chain(tx, CHAIN_DEPTH) }));
                rx.recv().unwrap();
            })
        });
    }
    g.finish();
}

criterion_group!(
    scheduler,
    spawn_many_local,
    spawn_many_remote_idle,
    ping_pong,
    yield_many,
    chained_spawn
);
criterion_main!(scheduler);
