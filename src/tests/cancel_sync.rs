// Over 500 lines: one cancellation harness run over every sync primitive
// and queue; each case is a few lines.
//! Cancellation harness for the synchronisation primitives and queues.
//!
//! Every async operation is polled by hand, 0, 1, 2, ... k times, with a
//! state change of the primitive before each poll (a release, a put, a
//! notify, ...); then it is dropped wherever it stands, and the invariants
//! are checked: no item, permit or notification lost or duplicated, whoever
//! waits behind the cancelled operation is served, and no clone of the
//! operation's waker is left registered (a counting waker counts the clones
//! alive). No runtime is needed: these primitives only need a `Context`.

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;

use super::common::{lock_now, TestWaker};
use ferrio::sync::{
    Barrier, BoundedSemaphore, Condition, Event, LifoQueue, Lock, PriorityQueue, Promise,
    PromiseError, Queue, QueueError, Semaphore, Store,
};

/// Polls `op` at most `k` times and runs the events between: `event(i)`
/// before poll `i`, and `event(k)` after the last poll (so the operation
/// is dropped right after a state change it has not seen). Stops when the
/// operation is ready and returns its output; the caller then drops the
/// future wherever it stands.
fn poll_up_to<F: Future + ?Sized>(
    mut op: Pin<&mut F>,
    k: usize,
    w: &TestWaker,
    mut event: impl FnMut(usize),
) -> Option<F::Output> {
    for i in 0..=k {
        event(i);
        if i == k {
            break;
        }
        if let Poll::Ready(v) = w.poll(op.as_mut()) {
            return Some(v);
        }
    }
    None
}

/// How many polls each operation gets at most (past its last event).
const K: usize = 5;

#[test]
fn lock_waiter_cancelled_at_every_point() {
    for k in 0..=K {
        let lock = Lock::new(0u32);
        let (w, w2) = (TestWaker::new(), TestWaker::new());
        let mut holder = Some(lock.try_lock().unwrap());
        let mut op = Box::pin(lock.lock());
        let mut behind = None;
        let got = poll_up_to(op.as_mut(), k, &w, |i| {
            if i == 1 {
                // Somebody queues behind us, then the holder leaves: the
                // lock is handed to us (granted, not yet taken).
                let mut b = Box::pin(lock.lock());
                assert!(w2.poll(b.as_mut()).is_pending());
                behind = Some(b);
                holder = None;
            }
        });
        let took = got.is_some();
        if let Some(mut g) = got {
            *g += 1;
        }
        drop(op);
        drop(holder.take());
        assert_eq!(w.outstanding(), 0, "k={k}: waker left behind");
        if let Some(mut b) = behind {
            // The lock was passed on to the waiter behind us.
            assert!(w2.wakes() >= 1, "k={k}: next waiter not woken");
            let Poll::Ready(mut g) = w2.poll(b.as_mut()) else {
                panic!("k={k}: lock lost")
            };
            *g += 1;
            drop(g);
            drop(b);
            assert_eq!(w2.outstanding(), 0);
        }
        let g = lock.try_lock().expect("the lock is free again");
        assert_eq!(*g, u32::from(took) + u32::from(k >= 1), "k={k}");
    }
}

