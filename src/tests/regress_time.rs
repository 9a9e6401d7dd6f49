//! Regression tests for the timer defects of issue 14 (2: timers across a
//! shutdown; 19: interval overflow) and issue 13 part 1 (nested timeout
//! scopes that expire together).

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::task::Context;
use std::time::{Duration, Instant};

use super::common::rt;
use super::shutdown_sweep::within;

const HOUR: Duration = Duration::from_secs(3600);

/// Polls `fut` once (it must be pending: registers its timer), reports
/// that on `registered`, then awaits it to the end.
async fn registered_then<F: Future>(fut: F, registered: mpsc::Sender<()>) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    let mut first = true;
    std::future::poll_fn(|cx: &mut Context<'_>| {
        let p = fut.as_mut().poll(cx);
        if first {
            first = false;
            assert!(
                p.is_pending(),
                "the timer must be waiting when the runtime goes"
            );
            registered.send(()).unwrap();
        }
        p
    })
    .await
}

// ---- defect 2: timers across a shutdown -------------------------------

#[test]
fn sleep_through_a_kept_handle_after_shutdown_ends_at_once() {
    let rt = rt(2);
    let handle = rt.handle();
    drop(rt);
    within("sleep after shutdown", move || {
        handle.block_on(ferrio::sleep(HOUR));
        handle.block_on(ferrio::sleep(Duration::from_millis(10)));
        let mut every = ferrio::interval(HOUR);
        handle.block_on(every.tick());
        handle.block_on(every.tick());
    });
}

#[test]
fn wait_for_and_scopes_after_shutdown_fail_with_a_shutdown_error() {
    let rt = rt(2);
    let handle = rt.handle();
    drop(rt);
    within("wait_for after shutdown", move || {
        let r = handle.block_on(ferrio::wait_for(std::future::pending::<()>(), HOUR));
        let e = r.unwrap_err();
        assert!(e.is_runtime_shutdown(), "{e:?}");
        assert_eq!(e.to_string(), "the runtime shut down before the deadline");
        assert_eq!(std::io::Error::from(e).kind(), std::io::ErrorKind::Other);
        let r = handle.block_on(ferrio::wait_for(
            std::future::pending::<()>(),
            Duration::from_millis(10),
        ));
        assert!(r.unwrap_err().is_runtime_shutdown());
        let scope = ferrio::timeout(HOUR);
        let r = handle.block_on(scope.run(std::future::pending::<()>()));
        assert!(r.unwrap_err().is_runtime_shutdown());
        assert!(!scope.expired(), "the deadline did not pass");
        // The inner future still wins when it is ready.
        assert_eq!(handle.block_on(ferrio::wait_for(async { 7 }, HOUR)), Ok(7));
    });
}

#[test]
fn timers_waiting_in_block_on_on_another_thread_end_when_the_runtime_is_dropped() {
    for workers in [1, 2] {
        let rt = rt(workers);
        let (tx, rx) = mpsc::channel();
        let mut waiters = Vec::new();
        // Each waiter registers its timer (remotely, from block_on), says
        // so, and is then left waiting as the runtime goes.
        let h = rt.handle();
        let t = tx.clone();
        waiters.push(std::thread::spawn(move || {
            h.block_on(registered_then(ferrio::sleep(HOUR), t));
        }));
        let h = rt.handle();
        let t = tx.clone();
        waiters.push(std::thread::spawn(move || {
            let r = h.block_on(registered_then(
                ferrio::wait_for(std::future::pending::<()>(), HOUR),
                t,
            ));
            assert!(r.unwrap_err().is_runtime_shutdown());
        }));
        let h = rt.handle();
        let t = tx.clone();
        waiters.push(std::thread::spawn(move || {
            let scope = ferrio::timeout(HOUR);
            let r = h.block_on(registered_then(scope.run(std::future::pending::<()>()), t));
            assert!(r.unwrap_err().is_runtime_shutdown());
        }));
        let h = rt.handle();
        let t = tx.clone();
        waiters.push(std::thread::spawn(move || {
            let mut every = ferrio::interval(HOUR);
            h.block_on(async {
                every.tick().await;
                registered_then(every.tick(), t).await;
            });
        }));
        for _ in 0..waiters.len() {
            rx.recv().unwrap();
        }
        drop(rt);
        within("timers waiting across the drop", move || {
            for w in waiters {
                w.join().unwrap();
            }
        });
    }
}

