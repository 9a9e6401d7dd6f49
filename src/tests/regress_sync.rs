//! Regression tests for the sync defects of issue 14 (numbers from the
//! issue). Each one failed on the code before its fix. Defect 1 (`LockGuard`
//! `Sync` for a `!Sync` value) is a compile-time property: its test is the
//! `compile_fail` example on `LockGuard`, with the positive assertions in
//! `auto_traits.rs`.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use super::common::TestWaker;
use super::common::{rt, Job};
use ferrio::sync::{Barrier, Condition, PriorityQueue, Promise, Queue, QueueError};

/// Defect 3: maxsize 1, two producers waiting. The consumer takes an item
/// (the slot is reserved for P1), then waits on the empty queue; P1's item
/// reaches it; P2 must still be let in.
#[test]
fn issue14_3_queue_admits_the_second_waiting_producer() {
    let q = Queue::new(1);
    q.put_nowait(0u32).unwrap();
    let (w1, w2, wg) = (TestWaker::new(), TestWaker::new(), TestWaker::new());
    let mut p1 = Box::pin(q.put(1));
    let mut p2 = Box::pin(q.put(2));
    assert!(w1.poll(p1.as_mut()).is_pending());
    assert!(w2.poll(p2.as_mut()).is_pending());
    assert_eq!(q.get_nowait(), Ok(0)); // room: reserved for P1
    let mut g = Box::pin(q.get());
    assert!(wg.poll(g.as_mut()).is_pending());
    assert!(w1.wakes() >= 1);
    assert!(w1.poll(p1.as_mut()).is_ready());
    assert!(wg.wakes() >= 1);
    assert_eq!(wg.poll(g.as_mut()), Poll::Ready(Ok(1)));
    // The queue is empty: P2 must have been let in.
    assert!(q.empty());
    assert!(w2.wakes() >= 1, "second producer never woken");
    assert!(
        w2.poll(p2.as_mut()).is_ready(),
        "second producer still waits"
    );
    assert_eq!(q.get_nowait(), Ok(2));
}

/// Defect 3 on a real runtime: 1 consumer, 2 producers, maxsize 1. The
/// timeout only bounds the hang the old code had; it is no synchronisation.
#[test]
fn issue14_3_one_consumer_two_producers_finish() {
    let rt = rt(2);
    let out = rt.block_on(ferrio::wait_for(
        async {
            let q = Arc::new(Queue::new(1));
            let producers: Vec<_> = (0..2u32)
                .map(|p| {
                    let q = q.clone();
                    ferrio::spawn(async move {
                        for i in 0..1000 {
                            q.put(p * 1000 + i).await.unwrap();
                        }
                    })
                })
                .collect();
            let mut got = Vec::new();
            for _ in 0..2000 {
                got.push(q.get().await.unwrap());
            }
            for p in producers {
                p.await.unwrap();
            }
            got.sort_unstable();
            got
        },
        Duration::from_secs(30),
    ));
    assert_eq!(out.expect("queue hung"), (0..2000).collect::<Vec<u32>>());
}

/// Defect 8: a waiter notified and then cancelled while re-taking the lock
/// passes the notification on.
#[test]
fn issue14_8_condition_passes_on_a_notification_cancelled_while_relocking() {
    let cond = Condition::new(());
    let (w1, w2, wl) = (TestWaker::new(), TestWaker::new(), TestWaker::new());
    let lock_now = || {
        let mut f = Box::pin(cond.lock());
        match wl.poll(f.as_mut()) {
            Poll::Ready(g) => g,
            Poll::Pending => panic!("lock not free"),
        }
    };
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

/// Defect 13: a dropped `join` leaves no waker behind, and re-polling a
/// waiting `join` does not pile up clones.
#[test]
fn issue14_13_queue_join_leaves_no_waker_clones() {
    let q = Queue::new(0);
    q.put_nowait(1u8).unwrap();
    let w = TestWaker::new();
    for _ in 0..100 {
        let mut j = Box::pin(q.join());
        assert!(w.poll(j.as_mut()).is_pending());
    }
    assert_eq!(w.outstanding(), 0, "cancelled joins keep their wakers");
    let mut j = Box::pin(q.join());
    for _ in 0..100 {
        assert!(w.poll(j.as_mut()).is_pending());
    }
    assert_eq!(
        w.outstanding(),
        1,
        "every poll of a join stores another clone"
    );
    q.get_nowait().unwrap();
    q.task_done().unwrap();
    assert_eq!(w.wakes(), 1);
    assert!(w.poll(j.as_mut()).is_ready());
    assert_eq!(w.outstanding(), 0);
}

/// Defect 15: equal items keep insertion order after a cancelled `get`.
#[test]
fn issue14_15_priority_queue_keeps_order_after_cancelled_get() {
    let q = PriorityQueue::new(0);
    let w = TestWaker::new();
    let mut g = Box::pin(q.get());
    assert!(w.poll(g.as_mut()).is_pending());
    q.put_nowait(Job(1, "first")).unwrap(); // goes to the waiting get
    q.put_nowait(Job(1, "second")).unwrap();
    drop(g);
    assert_eq!(q.get_nowait(), Ok(Job(1, "first")));
    assert_eq!(q.get_nowait(), Ok(Job(1, "second")));
}

/// Defect 16: a cancelled `get` whose item was handed over does not push
/// the queue past maxsize...
#[test]
fn issue14_16_cancelled_get_never_overfills_the_queue() {
    let q = Queue::new(1);
    let w = TestWaker::new();
    let mut g = Box::pin(q.get());
    assert!(w.poll(g.as_mut()).is_pending());
    q.put_nowait(1u8).unwrap(); // for the waiting get
    let second = q.put_nowait(2);
    drop(g);
    assert!(q.qsize() <= q.maxsize(), "qsize {} > maxsize 1", q.qsize());
    let mut got = vec![q.get_nowait().unwrap()];
    if second.is_ok() {
        got.push(q.get_nowait().unwrap());
    }
    assert_eq!(got[0], 1);
}

/// ...and its item does not come back after `shutdown(immediate)`.
#[test]
fn issue14_16_item_of_cancelled_get_stays_dropped_after_immediate_shutdown() {
    let q = Queue::new(1);
    let w = TestWaker::new();
    let mut g = Box::pin(q.get());
    assert!(w.poll(g.as_mut()).is_pending());
    q.put_nowait(1u8).unwrap();
    q.shutdown(true);
    drop(g);
    assert_eq!(q.get_nowait(), Err(QueueError::ShutDown));
    assert_eq!(q.qsize(), 0);
    // The dropped item counts as done: join does not wait for it.
    let mut j = Box::pin(q.join());
    assert!(w.poll(j.as_mut()).is_ready());
}

/// Defect 17: a panicking done-callback neither escapes `set_result` nor
/// stops the later callbacks.
#[test]
fn issue14_17_promise_contains_a_panicking_callback() {
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

/// Defect 18: after a cancellation the indices of a round are still 0, 1,
/// ... n-1, each once.
#[test]
fn issue14_18_barrier_indices_after_a_cancellation() {
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
