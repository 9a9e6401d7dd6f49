//! The asyncio layer against its tokio counterparts, same workload, same
//! run, 2 workers each.
//!
//! - `gather_10k`: 10,000 futures that each yield once, joined in the
//!   caller's task: `ferrio::gather` vs `futures::future::join_all` on
//!   tokio, and vs tokio's `JoinSet` (which spawns them).
//! - `queue_4x100k`: 4 producers × 100,000 items into one consumer through
//!   a bounded queue (1,024): `ferrio::sync::Queue` and
//!   `ferrio::sync::mpsc` vs `tokio::sync::mpsc`.
//! - `lock_contended`: 8 tasks × 10,000 lock/increment/unlock:
//!   `ferrio::sync::Lock` vs `tokio::sync::Mutex`.
//! - `to_thread_1000x16`: 16 tasks × 1,000 sequential blocking calls:
//!   `ferrio::to_thread` vs `tokio::task::spawn_blocking`.

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};

mod common;

fn gather_10k(c: &mut Criterion) {
    const N: usize = 10_000;
    let mut g = c.benchmark_group("gather_10k");
    g.sample_size(20);
    let rt = common::ferrio_rt(2);
    g.bench_function("ferrio_gather", |b| {
        b.iter(|| {
            rt.block_on(rt.spawn(async {
                let futs = (0..N).map(|i| async move {
                    ferrio::yield_now().await;
                    i
                });
                ferrio::gather(futs).await.len()
            }))
            .unwrap()
        })
    });
    drop(rt);
    let rt = common::tokio_rt(2);
    g.bench_function("tokio_join_all", |b| {
        b.iter(|| {
            rt.block_on(rt.spawn(async {
                let futs = (0..N).map(|i| async move {
                    tokio::task::yield_now().await;
                    i
                });
                futures::future::join_all(futs).await.len()
            }))
            .unwrap()
        })
    });
    g.bench_function("tokio_joinset", |b| {
        b.iter(|| {
            rt.block_on(rt.spawn(async {
                let mut set = tokio::task::JoinSet::new();
                for i in 0..N {
                    set.spawn(async move {
                        tokio::task::yield_now().await;
                        i
                    });
                }
                let mut n = 0;
                while set.join_next().await.is_some() {
                    n += 1;
                }
                n
            }))
            .unwrap()
        })
    });
    g.finish();
}

fn queue_4x100k(c: &mut Criterion) {
    const PER: u64 = 100_000;
    let mut g = c.benchmark_group("queue_4x100k");
    g.sample_size(10);
    let rt = common::ferrio_rt(2);
    g.bench_function("ferrio_queue", |b| {
        b.iter(|| {
            rt.block_on(rt.spawn(async {
                let q = Arc::new(ferrio::sync::Queue::new(1024));
                for _ in 0..4 {
                    let q = q.clone();
                    drop(ferrio::spawn(async move {
                        for i in 0..PER {
                            q.put(i).await.unwrap();
                        }
                    }));
                }
                let mut sum = 0u64;
                for _ in 0..4 * PER {
                    sum += q.get().await.unwrap();
                }
                sum
            }))
            .unwrap()
        })
    });
    g.bench_function("ferrio_mpsc", |b| {
        b.iter(|| {
            rt.block_on(rt.spawn(async {
                let (tx, mut rx) = ferrio::sync::mpsc::channel(1024);
                for _ in 0..4 {
                    let tx = tx.clone();
                    drop(ferrio::spawn(async move {
                        for i in 0..PER {
                            tx.send(i).await.unwrap();
                        }
                    }));
                }
                let mut sum = 0u64;
                for _ in 0..4 * PER {
                    sum += rx.recv().await.unwrap();
                }
                sum
            }))
            .unwrap()
        })
    });
    drop(rt);
    let rt = common::tokio_rt(2);
    g.bench_function("tokio_mpsc", |b| {
        b.iter(|| {
            rt.block_on(rt.spawn(async {
                let (tx, mut rx) = tokio::sync::mpsc::channel(1024);
                for _ in 0..4 {
                    let tx = tx.clone();
                    tokio::spawn(async move {
                        for i in 0..PER {
                            tx.send(i).await.unwrap();
                        }
                    });
                }
                let mut sum = 0u64;
                for _ in 0..4 * PER {
                    sum += rx.recv().await.unwrap();
                }
                sum
            }))
            .unwrap()
        })
    });
    g.finish();
}

fn lock_contended(c: &mut Criterion) {
    const TASKS: usize = 8;
    const ITERS: usize = 10_000;
    let mut g = c.benchmark_group("lock_contended");
    g.sample_size(10);
    let rt = common::ferrio_rt(2);
    g.bench_function("ferrio_lock", |b| {
        b.iter(|| {
            rt.block_on(async {
                let lock = Arc::new(ferrio::sync::Lock::new(0usize));
                let tasks: Vec<_> = (0..TASKS)
                    .map(|_| {
                        let lock = lock.clone();
                        ferrio::spawn(async move {
                            for _ in 0..ITERS {
                                *lock.lock().await += 1;
                            }
                        })
                    })
                    .collect();
                for t in tasks {
                    t.await.unwrap();
                }
                let n = *lock.lock().await;
                n
            })
        })
    });
    drop(rt);
    let rt = common::tokio_rt(2);
    g.bench_function("tokio_mutex", |b| {
        b.iter(|| {
            rt.block_on(async {
                let lock = Arc::new(tokio::sync::Mutex::new(0usize));
                let tasks: Vec<_> = (0..TASKS)
                    .map(|_| {
                        let lock = lock.clone();
                        tokio::spawn(async move {
                            for _ in 0..ITERS {
                                *lock.lock().await += 1;
                            }
                        })
                    })
                    .collect();
                for t in tasks {
                    t.await.unwrap();
                }
                let n = *lock.lock().await;
                n
            })
        })
    });
    g.finish();
}

fn to_thread(c: &mut Criterion) {
    const TASKS: usize = 16;
    const CALLS: usize = 1_000;
    let mut g = c.benchmark_group("to_thread_1000x16");
    g.sample_size(10);
    let rt = common::ferrio_rt(2);
    g.bench_function("ferrio_to_thread", |b| {
        b.iter(|| {
            rt.block_on(async {
                let tasks: Vec<_> = (0..TASKS)
                    .map(|_| {
                        ferrio::spawn(async {
                            let mut sum = 0usize;
                            for i in 0..CALLS {
                                sum += ferrio::to_thread(move || i).await.unwrap();
                            }
                            sum
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
    g.bench_function("tokio_spawn_blocking", |b| {
        b.iter(|| {
            rt.block_on(async {
                let tasks: Vec<_> = (0..TASKS)
                    .map(|_| {
                        tokio::spawn(async {
                            let mut sum = 0usize;
                            for i in 0..CALLS {
                                sum += tokio::task::spawn_blocking(move || i).await.unwrap();
                            }
                            sum
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

criterion_group!(asyncio, gather_10k, queue_4x100k, lock_contended, to_thread);
criterion_main!(asyncio);
