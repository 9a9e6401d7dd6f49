//! Moving timers: `Sleep::reset` (earlier, later, into the past, after the
//! sleep ended; on the worker that owns the timer and off the workers),
//! `interval_at` and the `Interval` resets. A reset sleep that was polled
//! wakes its task at the new deadline with no poll in between; the timer
//! counts show the old timer gone.
//!
//! Timing: deadlines are checked as "never early" (exact); "on time" is
//! only bounded by `BOUND` (a hang, not latency).

use std::future::Future;
use std::pin::{pin, Pin};
use std::task::Poll;
use std::time::{Duration, Instant};

use ferrio::Handle;

use super::common::{poll_once, rt, BOUND, HOUR};
use super::hooks::timers_registered;

const SHORT: Duration = Duration::from_millis(20);

/// Waits until the task is woken at or after `deadline`, registering no
/// waker of its own: only a timer that already holds the task's waker
/// (the reset sleep's) can end it. Fails after `BOUND`.
async fn woken_at(deadline: Instant, what: &str) {
    let wait = std::future::poll_fn(|_| {
        if Instant::now() >= deadline {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    });
    assert!(
        ferrio::wait_for(wait, BOUND).await.is_ok(),
        "{what}: the task was not woken at the new deadline"
    );
}

/// Waits (bounded) until exactly `n` timers are registered: timers
/// registered or cancelled off the workers settle in the owner's time.
fn settles(handle: &Handle, n: usize, what: &str) {
    let deadline = Instant::now() + BOUND;
    while timers_registered(handle) != n {
        assert!(
            Instant::now() < deadline,
            "{what}: {} timer(s) registered, expected {n}",
            timers_registered(handle)
        );
        std::thread::yield_now();
    }
}

/// A sleep of an hour, polled once (so its timer is in a wheel), reset to
/// `SHORT` from now without another poll: the task is woken then.
async fn reset_earlier_wakes(handle: &Handle, on_worker: bool) {
    let mut s = pin!(ferrio::sleep(HOUR));
    assert!(poll_once(s.as_mut()).await.is_pending());
    let start = Instant::now();
    let deadline = start + SHORT;
    s.as_mut().reset(deadline);
    assert_eq!(s.deadline(), deadline);
    assert!(!s.is_elapsed());
    if on_worker {
        // Moved in the owner's wheel: still one timer, at once.
        assert_eq!(timers_registered(handle), 1);
    }
    woken_at(deadline, "reset earlier").await;
    assert!(poll_once(s.as_mut()).await.is_ready());
    assert!(Instant::now() >= deadline, "woke early");
}

#[test]
fn a_polled_sleep_reset_earlier_wakes_its_task_on_the_owning_worker() {
    let rt = rt(1);
    rt.block_on(rt.spawn(async {
        let handle = Handle::current();
        reset_earlier_wakes(&handle, true).await;
        assert_eq!(timers_registered(&handle), 0);
    }))
    .unwrap();
}

#[test]
fn a_polled_sleep_reset_earlier_wakes_its_task_off_the_workers() {
    // Polled and reset on the block_on thread: registered, cancelled and
    // registered again through a worker's queues.
    let rt = rt(2);
    let handle = rt.handle();
    rt.block_on(reset_earlier_wakes(&handle, false));
    settles(&handle, 0, "after the reset sleep ended");
}

#[test]
fn a_sleep_moved_to_another_worker_is_reset_through_its_owners_queue() {
    // Polled on one task's worker, reset and awaited from the block_on
    // thread: the first timer is cancelled through its owner's queue.
    let rt = rt(2);
    let handle = rt.handle();
    let mut s = Box::pin(ferrio::sleep(HOUR));
    // Handed back in a tuple: a task returning a bare future would look
    // like a forgotten `.await`.
    let polled = rt.block_on(rt.spawn(async move {
        assert!(poll_once(s.as_mut()).await.is_pending());
        (s,)
    }));
    let (mut s,) = polled.unwrap();
    settles(&handle, 1, "polled on a worker");
    rt.block_on(async {
        let deadline = Instant::now() + SHORT;
        s.as_mut().reset(deadline);
        // The old timer goes, the new one comes: one in all.
        settles(&handle, 1, "after the reset");
        s.as_mut().await;
        assert!(Instant::now() >= deadline, "woke early");
    });
    settles(&handle, 0, "after the sleep ended");
}

#[test]
fn a_sleep_reset_into_the_past_completes_at_the_next_poll() {
    let rt = rt(1);
    rt.block_on(rt.spawn(async {
        let handle = Handle::current();
        let mut s = pin!(ferrio::sleep(HOUR));
        assert!(poll_once(s.as_mut()).await.is_pending());
        assert_eq!(timers_registered(&handle), 1);
        let past = Instant::now() - Duration::from_secs(1);
        s.as_mut().reset(past);
        assert!(s.is_elapsed());
        // No timer is needed for a deadline that has passed.
        assert_eq!(timers_registered(&handle), 0);
        // The task is woken by the reset itself.
        woken_at(past, "reset into the past").await;
        assert!(poll_once(s.as_mut()).await.is_ready());
    }))
    .unwrap();
}

#[test]
fn a_sleep_reset_later_keeps_one_timer_and_waits_for_the_new_deadline() {
    let rt = rt(1);
    rt.block_on(rt.spawn(async {
        let handle = Handle::current();
        let start = Instant::now();
        let mut s = pin!(ferrio::sleep(SHORT));
        assert!(poll_once(s.as_mut()).await.is_pending());
        let later = start + 4 * SHORT;
        s.as_mut().reset(later);
        assert_eq!(timers_registered(&handle), 1, "the old timer stayed");
        s.as_mut().await;
        assert!(Instant::now() >= later, "ended at the old deadline");
        assert_eq!(timers_registered(&handle), 0);
    }))
    .unwrap();
}

#[test]
fn an_ended_sleep_reset_waits_again() {
    let rt = rt(1);
    rt.block_on(rt.spawn(async {
        let handle = Handle::current();
        let mut s = pin!(ferrio::sleep(Duration::from_millis(1)));
        s.as_mut().await;
        assert!(s.is_elapsed());
        let deadline = Instant::now() + SHORT;
        s.as_mut().reset(deadline);
        assert!(!s.is_elapsed(), "re-armed");
        assert!(poll_once(s.as_mut()).await.is_pending());
        assert_eq!(timers_registered(&handle), 1);
        s.as_mut().await;
        assert!(Instant::now() >= deadline, "woke early");
        assert_eq!(timers_registered(&handle), 0);
    }))
    .unwrap();
}

#[test]
fn resets_in_a_loop_leave_one_timer_on_and_off_the_workers() {
    let rt = rt(2);
    let handle = rt.handle();
    rt.block_on(rt.spawn(async {
        let mut s = pin!(ferrio::sleep(HOUR));
        for i in 0..10_000u32 {
            assert!(poll_once(s.as_mut()).await.is_pending());
            s.as_mut()
                .reset(Instant::now() + HOUR + Duration::from_millis(u64::from(i % 7)));
            if i % 1000 == 0 {
                // Yields may move the task: through the queues then.
                ferrio::yield_now().await;
            }
        }
    }))
    .unwrap();
    settles(&handle, 0, "after the looped sleep was dropped on a worker");
    rt.block_on(async {
        let mut s = pin!(ferrio::sleep(HOUR));
        for _ in 0..2_000 {
            assert!(poll_once(s.as_mut()).await.is_pending());
            s.as_mut().reset(Instant::now() + HOUR);
        }
        settles(&handle, 1, "resets off the workers");
    });
    settles(
        &handle,
        0,
        "after the looped sleep was dropped off the workers",
    );
}

#[test]
fn interval_at_first_ticks_at_its_start() {
    use ferrio::time::{interval_at, MissedTickBehavior};
    let rt = rt(1);
    rt.block_on(async {
        let start = Instant::now() + SHORT;
        let mut every = interval_at(start, SHORT);
        assert_eq!(every.missed_tick_behavior(), MissedTickBehavior::Burst);
        assert_eq!(every.tick().await, start);
        assert!(Instant::now() >= start, "the first tick came early");
        assert_eq!(every.tick().await, start + SHORT);
        assert!(Instant::now() >= start + SHORT);

        // A start in the past: the first tick at once, then the schedule
        // (Burst: the missed ticks back to back).
        let past = Instant::now() - 3 * HOUR;
        let mut every = interval_at(past, HOUR);
        assert_eq!(every.tick().await, past);
        assert_eq!(every.tick().await, past + HOUR);
        assert_eq!(every.tick().await, past + 2 * HOUR);
    });
}

#[test]
fn an_intervals_first_tick_due_at_creation_is_ready_at_its_first_poll() {
    use ferrio::time::interval_at;
    let rt = rt(1);
    rt.block_on(rt.spawn(async {
        let handle = Handle::current();
        // A start of now may lie ahead of the wheel's last step: the first
        // tick still completes at its first poll, with no timer.
        let start = Instant::now();
        let mut intervals = [ferrio::interval(HOUR), interval_at(start, HOUR)];
        for every in &mut intervals {
            assert!(poll_once(pin!(every.tick())).await.is_ready());
        }
        assert_eq!(timers_registered(&handle), 0);
        // The next ticks are an hour away: each waits on a timer.
        for every in &mut intervals {
            assert!(poll_once(pin!(every.tick())).await.is_pending());
        }
        assert_eq!(timers_registered(&handle), 2);
    }))
    .unwrap();
}

#[test]
#[should_panic(expected = "the period must be non-zero")]
fn interval_at_refuses_a_zero_period() {
    let _ = ferrio::time::interval_at(Instant::now(), Duration::ZERO);
}

#[test]
fn interval_resets_move_the_schedule() {
    let rt = rt(1);
    rt.block_on(rt.spawn(async {
        let handle = Handle::current();
        // reset: one period from now.
        let mut every = ferrio::interval(2 * SHORT);
        every.tick().await;
        let before = Instant::now();
        every.reset();
        let tick = every.tick().await;
        assert!(tick >= before + 2 * SHORT, "{:?}", tick - before);
        assert!(Instant::now() >= tick);

        // reset_immediately: a tick now, then a period apart.
        let mut every = ferrio::interval(HOUR);
        every.tick().await;
        let before = Instant::now();
        every.reset_immediately();
        let tick = ferrio::wait_for(every.tick(), BOUND).await.unwrap();
        assert!(tick >= before && tick <= Instant::now());

        // reset_at / reset_after: the next tick there, then a period apart.
        let mut every = ferrio::interval(SHORT);
        every.tick().await;
        let at = Instant::now() + 2 * SHORT;
        every.reset_at(at);
        assert_eq!(every.tick().await, at);
        assert_eq!(every.tick().await, at + SHORT);
        let before = Instant::now();
        every.reset_after(2 * SHORT);
        assert!(every.tick().await >= before + 2 * SHORT);
        assert_eq!(timers_registered(&handle), 0);
    }))
    .unwrap();
}

#[test]
fn an_interval_reset_while_its_tick_waits_wakes_the_task_at_the_new_time() {
    let rt = rt(1);
    rt.block_on(rt.spawn(async {
        let handle = Handle::current();
        let mut every = ferrio::interval(HOUR);
        every.tick().await;
        // The next tick (an hour away) polled: its timer is in the wheel.
        let polled = std::future::poll_fn(|cx| Poll::Ready(every.poll_tick(cx))).await;
        assert!(polled.is_pending());
        assert_eq!(timers_registered(&handle), 1);
        let at = Instant::now() + SHORT;
        every.reset_at(at);
        assert_eq!(timers_registered(&handle), 1);
        woken_at(at, "Interval::reset_at").await;
        let tick = std::future::poll_fn(|cx| Poll::Ready(every.poll_tick(cx))).await;
        assert_eq!(tick, Poll::Ready(at));
        drop(every);
        assert_eq!(timers_registered(&handle), 0);
    }))
    .unwrap();
}

/// `Sleep` stays `Unpin`: it is reset through `&mut` and through a pin.
#[test]
fn sleep_resets_through_a_pin_and_a_reference() {
    fn unpin<T: Unpin>(_: &T) {}
    let s = ferrio::sleep(HOUR);
    unpin(&s);
    let rt = rt(1);
    rt.block_on(async {
        let mut s = s;
        let at = Instant::now() + SHORT;
        s.reset(at);
        let mut pinned: Pin<&mut ferrio::Sleep> = Pin::new(&mut s);
        pinned.as_mut().reset(at + SHORT);
        assert_eq!(pinned.deadline(), at + SHORT);
        let ended = ferrio::wait_for(pinned.as_mut(), BOUND).await;
        assert!(ended.is_ok());
        assert!(Instant::now() >= at + SHORT);
        let _: &dyn Future<Output = ()> = &s;
    });
}

/// Counts the wakes of the waker made from it.
struct WakeCount(std::sync::atomic::AtomicUsize);

impl std::task::Wake for WakeCount {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

#[test]
fn a_sleep_dropped_on_a_plain_thread_never_wakes_its_task() {
    // Polled on a worker (its timer in that worker's wheel, which keeps no
    // reference to the runtime in the sleep), dropped on a thread outside
    // the runtime: the timer is cancelled where it stands and leaves the
    // wheel at its deadline without waking anyone.
    let rt = rt(1);
    let handle = rt.handle();
    let wakes = std::sync::Arc::new(WakeCount(Default::default()));
    let waker = std::task::Waker::from(wakes.clone());
    let polled = rt.block_on(rt.spawn(async move {
        let mut s = Box::pin(ferrio::sleep(SHORT));
        let mut cx = std::task::Context::from_waker(&waker);
        assert!(s.as_mut().poll(&mut cx).is_pending());
        (s,)
    }));
    let (s,) = polled.unwrap();
    settles(&handle, 1, "polled on a worker");
    std::thread::spawn(move || drop(s)).join().unwrap();
    // The worker's wheel passes the cancelled timer's deadline.
    rt.block_on(rt.spawn(ferrio::sleep(SHORT * 2))).unwrap();
    settles(&handle, 0, "after its deadline");
    assert_eq!(wakes.0.load(std::sync::atomic::Ordering::SeqCst), 0);
}

#[test]
fn a_sleep_reset_on_a_plain_thread_ends_at_the_new_deadline() {
    // Awaited by a task, reset from a thread outside the runtime: the
    // task is woken, and its next poll registers the new deadline.
    let rt = rt(1);
    let sleep = std::sync::Arc::new(std::sync::Mutex::new(Box::pin(ferrio::sleep(HOUR))));
    let (polled_tx, polled_rx) = std::sync::mpsc::channel();
    let task = rt.spawn({
        let sleep = sleep.clone();
        async move {
            let mut first = true;
            std::future::poll_fn(|cx| {
                let out = sleep.lock().unwrap().as_mut().poll(cx);
                if std::mem::take(&mut first) {
                    polled_tx.send(()).unwrap();
                }
                out
            })
            .await;
            Instant::now()
        }
    });
    polled_rx.recv_timeout(BOUND).unwrap();
    let deadline = std::thread::spawn(move || {
        let deadline = Instant::now() + SHORT;
        sleep.lock().unwrap().as_mut().reset(deadline);
        deadline
    })
    .join()
    .unwrap();
    let ended = rt
        .block_on(ferrio::wait_for(task, BOUND))
        .expect("the reset sleep did not end")
        .unwrap();
    assert!(ended >= deadline, "woke early");
}
