//! Queue, LifoQueue, PriorityQueue and Promise (behaviours from CPython's
//! test_asyncio/test_queues.py and test_futures.py), and what cancelled
//! producers, getters and joins leave behind.

use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use super::common::{let_others_run, rt, Job, TestWaker};
use ferrio::sync::{LifoQueue, PriorityQueue, Promise, PromiseError, PutError, Queue, QueueError};

#[test]
fn nowait_variants_and_sizes() {
    let q: Queue<u8> = Queue::new(2);
    assert!(q.empty());
    q.put_nowait(1).unwrap();
    q.put_nowait(2).unwrap();
    assert!(q.full());
    assert_eq!(
        q.put_nowait(3),
        Err(PutError {
            item: 3,
            error: QueueError::Full
        })
    );
    assert_eq!(q.qsize(), 2);
    assert_eq!(q.get_nowait(), Ok(1));
    assert_eq!(q.get_nowait(), Ok(2));
    assert_eq!(q.get_nowait(), Err(QueueError::Empty));
    let unbounded: Queue<u32> = Queue::new(0);
    for i in 0..10_000 {
        unbounded.put_nowait(i).unwrap();
    }
    assert!(!unbounded.full());
}

#[test]
fn lifo_and_priority_orders() {
    let l: LifoQueue<u8> = LifoQueue::new(0);
    for i in 0..3 {
        l.put_nowait(i).unwrap();
    }
    assert_eq!(
        (0..3).map(|_| l.get_nowait().unwrap()).collect::<Vec<_>>(),
        vec![2, 1, 0]
    );
    let p: PriorityQueue<Job> = PriorityQueue::new(0);
    for j in [Job(2, "a"), Job(1, "b"), Job(2, "c"), Job(1, "d")] {
        p.put_nowait(j).unwrap();
    }
    let order: Vec<_> = (0..4).map(|_| p.get_nowait().unwrap().1).collect();
    assert_eq!(order, vec!["b", "d", "a", "c"]);
}

#[test]
fn put_waits_while_full_and_get_while_empty() {
    let rt = rt(2);
    rt.block_on(async {
        let q = Arc::new(Queue::new(1));
        let q2 = q.clone();
        let producer = ferrio::spawn(async move {
            for i in 0..100u32 {
                q2.put(i).await.unwrap();
            }
        });
        let mut got = Vec::new();
        for _ in 0..100 {
            got.push(q.get().await.unwrap());
        }
        producer.await.unwrap();
        assert_eq!(got, (0..100).collect::<Vec<_>>());
    });
}

#[test]
fn cancelled_get_loses_no_item_and_cancelled_put_inserts_nothing() {
    let rt = rt(1);
    rt.block_on(rt.spawn(async {
        let q = Arc::new(Queue::<u32>::new(1));
        // A getter waits, then is cancelled; the item goes to the next.
        let q1 = q.clone();
        let first = ferrio::spawn(async move { q1.get().await });
        let_others_run().await;
        let q2 = q.clone();
        let second = ferrio::spawn(async move { q2.get().await });
        let_others_run().await;
        assert!(first.cancel());
        q.put(7).await.unwrap();
        assert_eq!(second.await.unwrap(), Ok(7));
        // A putter waits on a full queue, then is cancelled.
        q.put(1).await.unwrap();
        let q3 = q.clone();
        let blocked = ferrio::spawn(async move { q3.put(99).await });
        let_others_run().await;
        assert!(blocked.cancel());
        assert_eq!(q.get().await, Ok(1));
        assert_eq!(
            q.get_nowait(),
            Err(QueueError::Empty),
            "99 was never inserted"
        );
    }))
    .unwrap();
}

#[test]
fn task_done_and_join() {
    let rt = rt(2);
    rt.block_on(async {
        let q = Arc::new(Queue::new(0));
        for i in 0..10 {
            q.put_nowait(i).unwrap();
        }
        let workers: Vec<_> = (0..3)
            .map(|_| {
                let q = q.clone();
                ferrio::spawn(async move {
                    while let Ok(_item) = q.get().await {
                        ferrio::yield_now().await;
                        q.task_done().unwrap();
                    }
                })
            })
            .collect();
        q.join().await;
        assert!(q.empty());
        q.shutdown(false);
        for w in workers {
            w.await.unwrap();
        }
        assert_eq!(q.task_done(), Err(QueueError::TooManyTaskDone));
    });
}

#[test]
fn shutdown_semantics() {
    let rt = rt(1);
    rt.block_on(rt.spawn(async {
        // Graceful: puts fail, gets drain then fail.
        let q = Arc::new(Queue::new(0));
        q.put_nowait(1).unwrap();
        q.shutdown(false);
        assert_eq!(q.put(2).await.unwrap_err().error, QueueError::ShutDown);
        assert_eq!(q.get().await, Ok(1));
        assert_eq!(q.get().await, Err(QueueError::ShutDown));
        // A blocked getter is woken by the shutdown.
        let q = Arc::new(Queue::<u8>::new(0));
        let q2 = q.clone();
        let getter = ferrio::spawn(async move { q2.get().await });
        let_others_run().await;
        q.shutdown(false);
        assert_eq!(getter.await.unwrap(), Err(QueueError::ShutDown));
        // Immediate: items are dropped and join returns.
        let q = Arc::new(Queue::new(0));
        q.put_nowait("x").unwrap();
        q.put_nowait("y").unwrap();
        q.shutdown(true);
        assert!(q.empty());
        q.join().await;
        assert_eq!(q.get_nowait(), Err(QueueError::ShutDown));
    }))
    .unwrap();
}

