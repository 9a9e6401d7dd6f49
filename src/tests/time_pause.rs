//! Virtual time (feature `test-util`): `time::pause`, `advance`,
//! `resume`, `Builder::start_paused`, and the auto-advance of a paused
//! clock when the runtime has nothing else to do.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ferrio::time::{self, PauseError};

use super::common::{poll_noop, rt, spin_until};
use super::hooks;

fn paused_rt() -> ferrio::Runtime {
    ferrio::Runtime::builder()
        .start_paused(true)
        .build()
        .expect("paused runtime")
}

/// What a paused test may take of the wall clock: far below the virtual
/// times it covers (hours), far above any scheduling hiccup.
const WALL_BOUND: Duration = Duration::from_secs(20);

#[test]
fn an_hour_of_sleep_takes_no_wall_time_and_exactly_an_hour_virtually() {
    let rt = paused_rt();
    assert_eq!(rt.handle().num_workers(), 1);
    let wall = Instant::now();
    let virt = rt.block_on(async {
        let start = time::now();
        ferrio::sleep(Duration::from_secs(3600)).await;
        time::now() - start
    });
    assert_eq!(virt, Duration::from_secs(3600));
    assert!(wall.elapsed() < WALL_BOUND, "took {:?}", wall.elapsed());
}

#[test]
fn timers_fire_in_deadline_order_each_at_its_virtual_deadline() {
    let rt = paused_rt();
    let woke = rt.block_on(async {
        let start = time::now();
        let log = Arc::new(Mutex::new(Vec::new()));
        let tasks: Vec<_> = [50u64, 10, 40, 20, 30, 10_000, 1]
            .into_iter()
            .map(|s| {
                let log = log.clone();
                ferrio::spawn(async move {
                    ferrio::sleep(Duration::from_secs(s)).await;
                    log.lock().unwrap().push((s, time::now() - start));
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        Arc::try_unwrap(log).unwrap().into_inner().unwrap()
    });
    let order: Vec<u64> = woke.iter().map(|(s, _)| *s).collect();
    assert_eq!(order, [1, 10, 20, 30, 40, 50, 10_000]);
    for (s, at) in woke {
        assert_eq!(
            at,
            Duration::from_secs(s),
            "the {s} s sleeper woke at {at:?}"
        );
    }
}

#[test]
fn advance_fires_exactly_the_timers_due_by_then() {
    let rt = paused_rt();
    rt.block_on(async {
        let start = time::now();
        // Deadlines are fixed where the sleeps are made, here.
        let a = ferrio::spawn(ferrio::sleep(Duration::from_secs(30)));
        let b = ferrio::spawn(ferrio::sleep(Duration::from_millis(30_001)));
        time::advance(Duration::from_secs(29)).await;
        assert!(!a.is_done() && !b.is_done());
        assert_eq!(time::now() - start, Duration::from_secs(29));
        time::advance(Duration::from_secs(1)).await;
        a.await.unwrap();
        // b is due a millisecond later: awaiting it lets the clock jump
        // there, and no further.
        b.await.unwrap();
        assert_eq!(time::now() - start, Duration::from_millis(30_001));
        // Advancing with nothing due just moves the clock.
        time::advance(Duration::from_micros(1500)).await;
        assert_eq!(
            time::now() - start,
            Duration::from_millis(30_001) + Duration::from_micros(1500)
        );
    });
}

#[test]
fn advance_from_a_task_on_the_worker_fires_due_timers_before_it_returns() {
    let rt = paused_rt();
    rt.block_on(rt.spawn(async {
        let mut sleep = std::pin::pin!(ferrio::sleep(Duration::from_secs(5)));
        assert!(poll_noop(sleep.as_mut()).is_pending());
        time::advance(Duration::from_secs(5)).await;
        assert!(sleep.is_elapsed());
        assert!(poll_noop(sleep.as_mut()).is_ready());
    }))
    .unwrap();
}

#[test]
fn wait_for_times_out_at_exactly_the_virtual_deadline() {
    let rt = paused_rt();
    rt.block_on(async {
        let start = time::now();
        let r = ferrio::wait_for(std::future::pending::<()>(), Duration::from_millis(1500)).await;
        assert!(r.is_err());
        assert_eq!(time::now() - start, Duration::from_millis(1500));
        // An inner future that finishes first wins, at its own time.
        let r = ferrio::wait_for(
            ferrio::sleep(Duration::from_secs(2)),
            Duration::from_secs(3),
        )
        .await;
        assert!(r.is_ok());
        assert_eq!(time::now() - start, Duration::from_millis(3500));
    });
}

#[test]
fn interval_ticks_every_period_of_virtual_time_and_bursts_after_an_advance() {
    let rt = paused_rt();
    rt.block_on(async {
        let start = time::now();
        let mut every = time::interval(Duration::from_secs(1));
        for k in 0..4u64 {
            let tick = every.tick().await;
            assert_eq!(tick - start, Duration::from_secs(k));
            assert_eq!(time::now() - start, Duration::from_secs(k));
        }
        // Skip ahead 3.5 periods: the missed ticks come at once (Burst).
        time::advance(Duration::from_millis(3500)).await;
        for k in 4..7u64 {
            assert_eq!(every.tick().await - start, Duration::from_secs(k));
            assert_eq!(time::now() - start, Duration::from_millis(6500));
        }
        assert_eq!(every.tick().await - start, Duration::from_secs(7));
        assert_eq!(time::now() - start, Duration::from_secs(7));
    });
}

#[test]
fn pause_needs_one_worker_and_says_so() {
    let rt2 = rt(2);
    rt2.block_on(async {
        assert_eq!(time::try_pause(), Err(PauseError::SeveralWorkers(2)));
    });
    assert_eq!(time::try_pause(), Err(PauseError::NoRuntime));
    let err = ferrio::Runtime::builder()
        .worker_threads(2)
        .start_paused(true)
        .build()
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert!(err.to_string().starts_with("ferrio: start_paused"), "{err}");
    let rt1 = rt(1);
    rt1.block_on(async {
        time::pause();
        assert_eq!(time::try_pause(), Err(PauseError::AlreadyPaused));
        time::resume();
        let caught = ferrio::spawn(async { time::resume() }).await;
        assert!(caught.is_err(), "resume of a running clock panics");
    });
}

#[test]
fn pause_mid_run_then_resume_runs_on_from_the_virtual_time() {
    let rt = rt(1);
    rt.block_on(async {
        time::pause();
        let paused_at = time::now();
        ferrio::sleep(Duration::from_secs(600)).await;
        assert_eq!(time::now() - paused_at, Duration::from_secs(600));
        time::resume();
        // Real time again, counted from the virtual time: a short sleep
        // takes (at least) its real length.
        let wall = Instant::now();
        let t = time::now();
        ferrio::sleep(Duration::from_millis(20)).await;
        assert!(wall.elapsed() >= Duration::from_millis(20));
        assert!(time::now() - t >= Duration::from_millis(20));
        assert!(time::now() - paused_at >= Duration::from_secs(600));
    });
}

#[test]
fn a_blocking_job_in_flight_holds_the_clock_back() {
    let rt = paused_rt();
    rt.block_on(async {
        let start = time::now();
        // The job takes real time; a clock that jumped during it would
        // make the 10 s timeout fire first.
        let job = ferrio::to_thread(|| {
            std::thread::sleep(Duration::from_millis(50));
            7
        });
        let r = ferrio::wait_for(job, Duration::from_secs(10)).await;
        assert_eq!(r.unwrap().unwrap(), 7);
        assert!(time::now() - start < Duration::from_secs(10));
    });
}

#[test]
fn the_block_on_thread_holds_the_clock_while_it_runs() {
    let rt = paused_rt();
    let h = rt.handle().clone();
    rt.block_on(async move {
        let start = time::now();
        let far = ferrio::spawn(ferrio::sleep(Duration::from_secs(100)));
        spin_until("the far timer is in the wheel", || {
            hooks::timers_registered(&h) == 1
        });
        // Busy on this thread (not awaiting): the idle worker must not
        // jump to the 100 s timer meanwhile. The pause only widens the
        // window in which a worker without the hold would jump.
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(time::now(), start);
        ferrio::sleep(Duration::from_secs(1)).await;
        assert_eq!(time::now() - start, Duration::from_secs(1));
        assert!(!far.is_done());
        far.await.unwrap();
        assert_eq!(time::now() - start, Duration::from_secs(100));
    });
}

#[test]
fn a_dropped_sleep_leaves_no_timer_for_the_clock_to_jump_to() {
    let rt = paused_rt();
    let h = rt.handle().clone();
    rt.block_on(async move {
        let start = time::now();
        let mut s = Box::pin(ferrio::sleep(Duration::from_secs(3600)));
        assert!(ferrio::wait_for(s.as_mut(), Duration::from_millis(1))
            .await
            .is_err());
        assert_eq!(time::now() - start, Duration::from_millis(1));
        drop(s);
        ferrio::sleep(Duration::from_secs(2)).await;
        assert_eq!(time::now() - start, Duration::from_millis(2001));
        assert_eq!(hooks::timers_registered(&h), 0);
    });
}

#[test]
fn another_runtime_keeps_real_time_while_one_is_paused() {
    let paused = paused_rt();
    let real = rt(1);
    paused.block_on(async {
        ferrio::sleep(Duration::from_secs(7200)).await;
    });
    real.block_on(async {
        let a = Instant::now();
        let t = time::now();
        let b = Instant::now();
        assert!(a <= t && t <= b);
        let wall = Instant::now();
        ferrio::sleep(Duration::from_millis(10)).await;
        assert!(wall.elapsed() >= Duration::from_millis(10));
    });
}

#[test]
fn sleeps_past_the_wheels_first_rotation_end_at_their_deadlines() {
    // The wheel spans 64^6 ms (about 2.2 years) per rotation: a sleep of
    // three years waits in its overflow list, and once the clock is past
    // the first rotation a short sleep still takes exactly its time.
    let (three_years, then_short) = super::common::within("sleeps past a rotation", || {
        let rt = paused_rt();
        rt.block_on(rt.spawn(async {
            let year = Duration::from_secs(365 * 86_400);
            let start = time::now();
            ferrio::sleep(3 * year).await;
            let three_years = time::now() - start;
            let start = time::now();
            ferrio::sleep(Duration::from_millis(5)).await;
            (three_years, time::now() - start)
        }))
        .unwrap()
    });
    assert_eq!(three_years, Duration::from_secs(3 * 365 * 86_400));
    assert_eq!(then_short, Duration::from_millis(5));
}
