//! Lock, Semaphore, BoundedSemaphore, Event (behaviours from CPython's
//! test_asyncio/test_locks.py), and what a cancelled waiter of a Condition
//! or a Barrier, or a panicking Promise callback, leaves behind.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::task::Poll;

use super::common::{let_others_run, lock_now, rt, TestWaker};
use ferrio::sync::{Barrier, BoundedSemaphore, Condition, Event, Lock, Promise, Semaphore};

#[test]
fn lock_is_mutually_exclusive_under_contention() {
    let rt = rt(2);
    rt.block_on(async {
        let lock = Arc::new(Lock::new((0u64, false)));
        let tasks: Vec<_> = (0..50)
            .map(|_| {
                let lock = lock.clone();
                ferrio::spawn(async move {
                    for _ in 0..50 {
                        let mut g = lock.lock().await;
                        assert!(!g.1, "two holders at once");
                        g.1 = true;
                        ferrio::yield_now().await;
                        g.0 += 1;
                        g.1 = false;
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(lock.lock().await.0, 2_500);
    });
}

#[test]
fn lock_is_fifo_and_newcomers_do_not_barge() {
    let rt = rt(1);
    rt.block_on(rt.spawn(async {
        let lock = Arc::new(Lock::new(()));
        let order = Arc::new(Mutex::new(Vec::new()));
        let guard = lock.lock().await;
        let mut waiters = Vec::new();
        for i in 0..3 {
            let (lock, order) = (lock.clone(), order.clone());
            waiters.push(ferrio::spawn(async move {
                let _g = lock.lock().await;
                order.lock().unwrap().push(i);
                ferrio::yield_now().await;
            }));
            let_others_run().await;
        }
        drop(guard);
        // The lock went to waiter 0, not to a newcomer.
        assert!(lock.try_lock().is_none());
        for w in waiters {
            w.await.unwrap();
        }
        assert_eq!(*order.lock().unwrap(), vec![0, 1, 2]);
    }))
    .unwrap();
}

#[test]
fn cancelled_lock_waiter_passes_the_lock_on() {
    let rt = rt(1);
    rt.block_on(rt.spawn(async {
        let lock = Arc::new(Lock::new(0));
        let guard = lock.lock().await;
        let l1 = lock.clone();
        let first = ferrio::spawn(async move { *l1.lock().await += 1 });
        let_others_run().await;
        let l2 = lock.clone();
        let second = ferrio::spawn(async move { *l2.lock().await += 10 });
        let_others_run().await;
        assert!(first.cancel());
        drop(guard);
        second.await.unwrap();
        assert_eq!(*lock.lock().await, 10);
        assert!(!lock.locked());
    }))
    .unwrap();
}

#[test]
fn semaphore_fifo_big_request_blocks_small_ones_behind_it() {
    let rt = rt(1);
    rt.block_on(rt.spawn(async {
        let sem = Arc::new(Semaphore::new(2));
        let order = Arc::new(Mutex::new(Vec::new()));
        let held = sem.acquire_many(2).await;
        let (s, o) = (sem.clone(), order.clone());
        let big = ferrio::spawn(async move {
            let _p = s.acquire_many(2).await;
            o.lock().unwrap().push("big");
        });
        let_others_run().await;
        let (s, o) = (sem.clone(), order.clone());
        let small = ferrio::spawn(async move {
            let _p = s.acquire().await;
            o.lock().unwrap().push("small");
        });
        let_others_run().await;
        drop(held);
        big.await.unwrap();
        small.await.unwrap();
        assert_eq!(*order.lock().unwrap(), vec!["big", "small"]);
        assert_eq!(sem.available_permits(), 2);
    }))
    .unwrap();
}

#[test]
fn semaphore_limits_concurrency() {
    let rt = rt(2);
    rt.block_on(async {
        let sem = Arc::new(Semaphore::new(3));
        let inside = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let tasks: Vec<_> = (0..30)
            .map(|_| {
                let (sem, inside) = (sem.clone(), inside.clone());
                ferrio::spawn(async move {
                    let _p = sem.acquire().await;
                    let n = inside.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                    assert!(n <= 3, "{n} inside");
                    ferrio::yield_now().await;
                    inside.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
    });
}

#[test]
fn bounded_semaphore_refuses_extra_releases() {
    ferrio::run(async {
        let sem = BoundedSemaphore::new(2);
        assert!(sem.release().is_err());
        sem.acquire().await.forget();
        assert!(sem.release().is_ok());
        assert_eq!(
            sem.release().unwrap_err().to_string(),
            "BoundedSemaphore released too many times"
        );
    });
}

#[test]
fn event_set_wakes_every_waiter_even_if_cleared_at_once() {
    let rt = rt(1);
    rt.block_on(rt.spawn(async {
        let ev = Arc::new(Event::new());
        let waiters: Vec<_> = (0..10)
            .map(|_| {
                let ev = ev.clone();
                ferrio::spawn(async move { ev.wait().await })
            })
            .collect();
        let_others_run().await;
        ev.set();
        ev.clear();
        for w in waiters {
            w.await.unwrap();
        }
        assert!(!ev.is_set());
        // A new waiter after the clear waits for the next set.
        let e = ev.clone();
        let later = ferrio::spawn(async move { e.wait().await });
        let_others_run().await;
        assert!(!later.is_done());
        ev.set();
        later.await.unwrap();
    }))
    .unwrap();
}

#[test]
fn event_wait_when_set_returns_at_once() {
    ferrio::run(async {
        let ev = Event::new();
        ev.set();
        ev.wait().await;
        ev.set();
        assert!(ev.is_set());
    });
}

#[test]
fn condition_wait_releases_and_reacquires_and_notify_counts() {
    let rt = rt(1);
    rt.block_on(rt.spawn(async {
        let cond = Arc::new(ferrio::sync::Condition::new(0u32));
        let woken = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let (c, w) = (cond.clone(), woken.clone());
                ferrio::spawn(async move {
                    let g = c.lock().await;
                    // wait releases the lock: others can take it meanwhile.
                    let mut g = c.wait(g).await;
                    *g += 1;
                    w.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                })
            })
            .collect();
        let_others_run().await;
        assert!(!cond.locked(), "waiters released the lock");
        cond.notify(2);
        let_others_run().await;
        assert_eq!(woken.load(std::sync::atomic::Ordering::SeqCst), 2);
        cond.notify_all();
        for w in waiters {
            w.await.unwrap();
        }
        assert_eq!(*cond.lock().await, 3);
    }))
    .unwrap();
}

#[test]
fn condition_wait_for_predicate() {
    let rt = rt(2);
    rt.block_on(async {
        let cond = Arc::new(ferrio::sync::Condition::new(Vec::new()));
        let c = cond.clone();
        let consumer = ferrio::spawn(async move {
            let g = c
                .wait_for(c.lock().await, |v: &mut Vec<u8>| v.len() >= 3)
                .await;
            g.clone()
        });
        for i in 0..3 {
            cond.lock().await.push(i);
            cond.notify_all();
            ferrio::yield_now().await;
        }
        assert_eq!(consumer.await.unwrap(), vec![0, 1, 2]);
    });
}

#[test]
fn barrier_rounds_abort_and_reset() {
    let rt = rt(1);
    rt.block_on(rt.spawn(async {
        let b = Arc::new(ferrio::sync::Barrier::new(2));
        // Two rounds in a row.
        for _ in 0..2 {
            let b2 = b.clone();
            let t = ferrio::spawn(async move { b2.wait().await });
            let mine = b.wait().await.unwrap();
            let theirs = t.await.unwrap().unwrap();
            let mut both = [mine, theirs];
            both.sort();
            assert_eq!(both, [0, 1]);
        }
        // Abort breaks waiters and later callers until reset.
        let b2 = b.clone();
        let t = ferrio::spawn(async move { b2.wait().await });
        let_others_run().await;
        assert_eq!(b.n_waiting(), 1);
        b.abort();
        assert!(t.await.unwrap().is_err());
        assert!(b.broken());
        assert!(b.wait().await.is_err());
        b.reset();
        assert!(!b.broken());
        // Reset breaks the current round's waiters.
        let b2 = b.clone();
        let t = ferrio::spawn(async move { b2.wait().await });
        let_others_run().await;
        b.reset();
        assert!(t.await.unwrap().is_err());
        // A cancelled waiter leaves the round.
        let b2 = b.clone();
        let t = ferrio::spawn(async move { b2.wait().await });
        let_others_run().await;
        assert!(t.cancel());
        assert_eq!(b.n_waiting(), 0);
    }))
    .unwrap();
}

#[test]
fn condition_wait_refuses_a_guard_of_another_lock() {
    let rt = rt(1);
    let (outcome, other_still_held) = rt.block_on(async {
        let cond = ferrio::sync::Condition::new(0u32);
        let other = Lock::new(0u32);
        let guard = other.lock().await;
        let outcome = catch_panic(cond.wait(guard)).await.map(drop);
        (outcome, other.locked())
    });
    let message = outcome.expect_err("a guard of another lock must be refused");
    assert!(
        message.contains("belongs to another Lock"),
        "unclear message: {message}"
    );
    // The foreign guard went with the panic: the other lock is free, and
    // this condition's lock was never taken.
    assert!(!other_still_held);
}

/// Polls `fut` to completion, turning a panic into its message.
async fn catch_panic<F: std::future::Future>(fut: F) -> Result<F::Output, String> {
    let mut fut = std::pin::pin!(fut);
    std::future::poll_fn(move |cx| {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| fut.as_mut().poll(cx))) {
            Ok(std::task::Poll::Pending) => std::task::Poll::Pending,
            Ok(std::task::Poll::Ready(v)) => std::task::Poll::Ready(Ok(v)),
            Err(payload) => std::task::Poll::Ready(Err(payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default())),
        }
    })
    .await
}

/// A waiter notified and then cancelled while re-taking the lock passes
/// the notification on.
#[test]
fn condition_passes_on_a_notification_cancelled_while_relocking() {
    let cond = Condition::new(());
    let (w1, w2, wl) = (TestWaker::new(), TestWaker::new(), TestWaker::new());
    let lock_now = || lock_now(&cond, &wl);
    let mut first = Box::pin(cond.wait(lock_now()));
    assert!(w1.poll(first.as_mut()).is_pending());
    let mut second = Box::pin(cond.wait(lock_now()));
    assert!(w2.poll(second.as_mut()).is_pending());
    let held = lock_now();
    cond.notify(1);
    // Notified, but the lock is held: it waits for the lock...
    assert!(w1.poll(first.as_mut()).is_pending());
    // ...and is cancelled there.
    drop(first);
    drop(held);
    assert!(w2.wakes() >= 1, "the next waiter was not woken");
    assert!(
        w2.poll(second.as_mut()).is_ready(),
        "the notification was swallowed"
    );
}

/// A panicking done-callback neither escapes `set_result` nor stops the
/// later callbacks.
#[test]
fn promise_contains_a_panicking_callback() {
    let p = Promise::<u8>::new();
    let ran = Arc::new(AtomicUsize::new(0));
    p.add_done_callback(|_| panic!("callback panics"));
    let r = ran.clone();
    p.add_done_callback(move |p| {
        assert!(p.is_done());
        r.fetch_add(1, SeqCst);
    });
    let out = catch_unwind(AssertUnwindSafe(|| p.set_result(1)));
    assert!(matches!(out, Ok(Ok(()))), "the panic escaped set_result");
    assert_eq!(ran.load(SeqCst), 1, "the later callback did not run");
    // Added after completion: runs at once, contained too.
    let out = catch_unwind(AssertUnwindSafe(|| {
        p.add_done_callback(|_| panic!("late callback panics"))
    }));
    assert!(out.is_ok());
    assert_eq!(p.result(), Ok(1));
}

/// After a cancellation the indices of a round are still 0, 1, ... n-1,
/// each once.
#[test]
fn barrier_indices_after_a_cancellation() {
    let b = Barrier::new(3);
    let w = TestWaker::new();
    let mut a = Box::pin(b.wait()); // arrives first...
    assert!(w.poll(a.as_mut()).is_pending());
    let mut c = Box::pin(b.wait());
    assert!(w.poll(c.as_mut()).is_pending());
    drop(a); // ...and leaves
    let mut d = Box::pin(b.wait());
    assert!(w.poll(d.as_mut()).is_pending());
    let Poll::Ready(Ok(last)) = w.poll(Box::pin(b.wait()).as_mut()) else {
        panic!("the round did not complete")
    };
    let Poll::Ready(Ok(ic)) = w.poll(c.as_mut()) else {
        panic!()
    };
    let Poll::Ready(Ok(id)) = w.poll(d.as_mut()) else {
        panic!()
    };
    let mut idx = vec![ic, id, last];
    idx.sort_unstable();
    assert_eq!(idx, vec![0, 1, 2], "arrival indices of one round");
    // In arrival order among those who stayed.
    assert_eq!((ic, id, last), (0, 1, 2));
}
