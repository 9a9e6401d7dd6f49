//! Spawning, joining, cancelling, detaching and panics.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};

use super::common::{block_on_plain, rt, DropCounter};
use ferrio::{Outcome, TaskState};
use tokio::sync::oneshot;

#[test]
fn spawn_and_join_returns_output() {
    let rt = rt(2);
    let out = rt.block_on(async {
        let a = ferrio::spawn(async { 1 });
        let b = ferrio::spawn(async { String::from("two") });
        (a.await.unwrap(), b.await.unwrap())
    });
    assert_eq!(out, (1, "two".to_string()));
}

#[test]
fn run_returns_the_future_output() {
    assert_eq!(ferrio::run(async { 7 }), 7);
}

#[test]
fn cancel_idle_task_drops_future_at_once() {
    let rt = rt(2);
    let drops = DropCounter::new();
    let token = drops.token();
    let (started_tx, started_rx) = oneshot::channel::<()>();
    rt.block_on(async move {
        let task = ferrio::spawn(async move {
            let _token = token;
            started_tx.send(()).unwrap();
            std::future::pending::<()>().await
        });
        started_rx.await.unwrap();
        // The task has run up to its first await and is idle now (or about
        // to be): cancel drops its future before returning, or right after
        // the poll that is finishing.
        assert!(task.cancel());
        let err = task.await.unwrap_err();
        assert!(err.is_cancelled());
    });
    assert_eq!(drops.count(), 1);
}

#[test]
fn cancel_idle_task_is_synchronous() {
    let rt = rt(1);
    let drops = DropCounter::new();
    let token = drops.token();
    let (started_tx, started_rx) = mpsc::channel::<()>();
    let task = rt.spawn(async move {
        let _token = token;
        started_tx.send(()).unwrap();
        std::future::pending::<()>().await
    });
    started_rx.recv().unwrap();
    // Wait until the worker has left the poll (state Idle), without sleeps.
    while task.info().state != TaskState::Idle {
        std::thread::yield_now();
    }
    assert!(task.cancel());
    assert_eq!(
        drops.count(),
        1,
        "an idle task's future is dropped inside cancel()"
    );
    assert!(task.is_done());
    assert!(task.is_cancelled());
    assert!(block_on_plain(task).unwrap_err().is_cancelled());
}

#[test]
fn cancel_running_task_drops_after_poll() {
    let rt = rt(2);
    let drops = DropCounter::new();
    let token = drops.token();
    let (in_poll_tx, in_poll_rx) = mpsc::channel::<()>();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let task = rt.spawn(async move {
        let _token = token;
        // Block inside the poll until the test has called cancel.
        in_poll_tx.send(()).unwrap();
        go_rx.recv().unwrap();
        std::future::pending::<()>().await
    });
    in_poll_rx.recv().unwrap();
    assert_eq!(task.info().state, TaskState::Running);
    assert!(task.cancel());
    assert!(!task.is_done(), "the poll is still running");
    assert_eq!(drops.count(), 0);
    go_tx.send(()).unwrap();
    let err = block_on_plain(task).unwrap_err();
    assert!(err.is_cancelled());
    assert_eq!(drops.count(), 1);
}

#[test]
fn cancel_landing_while_task_finishes_reports_cancelled() {
    // asyncio: a cancel requested while the coroutine returns wins.
    let rt = rt(2);
    let out_drops = DropCounter::new();
    let token = out_drops.token();
    let (in_poll_tx, in_poll_rx) = mpsc::channel::<()>();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let task = rt.spawn(async move {
        in_poll_tx.send(()).unwrap();
        go_rx.recv().unwrap();
        token
    });
    in_poll_rx.recv().unwrap();
    assert!(task.cancel());
    go_tx.send(()).unwrap();
    assert!(block_on_plain(task).unwrap_err().is_cancelled());
    assert_eq!(out_drops.count(), 1, "the discarded output was dropped");
}

#[test]
fn cancel_completed_task_returns_false() {
    let rt = rt(2);
    let (done_tx, done_rx) = mpsc::channel();
    let task = rt.spawn(async { 5 });
    task.add_done_callback(move |o| done_tx.send(o).unwrap());
    assert_eq!(done_rx.recv().unwrap(), Outcome::Completed);
    assert!(task.is_done());
    assert!(!task.cancel());
    assert!(!task.is_cancelled());
    assert_eq!(block_on_plain(task).unwrap(), 5);
}

#[test]
fn dropping_handle_detaches_task() {
    let rt = rt(2);
    let (tx, rx) = oneshot::channel::<()>();
    let (done_tx, done_rx) = mpsc::channel();
    drop(rt.spawn(async move {
        rx.await.unwrap();
        done_tx.send("finished").unwrap();
    }));
    tx.send(()).unwrap();
    assert_eq!(done_rx.recv().unwrap(), "finished");
}

