//! `#[ferrio::main]` and `#[ferrio::test]`: the runtime they build, the
//! body's return type, attributes kept, shutdown at the end. (Bad
//! arguments: the `compile_fail` examples on `ferrio::main`/`ferrio::test`
//! and the parser's unit tests in `src/macros/args.rs`.)

use std::future::pending;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};

#[ferrio::test]
async fn test_defaults_to_one_worker() {
    assert_eq!(ferrio::Handle::current().num_workers(), 1);
    // Spawned tasks run on that worker while the body waits.
    let task = ferrio::spawn(async { ferrio::current_task().is_some() });
    assert!(task.await.unwrap());
}

#[ferrio::test(workers = 3)]
async fn test_workers_argument_sets_the_worker_count() {
    assert_eq!(ferrio::Handle::current().num_workers(), 3);
}

#[ferrio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_takes_tokio_spelling_of_the_arguments() {
    assert_eq!(ferrio::Handle::current().num_workers(), 2);
}

#[ferrio::test(flavor = "multi_thread")]
async fn test_multi_thread_without_count_uses_the_builder_default() {
    let default = ferrio::Runtime::new().unwrap().handle().num_workers();
    assert_eq!(ferrio::Handle::current().num_workers(), default);
}

#[ferrio::test]
async fn test_body_may_use_question_mark_into_the_return_type(
) -> Result<(), Box<dyn std::error::Error>> {
    let listener = ferrio::net::TcpListener::bind("127.0.0.1:0")?;
    let port: u16 = listener.local_addr()?.port().to_string().parse()?;
    assert_ne!(port, 0);
    Ok(())
}

#[ferrio::test]
#[should_panic(expected = "the body's own panic")]
async fn test_keeps_other_attributes() {
    ferrio::yield_now().await;
    panic!("the body's own panic");
}

#[ferrio::test]
async fn test_body_names_do_not_clash_with_the_expansion() {
    // The expansion's own `body`, `rt` and `e` are hygienic.
    let body = 1;
    let rt = 2;
    let e = 3;
    assert_eq!(body + rt + e, 6);
}

/// Set when the task `entry` leaves running is dropped.
static LEFT_RUNNING_DROPPED: AtomicBool = AtomicBool::new(false);

struct SetOnDrop;

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        LEFT_RUNNING_DROPPED.store(true, Ordering::SeqCst);
    }
}

/// `#[ferrio::main]` on a function other than `main`, so a test can call it.
#[ferrio::main(workers = 2)]
async fn entry() -> usize {
    let guard = SetOnDrop;
    drop(ferrio::spawn(async move {
        let _guard = guard;
        pending::<()>().await
    }));
    // The body need not be `Send`: it runs on the calling thread.
    let local = Rc::new(ferrio::Handle::current().num_workers());
    ferrio::yield_now().await;
    *local
}

#[test]
fn main_blocks_on_the_body_then_shuts_the_runtime_down() {
    assert!(!LEFT_RUNNING_DROPPED.load(Ordering::SeqCst));
    assert_eq!(entry(), 2);
    assert!(
        LEFT_RUNNING_DROPPED.load(Ordering::SeqCst),
        "the runtime's shutdown cancels the task still running"
    );
    assert!(ferrio::Handle::try_current().is_none());
}

#[ferrio::main(flavor = "current_thread")]
async fn single() -> (usize, bool) {
    let on_worker = ferrio::spawn(async { ferrio::current_task().is_some() });
    (
        ferrio::Handle::current().num_workers(),
        on_worker.await.unwrap(),
    )
}

#[test]
fn main_current_thread_is_one_worker() {
    assert_eq!(single(), (1, true));
}

/// `start_paused = true`: an hour of sleep passes in virtual time.
#[cfg(feature = "test-util")]
#[ferrio::test(start_paused = true)]
async fn test_start_paused_runs_the_body_on_a_paused_clock() {
    let (start, wall) = (ferrio::time::now(), std::time::Instant::now());
    ferrio::sleep(std::time::Duration::from_secs(3600)).await;
    assert!(ferrio::time::now() - start >= std::time::Duration::from_secs(3600));
    assert!(wall.elapsed() < std::time::Duration::from_secs(60));
}
