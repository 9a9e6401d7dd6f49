//! `task::JoinSet` (tokio's semantics): completion order, `try_join_next`,
//! `abort_all`, `shutdown`, `detach_all`, cancellation on drop, a
//! cancel-safe `join_next` that leaves no waker behind, O(1) work per
//! join, spawning from other threads and onto the blocking pool; and
//! `AbortHandle`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::common::{rt, spin_until, DropCounter, TestWaker, HOUR};
use super::hooks;
use ferrio::sync::Event;
use ferrio::task::JoinSet;

/// `n` gates and a set of tasks, task `i` returning `i` once gate `i` is set.
fn gated(n: usize) -> (Vec<Arc<Event>>, JoinSet<usize>) {
    let gates: Vec<Arc<Event>> = (0..n).map(|_| Arc::new(Event::new())).collect();
    let mut set = JoinSet::new();
    for (i, gate) in gates.iter().enumerate() {
        let gate = gate.clone();
        set.spawn(async move {
            gate.wait().await;
            i
        });
    }
    (gates, set)
}

#[test]
fn results_come_in_completion_order_and_none_when_empty() {
    let rt = rt(2);
    rt.block_on(async {
        let (gates, mut set) = gated(4);
        assert_eq!(set.len(), 4);
        for i in [2, 0, 3, 1] {
            gates[i].set();
            assert_eq!(set.join_next().await.unwrap().unwrap(), i);
        }
        assert!(set.is_empty());
        assert!(set.join_next().await.is_none());
        // Reused afterwards: new tasks in freed slots.
        set.spawn(async { 9 });
        let (id, r) = set.join_next_with_id().await.unwrap();
        assert_eq!(r.unwrap(), 9);
        assert!(id.as_u64() > 0);
        assert!(set.join_next().await.is_none());
    });
}

#[test]
fn try_join_next_takes_only_what_has_finished() {
    let rt = rt(2);
    rt.block_on(async {
        let (gates, mut set) = gated(2);
        assert!(set.try_join_next().is_none());
        set.spawn(async { 7 });
        // Its completion reaches the set on the worker's thread, a moment
        // after the task finished.
        let mut got = None;
        spin_until("the quick task's result", || {
            got = set.try_join_next();
            got.is_some()
        });
        assert_eq!(got.unwrap().unwrap(), 7);
        assert!(set.try_join_next().is_none());
        assert_eq!(set.len(), 2);
        gates[1].set();
        assert_eq!(set.join_next().await.unwrap().unwrap(), 1);
        gates[0].set();
        assert_eq!(set.join_next().await.unwrap().unwrap(), 0);
        assert!(set.try_join_next().is_none());
    });
}

#[test]
fn abort_all_cancels_and_shutdown_waits_for_every_task() {
    let rt = rt(2);
    rt.block_on(async {
        let drops = DropCounter::new();
        let mut set = JoinSet::new();
        for _ in 0..5 {
            let token = drops.token();
            set.spawn(async move {
                let _t = token;
                ferrio::sleep(HOUR).await;
            });
        }
        set.abort_all();
        let mut cancelled = 0;
        while let Some(r) = set.join_next().await {
            assert!(r.unwrap_err().is_cancelled());
            cancelled += 1;
        }
        assert_eq!(cancelled, 5);
        assert_eq!(drops.count(), 5);

        for _ in 0..3 {
            let token = drops.token();
            set.spawn(async move {
                let _t = token;
                std::future::pending::<()>().await;
            });
        }
        set.shutdown().await;
        assert!(set.is_empty());
        assert_eq!(drops.count(), 8);
    });
}

