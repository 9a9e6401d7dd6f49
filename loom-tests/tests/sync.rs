//! Loom models of the task-level synchronisation primitives: the
//! semaphore's waiter queue (hand-off on release and on a dropped waiter),
//! the event's wake-all, and the queue's claims against its shutdown.
#![cfg(ferrio_loom)]

use ferrio::sync::{Event, Semaphore};
use loom::future::block_on;
use loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use loom::sync::Arc;
use loom::thread;

#[test]
fn semaphore_hand_off_is_exclusive_and_never_lost() {
    loom::model(|| {
        let sem = Arc::new(Semaphore::new(1));
        let inside = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let (sem, inside) = (sem.clone(), inside.clone());
                thread::spawn(move || {
                    block_on(async {
                        let _p = sem.acquire().await;
                        assert_eq!(inside.fetch_add(1, SeqCst), 0, "two holders");
                        inside.fetch_sub(1, SeqCst);
                    })
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(sem.available_permits(), 1);
    });
}

#[test]
fn dropped_semaphore_waiter_passes_the_permit_on() {
    loom::model(|| {
        let sem = Arc::new(Semaphore::new(0));
        let s2 = sem.clone();
        let releaser = thread::spawn(move || s2.release());
        {
            // Poll once (queue up), then give up.
            let mut acq = Box::pin(sem.acquire());
            let waker = std::task::Waker::noop();
            let mut cx = std::task::Context::from_waker(waker);
            if let std::task::Poll::Ready(p) = acq.as_mut().poll(&mut cx) {
                drop(p);
            }
        }
        releaser.join().unwrap();
        // The permit is not stuck with the dropped waiter.
        assert_eq!(sem.available_permits(), 1);
    });
}

#[test]
fn event_set_wakes_the_waiter() {
    loom::model(|| {
        let ev = Arc::new(Event::new());
        let e2 = ev.clone();
        let waiter = thread::spawn(move || block_on(e2.wait()));
        ev.set();
        waiter.join().unwrap();
    });
}

use std::future::Future;

#[test]
fn promise_set_result_reaches_the_waiter() {
    loom::model(|| {
        let p = ferrio::sync::Promise::<u8>::new();
        let waiter = {
            let p = p.clone();
            thread::spawn(move || block_on(p))
        };
        p.set_result(9).unwrap();
        assert_eq!(waiter.join().unwrap(), Ok(9));
    });
}

#[test]
fn queue_put_wakes_a_waiting_get() {
    loom::model(|| {
        let q = Arc::new(ferrio::sync::Queue::<u8>::new(1));
        let getter = {
            let q = q.clone();
            thread::spawn(move || block_on(q.get()))
        };
        q.put_nowait(5).unwrap();
        assert_eq!(getter.join().unwrap(), Ok(5));
        assert!(q.empty());
    });
}

#[test]
fn cancelled_get_loses_no_item() {
    loom::model(|| {
        let q = Arc::new(ferrio::sync::Queue::<u8>::new(0));
        let q2 = q.clone();
        let putter = thread::spawn(move || q2.put_nowait(1).unwrap());
        {
            let mut get = Box::pin(q.get());
            let waker = std::task::Waker::noop();
            let mut cx = std::task::Context::from_waker(waker);
            if let std::task::Poll::Ready(item) = get.as_mut().poll(&mut cx) {
                // Took it before being dropped: put it back for the check.
                q.put_nowait(item.unwrap()).unwrap();
            }
        }
        putter.join().unwrap();
        assert_eq!(q.get_nowait(), Ok(1));
    });
}

#[test]
fn queue_shutdown_against_claims_strands_no_item() {
    loom::model(|| {
        let q = Arc::new(ferrio::sync::Queue::<u8>::new(0));
        // A getter that waits, and one that is cancelled after one poll
        // (it may hold a claim on the item when dropped).
        let waiting = {
            let q = q.clone();
            thread::spawn(move || block_on(q.get()))
        };
        let cancelled = {
            let q = q.clone();
            thread::spawn(move || {
                let mut get = Box::pin(q.get());
                let waker = std::task::Waker::noop();
                let mut cx = std::task::Context::from_waker(waker);
                match get.as_mut().poll(&mut cx) {
                    std::task::Poll::Ready(got) => got.ok(),
                    std::task::Poll::Pending => None,
                }
            })
        };
        q.put_nowait(1).unwrap();
        q.shutdown(false);
        let by_cancelled = cancelled.join().unwrap();
        let by_waiting = waiting.join().unwrap();
        // The item went to exactly one getter; the other failed with
        // ShutDown (never while the item was still queued).
        match (by_cancelled, by_waiting) {
            (Some(1), Err(ferrio::sync::QueueError::ShutDown)) => {}
            (None, Ok(1)) => {}
            other => panic!("item lost or duplicated: {other:?}"),
        }
        assert!(q.empty());
    });
}

#[test]
fn once_cell_close_wakes_the_waiter_and_one_initialiser_runs() {
    loom::model(|| {
        let cell = Arc::new(ferrio::sync::OnceCell::<u8>::new());
        let inits = Arc::new(AtomicUsize::new(0));
        let other = {
            let (cell, inits) = (cell.clone(), inits.clone());
            thread::spawn(move || {
                *block_on(cell.get_or_init(|| async move {
                    inits.fetch_add(1, SeqCst);
                    1
                }))
            })
        };
        let mine = *block_on(cell.get_or_init(|| async {
            inits.fetch_add(1, SeqCst);
            2
        }));
        // Whoever initialised, the other was turned away by the close
        // (a lost wake-up is a deadlock) and read the same value.
        assert_eq!(other.join().unwrap(), mine);
        assert_eq!(inits.load(SeqCst), 1);
    });
}

#[test]
fn once_cell_cancelled_initialiser_hands_over() {
    loom::model(|| {
        let cell = Arc::new(ferrio::sync::OnceCell::<u8>::new());
        let waiter = {
            let cell = cell.clone();
            thread::spawn(move || *block_on(cell.get_or_init(|| async { 2 })))
        };
        {
            // Polled once (it may become the initialiser, or find the
            // other's value), then dropped.
            let mut init = Box::pin(cell.get_or_init(std::future::pending::<u8>));
            let waker = std::task::Waker::noop();
            let mut cx = std::task::Context::from_waker(waker);
            if let std::task::Poll::Ready(v) = init.as_mut().poll(&mut cx) {
                assert_eq!(*v, 2);
            }
        }
        assert_eq!(waiter.join().unwrap(), 2);
    });
}
