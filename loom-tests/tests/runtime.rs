//! Loom models of the whole runtime: `Builder::build` starts real workers
//! (loom threads running the shipped `Worker::run`: the LIFO slot, local
//! queues, injector, stealing, the idle/searching protocol, parking on the
//! condvar parker, shutdown), and the models drive it through the public
//! API (`Runtime`, `Handle`, `spawn`, `sleep`). The runtime's `Shared` and
//! each worker's parker sit in loom `Arc`s, so a notification or task left
//! behind at the end (a cycle through `Shared`) fails the model as a leak;
//! a lost wake-up fails it as a deadlock.
#![cfg(ferrio_loom)]

use std::time::Duration;

use ferrio::{Handle, Runtime};
use loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use loom::sync::Arc;
use loom::thread;
use loom_tests::Counted;

fn runtime(workers: usize) -> Runtime {
    Runtime::builder().worker_threads(workers).build().unwrap()
}

/// The preemption bound of the two-worker models: at most 1 (or
/// `FERRIO_LOOM_TWO_WORKER_BOUND`), whatever `LOOM_MAX_PREEMPTIONS` asks.
/// Two real workers idling, stealing and shutting down next to the
/// owner's thread make about 240 branch points per execution; at bound 2
/// the spawn-from-outside model takes 667,264 interleavings (about 1.5
/// minutes in release: CI's deep step runs it so), at bound 1 a few
/// thousand. Bound 1 already reaches the lost wake-up that a missing
/// last-searcher re-check in `Worker::park` causes.
fn two_worker_bound() -> usize {
    std::env::var("FERRIO_LOOM_TWO_WORKER_BOUND")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
}

/// Runs `f` under loom at `two_worker_bound()` and prints how many
/// executions it took (`Builder::check` does not log it).
fn model_two_workers(name: &str, f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    let cap = two_worker_bound();
    let bound = builder.preemption_bound.map_or(cap, |b| b.min(cap));
    builder.preemption_bound = Some(bound);
    let executions = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = executions.clone();
    builder.check(move || {
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        f()
    });
    eprintln!(
        "{name}: {} executions at preemption bound {bound}",
        executions.load(std::sync::atomic::Ordering::Relaxed)
    );
}

/// (a) `block_on(spawn(..))` returns the task's value: the spawn from the
/// `block_on` thread goes through the injector (`schedule_remote`), the
/// worker runs it, and its completion wakes the `block_on` thread.
#[test]
fn block_on_spawned_task_returns_its_value() {
    loom::model(|| {
        let rt = runtime(1);
        let out = rt.block_on(async { ferrio::spawn(async { 7 }).await.unwrap() });
        assert_eq!(out, 7);
        drop(rt);
    });
}

/// (b) A task spawned from outside the runtime (the owner's thread, not
/// a worker), racing the two workers starting up and going idle
/// (`schedule_remote` → `notify_parked` vs `Worker::park`'s last-searcher
/// re-check), is run: were the wake-up lost, every thread would block and
/// loom would report a deadlock.
#[test]
fn task_spawned_from_outside_while_workers_idle_is_run() {
    model_two_workers(
        "task_spawned_from_outside_while_workers_idle_is_run",
        || {
            let rt = runtime(2);
            let ran = Arc::new(AtomicUsize::new(0));
            let r = ran.clone();
            let task = rt.spawn(async move {
                r.fetch_add(1, SeqCst);
                3
            });
            assert_eq!(rt.block_on(task).unwrap(), 3);
            assert_eq!(ran.load(SeqCst), 1);
            drop(rt);
        },
    );
}

