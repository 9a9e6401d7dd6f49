//! Shutdown drops every task's future exactly once and resolves every
//! awaiting handle.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::task::Context;
use std::time::{Duration, Instant};

use super::common::{block_on_plain, pipe, rt, within, DropCounter, HOUR};
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

#[test]
fn shutdown_lets_go_of_every_ring_even_without_cancel_any() {
    // Kernels before 5.19 reject IORING_ASYNC_CANCEL_ANY. Emulated here:
    // shutdown must still get every operation back (a dropped task's read,
    // a read of a plain thread's block_on that outlives the runtime, the
    // driver's own eventfd read) instead of waiting out its bound and
    // leaking the ring.
    for cancel_any in [true, false] {
        let rt = rt(2);
        let handle = rt.handle();
        if super::hooks::skip_unless_io_uring(&handle, "IORING_ASYNC_CANCEL_ANY at shutdown") {
            return;
        }
        super::hooks::cancel_without_cancel_any(&handle, !cancel_any);
        let (submitted_tx, submitted_rx) = mpsc::channel();
        // A read in a task: shutdown drops the task.
        let (reader, _w1) = pipe();
        let tx = submitted_tx.clone();
        drop(rt.spawn(async move {
            let mut read = std::pin::pin!(reader.read(Vec::with_capacity(8)));
            assert!(futures::poll!(read.as_mut()).is_pending());
            tx.send(()).unwrap();
            read.await
        }));
        // A read in a plain thread's block_on: its future lives on.
        let (reader, _w2) = pipe();
        let outside = handle.clone();
        let plain = std::thread::spawn(move || {
            outside.block_on(async move {
                let mut read = std::pin::pin!(reader.read(Vec::with_capacity(8)));
                assert!(futures::poll!(read.as_mut()).is_pending());
                submitted_tx.send(()).unwrap();
                read.await.0
            })
        });
        submitted_rx.recv().unwrap();
        submitted_rx.recv().unwrap();
        let started = Instant::now();
        drop(rt);
        assert!(
            !super::hooks::any_ring_leaked(&handle),
            "a ring leaked (cancel_any {cancel_any})"
        );
        let outside_read = plain.join().unwrap();
        let err = outside_read.unwrap_err();
        assert!(
            err.to_string().contains("shutting down"),
            "the outside read ends as on epoll: {err}"
        );
        // Generous: the drain bound is 2 s; cancelling takes microseconds.
        assert!(started.elapsed() < Duration::from_millis(1500));
    }
}

/// Polls `fut` once (it must be pending: registers its timer), reports
/// that on `registered`, then awaits it to the end.
async fn registered_then<F: Future>(fut: F, registered: mpsc::Sender<()>) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    let mut first = true;
    std::future::poll_fn(|cx: &mut Context<'_>| {
        let p = fut.as_mut().poll(cx);
        if first {
            first = false;
            assert!(
                p.is_pending(),
                "the timer must be waiting when the runtime goes"
            );
            registered.send(()).unwrap();
        }
        p
    })
    .await
}

// Timers across a shutdown: each ends instead of waiting for a wheel that is gone.

#[test]
fn sleep_through_a_kept_handle_after_shutdown_ends_at_once() {
    let rt = rt(2);
    let handle = rt.handle();
    drop(rt);
    within("sleep after shutdown", move || {
        handle.block_on(ferrio::sleep(HOUR));
        handle.block_on(ferrio::sleep(Duration::from_millis(10)));
        let mut every = ferrio::interval(HOUR);
        handle.block_on(every.tick());
        handle.block_on(every.tick());
    });
}

