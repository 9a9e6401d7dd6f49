//! Sleeps, timeouts, intervals and timeout scopes on the runtime.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::common::{poll_noop, rt, DropCounter};

#[test]
fn sleeps_never_wake_early() {
    let rt = rt(2);
    let late = rt.block_on(async {
        let tasks: Vec<_> = (0..200u64)
            .map(|i| {
                ferrio::spawn(async move {
                    let d = Duration::from_micros(300 * i + 100);
                    let start = Instant::now();
                    ferrio::sleep(d).await;
                    (start.elapsed(), d)
                })
            })
            .collect();
        let mut worst = Duration::ZERO;
        for t in tasks {
            let (took, asked) = t.await.unwrap();
            assert!(took >= asked, "woke after {took:?}, asked {asked:?}");
            worst = worst.max(took - asked);
        }
        worst
    });
    // Generous: this is about not hanging, not about latency.
    assert!(late < Duration::from_secs(5), "a sleep was {late:?} late");
}

#[test]
fn sleeps_in_deadline_order_on_one_task() {
    let rt = rt(1);
    rt.block_on(rt.spawn(async {
        let mut last = Instant::now();
        for ms in [3u64, 1, 4, 1, 5] {
            ferrio::sleep(Duration::from_millis(ms)).await;
            let now = Instant::now();
            assert!(now - last >= Duration::from_millis(ms));
            last = now;
        }
    }))
    .unwrap();
}

#[test]
fn sleep_in_block_on_registers_remotely() {
    let rt = rt(2);
    let start = Instant::now();
    rt.block_on(ferrio::sleep(Duration::from_millis(15)));
    assert!(start.elapsed() >= Duration::from_millis(15));
}

#[test]
fn zero_and_past_sleeps_are_ready_at_once() {
    ferrio::run(async {
        ferrio::sleep(Duration::ZERO).await;
        ferrio::sleep_until(Instant::now() - Duration::from_secs(1)).await;
        let s = ferrio::sleep(Duration::MAX);
        assert!(!s.is_elapsed());
    });
}

#[test]
fn a_sleep_the_wheel_has_passed_is_ready_at_its_first_poll() {
    // On a worker the first poll compares the deadline with the wheel's
    // time instead of reading the clock: once a later sleep has fired,
    // the wheel is past an earlier deadline, which completes at once.
    let rt = rt(1);
    rt.block_on(rt.spawn(async {
        let before = Instant::now();
        ferrio::sleep(Duration::from_millis(3)).await;
        let mut past = std::pin::pin!(ferrio::sleep_until(before));
        assert!(poll_noop(past.as_mut()).is_ready());
        let mut zero = std::pin::pin!(ferrio::sleep(Duration::ZERO));
        assert!(poll_noop(zero.as_mut()).is_ready());
        // A deadline of now, rounded up to the next millisecond, may be
        // ahead of the wheel: then it waits one wheel step, no more.
        let mut now = std::pin::pin!(ferrio::sleep_until(Instant::now()));
        if poll_noop(now.as_mut()).is_pending() {
            now.await;
        }
        // A future deadline still waits for its timer.
        let start = Instant::now();
        ferrio::sleep(Duration::from_millis(2)).await;
        assert!(start.elapsed() >= Duration::from_millis(2));
    }))
    .unwrap();
}

