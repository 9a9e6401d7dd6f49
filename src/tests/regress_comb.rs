//! Regression tests for the combinator and bridge defects of issue 14
//! (9: a child outliving its dropped `TaskGroup`; 10: `run_in_executor`
//! after shutdown; 11: `wait` leaking done-callbacks; 12: `wait` being
//! O(n²)) and issue 13 part 2 (a `TaskGroup` child panicking while it is
//! cancelled). Ordered by events, never by sleeps.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc};
use std::task::Poll;
use std::time::Duration;

use super::common::{rt, TestWaker};
use ferrio::combinators::{ChildFailure, GroupClosed};
use ferrio::sync::Event;
use ferrio::{ReturnWhen, TaskGroup};

/// Sends a notice when dropped.
struct DropNotice(mpsc::Sender<()>);

impl Drop for DropNotice {
    fn drop(&mut self) {
        let _ = self.0.send(());
    }
}

/// Defect 9: a `GroupSpawner::spawn` that passed the `closed` check before
/// the group's `Drop` took the children list pushed its task afterwards,
/// and nothing ever cancelled it.
#[test]
fn dropped_group_cancels_a_child_whose_spawn_was_under_way() {
    let rt = rt(2);
    for run in 0..200 {
        let group = TaskGroup::<()>::new();
        let spawner = group.spawner();
        let (notice_tx, notices) = mpsc::channel::<()>();
        let started = Arc::new(AtomicBool::new(false));
        let go = Arc::new(AtomicBool::new(false));
        let spawning = rt.spawn({
            let (started, go) = (started.clone(), go.clone());
            async move {
                started.store(true, SeqCst);
                while !go.load(SeqCst) {
                    std::hint::spin_loop();
                }
                // Spawn until the group is closed; every future handed to
                // `spawn` (the refused last one too) sends a notice when
                // it is dropped.
                let mut accepted = 0usize;
                loop {
                    let notice = DropNotice(notice_tx.clone());
                    let child = async move {
                        let _notice = notice;
                        std::future::pending::<()>().await;
                        Ok(())
                    };
                    match spawner.spawn(child) {
                        Ok(()) => accepted += 1,
                        Err(GroupClosed) => return accepted,
                    }
                }
            }
        });
        while !started.load(SeqCst) {
            std::hint::spin_loop();
        }
        go.store(true, SeqCst);
        drop(group);
        let accepted = rt.block_on(spawning).unwrap();
        for k in 0..=accepted {
            notices
                .recv_timeout(Duration::from_secs(20))
                .unwrap_or_else(|e| {
                    panic!(
                        "run {run}: only {k} of {} children were dropped; one outlived its \
                         dropped group ({e:?})",
                        accepted + 1
                    )
                });
        }
    }
}

/// Defect 10: with a blocking pool never used, `run_in_executor` after
/// shutdown created a fresh pool, started a thread and ran the closure.
#[test]
fn run_in_executor_after_shutdown_runs_nothing_even_if_the_pool_was_never_used() {
    let rt = rt(1);
    let handle = rt.handle();
    drop(rt);
    let (ran_tx, ran) = mpsc::channel::<()>();
    let task = handle.run_in_executor(move || ran_tx.send(()).unwrap());
    // The closure was dropped unrun (so its sender is gone) and no thread
    // was started for it.
    assert_eq!(
        ran.recv_timeout(Duration::from_secs(20)),
        Err(mpsc::RecvTimeoutError::Disconnected),
        "the closure ran after shutdown"
    );
    assert_eq!(handle.blocking_threads(), 0);
    // A clear error: the task is cancelled, like any spawn after shutdown.
    assert!(handle.block_on(task).unwrap_err().is_cancelled());
}