#[test]
fn wait_for_and_scopes_after_shutdown_fail_with_a_shutdown_error() {
    let rt = rt(2);
    let handle = rt.handle();
    drop(rt);
    within("wait_for after shutdown", move || {
        let r = handle.block_on(ferrio::wait_for(std::future::pending::<()>(), HOUR));
        let e = r.unwrap_err();
        assert!(e.is_runtime_shutdown(), "{e:?}");
        assert_eq!(e.to_string(), "the runtime shut down before the deadline");
        assert_eq!(std::io::Error::from(e).kind(), std::io::ErrorKind::Other);
        let r = handle.block_on(ferrio::wait_for(
            std::future::pending::<()>(),
            Duration::from_millis(10),
        ));
        assert!(r.unwrap_err().is_runtime_shutdown());
        let scope = ferrio::timeout(HOUR);
        let r = handle.block_on(scope.run(std::future::pending::<()>()));
        assert!(r.unwrap_err().is_runtime_shutdown());
        assert!(!scope.expired(), "the deadline did not pass");
        // The inner future still wins when it is ready.
        assert_eq!(handle.block_on(ferrio::wait_for(async { 7 }, HOUR)), Ok(7));
    });
}

#[test]
fn timers_waiting_in_block_on_on_another_thread_end_when_the_runtime_is_dropped() {
    for workers in [1, 2] {
        let rt = rt(workers);
        let (tx, rx) = mpsc::channel();
        let mut waiters = Vec::new();
        // Each waiter registers its timer (remotely, from block_on), says
        // so, and is then left waiting as the runtime goes.
        let h = rt.handle();
        let t = tx.clone();
        waiters.push(std::thread::spawn(move || {
            h.block_on(registered_then(ferrio::sleep(HOUR), t));
        }));
        let h = rt.handle();
        let t = tx.clone();
        waiters.push(std::thread::spawn(move || {
            let r = h.block_on(registered_then(
                ferrio::wait_for(std::future::pending::<()>(), HOUR),
                t,
            ));
            assert!(r.unwrap_err().is_runtime_shutdown());
        }));
        let h = rt.handle();
        let t = tx.clone();
        waiters.push(std::thread::spawn(move || {
            let scope = ferrio::timeout(HOUR);
            let r = h.block_on(registered_then(scope.run(std::future::pending::<()>()), t));
            assert!(r.unwrap_err().is_runtime_shutdown());
        }));
        let h = rt.handle();
        let t = tx.clone();
        waiters.push(std::thread::spawn(move || {
            let mut every = ferrio::interval(HOUR);
            h.block_on(async {
                every.tick().await;
                registered_then(every.tick(), t).await;
            });
        }));
        for _ in 0..waiters.len() {
            rx.recv().unwrap();
        }
        drop(rt);
        within("timers waiting across the drop", move || {
            for w in waiters {
                w.join().unwrap();
            }
        });
    }
}

#[test]
fn registrations_racing_the_shutdown_never_hang() {
    // Threads keep registering timers while the runtime is dropped: each
    // registration is either taken in (and ended by the worker's
    // shutdown) or refused (and ended by its registrant).
    for _ in 0..20 {
        let rt = rt(2);
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = mpsc::channel();
        let threads: Vec<_> = (0..3)
            .map(|_| {
                let h = rt.handle();
                let stop = stop.clone();
                let tx = tx.clone();
                std::thread::spawn(move || {
                    let mut n = 0u32;
                    while !stop.load(Ordering::SeqCst) {
                        let r = h.block_on(ferrio::wait_for(
                            std::future::pending::<()>(),
                            Duration::from_millis(1),
                        ));
                        assert!(r.is_err());
                        n += 1;
                        if n == 1 {
                            tx.send(()).unwrap();
                        }
                    }
                    n
                })
            })
            .collect();
        for _ in 0..threads.len() {
            rx.recv().unwrap();
        }
        drop(rt);
        within("registrations racing the drop", move || {
            // After the drop every wait ends at once: a few more rounds.
            std::thread::yield_now();
            stop.store(true, Ordering::SeqCst);
            for t in threads {
                assert!(t.join().unwrap() >= 1);
            }
        });
    }
}