#[test]
fn semaphore_acquire_many_cancelled_at_every_point() {
    for k in 0..=K {
        let sem = Semaphore::new(1);
        let (w, w2) = (TestWaker::new(), TestWaker::new());
        let mut op = Box::pin(sem.acquire_many(2));
        let mut behind = None;
        let got = poll_up_to(op.as_mut(), k, &w, |i| match i {
            1 => {
                // A small request behind the big one waits (FIFO).
                let mut b = Box::pin(sem.acquire());
                assert!(w2.poll(b.as_mut()).is_pending());
                behind = Some(b);
            }
            2 => sem.release(), // 2 permits: the big request is granted
            _ => {}
        });
        assert_eq!(got.is_some(), k >= 3, "k={k}");
        drop(got);
        drop(op);
        assert_eq!(w.outstanding(), 0, "k={k}: waker left behind");
        if let Some(mut b) = behind {
            // Once we are gone (or done), the small request gets a permit.
            assert!(w2.wakes() >= 1, "k={k}: next waiter not woken");
            let Poll::Ready(p) = w2.poll(b.as_mut()) else {
                panic!("k={k}: permit stuck with a dropped waiter")
            };
            drop(p);
            drop(b);
            assert_eq!(w2.outstanding(), 0);
        }
        let expected = if k >= 2 { 2 } else { 1 };
        assert_eq!(
            sem.available_permits(),
            expected,
            "k={k}: permits lost or duplicated"
        );
    }
}

#[test]
fn bounded_semaphore_acquire_cancelled_at_every_point() {
    for k in 0..=K {
        let sem = BoundedSemaphore::new(1);
        let w = TestWaker::new();
        // Manual style: the permit is forgotten, later `release`d.
        let mut held = Box::pin(sem.acquire());
        let Poll::Ready(p) = w.poll(held.as_mut()) else {
            panic!("free permit")
        };
        p.forget();
        drop(held);
        let mut op = Box::pin(sem.acquire());
        let got = poll_up_to(op.as_mut(), k, &w, |i| {
            if i == 1 {
                sem.release().unwrap();
            }
        });
        assert_eq!(got.is_some(), k >= 2, "k={k}");
        drop(got);
        drop(op);
        assert_eq!(w.outstanding(), 0, "k={k}");
        if k == 0 {
            assert!(sem.locked());
            sem.release().unwrap();
        }
        // Exactly the one permit is back: one more release is refused.
        assert!(!sem.locked(), "k={k}: permit lost");
        assert!(sem.release().is_err(), "k={k}: permit duplicated");
    }
}

#[test]
fn event_wait_cancelled_at_every_point() {
    for k in 0..=K {
        let ev = Event::new();
        let (w, w2) = (TestWaker::new(), TestWaker::new());
        let mut other = Box::pin(ev.wait());
        assert!(w2.poll(other.as_mut()).is_pending());
        let mut op = Box::pin(ev.wait());
        let got = poll_up_to(op.as_mut(), k, &w, |i| match i {
            1 => ev.set(),
            2 => ev.clear(),
            _ => {}
        });
        assert_eq!(got.is_some(), k >= 2, "k={k}");
        drop(op);
        assert_eq!(w.outstanding(), 0, "k={k}");
        // The other waiter saw the set (even if cleared since), or still
        // waits for one.
        if k >= 1 {
            assert!(w2.wakes() >= 1);
            assert!(w2.poll(other.as_mut()).is_ready(), "k={k}");
        } else {
            assert!(w2.poll(other.as_mut()).is_pending());
            ev.set();
            assert!(w2.poll(other.as_mut()).is_ready());
        }
        drop(other);
        assert_eq!(w2.outstanding(), 0);
    }
}