#[test]
fn dropping_the_set_cancels_its_tasks_detach_all_does_not() {
    let rt = rt(2);
    rt.block_on(async {
        let drops = DropCounter::new();
        let mut set = JoinSet::new();
        let mut aborts = Vec::new();
        for _ in 0..4 {
            let token = drops.token();
            aborts.push(set.spawn(async move {
                let _t = token;
                std::future::pending::<()>().await;
            }));
        }
        drop(set);
        ferrio::wait_for(
            async {
                while !aborts.iter().all(|a| a.is_finished()) {
                    ferrio::yield_now().await;
                }
            },
            Duration::from_secs(10),
        )
        .await
        .expect("the tasks were cancelled");
        assert_eq!(drops.count(), 4);

        let (gates, mut set) = gated(3);
        set.detach_all();
        assert!(set.is_empty());
        assert!(set.join_next().await.is_none());
        // Detached tasks run on: their gates still release them.
        let finished = Arc::new(AtomicUsize::new(0));
        let watch: Vec<_> = gates
            .iter()
            .map(|g| {
                let (g, finished) = (g.clone(), finished.clone());
                ferrio::spawn(async move {
                    g.wait().await;
                    finished.fetch_add(1, Ordering::SeqCst);
                })
            })
            .collect();
        for g in &gates {
            g.set();
        }
        for w in watch {
            w.await.unwrap();
        }
        assert_eq!(finished.load(Ordering::SeqCst), 3);
        drop(set);
    });
}

#[test]
fn a_dropped_join_next_loses_nothing_and_leaves_no_waker() {
    let rt = rt(2);
    let (gates, mut set) = rt.block_on(async { gated(1) });
    let waker = TestWaker::new();
    {
        let mut next = Box::pin(set.join_next());
        assert!(waker.poll(next.as_mut()).is_pending());
        assert!(waker.outstanding() > 0, "the join registered its waker");
    }
    // Dropped while pending: its waker is gone.
    waker.settle("the dropped join_next's waker");
    assert_eq!(waker.outstanding(), 0);
    gates[0].set();
    // The result is still there for the next join.
    let r = rt.block_on(async { set.join_next().await });
    assert_eq!(r.unwrap().unwrap(), 0);
}

#[test]
fn join_next_wakes_when_a_task_finishes_on_another_worker() {
    let rt = rt(2);
    let (gates, mut set) = rt.block_on(async { gated(1) });
    let waker = TestWaker::new();
    let mut next = Box::pin(set.join_next());
    assert!(waker.poll(next.as_mut()).is_pending());
    gates[0].set();
    waker.wait_woken("the task's completion");
    match waker.poll(next.as_mut()) {
        std::task::Poll::Ready(Some(Ok(0))) => {}
        other => panic!("expected the task's output, got {other:?}"),
    }
}

#[test]
fn each_join_polls_only_the_task_that_finished() {
    const N: usize = 1000;
    let rt = rt(2);
    rt.block_on(async {
        let (gates, mut set) = gated(N);
        hooks::reset_join_set_polls();
        // Release them one at a time, waiting for each.
        for (i, gate) in gates.iter().enumerate().rev() {
            gate.set();
            assert_eq!(set.join_next().await.unwrap().unwrap(), i);
        }
        let polls = hooks::join_set_polls();
        // One poll per task (a second one at most when its wake-up lands
        // while the first is on its way): not N per join.
        assert!(polls <= 2 * N as u64, "{polls} task polls for {N} joins");
        assert!(polls >= N as u64);
    });
}

#[test]
fn many_finished_tasks_are_joined_within_the_coop_budget() {
    let rt = rt(1);
    rt.block_on(async {
        let mut set: JoinSet<usize> = (0..2000).map(|i| async move { i }).collect();
        let mut sum = 0;
        let mut n = 0;
        while let Some(r) = set.join_next().await {
            sum += r.unwrap();
            n += 1;
        }
        assert_eq!(n, 2000);
        assert_eq!(sum, (0..2000).sum::<usize>());
    });
}

