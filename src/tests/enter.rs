//! `Handle::enter` / `Runtime::enter` (tokio's semantics): a runtime
//! current on a thread outside `block_on`, for spawns, `Handle::current`,
//! timers and I/O polled off the workers; nesting (each guard puts back
//! what it replaced), entering inside `block_on` and inside tasks, and
//! `block_on`'s "not inside a runtime" rule kept.

use std::time::Duration;

use super::common::{block_on_plain, rt, temp_path};

fn thread_named(name: &str, workers: usize) -> ferrio::Runtime {
    ferrio::Runtime::builder()
        .worker_threads(workers)
        .thread_name(name)
        .build()
        .unwrap()
}

#[test]
fn entering_makes_spawn_and_current_work_until_the_guard_drops() {
    let rt = rt(1);
    assert!(ferrio::Handle::try_current().is_none());
    let task = {
        let _guard = rt.enter();
        assert!(ferrio::Handle::try_current().is_some());
        let mut set = ferrio::task::JoinSet::new();
        set.spawn(async { 2 });
        (ferrio::spawn(async { 1 }), set)
    };
    assert!(ferrio::Handle::try_current().is_none());
    let (task, mut set) = task;
    // `block_on` with a guard alive is fine: entering is not running.
    let _guard = rt.handle().enter();
    let got = rt.block_on(async move { (task.await.unwrap(), set.join_next().await) });
    assert_eq!(got.0, 1);
    assert_eq!(got.1.unwrap().unwrap(), 2);
    // Still entered after block_on returned.
    assert!(ferrio::Handle::try_current().is_some());
}

#[test]
fn guards_nest_and_put_back_the_runtime_they_replaced() {
    let (a, b) = (thread_named("rt-a", 1), thread_named("rt-b", 1));
    let where_spawned = || {
        let t = ferrio::spawn(async { std::thread::current().name().unwrap().to_string() });
        block_on_plain(t).unwrap()
    };
    let _ga = a.enter();
    assert!(where_spawned().starts_with("rt-a"));
    {
        let _gb = b.enter();
        assert!(where_spawned().starts_with("rt-b"));
    }
    assert!(where_spawned().starts_with("rt-a"));
    // Inside block_on of b, entering a makes a current; leaving puts b back.
    b.block_on(async {
        assert!(where_spawned().starts_with("rt-b"));
        {
            let _g = a.enter();
            assert!(where_spawned().starts_with("rt-a"));
        }
        assert!(where_spawned().starts_with("rt-b"));
    });
    assert!(where_spawned().starts_with("rt-a"));
}

#[test]
fn entering_another_runtime_inside_a_task() {
    let (a, b) = (thread_named("rt-a", 2), thread_named("rt-b", 1));
    let b_handle = b.handle();
    let names = a.block_on(a.spawn(async move {
        let inner = {
            let _g = b_handle.enter();
            ferrio::spawn(async { std::thread::current().name().unwrap().to_string() })
        };
        let inner = inner.await.unwrap();
        // Left: spawns go to this worker's runtime again.
        let back = ferrio::spawn(async { std::thread::current().name().unwrap().to_string() });
        // Timers still run on this worker.
        ferrio::sleep(Duration::from_millis(1)).await;
        (inner, back.await.unwrap())
    }));
    let (inner, back) = names.unwrap();
    assert!(inner.starts_with("rt-b"), "{inner}");
    assert!(back.starts_with("rt-a"), "{back}");
}

#[test]
fn block_on_inside_a_running_runtime_still_panics_guard_or_not() {
    let rt = rt(1);
    let _g = rt.enter();
    let h = rt.handle();
    let inner = rt.block_on(async move {
        let _g = h.enter();
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| h.block_on(async {})))
    });
    assert!(inner.is_err());
}

#[test]
fn timers_and_io_polled_off_the_runtime_use_the_entered_one() {
    let rt = rt(1);
    let path = temp_path("enter-io");
    std::fs::write(&path, b"entered").unwrap();
    let _g = rt.enter();
    // A plain executor on this thread: no block_on anywhere.
    block_on_plain(async {
        ferrio::sleep(Duration::from_millis(1)).await;
        let bytes = ferrio::fs::read(&path).await.unwrap();
        assert_eq!(bytes, b"entered");
    });
    let _ = std::fs::remove_file(&path);
}

#[test]
#[should_panic(expected = "dropped out of order")]
fn dropping_guards_out_of_order_panics() {
    let (a, b) = (rt(1), rt(1));
    let ga = a.enter();
    let _gb = b.enter();
    drop(ga);
}