#[test]
fn condition_wait_cancelled_at_every_point() {
    // Event 1: a second waiter queues behind, then notify(1). With `hold`
    // the lock is held across the notification, so the notified waiter is
    // cancelled while re-taking the lock.
    for hold in [false, true] {
        for k in 0..=K {
            let cond = Condition::new(0u32);
            let (w, w2) = (TestWaker::new(), TestWaker::new());
            let noop = TestWaker::new();
            let lock_now = |c| lock_now(c, &noop);
            let mut op = Box::pin(cond.wait(lock_now(&cond)));
            let mut other = None;
            let mut holder = None;
            let got = poll_up_to(op.as_mut(), k, &w, |i| {
                if i == 1 {
                    let mut o = Box::pin(cond.wait(lock_now(&cond)));
                    assert!(w2.poll(o.as_mut()).is_pending());
                    other = Some(o);
                    if hold {
                        holder = Some(lock_now(&cond));
                    }
                    cond.notify(1);
                }
            });
            let used = got.is_some();
            if let Some(mut g) = got {
                *g += 1;
            }
            drop(op);
            drop(holder);
            assert_eq!(w.outstanding(), 0, "hold={hold} k={k}: waker left behind");
            let Some(mut o) = other else {
                assert!(!cond.locked());
                continue;
            };
            // One notification: used by `op`, or passed on to `other`.
            let other_done = match w2.poll(o.as_mut()) {
                Poll::Ready(mut g) => {
                    *g += 1;
                    true
                }
                Poll::Pending => false,
            };
            assert_eq!(
                u8::from(used) + u8::from(other_done),
                1,
                "hold={hold} k={k}: notification lost or duplicated"
            );
            if other_done {
                assert!(w2.wakes() >= 1, "hold={hold} k={k}: not woken");
            }
            drop(o);
            assert_eq!(w2.outstanding(), 0);
            assert_eq!(noop.outstanding(), 0);
            assert_eq!(*lock_now(&cond), 1);
        }
    }
}

struct Party<'a> {
    fut: Pin<Box<ferrio::sync::BarrierWait<'a>>>,
    w: TestWaker,
    index: Option<usize>,
}

impl Party<'_> {
    /// Polls unless it already returned; true once it has.
    fn poll(&mut self) -> bool {
        if self.index.is_none() {
            if let Poll::Ready(r) = self.w.poll(self.fut.as_mut()) {
                self.index = Some(r.unwrap());
            }
        }
        self.index.is_some()
    }
}

/// A new party arrives at `b` (polled once: the round's last arrival is
/// ready at once).
fn arrive<'a>(b: &'a Barrier, parties: &mut Vec<Party<'a>>) {
    let mut p = Party {
        fut: Box::pin(b.wait()),
        w: TestWaker::new(),
        index: None,
    };
    p.poll();
    parties.push(p);
}

#[test]
fn barrier_wait_cancelled_at_every_point() {
    for k in 0..=K {
        let b = Barrier::new(3);
        let w = TestWaker::new();
        let mut parties: Vec<Party<'_>> = Vec::new();
        // `op` arrives first; then a second party; then the third.
        let mut op = Box::pin(b.wait());
        let got = poll_up_to(op.as_mut(), k, &w, |i| {
            if i == 1 || i == 2 {
                arrive(&b, &mut parties);
            }
        });
        drop(op);
        assert_eq!(w.outstanding(), 0, "k={k}");
        // Released with `op` in the round but dropped before it looked:
        // its index goes unseen.
        let unseen = k == 2;
        let mut idx: Vec<usize> = got.map(|r| r.unwrap()).into_iter().collect();
        // Arrivals continue until the round is released.
        let mut released = !idx.is_empty() || parties.iter().any(|p| p.index.is_some());
        while !released {
            assert_eq!(
                b.n_waiting(),
                parties.len(),
                "k={k}: a cancelled waiter still counted"
            );
            assert!(parties.len() < 3, "k={k}: round never released");
            arrive(&b, &mut parties);
            released = parties.iter_mut().any(|p| p.index.is_some());
        }
        for p in &mut parties {
            assert!(p.poll(), "k={k}: a party of a released round still waits");
            idx.push(p.index.unwrap());
        }
        idx.sort_unstable();
        if unseen {
            assert_eq!(idx, vec![1, 2], "k={k}: indices of the round");
        } else {
            assert_eq!(idx, vec![0, 1, 2], "k={k}: indices of the round");
        }
        assert_eq!(b.n_waiting(), 0);
        for p in parties {
            drop(p.fut);
            assert_eq!(p.w.outstanding(), 0);
        }
    }
}