#[test]
fn panic_is_contained_and_returned() {
    let rt = rt(2);
    rt.block_on(async {
        let t = ferrio::spawn(async {
            if true {
                panic!("boom in task");
            }
        });
        let err = t.await.unwrap_err();
        assert!(err.is_panic());
        assert_eq!(err.panic_message(), Some("boom in task"));
        // The workers carry on.
        let tasks: Vec<_> = (0..100).map(|i| ferrio::spawn(async move { i })).collect();
        let mut sum = 0;
        for t in tasks {
            sum += t.await.unwrap();
        }
        assert_eq!(sum, 4950);
    });
}

#[test]
fn detached_panic_is_reported_with_task_name() {
    let reports = Arc::new(Mutex::new(Vec::new()));
    let (tx, rx) = mpsc::channel();
    let r = reports.clone();
    let rt = ferrio::Runtime::builder()
        .worker_threads(2)
        .on_task_panic(move |info, payload| {
            let msg = payload.downcast_ref::<&str>().copied().unwrap_or("?");
            r.lock().unwrap().push((info.name.clone(), msg.to_string()));
            tx.send(()).unwrap();
        })
        .build()
        .unwrap();
    drop(
        ferrio::task::Builder::new()
            .name("doomed")
            .spawn_on(async { panic!("nobody listens") }, &rt.handle()),
    );
    rx.recv().unwrap();
    assert_eq!(
        reports.lock().unwrap().as_slice(),
        &[("doomed".to_string(), "nobody listens".to_string())]
    );
    // Still serving.
    assert_eq!(
        rt.block_on(async { ferrio::spawn(async { 3 }).await.unwrap() }),
        3
    );
}

#[test]
fn retrieved_panic_is_not_reported() {
    let (rt, reported) = super::common::rt_counting_unretrieved_panics(1);
    rt.block_on(async {
        let err = ferrio::spawn(async { panic!("seen") }).await.unwrap_err();
        assert!(err.is_panic());
    });
    drop(rt);
    assert_eq!(reported.load(Ordering::SeqCst), 0);
}

#[test]
fn spawn_from_plain_thread_through_handle() {
    let rt = rt(2);
    let handle = rt.handle();
    let out = std::thread::spawn(move || {
        let t = handle.spawn(async { std::thread::current().name().map(str::to_owned) });
        block_on_plain(t).unwrap()
    })
    .join()
    .unwrap();
    assert!(out.unwrap().starts_with("ferrio-worker-"));
}

#[test]
fn block_on_inside_runtime_panics_clearly() {
    let rt = rt(2);
    let err = rt.block_on(async {
        ferrio::spawn(async {
            let h = ferrio::Handle::current();
            h.block_on(async {})
        })
        .await
        .unwrap_err()
    });
    let msg = err.panic_message().unwrap().to_string();
    assert!(
        msg.contains("block_on called from inside a runtime"),
        "{msg}"
    );
    // Nested block_on on the block_on thread itself is refused too.
    let h = rt.handle();
    let nested = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rt.block_on(async { h.block_on(async {}) })
    }));
    assert!(nested.is_err());
}

#[test]
fn handle_current_inside_and_outside() {
    assert!(ferrio::Handle::try_current().is_none());
    let rt = rt(1);
    rt.block_on(async {
        assert!(ferrio::Handle::try_current().is_some());
        let inner = ferrio::spawn(async { ferrio::Handle::try_current().is_some() });
        assert!(inner.await.unwrap());
    });
    assert!(ferrio::Handle::try_current().is_none());
}

#[test]
fn names_ids_and_current_task() {
    let rt = rt(2);
    rt.block_on(async {
        let t = ferrio::spawn(async { ferrio::current_task().unwrap() });
        let id = t.id();
        assert_eq!(t.name(), format!("Task-{id}"));
        let info = t.await.unwrap();
        assert_eq!(info.id, id);
        assert_eq!(info.state, TaskState::Running);
        assert!(
            ferrio::current_task().is_none(),
            "block_on's future is not a task"
        );

        let named = ferrio::task::Builder::new()
            .name("worker-a")
            .spawn(async {});
        assert_eq!(named.name(), "worker-a");
        named.await.unwrap();
    });
}

#[test]
fn all_tasks_lists_live_tasks() {
    let rt = rt(2);
    rt.block_on(async {
        let (tx, rx) = oneshot::channel::<()>();
        let t = ferrio::task::Builder::new()
            .name("sleeper")
            .spawn(async move { rx.await.unwrap() });
        let all = ferrio::all_tasks();
        assert!(all.iter().any(|i| i.id == t.id() && i.name == "sleeper"));
        tx.send(()).unwrap();
        t.await.unwrap();
        assert!(ferrio::all_tasks().iter().all(|i| i.name != "sleeper"));
    });
}

