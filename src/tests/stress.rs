//! Many tasks, many wake-ups, no task lost.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use super::common::{block_on_plain, rt};

#[test]
fn one_million_spawns_across_workers() {
    let rt = rt(2);
    let counter = Arc::new(AtomicUsize::new(0));
    let c = counter.clone();
    rt.block_on(async move {
        let spawners: Vec<_> = (0..4)
            .map(|_| {
                let c = c.clone();
                ferrio::spawn(async move {
                    let handles: Vec<_> = (0..250_000)
                        .map(|_| {
                            let c = c.clone();
                            ferrio::spawn(async move {
                                c.fetch_add(1, Ordering::Relaxed);
                            })
                        })
                        .collect();
                    for h in handles {
                        h.await.unwrap();
                    }
                })
            })
            .collect();
        for s in spawners {
            s.await.unwrap();
        }
    });
    assert_eq!(counter.load(Ordering::Relaxed), 1_000_000);
    assert_eq!(rt.handle().num_tasks(), 0);
}

#[test]
fn ten_thousand_tasks_waking_each_other() {
    // A ring of 10,000 tasks passes tokens around; each hop is a wake-up
    // of another task, often on the other worker.
    const TASKS: usize = 10_000;
    const HOPS: usize = 200_000;
    let rt = rt(2);
    let hops = rt.block_on(async {
        let mut senders = Vec::new();
        let mut receivers = Vec::new();
        for _ in 0..TASKS {
            let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<usize>();
            senders.push(tx);
            receivers.push(rx);
        }
        let (done_tx, done_rx) = tokio::sync::oneshot::channel::<usize>();
        let done_tx = Arc::new(std::sync::Mutex::new(Some(done_tx)));
        let mut tasks = Vec::new();
        for (i, mut rx) in receivers.into_iter().enumerate() {
            let next = senders[(i + 1) % TASKS].clone();
            let done_tx = done_tx.clone();
            tasks.push(ferrio::spawn(async move {
                while let Some(n) = rx.recv().await {
                    if n == HOPS {
                        if let Some(tx) = done_tx.lock().unwrap().take() {
                            tx.send(n).unwrap();
                        }
                        return;
                    }
                    if next.send(n + 1).is_err() {
                        return;
                    }
                }
            }));
        }
        // Several tokens circulate at once.
        for k in 0..8 {
            senders[k * (TASKS / 8)].send(0).unwrap();
        }
        let hops = done_rx.await.unwrap();
        for t in &tasks {
            t.cancel();
        }
        for t in tasks {
            let _ = t.await;
        }
        hops
    });
    assert_eq!(hops, HOPS);
}

#[test]
fn wake_from_outside_into_idle_runtime_is_never_lost() {
    let rt = rt(2);
    let handle = rt.handle();
    for i in 0..2_000u32 {
        // Each time the runtime has gone idle; the spawn must wake a worker.
        let t = handle.spawn(async move { i });
        assert_eq!(block_on_plain(t).unwrap(), i);
    }
}

#[test]
fn spawning_from_many_plain_threads() {
    let rt = rt(2);
    let counter = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let h = rt.handle();
            let c = counter.clone();
            std::thread::spawn(move || {
                let tasks: Vec<_> = (0..10_000)
                    .map(|_| {
                        let c = c.clone();
                        h.spawn(async move {
                            ferrio::yield_now().await;
                            c.fetch_add(1, Ordering::Relaxed);
                        })
                    })
                    .collect();
                for t in tasks {
                    block_on_plain(t).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(counter.load(Ordering::Relaxed), 40_000);
}

#[test]
fn always_ready_tasks_share_one_worker() {
    // 100 tasks each yield 1,000 times on one worker: yield sends a task to
    // the back of the queue, so every task takes its second step before any
    // task finishes all of its steps.
    let rt = rt(1);
    let events = Arc::new(std::sync::Mutex::new(Vec::new()));
    // Spawned from a task on the worker, so none of them runs before all
    // are queued (spawns from outside would trickle in via the injector).
    let spawner = rt.spawn({
        let events = events.clone();
        async move {
            let tasks: Vec<_> = (0..100)
                .map(|i| {
                    let events = events.clone();
                    ferrio::spawn(async move {
                        for step in 0..1_000 {
                            if step == 1 {
                                events.lock().unwrap().push(("second step", i));
                            }
                            ferrio::yield_now().await;
                        }
                        events.lock().unwrap().push(("done", i));
                    })
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
        }
    });
    rt.block_on(spawner).unwrap();
    let events = events.lock().unwrap();
    let first_done = events.iter().position(|e| e.0 == "done").unwrap();
    let seconds_before = events[..first_done]
        .iter()
        .filter(|e| e.0 == "second step")
        .count();
    assert_eq!(seconds_before, 100);
}