/// `get` cancelled at every point, generic over the queue's order: event 1
/// puts one item and tries a second (with or without another getter
/// waiting behind).
fn queue_get_cancelled_at_every_point<S: Store<u32>>(
    new: impl Fn(usize) -> ferrio::sync::BaseQueue<u32, S>,
) {
    for with_other in [false, true] {
        for maxsize in [0, 1, 2] {
            for k in 0..=K {
                let q = new(maxsize);
                let (w, w2) = (TestWaker::new(), TestWaker::new());
                let mut op = Box::pin(q.get());
                let mut other = None;
                let mut put = Vec::new();
                let got = poll_up_to(op.as_mut(), k, &w, |i| {
                    if i == 1 {
                        if with_other {
                            let mut o = Box::pin(q.get());
                            assert!(w2.poll(o.as_mut()).is_pending());
                            other = Some(o);
                        }
                        for v in [10, 11] {
                            if q.put_nowait(v).is_ok() {
                                put.push(v);
                            }
                        }
                    }
                });
                let ctx = format!("with_other={with_other} maxsize={maxsize} k={k}");
                let mut out: Vec<u32> = got.map(|r| r.unwrap()).into_iter().collect();
                drop(op);
                assert_eq!(w.outstanding(), 0, "{ctx}: waker left");
                assert!(
                    maxsize == 0 || q.qsize() <= maxsize,
                    "{ctx}: qsize {} past maxsize",
                    q.qsize()
                );
                if let Some(mut o) = other {
                    if let Poll::Ready(r) = w2.poll(o.as_mut()) {
                        assert!(w2.wakes() >= 1, "{ctx}: ready but never woken");
                        out.push(r.unwrap());
                    } else {
                        assert!(q.empty(), "{ctx}: an item waits and so does a getter");
                    }
                    drop(o);
                    assert_eq!(w2.outstanding(), 0);
                }
                while let Ok(v) = q.get_nowait() {
                    out.push(v);
                }
                out.sort_unstable();
                assert_eq!(out, put, "{ctx}: items lost or duplicated");
            }
        }
    }
}

#[test]
fn queue_get_cancelled_at_every_point_fifo() {
    queue_get_cancelled_at_every_point(Queue::new);
}

#[test]
fn queue_get_cancelled_at_every_point_lifo() {
    queue_get_cancelled_at_every_point(LifoQueue::new);
}

#[test]
fn queue_get_cancelled_at_every_point_priority() {
    queue_get_cancelled_at_every_point(PriorityQueue::new);
}

#[test]
fn bounded_queue_put_cancelled_at_every_point() {
    for k in 0..=K {
        let q = Queue::new(1);
        q.put_nowait(0u32).unwrap();
        let (w, w2) = (TestWaker::new(), TestWaker::new());
        let mut op = Box::pin(q.put(1));
        let mut behind = None;
        let mut taken = Vec::new();
        let got = poll_up_to(op.as_mut(), k, &w, |i| {
            if i == 1 {
                let mut b = Box::pin(q.put(2));
                assert!(w2.poll(b.as_mut()).is_pending());
                behind = Some(b);
                // Room: the slot is reserved for us (first in line).
                taken.push(q.get_nowait().unwrap());
            }
        });
        let inserted = matches!(got, Some(Ok(())));
        assert_eq!(inserted, k >= 2, "k={k}");
        drop(op);
        assert_eq!(w.outstanding(), 0, "k={k}: waker left");
        assert!(q.qsize() <= 1);
        let mut expected = vec![0];
        if inserted {
            expected.push(1);
        }
        if let Some(mut b) = behind {
            if inserted {
                assert!(w2.poll(b.as_mut()).is_pending());
                taken.push(q.get_nowait().unwrap());
            }
            // Our reserved slot (if we left without using it) went on.
            assert!(w2.wakes() >= 1, "k={k}: next putter not woken");
            assert!(w2.poll(b.as_mut()).is_ready(), "k={k}: slot lost");
            expected.push(2);
            drop(b);
            assert_eq!(w2.outstanding(), 0);
        }
        while let Ok(v) = q.get_nowait() {
            taken.push(v);
        }
        taken.sort_unstable();
        assert_eq!(taken, expected, "k={k}");
        assert!(!q.full());
    }
}