#[test]
fn panics_are_results_and_join_all_collects_or_resumes_them() {
    let rt = rt(2);
    rt.block_on(async {
        let mut set = JoinSet::new();
        set.spawn(async { panic!("boom") });
        let err = set.join_next().await.unwrap().unwrap_err();
        assert_eq!(err.panic_message(), Some("boom"));

        let set: JoinSet<u32> = [1, 2, 3].map(|v| async move { v }).into_iter().collect();
        let mut all = set.join_all().await;
        all.sort();
        assert_eq!(all, vec![1, 2, 3]);
    });
    let rt2 = super::common::rt(1);
    let resumed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rt2.block_on(async {
            let mut set = JoinSet::new();
            set.spawn(async { panic!("inner") });
            set.join_all().await
        })
    }));
    let payload = resumed.unwrap_err();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"inner"));
}

#[test]
fn spawn_on_from_another_thread_spawn_blocking_and_insert() {
    let rt = rt(2);
    let handle = rt.handle();
    let mut set = std::thread::spawn(move || {
        let mut set = JoinSet::new();
        set.spawn_on(async { 1 }, &handle);
        set.spawn_blocking_on(|| 2, &handle);
        set
    })
    .join()
    .unwrap();
    rt.block_on(async {
        set.spawn_blocking(|| 3);
        set.insert(ferrio::task::Builder::new().name("four").spawn(async { 4 }));
        // A task that finished before it joined the set.
        let early = ferrio::spawn(async { 5 });
        spin_until("the early task finishes", || early.is_done());
        set.insert(early);
        let mut got = Vec::new();
        while let Some(r) = set.join_next().await {
            got.push(r.unwrap());
        }
        got.sort();
        assert_eq!(got, vec![1, 2, 3, 4, 5]);
    });
}

#[test]
fn a_join_set_is_a_stream() {
    use futures::StreamExt;
    let rt = rt(2);
    rt.block_on(async {
        let set: JoinSet<u32> = (0..10u32).map(|i| async move { i * 2 }).collect();
        let mut got: Vec<u32> = set.map(|r| r.unwrap()).collect().await;
        got.sort();
        assert_eq!(got, (0..10).map(|i| i * 2).collect::<Vec<_>>());
    });
}

#[test]
fn abort_handles_cancel_one_task_and_outlive_its_handle() {
    let rt = rt(2);
    rt.block_on(async {
        let (gates, mut set) = gated(2);
        let abort = set.spawn(std::future::pending::<usize>());
        let clone = abort.clone();
        assert_eq!(clone.id(), abort.id());
        assert!(abort.abort());
        let (id, r) = set.join_next_with_id().await.unwrap();
        assert_eq!(id, abort.id());
        assert!(r.unwrap_err().is_cancelled());
        // Done now: aborting again reports it, the handle outlives the task.
        assert!(!clone.abort());
        assert!(clone.is_finished());
        gates[0].set();
        gates[1].set();
        set.shutdown().await;

        // From a plain Task, detached.
        let task = ferrio::spawn(std::future::pending::<()>());
        let abort = task.abort_handle();
        drop(task);
        assert!(!abort.is_finished());
        assert!(abort.abort());
        ferrio::wait_for(
            async {
                while !abort.is_finished() {
                    ferrio::yield_now().await;
                }
            },
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    });
}

#[test]
fn poll_join_next_by_hand() {
    let rt = rt(1);
    let mut set = JoinSet::<u8>::new();
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    assert!(matches!(
        set.poll_join_next(&mut cx),
        std::task::Poll::Ready(None)
    ));
    set.spawn_on(async { 3 }, &rt.handle());
    let got = rt.block_on(std::future::poll_fn(|cx| set.poll_join_next(cx)));
    assert_eq!(got.unwrap().unwrap(), 3);
}

#[test]
fn a_runtime_shutdown_ends_a_pending_join_next_with_cancelled() {
    let rt = rt(2);
    let mut set = JoinSet::new();
    set.spawn_on(std::future::pending::<()>(), &rt.handle());
    let waker = TestWaker::new();
    let mut next = Box::pin(set.join_next());
    assert!(waker.poll(next.as_mut()).is_pending());
    drop(rt);
    let r = waker.block_on(next.as_mut());
    assert!(r.unwrap().unwrap_err().is_cancelled());
    drop(next);
    assert!(set.is_empty());
}
