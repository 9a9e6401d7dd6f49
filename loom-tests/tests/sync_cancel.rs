//! Loom models of waiter cancellation in the sync primitives, on ferrio's
//! shipped types (their mutexes and atomics come from the shim,
//! `src/loom.rs`): a notified `Condition` waiter cancelled while it
//! re-takes the lock, a `Barrier` waiter cancelled while others arrive, a
//! bounded `Queue` put cancelled while the consumer frees a slot, two
//! producers waiting on a full queue, and a cancelled `Queue::join`.
#![cfg(ferrio_loom)]

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Wake, Waker};

use ferrio::sync::{Barrier, Condition, LockGuard, Queue};
use loom::future::block_on;
use loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use loom::sync::Arc;
use loom::thread;

fn poll_once<F: Future + ?Sized>(f: Pin<&mut F>, waker: &Waker) -> Poll<F::Output> {
    f.poll(&mut Context::from_waker(waker))
}

/// Takes the lock of `cond`, which must be free.
fn lock_now<T>(cond: &Condition<T>) -> LockGuard<'_, T> {
    let mut f = Box::pin(cond.lock());
    match poll_once(f.as_mut(), Waker::noop()) {
        Poll::Ready(g) => g,
        Poll::Pending => panic!("the lock is free"),
    }
}

/// Issue 14, defect 8: `notify(1)` with two waiters while the first is
/// polled once more on another thread and then cancelled, possibly after
/// it was notified and while it waits to re-take the lock the notifier
/// holds. Exactly one waiter must get the notification: the first (it
/// returned) or the second. (On the old code this fails with a single
/// preemption: notifier takes the lock and notifies, the first waiter is
/// polled and dropped, the lock is released.)
#[test]
fn condition_notification_survives_a_cancelled_waiter() {
    loom::model(|| {
        let cond = Arc::new(Condition::new(0u32));
        let mut first = {
            let cond = cond.clone();
            Box::pin(async move {
                let g = cond.lock().await;
                drop(cond.wait(g).await);
            })
        };
        assert!(poll_once(first.as_mut(), Waker::noop()).is_pending());
        let mut second = Box::pin(cond.wait(lock_now(&cond)));
        assert!(poll_once(second.as_mut(), Waker::noop()).is_pending());

        let canceller = thread::spawn(move || {
            let done = poll_once(first.as_mut(), Waker::noop()).is_ready();
            drop(first); // cancelled wherever it stands
            done
        });
        block_on(async {
            let mut g = cond.lock().await;
            *g += 1;
            cond.notify(1);
        });
        let first_done = canceller.join().unwrap();

        let second_done = poll_once(second.as_mut(), Waker::noop()).is_ready();
        assert!(
            first_done != second_done,
            "notify(1) reached {} waiters",
            u8::from(first_done) + u8::from(second_done)
        );
    });
}

/// Issue 14, defect 18: three parties; one waiter is cancelled while the
/// others arrive. Indices seen in a round are distinct and in 0..3, and a
/// full round (the cancelled waiter not in it) sees 0, 1 and 2.
#[test]
fn barrier_cancelled_waiter_leaves_the_round_cleanly() {
    loom::model(|| {
        let barrier = Arc::new(Barrier::new(3));
        let finished = Arc::new(AtomicUsize::new(0));
        let others: Vec<_> = (0..2)
            .map(|_| {
                let (b, finished) = (barrier.clone(), finished.clone());
                thread::spawn(move || {
                    let idx = block_on(b.wait()).unwrap();
                    finished.fetch_add(1, SeqCst);
                    idx
                })
            })
            .collect();
        let mut idx = Vec::new();
        let mut cancelled = Box::pin(barrier.wait());
        if let Poll::Ready(r) = poll_once(cancelled.as_mut(), Waker::noop()) {
            // The round was already full but for us.
            idx.push(r.unwrap());
        } else {
            drop(cancelled);
            // Arrive again; if the round went on with the cancelled waiter
            // in it, nobody is left to complete ours: stop once both others
            // returned.
            let mut again = Box::pin(barrier.wait());
            loop {
                if let Poll::Ready(r) = poll_once(again.as_mut(), Waker::noop()) {
                    idx.push(r.unwrap());
                    break;
                }
                if finished.load(SeqCst) == 2 {
                    break;
                }
                thread::yield_now();
            }
        }
        for t in others {
            idx.push(t.join().unwrap());
        }
        idx.sort_unstable();
        let full_round = idx.len() == 3;
        idx.dedup();
        assert!(idx.iter().all(|&i| i < 3), "indices {idx:?}");
        if full_round {
            assert_eq!(idx, vec![0, 1, 2], "a full round repeats an index");
        } else {
            assert_eq!(idx.len(), 2, "two survivors share an index");
        }
    });
}

