//! Timer and driver benchmarks, ferrio and tokio side by side.
//!
//! - `timer_create_poll_drop`: 100,000 sleeps created, polled once (which
//!   registers them) and dropped (which cancels them), split over the two
//!   workers.
//! - `timers_firing`: 10,000 tasks each sleeping 1–10 ms.
//! - `io_nop`: 1,000 tasks × 16 `IORING_OP_NOP` round trips through the
//!   worker's ring. tokio has no io_uring NOP; its row runs the nearest
//!   thing, a `yield_now` through its scheduler, so the ratio shows what a
//!   kernel round trip costs over a pure scheduler trip. The bench also
//!   prints io_uring_enter calls per operation from the runtime's metrics.

use std::future::Future;
use std::pin::Pin;
use std::sync::mpsc;
use std::task::{Context, Waker};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};

mod common;

const SLEEPS: usize = 100_000;
const FIRING: usize = 10_000;
const NOP_TASKS: usize = 1_000;
const NOPS_PER_TASK: usize = 16;

fn poll_once<F: Future + Unpin>(f: &mut F) {
    let mut cx = Context::from_waker(Waker::noop());
    let _ = Pin::new(f).poll(&mut cx);
}

fn timer_create_poll_drop(c: &mut Criterion) {
    let mut g = c.benchmark_group("timer_create_poll_drop");
    g.sample_size(20);
    let rt = common::ferrio_rt(2);
    g.bench_function("ferrio", |b| {
        b.iter(|| {
            let (tx, rx) = mpsc::channel();
            for _ in 0..2 {
                let tx = tx.clone();
                drop(rt.spawn(async move {
                    for i in 0..SLEEPS / 2 {
                        let mut s = ferrio::sleep(Duration::from_millis(1_000 + i as u64 % 1000));
                        poll_once(&mut s);
                    }
                    tx.send(()).unwrap();
                }));
            }
            rx.recv().unwrap();
            rx.recv().unwrap();
        })
    });
    drop(rt);
    let rt = common::tokio_rt(2);
    g.bench_function("tokio", |b| {
        b.iter(|| {
            let (tx, rx) = mpsc::channel();
            for _ in 0..2 {
                let tx = tx.clone();
                drop(rt.spawn(async move {
                    for i in 0..SLEEPS / 2 {
                        let mut s = Box::pin(tokio::time::sleep(Duration::from_millis(
                            1_000 + i as u64 % 1000,
                        )));
                        poll_once(&mut s);
                    }
                    tx.send(()).unwrap();
                }));
            }
            rx.recv().unwrap();
            rx.recv().unwrap();
        })
    });
    g.finish();
}

fn timers_firing(c: &mut Criterion) {
    let mut g = c.benchmark_group("timers_firing");
    g.sample_size(10);
    let rt = common::ferrio_rt(2);
    g.bench_function("ferrio", |b| {
        b.iter(|| {
            rt.block_on(async {
                let tasks: Vec<_> = (0..FIRING)
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
        })
    });
    drop(rt);
    let rt = common::tokio_rt(2);
    g.bench_function("tokio", |b| {
        b.iter(|| {
            rt.block_on(async {
                let tasks: Vec<_> = (0..FIRING)
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
        })
    });
    g.finish();
}

fn io_nop(c: &mut Criterion) {
    let mut g = c.benchmark_group("io_nop");
    g.sample_size(20);
    let rt = common::ferrio_rt(2);
    let before = rt.handle().metrics();
    let mut runs = 0u64;
    g.bench_function("ferrio", |b| {
        b.iter(|| {
            runs += 1;
            let (tx, rx) = mpsc::channel();
            for _ in 0..NOP_TASKS {
                let tx = tx.clone();
                drop(rt.spawn(async move {
                    for _ in 0..NOPS_PER_TASK {
                        ferrio::io::nop().await.unwrap();
                    }
                    tx.send(()).unwrap();
                }));
            }
            for _ in 0..NOP_TASKS {
                rx.recv().unwrap();
            }
        })
    });
    let after = rt.handle().metrics();
    let ops = after.ops_completed - before.ops_completed;
    let enters = after.io_uring_enters - before.io_uring_enters;
    eprintln!(
        "io_nop/ferrio: {ops} NOPs, {enters} io_uring_enter calls = {:.3} enters per op \
         ({runs} runs; rings: single_issuer={}, defer_taskrun={}, coop_taskrun={}, ext_arg={})",
        enters as f64 / ops.max(1) as f64,
        after.single_issuer,
        after.defer_taskrun,
        after.coop_taskrun,
        after.ext_arg
    );
    drop(rt);
    let rt = common::tokio_rt(2);
    g.bench_function("tokio_yield", |b| {
        b.iter(|| {
            let (tx, rx) = mpsc::channel();
            for _ in 0..NOP_TASKS {
                let tx = tx.clone();
                drop(rt.spawn(async move {
                    for _ in 0..NOPS_PER_TASK {
                        tokio::task::yield_now().await;
                    }
                    tx.send(()).unwrap();
                }));
            }
            for _ in 0..NOP_TASKS {
                rx.recv().unwrap();
            }
        })
    });
    g.finish();
}

criterion_group!(timers, timer_create_poll_drop, timers_firing, io_nop);
criterion_main!(timers);