#[test]
fn registrations_racing_the_shutdown_never_hang() {
    // Threads keep registering timers while the runtime is dropped: each
    // registration is either taken in (and ended by the worker's
    // shutdown) or refused (and ended by its registrant).
    for _ in 0..20 {
        let rt = rt(2);
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = mpsc::channel();
        let threads: Vec<_> = (0..3)
            .map(|_| {
                let h = rt.handle();
                let stop = stop.clone();
                let tx = tx.clone();
                std::thread::spawn(move || {
                    let mut n = 0u32;
                    while !stop.load(Ordering::SeqCst) {
                        let r = h.block_on(ferrio::wait_for(
                            std::future::pending::<()>(),
                            Duration::from_millis(1),
                        ));
                        assert!(r.is_err());
                        n += 1;
                        if n == 1 {
                            tx.send(()).unwrap();
                        }
                    }
                    n
                })
            })
            .collect();
        for _ in 0..threads.len() {
            rx.recv().unwrap();
        }
        drop(rt);
        within("registrations racing the drop", move || {
            // After the drop every wait ends at once: a few more rounds.
            std::thread::yield_now();
            stop.store(true, Ordering::SeqCst);
            for t in threads {
                assert!(t.join().unwrap() >= 1);
            }
        });
    }
}

// ---- defect 19: interval overflow ----------------------------------------

#[test]
fn interval_of_duration_max_does_not_panic() {
    let rt = rt(1);
    for behavior in [
        ferrio::time::MissedTickBehavior::Burst,
        ferrio::time::MissedTickBehavior::Delay,
        ferrio::time::MissedTickBehavior::Skip,
    ] {
        rt.block_on(async {
            let mut every = ferrio::interval(Duration::MAX);
            every.set_missed_tick_behavior(behavior);
            every.tick().await;
            // The second tick is "never": it does not come within 20 ms.
            let r = ferrio::wait_for(every.tick(), Duration::from_millis(20)).await;
            assert!(r.is_err() && !r.unwrap_err().is_runtime_shutdown());
            every.reset();
            assert!(ferrio::wait_for(every.tick(), Duration::from_millis(5))
                .await
                .is_err());
        });
    }
}

#[test]
fn interval_skip_far_behind_lands_on_the_next_tick_after_now() {
    use ferrio::time::MissedTickBehavior::Skip;
    let t0 = Instant::now();
    let period = Duration::from_nanos(1);
    // More than 2^32 periods behind: a `u32` count of periods wraps.
    for behind in [(1u64 << 32) + 10, 1 << 40, 7] {
        let now = t0 + Duration::from_nanos(behind);
        let next = super::hooks::next_tick(Skip, t0, now, period);
        assert!(
            next > now,
            "{behind} periods behind: next tick is not after now"
        );
        assert!(
            next - now <= period,
            "{behind}: more than one period skipped too many"
        );
    }
    // A long period, far behind: no overflow, on the original schedule.
    let period = Duration::from_secs(86_400 * 365);
    let now = t0 + Duration::from_secs(86_400 * 365 * 3 + 5);
    let next = super::hooks::next_tick(Skip, t0, now, period);
    assert_eq!(next, t0 + period * 4);
}

// ---- issue 13 part 1: nested scopes that expire together -----------------

