//! Cancellation harness for timers: each timer future is polled 1..=k
//! times, then dropped; no timer may stay registered (the workers' wheels
//! and remote queues are counted), no poll may register a second timer,
//! and timers started afterwards still fire in deadline order and never
//! early.

use std::future::{pending, Future};
use std::pin::Pin;
use std::time::{Duration, Instant};

use ferrio::Handle;

use super::common::{poll_once, rt, BOUND, HOUR};

const MAX_POLLS: usize = 4;

type BoxFut = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// A timer future, and how many timers it registers while it waits.
type Op = (&'static str, usize, fn() -> BoxFut);

fn ops() -> Vec<Op> {
    vec![
        ("sleep", 1, || Box::pin(ferrio::sleep(HOUR))),
        ("sleep_until", 1, || {
            Box::pin(ferrio::sleep_until(Instant::now() + HOUR))
        }),
        ("sleep reset", 1, || {
            Box::pin(async {
                let mut s = ferrio::sleep(HOUR);
                // Registered, then moved: the old timer must go.
                let mut s1 = std::pin::pin!(&mut s);
                let _ = poll_once(s1.as_mut()).await;
                s.reset(Instant::now() + 2 * HOUR);
                s.await
            })
        }),
        ("sleep reset after it ended", 1, || {
            Box::pin(async {
                let mut s = ferrio::sleep(Duration::from_millis(1));
                (&mut s).await;
                s.reset(Instant::now() + HOUR);
                s.await
            })
        }),
        ("Interval::reset_at while a tick waits", 1, || {
            Box::pin(async {
                let mut every = ferrio::interval(HOUR);
                every.tick().await;
                let polled =
                    std::future::poll_fn(|cx| std::task::Poll::Ready(every.poll_tick(cx))).await;
                assert!(polled.is_pending());
                every.reset_at(Instant::now() + 2 * HOUR);
                every.tick().await;
            })
        }),
        ("wait_for", 1, || {
            Box::pin(async {
                let _ = ferrio::wait_for(pending::<()>(), HOUR).await;
            })
        }),
        ("timeout scope", 1, || {
            Box::pin(async {
                let _ = ferrio::timeout(HOUR).run(pending::<()>()).await;
            })
        }),
        ("timeout scope rescheduled", 1, || {
            Box::pin(async {
                let scope = ferrio::timeout(HOUR);
                let s = scope.clone();
                let _ = scope
                    .run(async move {
                        s.reschedule(Some(Instant::now() + 2 * HOUR));
                        ferrio::yield_now().await;
                        pending::<()>().await
                    })
                    .await;
            })
        }),
        ("nested timeout scopes", 2, || {
            Box::pin(async {
                let inner = ferrio::timeout(HOUR);
                let _ = ferrio::timeout(2 * HOUR)
                    .run(async move { inner.run(pending::<()>()).await })
                    .await;
            })
        }),
        ("Interval::tick", 1, || {
            Box::pin(async {
                let mut every = ferrio::interval(HOUR);
                every.tick().await;
                every.tick().await;
            })
        }),
    ]
}

fn registered(handle: &Handle) -> usize {
    super::hooks::timers_registered(handle)
}

/// Timers started after the harness fire in deadline order, none early.
/// They are registered together (one `gather` poll) on absolute deadlines
/// 20 ms apart, so the order depends on the wheel, not on when each one
/// happened to be registered.
async fn later_timers_fire_in_order() {
    let start = Instant::now();
    let order = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sleeps = [60u64, 20, 40].map(|ms| {
        let order = order.clone();
        async move {
            let deadline = start + Duration::from_millis(ms);
            ferrio::sleep_until(deadline).await;
            assert!(Instant::now() >= deadline, "{ms} ms woke early");
            order.lock().unwrap().push(ms);
        }
    });
    ferrio::gather(sleeps).await;
    assert_eq!(*order.lock().unwrap(), vec![20, 40, 60]);
}

#[test]
fn timer_futures_dropped_on_their_worker_leave_no_timer_behind() {
    let rt = rt(1);
    rt.block_on(rt.spawn(async {
        let handle = Handle::current();
        for (name, timers, make) in ops() {
            for k in 1..=MAX_POLLS {
                assert_eq!(registered(&handle), 0, "{name}: a timer left from before");
                let mut fut = make();
                for i in 0..k {
                    assert!(
                        poll_once(fut.as_mut()).await.is_pending(),
                        "{name}: poll {i} ended"
                    );
                    assert_eq!(registered(&handle), timers, "{name}: after poll {i} of {k}");
                    ferrio::yield_now().await;
                }
                drop(fut);
                // Dropped on the worker that owns the wheel: removed now.
                assert_eq!(
                    registered(&handle),
                    0,
                    "{name}: polled {k} times, then dropped"
                );
            }
        }
        later_timers_fire_in_order().await;
        assert_eq!(registered(&handle), 0);
    }))
    .unwrap();
}

#[test]
fn timer_futures_dropped_off_the_workers_leave_no_timer_behind() {
    // Polled from block_on (registered through a worker's queue) and
    // dropped there (cancelled through its queue): the owner reclaims the
    // timer once woken for it.
    let rt = rt(2);
    let handle = rt.handle();
    for (name, timers, make) in ops() {
        for k in 1..=MAX_POLLS {
            let mut fut = make();
            rt.block_on(async {
                for i in 0..k {
                    assert!(
                        poll_once(fut.as_mut()).await.is_pending(),
                        "{name}: poll {i} ended"
                    );
                    // The owner moves registrations from its queue into its
                    // wheel in its own time: the count settles there.
                    settles(&handle, timers, &format!("{name}: after poll {i} of {k}"));
                }
            });
            drop(fut);
            settles(
                &handle,
                0,
                &format!("{name}: polled {k} times, then dropped"),
            );
        }
    }
    rt.block_on(later_timers_fire_in_order());
}

/// Waits (bounded) until exactly `n` timers are registered.
fn settles(handle: &Handle, n: usize, what: &str) {
    let deadline = Instant::now() + BOUND;
    while registered(handle) != n {
        assert!(
            Instant::now() < deadline,
            "{what}: {} timer(s) registered, expected {n}",
            registered(handle)
        );
        std::thread::yield_now();
    }
}