/// A bounded put cancelled while the consumer frees slots: the slot
/// reserved for it (if any) goes to the other producer; every item put is
/// got once; nobody hangs.
#[test]
fn bounded_queue_cancelled_put_passes_its_slot_on() {
    loom::model(|| {
        let q = Arc::new(Queue::new(1));
        q.put_nowait(0u8).unwrap();
        let producer = {
            let q = q.clone();
            thread::spawn(move || block_on(q.put(1)).unwrap())
        };
        let consumer = {
            let q = q.clone();
            thread::spawn(move || block_on(async { [q.get().await, q.get().await] }))
        };
        let mut put = Box::pin(q.put(2));
        let inserted = poll_once(put.as_mut(), Waker::noop()).is_ready();
        drop(put);
        producer.join().unwrap();
        let mut got: Vec<u8> = consumer
            .join()
            .unwrap()
            .into_iter()
            .map(|r| r.unwrap())
            .collect();
        while let Ok(v) = q.get_nowait() {
            got.push(v);
        }
        got.sort_unstable();
        let expected = if inserted { vec![0, 1, 2] } else { vec![0, 1] };
        assert_eq!(got, expected);
    });
}

/// Issue 14, defect 3: maxsize 1, two producers waiting, one consumer
/// taking three items. The old code left the second producer waiting on an
/// empty queue (a deadlock here).
#[test]
fn queue_two_waiting_producers_both_get_in() {
    loom::model(|| {
        let q = Arc::new(Queue::new(1));
        q.put_nowait(0u8).unwrap();
        let producers: Vec<_> = [1u8, 2]
            .into_iter()
            .map(|v| {
                let q = q.clone();
                thread::spawn(move || block_on(q.put(v)).unwrap())
            })
            .collect();
        let mut got: Vec<u8> = (0..3).map(|_| block_on(q.get()).unwrap()).collect();
        for p in producers {
            p.join().unwrap();
        }
        got.sort_unstable();
        assert_eq!(got, vec![0, 1, 2]);
        assert!(q.empty());
    });
}

struct CountingWake(std::sync::atomic::AtomicUsize);

impl Wake for CountingWake {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Issue 14, defect 13: a `join` cancelled while `task_done`s run leaves
/// no waker behind, even while items are still unfinished, and a `join`
/// waiting meanwhile returns once all are done.
#[test]
fn cancelled_queue_join_leaves_no_waker() {
    loom::model(|| {
        let q = Arc::new(Queue::new(0));
        q.put_nowait(1u8).unwrap();
        q.put_nowait(2u8).unwrap();
        let joiner = {
            let q = q.clone();
            thread::spawn(move || block_on(q.join()))
        };
        let counter = std::sync::Arc::new(CountingWake(Default::default()));
        let canceller = {
            let (q, counter) = (q.clone(), counter.clone());
            thread::spawn(move || {
                let waker = Waker::from(counter);
                let mut join = Box::pin(q.join());
                if poll_once(join.as_mut(), &waker).is_pending() {
                    let _ = poll_once(join.as_mut(), &waker);
                }
            })
        };
        q.get_nowait().unwrap();
        q.task_done().unwrap();
        canceller.join().unwrap();
        // One item is still unfinished: nothing has released the joiners.
        assert_eq!(
            std::sync::Arc::strong_count(&counter),
            1,
            "a cancelled join left its waker in the queue"
        );
        q.get_nowait().unwrap();
        q.task_done().unwrap();
        joiner.join().unwrap();
    });
}