#[test]
fn promise_states_and_callbacks() {
    let p: Promise<u32> = Promise::new();
    assert_eq!(p.result(), Err(PromiseError::NotDone));
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    for i in 0..3 {
        let s = seen.clone();
        p.add_done_callback(move |p| s.lock().unwrap().push((i, p.result())));
    }
    p.set_result(5).unwrap();
    assert!(p.set_result(6).is_err());
    assert!(!p.cancel());
    let s = seen.clone();
    p.add_done_callback(move |p| s.lock().unwrap().push((9, p.result())));
    assert_eq!(
        *seen.lock().unwrap(),
        vec![(0, Ok(5)), (1, Ok(5)), (2, Ok(5)), (9, Ok(5))]
    );
    let c: Promise<u32> = Promise::new();
    assert!(c.cancel());
    assert!(c.is_cancelled() && c.is_done());
    assert_eq!(c.result(), Err(PromiseError::Cancelled));
}

#[test]
fn promise_awaited_by_many_tasks() {
    let rt = rt(2);
    rt.block_on(async {
        let p = Promise::new();
        let waiters: Vec<_> = (0..50).map(|_| ferrio::spawn(p.clone())).collect();
        ferrio::yield_now().await;
        p.set_result(String::from("v")).unwrap();
        for w in waiters {
            assert_eq!(w.await.unwrap(), Ok("v".to_string()));
        }
        let c: Promise<()> = Promise::new();
        let w = ferrio::spawn(c.clone());
        c.cancel();
        assert_eq!(w.await.unwrap(), Err(PromiseError::Cancelled));
    });
}

#[test]
fn admitted_putter_cancelled_before_it_runs_inserts_nothing() {
    let rt = rt(1);
    rt.block_on(rt.spawn(async {
        let q = Arc::new(Queue::new(1));
        q.put(1u32).await.unwrap();
        let q2 = q.clone();
        let blocked = ferrio::spawn(async move { q2.put(2).await });
        let_others_run().await;
        // Taking an item reserves the slot for the waiting putter and
        // wakes it; cancel it before it gets to run.
        assert_eq!(q.get().await, Ok(1));
        assert!(blocked.cancel());
        assert!(q.empty(), "the cancelled put inserted nothing");
        // Its reserved slot was released.
        q.put_nowait(3).unwrap();
        assert_eq!(q.get_nowait(), Ok(3));
    }))
    .unwrap();
}

#[test]
fn shutdown_keeps_getters_waiting_while_a_claimed_item_remains() {
    use std::task::Poll;
    let waker = super::common::TestWaker::new();
    let q: Queue<u32> = Queue::new(0);
    let mut claimed = Box::pin(q.get());
    let mut other = Box::pin(q.get());
    assert!(waker.poll(claimed.as_mut()).is_pending());
    assert!(waker.poll(other.as_mut()).is_pending());
    q.put_nowait(7).unwrap(); // `claimed` is given a claim on it
    q.shutdown(false);
    // An item is still queued: the getter without a claim waits on.
    assert!(
        waker.poll(other.as_mut()).is_pending(),
        "a getter failed with ShutDown while an item was queued"
    );
    // The claimed getter is cancelled: its claim passes to the other.
    drop(claimed);
    assert_eq!(waker.poll(other.as_mut()), Poll::Ready(Ok(7)));
    q.task_done().unwrap();
    let mut join = Box::pin(q.join());
    assert!(waker.poll(join.as_mut()).is_ready(), "join never returns");
    // Empty and shut down: a getter fails now.
    assert_eq!(
        waker.poll(Box::pin(q.get()).as_mut()),
        Poll::Ready(Err(QueueError::ShutDown))
    );
}

#[test]
fn getters_waiting_on_a_shut_down_queue_fail_when_its_last_item_goes() {
    use std::task::Poll;
    let waker = super::common::TestWaker::new();
    let q: Queue<u32> = Queue::new(0);
    let mut claimed = Box::pin(q.get());
    let mut waiting = Box::pin(q.get());
    assert!(waker.poll(claimed.as_mut()).is_pending());
    assert!(waker.poll(waiting.as_mut()).is_pending());
    q.put_nowait(7).unwrap();
    q.shutdown(false);
    assert!(waker.poll(waiting.as_mut()).is_pending());
    let before = waker.wakes();
    assert_eq!(waker.poll(claimed.as_mut()), Poll::Ready(Ok(7)));
    assert!(waker.wakes() > before, "taking the last item woke nobody");
    assert_eq!(
        waker.poll(waiting.as_mut()),
        Poll::Ready(Err(QueueError::ShutDown))
    );
}

/// Maxsize 1, two producers waiting. The consumer takes an item (the slot
/// is reserved for P1), then waits on the empty queue; P1's item reaches
/// it; P2 must still be let in.
#[test]
fn queue_admits_the_second_waiting_producer() {
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

/// The same on a real runtime: 1 consumer, 2 producers, maxsize 1. The
/// timeout only bounds a hang; it is no synchronisation.
#[test]
fn one_consumer_two_producers_finish() {
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

/// A dropped `join` leaves no waker behind, and re-polling a waiting
/// `join` does not pile up clones.
#[test]
fn queue_join_leaves_no_waker_clones() {
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

/// Equal items keep insertion order after a cancelled `get`.
#[test]
fn priority_queue_keeps_order_after_cancelled_get() {
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

/// A cancelled `get` whose item was handed over does not push the queue
/// past maxsize...
#[test]
fn cancelled_get_never_overfills_the_queue() {
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
fn item_of_cancelled_get_stays_dropped_after_immediate_shutdown() {
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