#[test]
fn done_callbacks_run_in_order_including_late_ones() {
    let rt = rt(2);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (tx, rx) = oneshot::channel::<()>();
    let task = rt.spawn(async move { rx.await.unwrap() });
    for i in 0..3 {
        let s = seen.clone();
        task.add_done_callback(move |o| s.lock().unwrap().push((i, o)));
    }
    tx.send(()).unwrap();
    let task_done = {
        let (dtx, drx) = mpsc::channel();
        task.add_done_callback(move |_| dtx.send(()).unwrap());
        drx
    };
    task_done.recv().unwrap();
    let s = seen.clone();
    task.add_done_callback(move |o| s.lock().unwrap().push((9, o)));
    assert_eq!(
        seen.lock().unwrap().as_slice(),
        &[
            (0, Outcome::Completed),
            (1, Outcome::Completed),
            (2, Outcome::Completed),
            (9, Outcome::Completed)
        ]
    );
    let c = rt.spawn(std::future::pending::<()>());
    let (ctx, crx) = mpsc::channel();
    c.add_done_callback(move |o| ctx.send(o).unwrap());
    c.cancel();
    assert_eq!(crx.recv().unwrap(), Outcome::Cancelled);
}

#[test]
fn yield_now_lets_others_run_on_one_worker() {
    let rt = rt(1);
    rt.block_on(async {
        let flag = Arc::new(AtomicBool::new(false));
        let f = flag.clone();
        let spinner = ferrio::spawn(async move {
            let mut spins = 0u64;
            while !f.load(Ordering::SeqCst) {
                ferrio::yield_now().await;
                spins += 1;
            }
            spins
        });
        let setter = ferrio::spawn(async move { flag.store(true, Ordering::SeqCst) });
        setter.await.unwrap();
        assert!(spinner.await.unwrap() >= 1);
    });
}

#[test]
fn lifo_ping_pong_cannot_starve_the_queue() {
    // Two tasks bounce a message forever on one worker; each wake puts the
    // other in the LIFO slot. A third task must still get to run.
    let rt = rt(1);
    rt.block_on(async {
        let stop = Arc::new(AtomicBool::new(false));
        let (a_tx, mut a_rx) = tokio::sync::mpsc::unbounded_channel::<u64>();
        let (b_tx, mut b_rx) = tokio::sync::mpsc::unbounded_channel::<u64>();
        let s1 = stop.clone();
        let seen = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let seen1 = seen.clone();
        let ping = ferrio::spawn(async move {
            while let Some(n) = a_rx.recv().await {
                seen1.store(n, Ordering::SeqCst);
                if s1.load(Ordering::SeqCst) {
                    return n;
                }
                b_tx.send(n + 1).unwrap();
            }
            0
        });
        let s2 = stop.clone();
        let a_tx2 = a_tx.clone();
        let pong = ferrio::spawn(async move {
            while let Some(n) = b_rx.recv().await {
                if s2.load(Ordering::SeqCst) {
                    return;
                }
                if a_tx2.send(n + 1).is_err() {
                    return;
                }
            }
        });
        a_tx.send(0).unwrap();
        let stopper = ferrio::spawn(async move { stop.store(true, Ordering::SeqCst) });
        // Read after the stopper is queued: how long the pair went on
        // before the worker let it run does not depend on this thread's
        // scheduling.
        let at_spawn = seen.load(Ordering::SeqCst);
        // The point: the stopper, queued behind the ping-pong pair, runs.
        stopper.await.unwrap();
        // Whichever of the pair sees the flag first returns and drops its
        // sender; dropping ours lets the other one see its channel close.
        drop(a_tx);
        let bounces = ping.await.unwrap();
        pong.await.unwrap();
        // The injector is checked every 61 polls; allow far more.
        let after = bounces.saturating_sub(at_spawn);
        assert!(
            after < 100_000,
            "{after} bounces after the stopper was queued"
        );
    });
}

#[test]
fn slow_polls_are_reported_in_debug_mode() {
    let (tx, rx) = mpsc::channel();
    let rt = ferrio::Runtime::builder()
        .worker_threads(1)
        .on_slow_poll(std::time::Duration::from_millis(150), move |info, took| {
            tx.send((info.name.clone(), took)).unwrap();
        })
        .build()
        .unwrap();
    rt.block_on(async {
        ferrio::task::Builder::new()
            .name("hog")
            .spawn(async {
                // Blocks its worker: exactly what debug mode is for.
                std::thread::sleep(std::time::Duration::from_millis(300));
            })
            .await
            .unwrap();
        ferrio::spawn(async {}).await.unwrap();
    });
    let (name, took) = rx.recv().unwrap();
    assert_eq!(name, "hog");
    assert!(took >= std::time::Duration::from_millis(300));
    assert!(rx.try_recv().is_err(), "the quick task was not reported");
}