/// (c) A task spawns two children on its worker: the first goes to the
/// LIFO slot, the second pushes it out into the local queue and notifies
/// the other worker, which may steal it. Each child runs exactly once and
/// both results come back; and some execution does run a child on the
/// other worker (the steal path is reached, not just allowed).
#[test]
fn tasks_spawned_from_a_task_run_once_with_a_stealing_worker() {
    // Executions in which a child ran on another worker than its parent.
    // A plain std counter: it only looks on, it steers nothing.
    static STOLEN: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    fn worker_name() -> String {
        thread::current().name().unwrap_or("?").to_owned()
    }
    model_two_workers(
        "tasks_spawned_from_a_task_run_once_with_a_stealing_worker",
        || {
            let rt = runtime(2);
            let runs = Arc::new(AtomicUsize::new(0));
            let (r1, r2) = (runs.clone(), runs.clone());
            let (sum, parent, children) = rt.block_on(async move {
                ferrio::spawn(async move {
                    let parent = worker_name();
                    let a = ferrio::spawn(async move {
                        r1.fetch_add(1, SeqCst);
                        (1, worker_name())
                    });
                    let b = ferrio::spawn(async move {
                        r2.fetch_add(1, SeqCst);
                        (2, worker_name())
                    });
                    let (a, on_a) = a.await.unwrap();
                    let (b, on_b) = b.await.unwrap();
                    (a + b, parent, [on_a, on_b])
                })
                .await
                .unwrap()
            });
            assert_eq!(sum, 3);
            assert_eq!(runs.load(SeqCst), 2);
            if children.iter().any(|c| *c != parent) {
                STOLEN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            drop(rt);
        },
    );
    let stolen = STOLEN.load(std::sync::atomic::Ordering::Relaxed);
    eprintln!("  of which {stolen} ran a child on the other worker");
    assert!(stolen > 0, "no execution ran a child on the other worker");
}

/// (d) A task spawned from outside (`Handle::spawn` → `bind` →
/// `schedule_remote`) racing the runtime's drop: it either runs or is
/// cancelled, its future is dropped exactly once, the drop returns, and no
/// notification is left in the injector (loom reports the `Shared` it
/// would keep alive as a leak).
#[test]
fn remote_spawn_racing_shutdown_runs_or_is_cancelled() {
    loom::model(|| {
        let rt = runtime(1);
        let handle = rt.handle();
        let (counted, drops) = Counted::new();
        let spawner = thread::spawn(move || {
            let task = handle.spawn(async move {
                let _counted = counted;
                5
            });
            let out = handle.block_on(task);
            match out {
                Ok(v) => assert_eq!(v, 5),
                Err(e) => assert!(e.is_cancelled()),
            }
            assert_eq!(handle.num_tasks(), 0);
        });
        drop(rt);
        spawner.join().unwrap();
        assert_eq!(drops.load(SeqCst), 1);
    });
}

/// (e) A sleep registered from outside the workers (`block_on` on a kept
/// `Handle`: the worker's remote timer queue) racing the runtime's drop:
/// the sleep ends (refused at registration, or ended by the worker's
/// shutdown) instead of waiting for a wheel that is gone. The deadline is
/// far away (loom's condvar never times out, so no firing is modelled).
#[test]
fn remote_sleep_racing_shutdown_is_ended() {
    loom::model(|| {
        let rt = runtime(1);
        let handle: Handle = rt.handle();
        let sleeper = thread::spawn(move || {
            handle.block_on(ferrio::sleep(Duration::from_secs(3600)));
        });
        drop(rt);
        sleeper.join().unwrap();
    });
}

/// (w1) The watchdog's rescue of a worker (the shipped `Shared::rescue`,
/// called here by a model thread at any moment, as the watchdog does for
/// a worker it sees stuck) races the worker filling and emptying its LIFO
/// slot and local queue: a task spawns two children (the first into the
/// LIFO slot, the second pushing it into the local queue) while the
/// rescue takes whatever it finds to the injector. Each child runs
/// exactly once, whoever took it, and the results come back; a task lost
/// in the hand-over would leave the `block_on` thread blocked forever (a
/// deadlock to loom), one taken twice would run twice.
#[test]
fn rescue_of_a_worker_runs_each_task_once() {
    model_two_workers("rescue_of_a_worker_runs_each_task_once", || {
        let rt = runtime(1);
        let handle = rt.handle();
        let runs = Arc::new(AtomicUsize::new(0));
        let (r1, r2) = (runs.clone(), runs.clone());
        let rescuer = thread::spawn(move || ferrio::loom_models::rescue_worker(&handle, 0));
        let sum = rt.block_on(async move {
            ferrio::spawn(async move {
                let a = ferrio::spawn(async move {
                    r1.fetch_add(1, SeqCst);
                    1
                });
                let b = ferrio::spawn(async move {
                    r2.fetch_add(1, SeqCst);
                    2
                });
                a.await.unwrap() + b.await.unwrap()
            })
            .await
            .unwrap()
        });
        rescuer.join().unwrap();
        assert_eq!(sum, 3);
        assert_eq!(runs.load(SeqCst), 2);
        drop(rt);
    });
}
