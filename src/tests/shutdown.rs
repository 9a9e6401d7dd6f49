//! Shutdown drops every task's future exactly once and resolves every
//! awaiting handle.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::common::{block_on_plain, rt, DropCounter};
use tokio::sync::oneshot;

#[test]
fn drop_runtime_drops_every_pending_future_once() {
    let drops = DropCounter::new();
    let rt = rt(2);
    let mut senders = Vec::new();
    for _ in 0..1_000 {
        let token = drops.token();
        let (tx, rx) = oneshot::channel::<()>();
        senders.push(tx);
        drop(rt.spawn(async move {
            let _token = token;
            let _ = rx.await;
        }));
    }
    // Tasks that await other tasks.
    for _ in 0..100 {
        let token = drops.token();
        let inner_token = drops.token();
        let inner = rt.spawn(async move {
            let _t = inner_token;
            std::future::pending::<()>().await
        });
        drop(rt.spawn(async move {
            let _t = token;
            let _ = inner.await;
        }));
    }
    drop(rt);
    assert_eq!(drops.count(), 1_200);
    drop(senders);
    assert_eq!(drops.count(), 1_200, "nothing is dropped twice");
}

#[test]
fn awaiting_handle_resolves_cancelled_on_shutdown() {
    let rt = rt(2);
    let task = rt.spawn(std::future::pending::<u32>());
    let (polled_tx, polled_rx) = mpsc::channel();
    let waiter = std::thread::spawn(move || {
        let mut task = Some(task);
        // Register our waker once, then block until woken with the result.
        block_on_plain(std::future::poll_fn(move |cx| {
            let t = task.as_mut().unwrap();
            let r = std::pin::Pin::new(t).poll(cx);
            if r.is_pending() {
                let _ = polled_tx.send(());
            }
            r
        }))
    });
    polled_rx.recv().unwrap();
    drop(rt);
    let res = waiter.join().unwrap();
    assert!(res.unwrap_err().is_cancelled());
}

use std::future::Future;

#[test]
fn spawn_after_shutdown_is_cancelled_at_once() {
    let rt = rt(1);
    let handle = rt.handle();
    drop(rt);
    assert!(handle.is_shutdown());
    let drops = DropCounter::new();
    let token = drops.token();
    let task = handle.spawn(async move {
        let _t = token;
    });
    assert!(task.is_done());
    assert!(task.is_cancelled());
    assert_eq!(drops.count(), 1);
    assert!(block_on_plain(task).unwrap_err().is_cancelled());
}

#[test]
fn shutdown_timeout_abandons_a_stuck_worker() {
    let rt = rt(2);
    let (in_tx, in_rx) = mpsc::channel::<()>();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let (exit_tx, exit_rx) = mpsc::channel::<()>();
    drop(rt.spawn(async move {
        in_tx.send(()).unwrap();
        // Blocks its worker (what a task must never do).
        release_rx.recv().unwrap();
        exit_tx.send(()).unwrap();
    }));
    in_rx.recv().unwrap();
    let start = Instant::now();
    rt.shutdown_timeout(Duration::from_millis(50));
    assert!(start.elapsed() < Duration::from_secs(30));
    release_tx.send(()).unwrap();
    exit_rx.recv().unwrap();
}

#[test]
fn dropping_a_runtime_inside_a_task_does_not_deadlock() {
    let outer = rt(1);
    let drops = DropCounter::new();
    let token = drops.token();
    let (done_tx, done_rx) = mpsc::channel();
    outer.block_on(async move {
        ferrio::spawn(async move {
            let inner = rt(1);
            let t = inner.spawn(async move {
                let _t = token;
                std::future::pending::<()>().await
            });
            t.add_done_callback(move |o| done_tx.send(o).unwrap());
            drop(t);
            drop(inner);
        })
        .await
        .unwrap();
    });
    assert_eq!(done_rx.recv().unwrap(), ferrio::Outcome::Cancelled);
    assert_eq!(drops.count(), 1);
}

#[test]
fn run_cancels_leftover_tasks() {
    let drops = DropCounter::new();
    let token = drops.token();
    ferrio::run(async move {
        drop(ferrio::spawn(async move {
            let _t = token;
            std::future::pending::<()>().await
        }));
    });
    assert_eq!(drops.count(), 1);
}

#[test]
fn zero_workers_is_a_clear_error() {
    let err = ferrio::Runtime::builder()
        .worker_threads(0)
        .build()
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("worker_threads"));
}
