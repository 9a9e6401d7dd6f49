//! TaskGroup (behaviours from CPython's test_asyncio/test_taskgroups.py),
//! a spawn racing the group's drop, and children that panic while they
//! are cancelled or dropped.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use super::common::{rt, rt_counting_unretrieved_panics, DropCounter};
use ferrio::combinators::{ChildFailure, GroupClosedError};
use ferrio::sync::Event;
use ferrio::TaskGroup;
use tokio::sync::oneshot;

/// Spawns `n` children that never finish on their own; each holds a drop
/// token, so the counter tells how many were cancelled.
fn spawn_forever_children<E: Send + 'static>(group: &TaskGroup<E>, n: usize, drops: &DropCounter) {
    for _ in 0..n {
        let token = drops.token();
        group
            .spawn(async move {
                let _t = token;
                std::future::pending::<()>().await;
                Ok(())
            })
            .unwrap();
    }
}

#[test]
fn join_waits_for_all_children_including_grandchildren() {
    ferrio::run(async {
        let group = TaskGroup::<()>::new();
        let count = Arc::new(AtomicUsize::new(0));
        for _ in 0..5 {
            let c = count.clone();
            let spawner = group.spawner();
            group
                .spawn(async move {
                    ferrio::yield_now().await;
                    let c2 = c.clone();
                    spawner
                        .spawn(async move {
                            ferrio::sleep(Duration::from_millis(2)).await;
                            c2.fetch_add(1, Ordering::SeqCst);
                            Ok(())
                        })
                        .unwrap();
                    c.fetch_add(1, Ordering::SeqCst);
                    Ok(())
                })
                .unwrap();
        }
        group.join().await.unwrap();
        assert_eq!(count.load(Ordering::SeqCst), 10);
    });
}

#[test]
fn first_failure_cancels_the_rest_and_all_failures_are_reported() {
    let drops = DropCounter::new();
    let d = drops.clone();
    ferrio::run(async move {
        let group = TaskGroup::<&'static str>::new();
        spawn_forever_children(&group, 3, &d);
        group
            .spawn(async {
                ferrio::yield_now().await;
                Err("first")
            })
            .unwrap();
        let err = group.join().await.unwrap_err();
        assert_eq!(err.failures.len(), 1);
        assert!(matches!(err.failures[0], ChildFailure::Error("first")));
    });
    assert_eq!(drops.count(), 3, "siblings were cancelled");
}

#[test]
fn panics_are_failures_and_cancellation_is_not() {
    ferrio::run(async {
        let group = TaskGroup::<()>::new();
        group
            .spawn(async {
                ferrio::yield_now().await;
                panic!("child panicked")
            })
            .unwrap();
        let err = group.join().await.unwrap_err();
        assert!(matches!(&err.failures[..], [ChildFailure::Panic(_)]));
        assert!(format!("{err:?}").contains("child panicked"));

        // Cancelled children (by the group's abort) add no failures: two
        // errors racing each other are both reported, the cancelled
        // sibling is not.
        let group = TaskGroup::<u8>::new();
        let (tx, rx) = oneshot::channel::<()>();
        group
            .spawn(async move {
                let _ = rx.await;
                Ok(())
            })
            .unwrap();
        group.spawn(async { Err(1) }).unwrap();
        let err = group.join().await.unwrap_err();
        assert_eq!(err.failures.len(), 1);
        drop(tx);
    });
}

#[test]
fn spawning_into_an_aborting_group_is_an_error() {
    ferrio::run(async {
        let group = TaskGroup::<()>::new();
        let spawner = group.spawner();
        let (tx, rx) = oneshot::channel::<()>();
        group
            .spawn(async move {
                // Wait until the failure below has aborted the group.
                let _ = rx.await;
                Ok(())
            })
            .unwrap();
        group.spawn(async { Err(()) }).unwrap();
        while spawner.spawn(async { Ok(()) }).is_ok() {
            ferrio::yield_now().await;
        }
        assert_eq!(spawner.spawn(async { Ok(()) }), Err(GroupClosedError));
        drop(tx);
        assert!(group.join().await.is_err());
    });
}

#[test]
fn dropping_the_group_cancels_its_children() {
    let drops = DropCounter::new();
    let d = drops.clone();
    ferrio::run(async move {
        let group = TaskGroup::<()>::new();
        spawn_forever_children(&group, 4, &d);
        ferrio::yield_now().await;
        drop(group);
    });
    assert_eq!(drops.count(), 4);
}

/// Sends a notice when dropped.
struct DropNotice(mpsc::Sender<()>);

impl Drop for DropNotice {
    fn drop(&mut self) {
        let _ = self.0.send(());
    }
}

/// A `GroupSpawner::spawn` under way while the group is dropped: a spawn
/// that passed the `closed` check before the group's `Drop` took the
/// children list, and pushed its task afterwards, is cancelled all the
/// same.
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
                started.store(true, Ordering::SeqCst);
                while !go.load(Ordering::SeqCst) {
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
                        Err(GroupClosedError) => return accepted,
                    }
                }
            }
        });
        while !started.load(Ordering::SeqCst) {
            std::hint::spin_loop();
        }
        go.store(true, Ordering::SeqCst);
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

#[test]
fn nested_groups() {
    ferrio::run(async {
        let outer = TaskGroup::<String>::new();
        outer
            .spawn(async {
                let inner = TaskGroup::<String>::new();
                inner.spawn(async { Err("inner".to_string()) }).unwrap();
                match inner.join().await {
                    Err(e) => Err(format!("wrapped {} failure(s)", e.failures.len())),
                    Ok(()) => Ok(()),
                }
            })
            .unwrap();
        let err = outer.join().await.unwrap_err();
        assert!(matches!(&err.failures[0], ChildFailure::Error(s) if s == "wrapped 1 failure(s)"));
    });
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

/// A sibling that panics in its destructor while the group cancels it
/// (after another child failed) is a failure of the group, not a
/// never-retrieved task panic (asyncio test_taskgroups 08, 19).
#[test]
fn a_panic_while_a_child_is_cancelled_joins_the_group_error() {
    let (rt, unretrieved) = rt_counting_unretrieved_panics(2);
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
    assert_eq!(
        unretrieved.load(Ordering::SeqCst),
        0,
        "reported as never retrieved"
    );
}

/// The same on the other paths: the group is dropped (its children
/// cancelled) or a child panics in its destructor after completing.
#[test]
fn a_destructor_panic_on_drop_or_completion_is_not_unretrieved() {
    let (rt, unretrieved) = rt_counting_unretrieved_panics(2);
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
    assert_eq!(
        unretrieved.load(Ordering::SeqCst),
        0,
        "reported as never retrieved"
    );
}