/// Defect 10, the other half: a pool that was used behaves the same.
#[test]
fn run_in_executor_after_shutdown_runs_nothing_with_a_used_pool() {
    let rt = rt(1);
    let handle = rt.handle();
    assert_eq!(
        rt.block_on(async { ferrio::to_thread(|| 5).await })
            .unwrap(),
        5
    );
    assert_eq!(handle.blocking_threads(), 1);
    drop(rt);
    let (ran_tx, ran) = mpsc::channel::<()>();
    let task = handle.run_in_executor(move || ran_tx.send(()).unwrap());
    assert_eq!(
        ran.recv_timeout(Duration::from_secs(20)),
        Err(mpsc::RecvTimeoutError::Disconnected)
    );
    assert!(handle.block_on(task).unwrap_err().is_cancelled());
}

/// Defect 11: every `wait` call left a done-callback on every task it
/// waited for (holding the caller's waker), whether it returned or was
/// dropped; the stale callbacks all ran when the task finished.
#[test]
fn wait_leaves_no_done_callback_behind() {
    let rt = rt(2);
    let release = Arc::new(Event::new());
    let mut blocker = rt.spawn({
        let release = release.clone();
        async move { release.wait().await }
    });
    let waker = TestWaker::new();
    for _ in 0..50 {
        // Returns: the quick task finishes first.
        let quick = rt.spawn(async {});
        let mut fut = Box::pin(ferrio::wait(
            vec![blocker, quick],
            ReturnWhen::FirstCompleted,
            None,
        ));
        let (done, mut pending) = waker.block_on(fut.as_mut()).unwrap();
        drop(fut);
        assert_eq!((done.len(), pending.len()), (1, 1));
        blocker = pending.pop().unwrap();
        assert_eq!(
            super::hooks::pending_done_callbacks(&blocker),
            0,
            "wait returned"
        );
        waker.settle("wait returned");

        // Times out (the timer needs the runtime: run it there).
        let (done, mut pending) = rt
            .block_on(ferrio::wait(
                vec![blocker],
                ReturnWhen::FirstCompleted,
                Some(Duration::from_millis(1)),
            ))
            .unwrap();
        assert_eq!((done.len(), pending.len()), (0, 1));
        blocker = pending.pop().unwrap();
        assert_eq!(
            super::hooks::pending_done_callbacks(&blocker),
            0,
            "wait timed out"
        );

        // Dropped while waiting: the tasks go with it (detached).
        let mut fut = Box::pin(ferrio::wait(
            vec![rt.spawn({
                let release = release.clone();
                async move { release.wait().await }
            })],
            ReturnWhen::AllCompleted,
            None,
        ));
        assert!(waker.poll(fut.as_mut()).is_pending());
        drop(fut);
        waker.settle("wait dropped");
    }
    // The stale callbacks would wake the caller now.
    let wakes = waker.wakes();
    release.set();
    rt.block_on(blocker).unwrap();
    drop(rt);
    assert_eq!(
        waker.wakes(),
        wakes,
        "a stale callback woke a finished wait"
    );
}

/// Defect 12: every wake-up of `wait` rescanned all n tasks, O(n²) for n
/// tasks finishing one at a time. Counts the tasks `wait` looks at (not
/// time): linear in n now.
#[test]
fn wait_work_is_linear_in_the_number_of_tasks() {
    let rt = rt(2);
    let n = 2000;
    let gates: Vec<Arc<Event>> = (0..n).map(|_| Arc::new(Event::new())).collect();
    let tasks: Vec<_> = gates
        .iter()
        .map(|g| {
            let g = g.clone();
            rt.spawn(async move {
                g.wait().await;
                Ok::<(), ()>(())
            })
        })
        .collect();
    super::hooks::reset_wait_tasks_examined();
    let waker = TestWaker::new();
    let mut fut = Box::pin(ferrio::wait_results(
        tasks,
        ReturnWhen::FirstException,
        None,
    ));
    assert!(waker.poll(fut.as_mut()).is_pending());
    let mut polls = 1;
    let (done, pending) = loop {
        // Finish one task, wait for `wait` to hear of it, poll once.
        gates[polls - 1].set();
        waker.wait_woken("a task finished");
        polls += 1;
        if let Poll::Ready(r) = waker.poll(fut.as_mut()) {
            break r.unwrap();
        }
    };
    assert_eq!((done.len(), pending.len()), (n, 0));
    assert_eq!(polls, n + 1, "one poll per finished task");
    let examined = super::hooks::wait_tasks_examined();
    // Registration, one look per finished task, and the final partition:
    // 3n. A rescan per wake-up would be about n²/2 (2,000,000 here).
    assert!(
        examined <= 3 * n as u64,
        "wait looked at {examined} tasks for {n} tasks finishing one at a time"
    );
}