#[test]
fn hundred_thousand_concurrent_sleeps_all_fire() {
    let rt = rt(2);
    let fired = Arc::new(AtomicUsize::new(0));
    let f = fired.clone();
    rt.block_on(async move {
        let tasks: Vec<_> = (0..100_000u64)
            .map(|i| {
                let f = f.clone();
                ferrio::spawn(async move {
                    ferrio::sleep(Duration::from_millis(1 + i % 50)).await;
                    f.fetch_add(1, Ordering::Relaxed);
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
    });
    assert_eq!(fired.load(Ordering::Relaxed), 100_000);
}

#[test]
fn dropping_unfired_sleeps_cancels_them() {
    // Register many long timers, then drop them from inside and outside
    // the workers; the runtime shuts down without waiting for them.
    let rt = rt(2);
    let start = Instant::now();
    let sleeps: Vec<ferrio::Sleep> = rt.block_on(async {
        let t = ferrio::spawn(async {
            let mut v = Vec::new();
            for _ in 0..1_000 {
                let mut s = ferrio::sleep(Duration::from_secs(3600));
                // Poll once so it registers in this worker's wheel.
                assert!(poll_noop(std::pin::Pin::new(&mut s)).is_pending());
                v.push(s);
            }
            v
        });
        t.await.unwrap()
    });
    // Cancelled from a plain thread: goes through the owner's queue.
    std::thread::spawn(move || drop(sleeps)).join().unwrap();
    rt.block_on(ferrio::sleep(Duration::from_millis(5)));
    drop(rt);
    assert!(start.elapsed() < Duration::from_secs(60));
}

#[test]
fn wait_for_times_out_and_drops_the_inner_future() {
    let drops = DropCounter::new();
    let token = drops.token();
    ferrio::run(async move {
        let inner = async move {
            let _t = token;
            std::future::pending::<u32>().await
        };
        let r = ferrio::wait_for(inner, Duration::from_millis(10)).await;
        assert_eq!(r, Err(ferrio::TimeoutError::clone(&r.unwrap_err())));
        assert!(r.is_err());
    });
    assert_eq!(drops.count(), 1);
}

#[test]
fn wait_for_returns_value_in_time() {
    ferrio::run(async {
        let r = ferrio::wait_for(
            async {
                ferrio::sleep(Duration::from_millis(1)).await;
                9
            },
            Duration::from_secs(30),
        )
        .await;
        assert_eq!(r, Ok(9));
    });
}

#[test]
fn wait_for_with_a_task_leaves_it_running() {
    // asyncio's wait_for(shield(x)): the spawned task is not cancelled by
    // the timeout (dropping a Task handle detaches it).
    ferrio::run(async {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = ferrio::spawn(async move {
            rx.await.unwrap();
            "finished"
        });
        let id = task.id();
        let r = ferrio::wait_for(task, Duration::from_millis(5)).await;
        assert!(r.is_err());
        assert!(ferrio::all_tasks().iter().any(|t| t.id == id));
        tx.send(()).unwrap();
    });
}

#[test]
fn interval_ticks_on_schedule() {
    ferrio::run(async {
        let period = Duration::from_millis(4);
        let mut iv = ferrio::interval(period);
        let mut ticks = Vec::new();
        for _ in 0..5 {
            ticks.push(iv.tick().await);
        }
        for w in ticks.windows(2) {
            assert_eq!(w[1] - w[0], period, "Burst keeps the schedule");
        }
        assert!(Instant::now() >= ticks[0] + period * 4);
    });
}

#[test]
fn interval_skip_drops_missed_ticks() {
    ferrio::run(async {
        let period = Duration::from_millis(5);
        let mut iv = ferrio::interval(period);
        iv.set_missed_tick_behavior(ferrio::time::MissedTickBehavior::Skip);
        let first = iv.tick().await;
        // Be late by several periods.
        std::thread::sleep(period * 4);
        let late = iv.tick().await;
        let next = iv.tick().await;
        assert!(late >= first + period);
        assert!(next > late);
        // The ticks missed while asleep are skipped: the next one is the
        // first on the period's grid after the late tick was taken (at
        // least 20 ms in), not first + 2 periods. Scheduled times only, so
        // a slow wake-up cannot fail it.
        assert_eq!(late, first + period);
        assert!(next >= first + period * 5, "no burst of stale ticks");
        assert_eq!((next - first).as_nanos() % period.as_nanos(), 0);
    });
}

#[test]
fn timeout_scope_expires_and_reports() {
    ferrio::run(async {
        let scope = ferrio::timeout(Duration::from_millis(10));
        let r = scope.run(ferrio::sleep(Duration::from_secs(10))).await;
        assert!(r.is_err());
        assert!(scope.expired());
    });
}

#[test]
fn timeout_scope_reschedule_earlier_later_and_none() {
    ferrio::run(async {
        // Later: the body finishes.
        let scope = ferrio::timeout(Duration::from_millis(5));
        let s = scope.clone();
        let r = scope
            .run(async move {
                s.reschedule(Some(Instant::now() + Duration::from_secs(30)));
                ferrio::sleep(Duration::from_millis(20)).await;
                1
            })
            .await;
        assert_eq!(r, Ok(1));
        assert!(!scope.expired());

        // Earlier (in the past): expires at once.
        let scope = ferrio::timeout(Duration::from_secs(30));
        let s = scope.clone();
        let r = scope
            .run(async move {
                s.reschedule(Some(Instant::now() - Duration::from_millis(1)));
                ferrio::sleep(Duration::from_secs(30)).await;
            })
            .await;
        assert!(r.is_err() && scope.expired());

        // None: no limit.
        let scope = ferrio::timeout_at(None);
        assert_eq!(scope.run(async { 2 }).await, Ok(2));
        assert_eq!(scope.deadline(), None);
    });
}

#[test]
fn nested_timeout_scopes_innermost_reports() {
    ferrio::run(async {
        let outer = ferrio::timeout(Duration::from_secs(30));
        let inner = ferrio::timeout(Duration::from_millis(5));
        let inner2 = inner.clone();
        let r = outer
            .run(async move {
                let r = inner2.run(ferrio::sleep(Duration::from_secs(30))).await;
                assert!(r.is_err());
                "outer body carried on"
            })
            .await;
        assert_eq!(r, Ok("outer body carried on"));
        assert!(inner.expired());
        assert!(!outer.expired());
    });
}

#[test]
fn sleep_reset_moves_the_deadline() {
    ferrio::run(async {
        let events = Arc::new(Mutex::new(0));
        let mut s = ferrio::sleep(Duration::from_secs(3600));
        let start = Instant::now();
        for _ in 0..10_000 {
            s.reset(Instant::now() + Duration::from_secs(3600));
            assert!(poll_noop(std::pin::Pin::new(&mut s)).is_pending());
        }
        s.reset(Instant::now() + Duration::from_millis(3));
        s.await;
        *events.lock().unwrap() += 1;
        assert!(start.elapsed() >= Duration::from_millis(3));
    });
}

// Intervals at the edges of time.

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

// Nested timeout scopes that expire together.

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
        let outer = ferrio::timeout(Duration::from_secs(3600));
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
