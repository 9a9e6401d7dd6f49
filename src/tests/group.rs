//! TaskGroup (behaviours from CPython's test_asyncio/test_taskgroups.py).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::common::DropCounter;
use ferrio::combinators::{ChildFailure, GroupClosed};
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
        assert_eq!(spawner.spawn(async { Ok(()) }), Err(GroupClosed));
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
