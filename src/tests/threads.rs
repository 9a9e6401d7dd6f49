//! to_thread / run_in_executor and run_coroutine_threadsafe (behaviours
//! from CPython's test_asyncio/test_threads.py and test_tasks.py).

use std::sync::{mpsc, Arc, Barrier};
use std::time::{Duration, Instant};

use super::common::{block_on_plain, rt};
use ferrio::ConcurrentError;

fn pool_rt(max: usize) -> ferrio::Runtime {
    ferrio::Runtime::builder()
        .worker_threads(2)
        .max_blocking_threads(max)
        .blocking_keep_alive(Duration::from_millis(20))
        .build()
        .unwrap()
}

#[test]
fn to_thread_returns_the_result_and_contains_panics() {
    ferrio::run(async {
        assert_eq!(ferrio::to_thread(|| 2 + 2).await.unwrap(), 4);
        let err = ferrio::to_thread(|| -> u8 { panic!("in the pool") })
            .await
            .unwrap_err();
        assert_eq!(err.panic_message(), Some("in the pool"));
        // The pool still serves.
        assert_eq!(ferrio::to_thread(|| "ok").await.unwrap(), "ok");
    });
}

#[test]
fn pool_runs_jobs_concurrently_up_to_the_maximum() {
    let rt = pool_rt(4);
    rt.block_on(async {
        // Four jobs that can only finish together: four threads at once.
        let barrier = Arc::new(Barrier::new(4));
        let jobs: Vec<_> = (0..4)
            .map(|_| {
                let b = barrier.clone();
                ferrio::to_thread(move || b.wait().is_leader())
            })
            .collect();
        let leaders = ferrio::gather(jobs)
            .await
            .into_iter()
            .filter(|r| *r.as_ref().unwrap())
            .count();
        assert_eq!(leaders, 1);
    });
}

#[test]
fn jobs_beyond_the_maximum_queue_and_all_run() {
    let rt = pool_rt(2);
    let handle = rt.handle();
    rt.block_on(async move {
        let jobs: Vec<_> = (0..200u32)
            .map(|i| handle.run_in_executor(move || i * 2))
            .collect();
        let out: Vec<u32> = ferrio::gather(jobs)
            .await
            .into_iter()
            .map(Result::unwrap)
            .collect();
        assert_eq!(out, (0..200).map(|i| i * 2).collect::<Vec<_>>());
        assert!(handle.blocking_threads() <= 2);
    });
}

#[test]
fn idle_pool_threads_retire_after_keep_alive() {
    let rt = pool_rt(8);
    rt.block_on(async {
        ferrio::to_thread(|| ()).await.unwrap();
    });
    // Timing is the point here: generous bound on a 20 ms keep-alive.
    let start = Instant::now();
    while rt.handle().blocking_threads() > 0 {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "threads never retired"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// `run_in_executor` after shutdown runs nothing, even with a blocking
/// pool that was never used: no fresh pool, no thread, the closure
/// dropped unrun.
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

/// The same with a pool that was used.
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

#[test]
fn run_coroutine_threadsafe_from_a_plain_thread() {
    let rt = rt(2);
    let handle = rt.handle();
    let (tx, rx) = tokio::sync::oneshot::channel::<u32>();
    let mut fut = ferrio::run_coroutine_threadsafe(async move { rx.await.unwrap() + 1 }, &handle);
    // A timeout leaves the task running.
    assert!(matches!(
        fut.result(Some(Duration::from_millis(5))),
        Err(ConcurrentError::Timeout)
    ));
    assert!(!fut.done());
    let (cb_tx, cb_rx) = std::sync::mpsc::channel();
    fut.add_done_callback(move |o| cb_tx.send(o).unwrap());
    tx.send(41).unwrap();
    let got = std::thread::spawn(move || fut.result(None).unwrap())
        .join()
        .unwrap();
    assert_eq!(got, 42);
    assert_eq!(cb_rx.recv().unwrap(), ferrio::Outcome::Completed);
}

#[test]
fn run_coroutine_threadsafe_cancel_cancels_the_task() {
    let rt = rt(1);
    let mut fut = ferrio::run_coroutine_threadsafe(std::future::pending::<()>(), &rt.handle());
    assert!(fut.cancel());
    assert!(matches!(fut.result(None), Err(ConcurrentError::Cancelled)));
    assert!(matches!(fut.result(None), Err(ConcurrentError::Taken)));
}

#[test]
fn call_soon_threadsafe_runs_on_a_worker() {
    let rt = rt(1);
    let t = rt
        .handle()
        .call_soon_threadsafe(|| std::thread::current().name().unwrap().to_string());
    assert_eq!(block_on_plain(t).unwrap(), "ferrio-worker-0");
}

#[test]
fn concurrent_submits_do_not_share_one_idle_thread() {
    let rt = pool_rt(8);
    rt.block_on(async {
        // One pool thread exists and goes idle.
        ferrio::to_thread(|| ()).await.unwrap();
        // Three jobs that can only finish together need three threads,
        // even though one idle thread is there when they are submitted.
        let barrier = Arc::new(Barrier::new(3));
        let jobs: Vec<_> = (0..3)
            .map(|_| {
                let b = barrier.clone();
                ferrio::to_thread(move || {
                    b.wait();
                })
            })
            .collect();
        for r in ferrio::gather(jobs).await {
            r.unwrap();
        }
    });
}
