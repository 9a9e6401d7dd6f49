//! tokio's `rt_multi_threaded` workloads, written once for both runtimes
//! (`scheduler_workloads!`), for the warm (`scheduler.rs`) and the cold
//! (`scheduler_cold.rs`) benches.

pub(crate) const NUM_SPAWN: usize = 10_000;
pub(crate) const NUM_PINGS: usize = 1_000;
pub(crate) const NUM_YIELD_TASKS: usize = 200;
pub(crate) const NUM_YIELDS: usize = 1_000;
pub(crate) const CHAIN_DEPTH: usize = 1_000;

/// The five workloads for the runtime type `$rt` with its free `spawn`
/// and `yield_now`: `[(name, fn(&$rt)); 5]`.
#[allow(unused_macros)]
macro_rules! scheduler_workloads {
    ($rt:ident, $spawn:path, $yield:path) => {{
        use crate::common::workloads::{
            CHAIN_DEPTH, NUM_PINGS, NUM_SPAWN, NUM_YIELDS, NUM_YIELD_TASKS,
        };
        use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
        use std::sync::{mpsc, Arc};
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