/// Panics when dropped (not while already unwinding).
struct PanicOnDrop(&'static str);

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            panic!("{}", self.0);
        }
    }
}

/// A two-worker runtime and the count of task panics it reported as
/// never retrieved.
fn runtime_counting_unhandled_panics() -> (ferrio::Runtime, Arc<AtomicUsize>) {
    let unhandled = Arc::new(AtomicUsize::new(0));
    let rt = ferrio::Runtime::builder()
        .worker_threads(2)
        .on_task_panic({
            let unhandled = unhandled.clone();
            move |_, _| {
                unhandled.fetch_add(1, SeqCst);
            }
        })
        .build()
        .unwrap();
    (rt, unhandled)
}

/// Issue 13 part 2: a sibling that panics in its destructor while the
/// group cancels it (after another child failed) is a failure of the
/// group, not a never-retrieved task panic (asyncio test_taskgroups 08,
/// 19).
#[test]
fn a_panic_while_a_child_is_cancelled_joins_the_group_error() {
    let (rt, unhandled) = runtime_counting_unhandled_panics();
    for _ in 0..20 {
        let err = rt.block_on(async {
            let group = TaskGroup::<&'static str>::new();
            let sibling_waiting = Arc::new(Event::new());
            group
                .spawn({
                    let waiting = sibling_waiting.clone();
                    async move {
                        let _cleanup = PanicOnDrop("clean-up failed");
                        waiting.set();
                        std::future::pending::<()>().await;
                        Ok(())
                    }
                })
                .unwrap();
            group
                .spawn({
                    let waiting = sibling_waiting.clone();
                    async move {
                        waiting.wait().await;
                        Err("first failure")
                    }
                })
                .unwrap();
            group.join().await.unwrap_err()
        });
        assert_eq!(err.failures.len(), 2, "{err:?}");
        assert!(
            matches!(err.failures[0], ChildFailure::Error("first failure")),
            "{err:?}"
        );
        assert_eq!(
            format!("{:?}", err.failures[1]),
            "Panic(\"clean-up failed\")"
        );
    }
    drop(rt);
    assert_eq!(unhandled.load(SeqCst), 0, "reported as never retrieved");
}

/// Issue 13 part 2, the other paths: the group is dropped (its children
/// cancelled) or a child panics in its destructor after completing.
#[test]
fn a_destructor_panic_on_drop_or_completion_is_not_unretrieved() {
    let (rt, unhandled) = runtime_counting_unhandled_panics();
    let err = rt.block_on(async {
        let group = TaskGroup::<()>::new();
        group
            .spawn(async {
                let _cleanup = PanicOnDrop("after completing");
                Ok(())
            })
            .unwrap();
        group.join().await.unwrap_err()
    });
    assert_eq!(
        format!("{:?}", err.failures),
        "[Panic(\"after completing\")]"
    );
    rt.block_on(async {
        let group = TaskGroup::<()>::new();
        let waiting = Arc::new(Event::new());
        group
            .spawn({
                let waiting = waiting.clone();
                async move {
                    let _cleanup = PanicOnDrop("dropped with the group");
                    waiting.set();
                    std::future::pending::<()>().await;
                    Ok(())
                }
            })
            .unwrap();
        waiting.wait().await;
        drop(group);
    });
    drop(rt);
    assert_eq!(unhandled.load(SeqCst), 0, "reported as never retrieved");
}
