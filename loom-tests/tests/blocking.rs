//! Loom models of the blocking pool (shipped `blocking::BlockingPool`):
//! a job submitted while the pool shuts down is run, dropped unrun with
//! its awaiting side told, or refused at once; never left queued with
//! nobody to run or drop it; and the pool's threads all exit.
#![cfg(ferrio_loom)]

use ferrio::loom_models::PoolModel;
use loom::thread;

/// Outcome of one job: refused, run, or dropped unrun.
fn outcome(pool: &PoolModel, value: usize) -> &'static str {
    match pool.submit(value) {
        None => "refused",
        // A job neither run nor dropped leaves this waiting forever: a
        // loom deadlock.
        Some(job) => match loom::future::block_on(job) {
            Some(v) => {
                assert_eq!(v, value);
                "ran"
            }
            None => "dropped",
        },
    }
}

#[test]
fn a_job_submitted_racing_the_shutdown_runs_or_is_dropped_and_told() {
    loom::model(|| {
        let pool = PoolModel::new(1);
        let p2 = pool.clone();
        let closer = thread::spawn(move || p2.shutdown());
        let _ = outcome(&pool, 7);
        closer.join().unwrap();
        // After shutdown nothing is accepted.
        assert_eq!(outcome(&pool, 8), "refused");
    });
}

#[test]
fn a_job_queued_behind_a_busy_pool_at_shutdown_is_dropped_and_told() {
    loom::model(|| {
        // No thread may start: the job can only wait in the queue, and
        // the shutdown must drop it (telling its awaiting side).
        let pool = PoolModel::new(0);
        let job = pool.submit(1).expect("accepted before shutdown");
        let p2 = pool.clone();
        let closer = thread::spawn(move || p2.shutdown());
        assert_eq!(loom::future::block_on(job), None, "dropped unrun");
        closer.join().unwrap();
    });
}

#[test]
fn two_submitters_and_a_shutdown_leave_nothing_behind() {
    loom::model(|| {
        let pool = PoolModel::new(1);
        let p2 = pool.clone();
        let other = thread::spawn(move || outcome(&p2, 2));
        let first = outcome(&pool, 1);
        pool.shutdown();
        let second = other.join().unwrap();
        for o in [first, second] {
            assert!(["ran", "dropped", "refused"].contains(&o));
        }
    });
}

#[test]
fn two_jobs_on_a_one_thread_pool_both_run() {
    loom::model(|| {
        // The second job comes while the one thread finishes the first
        // and goes idle: it must be claimed or found, never left queued.
        let pool = PoolModel::new(1);
        let p2 = pool.clone();
        let other = thread::spawn(move || outcome(&p2, 2));
        assert_eq!(outcome(&pool, 1), "ran");
        assert_eq!(other.join().unwrap(), "ran");
        pool.shutdown();
    });
}