/// Outer and inner scopes with deadlines `outer_at` and `inner_at` around
/// a body that never ends; returns (outer result, reached after the inner
/// block, outer expired, inner expired).
async fn nested(
    outer_at: Instant,
    inner_at: Instant,
) -> (Result<(), ferrio::TimeoutError>, bool, bool, bool) {
    let outer = ferrio::timeout_at(Some(outer_at));
    let inner = ferrio::timeout_at(Some(inner_at));
    let reached = Arc::new(AtomicBool::new(false));
    let (i, r) = (inner.clone(), reached.clone());
    let res = outer
        .run(async move {
            let _ = i.run(std::future::pending::<()>()).await;
            // asyncio: the outer scope's cancellation drops the whole body.
            r.store(true, Ordering::SeqCst);
            std::future::pending::<()>().await
        })
        .await;
    (
        res,
        reached.load(Ordering::SeqCst),
        outer.expired(),
        inner.expired(),
    )
}

fn assert_outermost_reported(
    got: (Result<(), ferrio::TimeoutError>, bool, bool, bool),
    run: usize,
) {
    let (res, reached, outer_expired, inner_expired) = got;
    assert!(res.is_err(), "run {run}: outer scope did not report");
    assert!(
        !reached,
        "run {run}: the inner scope reported and the outer body carried on"
    );
    assert!(
        outer_expired && inner_expired,
        "run {run}: both scopes expired"
    );
}

#[test]
fn nested_scopes_with_the_same_deadline_outermost_reports_from_a_task() {
    let rt = rt(2);
    for run in 0..40 {
        let got = rt
            .block_on(rt.spawn(async {
                let d = Instant::now() + Duration::from_millis(2);
                nested(d, d).await
            }))
            .unwrap();
        assert_outermost_reported(got, run);
    }
}

#[test]
fn nested_scopes_with_the_same_deadline_outermost_reports_from_block_on() {
    // From block_on the two timers go to different workers' wheels (round
    // robin), which fire in either order.
    let rt = rt(2);
    for run in 0..40 {
        let got = rt.block_on(async {
            let d = Instant::now() + Duration::from_millis(2);
            nested(d, d).await
        });
        assert_outermost_reported(got, run);
    }
}

#[test]
fn nested_scopes_both_past_outermost_reports_even_with_a_later_deadline() {
    ferrio::run(async {
        let now = Instant::now();
        let got = nested(
            now - Duration::from_millis(1),
            now - Duration::from_millis(2),
        )
        .await;
        assert_outermost_reported(got, 0);
    });
}

#[test]
fn nested_scope_with_a_later_outer_deadline_inner_reports() {
    ferrio::run(async {
        let outer = ferrio::timeout(HOUR);
        let inner = ferrio::timeout(Duration::from_millis(2));
        let i = inner.clone();
        let r = outer
            .run(async move { i.run(std::future::pending::<()>()).await })
            .await;
        let inner_result = r.expect("the outer scope did not expire");
        assert!(inner_result.is_err());
        assert!(inner.expired() && !outer.expired());
    });
}

#[test]
fn an_inner_scope_that_deferred_reports_if_the_outer_is_moved_later() {
    // The inner scope expired together with the outer one and left the
    // report to it; the body then moves the outer deadline away: the
    // inner scope reports after all.
    ferrio::run(async {
        let past = Instant::now() - Duration::from_millis(1);
        let outer = ferrio::timeout_at(Some(past));
        let inner = ferrio::timeout_at(Some(past));
        let (o, i) = (outer.clone(), inner.clone());
        let r = outer
            .run(async move {
                let mut first = Some(o);
                let mut inner_run = std::pin::pin!(i.run(std::future::pending::<()>()));
                std::future::poll_fn(|cx| {
                    let r = inner_run.as_mut().poll(cx);
                    if let Some(o) = first.take() {
                        assert!(r.is_pending(), "deferred to the outer scope");
                        o.reschedule(None);
                    }
                    r
                })
                .await
            })
            .await;
        assert_eq!(r.map(|inner| inner.is_err()), Ok(true));
        assert!(inner.expired());
        assert!(!outer.expired());
    });
}
