//! Loom models of `TaskGroup` (its lock comes from the shim), driven
//! through the shipped group code on a test scheduler.
#![cfg(ferrio_loom)]

use ferrio::loom_models::{group_spawn, TestScheduler};
use ferrio::TaskGroup;
use loom::sync::atomic::Ordering::SeqCst;
use loom::thread;
use loom_tests::Counted;

/// A child that never finishes on its own; `token` counts its drop.
async fn forever(token: Counted) -> Result<(), ()> {
    let _token = token;
    std::future::pending::<()>().await;
    Ok(())
}

/// `forever` for a group whose error type is `&str`.
async fn forever_err(token: Counted) -> Result<(), &'static str> {
    let _token = token;
    std::future::pending::<()>().await;
    Ok(())
}

/// Issue 14 defect 9: a spawn that passed the group's `closed` check races
/// with the group's `Drop`. Whatever the interleaving, the spawn is either
/// refused (the future dropped at once) or its child is cancelled: no
/// child outlives the group.
#[test]
fn group_drop_vs_spawn_leaves_no_child() {
    loom::model(|| {
        let sched = TestScheduler::new();
        let group = TaskGroup::<()>::new();
        let spawner = group.spawner();
        let (token, drops) = Counted::new();
        let spawning = {
            let sched = sched.clone();
            thread::spawn(move || group_spawn(&sched, &spawner, forever(token)).is_ok())
        };
        drop(group);
        let _accepted = spawning.join().unwrap();
        sched.run_all();
        assert_eq!(drops.load(SeqCst), 1, "the child's future was not dropped");
        assert_eq!(sched.live_tasks(), 0, "a child outlived its group");
        sched.shutdown();
    });
}

/// The same race against a sibling's failure (the group aborts instead of
/// being dropped): every child is cancelled or refused.
#[test]
fn group_abort_vs_spawn_leaves_no_child() {
    loom::model(|| {
        let sched = TestScheduler::new();
        let group = TaskGroup::<&'static str>::new();
        let (token, drops) = Counted::new();
        assert!(group_spawn(&sched, &group.spawner(), async { Err("boom") }).is_ok());
        let spawning = {
            let sched = sched.clone();
            let spawner = group.spawner();
            thread::spawn(move || group_spawn(&sched, &spawner, forever_err(token)).is_ok())
        };
        // The failing child runs (and aborts the group) here.
        sched.run_one();
        let _accepted = spawning.join().unwrap();
        sched.run_all();
        assert_eq!(drops.load(SeqCst), 1, "the child's future was not dropped");
        assert_eq!(sched.live_tasks(), 0, "a child outlived the abort");
        drop(group);
        sched.shutdown();
    });
}