#[test]
fn queue_join_cancelled_at_every_point() {
    for k in 0..=K {
        let q = Queue::new(0);
        q.put_nowait(1u32).unwrap();
        q.put_nowait(2u32).unwrap();
        let (w, w2) = (TestWaker::new(), TestWaker::new());
        let mut other = Box::pin(q.join());
        assert!(w2.poll(other.as_mut()).is_pending());
        let mut op = Box::pin(q.join());
        let got = poll_up_to(op.as_mut(), k, &w, |i| {
            if i == 1 || i == 2 {
                q.get_nowait().unwrap();
                q.task_done().unwrap();
            }
        });
        assert_eq!(got.is_some(), k >= 3, "k={k}");
        drop(op);
        assert_eq!(w.outstanding(), 0, "k={k}: join left a waker behind");
        if k >= 2 {
            assert!(w2.wakes() >= 1);
            assert!(w2.poll(other.as_mut()).is_ready());
        } else {
            assert!(w2.poll(other.as_mut()).is_pending());
        }
        drop(other);
        assert_eq!(w2.outstanding(), 0);
    }
}

#[test]
fn queue_get_cancelled_around_shutdown() {
    for immediate in [false, true] {
        for k in 0..=K {
            let q = Queue::new(1);
            let w = TestWaker::new();
            let mut op = Box::pin(q.get());
            let got = poll_up_to(op.as_mut(), k, &w, |i| {
                if i == 1 {
                    q.put_nowait(7u32).unwrap();
                    q.shutdown(immediate);
                }
            });
            drop(op);
            assert_eq!(w.outstanding(), 0);
            let left = q.get_nowait();
            let ctx = format!("immediate={immediate} k={k}");
            match got {
                Some(Ok(v)) => {
                    assert_eq!(v, 7);
                    assert_eq!(left, Err(QueueError::ShutDown), "{ctx}");
                }
                Some(Err(e)) => {
                    assert!(immediate, "{ctx}");
                    assert_eq!(e, QueueError::ShutDown);
                    assert_eq!(left, Err(QueueError::ShutDown), "{ctx}: item reappeared");
                }
                None if k == 0 => assert_eq!(left, Err(QueueError::Empty)),
                // Dropped by the immediate shutdown: never seen again.
                None if immediate => {
                    assert_eq!(left, Err(QueueError::ShutDown), "{ctx}: item reappeared")
                }
                None => assert_eq!(left, Ok(7), "{ctx}: item lost"),
            }
            assert_eq!(q.qsize(), 0);
        }
    }
}

#[test]
fn promise_await_cancelled_at_every_point() {
    for k in 0..=K {
        let p = Promise::<u32>::new();
        let w = TestWaker::new();
        let mut op = Box::pin(p.clone());
        let got = poll_up_to(op.as_mut(), k, &w, |i| {
            if i == 2 {
                p.set_result(3).unwrap();
            }
        });
        assert_eq!(got, (k >= 3).then_some(Ok(3)), "k={k}");
        assert_eq!(w.wakes(), usize::from(k >= 2), "k={k}");
        drop(op);
        assert_eq!(w.outstanding(), 0, "k={k}");
        let c = Promise::<u32>::new();
        let mut op = Box::pin(c.clone());
        let _ = poll_up_to(op.as_mut(), k, &w, |i| {
            if i == 1 {
                c.cancel();
            }
        });
        drop(op);
        assert_eq!(w.outstanding(), 0);
        let expected = if k >= 1 {
            PromiseError::Cancelled
        } else {
            PromiseError::NotDone
        };
        assert_eq!(c.result(), Err(expected));
    }
}
