//! `ferrio::sync::broadcast` and `ferrio::sync::watch` (tokio's
//! semantics): every receiver sees every value, lag with exact counts,
//! values released once all have seen them; watch's versioned changes
//! (coalescing, the error after the sender leaves), borrows; cancelled
//! `recv`/`changed`/`closed` futures; use across workers.

use std::pin::pin;
use std::sync::Arc;
use std::task::Poll;

use super::common::{rt, TestWaker};
use ferrio::sync::broadcast::{
    self,
    error::{RecvError, TryRecvError},
};
use ferrio::sync::watch;

// --- broadcast --------------------------------------------------------------

#[test]
fn broadcast_every_receiver_sees_every_value_sent_after_it_subscribed() {
    let (tx, mut a) = broadcast::channel(8);
    assert_eq!(tx.send(1).unwrap(), 1);
    let mut b = tx.subscribe();
    assert_eq!(tx.receiver_count(), 2);
    assert_eq!(tx.send(2).unwrap(), 2);
    assert_eq!(tx.send(3).unwrap(), 2);
    assert_eq!(a.len(), 3);
    assert_eq!(b.len(), 2);
    assert_eq!(
        (a.try_recv(), a.try_recv(), a.try_recv()),
        (Ok(1), Ok(2), Ok(3))
    );
    assert_eq!((b.try_recv(), b.try_recv()), (Ok(2), Ok(3)));
    assert_eq!(a.try_recv(), Err(TryRecvError::Empty));
    let mut c = b.resubscribe();
    tx.send(4).unwrap();
    assert_eq!(
        c.try_recv(),
        Ok(4),
        "a resubscribed receiver starts at the tail"
    );
    assert_eq!(c.try_recv(), Err(TryRecvError::Empty));
}

#[test]
fn broadcast_lag_counts_are_exact() {
    let (tx, mut slow) = broadcast::channel(3);
    let mut fast = tx.subscribe();
    for i in 0..10u32 {
        tx.send(i).unwrap();
        assert_eq!(fast.try_recv(), Ok(i));
    }
    // The ring keeps 7, 8, 9: the slow receiver missed 0..=6.
    assert_eq!(slow.len(), 10);
    assert_eq!(slow.try_recv(), Err(TryRecvError::Lagged(7)));
    assert_eq!(slow.len(), 3);
    assert_eq!(slow.try_recv(), Ok(7));
    // Partly caught up, then behind again: 8 and 9 retained, plus 10, 11,
    // 12 sent; the ring holds 10..=12, so 8 and 9 are skipped.
    for i in 10..13 {
        tx.send(i).unwrap();
    }
    ferrio::run(async {
        assert_eq!(slow.recv().await, Err(RecvError::Lagged(2)));
        assert_eq!(slow.recv().await, Ok(10));
    });
    assert_eq!((slow.try_recv(), slow.try_recv()), (Ok(11), Ok(12)));
    assert_eq!(slow.try_recv(), Err(TryRecvError::Empty));
    // Lag is reported before the end.
    for i in 13..20 {
        tx.send(i).unwrap();
    }
    drop(tx);
    assert_eq!(slow.try_recv(), Err(TryRecvError::Lagged(4)));
    assert_eq!(
        (slow.try_recv(), slow.try_recv(), slow.try_recv()),
        (Ok(17), Ok(18), Ok(19))
    );
    assert_eq!(slow.try_recv(), Err(TryRecvError::Closed));
    assert_eq!(RecvError::Lagged(4).to_string(), "channel lagged by 4");
}

#[test]
fn broadcast_values_are_released_once_every_receiver_saw_them() {
    let (tx, mut a) = broadcast::channel(4);
    let mut b = tx.subscribe();
    let v = Arc::new(0u8);
    tx.send(v.clone()).unwrap();
    assert_eq!((tx.len(), Arc::strong_count(&v)), (1, 2));
    let got_a = a.try_recv().unwrap();
    assert_eq!(
        Arc::strong_count(&v),
        3,
        "a clone for a, the original kept for b"
    );
    let got_b = b.try_recv().unwrap();
    assert_eq!(Arc::strong_count(&v), 3, "the last reader took it out");
    assert!(tx.is_empty());
    drop((got_a, got_b));
    // A receiver dropping releases what only it had left to see.
    tx.send(v.clone()).unwrap();
    assert_eq!(a.try_recv().as_deref(), Ok(&0));
    assert_eq!(Arc::strong_count(&v), 2);
    drop(b);
    assert_eq!(Arc::strong_count(&v), 1);
    assert!(tx.is_empty());
    // Overwritten values go too.
    let (tx, _rx) = broadcast::channel(1);
    tx.send(v.clone()).unwrap();
    tx.send(Arc::new(1)).unwrap();
    assert_eq!(Arc::strong_count(&v), 1);
}

#[test]
fn broadcast_send_without_receivers_fails_and_the_end_comes_after_every_value() {
    let (tx, rx) = broadcast::channel::<u32>(2);
    drop(rx);
    assert_eq!(tx.send(5), Err(broadcast::error::SendError(5)));
    let mut rx = tx.subscribe();
    let tx2 = tx.clone();
    tx2.send(6).unwrap();
    drop(tx);
    assert!(!rx.is_closed());
    let w = TestWaker::new();
    assert_eq!(w.poll(pin!(rx.recv())), Poll::Ready(Ok(6)));
    let mut recv = Box::pin(rx.recv());
    assert!(w.poll(recv.as_mut()).is_pending(), "a clone is left");
    drop(tx2);
    assert_eq!(w.wakes(), 1, "the last sender woke the waiting receiver");
    assert_eq!(w.poll(recv.as_mut()), Poll::Ready(Err(RecvError::Closed)));
    drop(recv);
    assert_eq!(w.outstanding(), 0);
    assert!(rx.is_closed());
}

#[test]
fn broadcast_a_dropped_recv_loses_no_value_and_leaves_no_waker() {
    let (tx, mut a) = broadcast::channel(2);
    let mut b = tx.subscribe();
    let (wa, wb) = (TestWaker::new(), TestWaker::new());
    {
        let mut ra = Box::pin(a.recv());
        let mut rb = Box::pin(b.recv());
        assert!(wa.poll(ra.as_mut()).is_pending());
        assert!(wa.poll(ra.as_mut()).is_pending(), "polled again: one entry");
        assert!(wb.poll(rb.as_mut()).is_pending());
        drop(ra);
        assert_eq!(wa.outstanding(), 0, "the dropped recv left no waker");
        tx.send(1).unwrap();
        assert_eq!((wa.wakes(), wb.wakes()), (0, 1));
        // Woken, then dropped before it looked: the value stays.
    }
    assert_eq!((wa.outstanding(), wb.outstanding()), (0, 0));
    assert_eq!(a.try_recv(), Ok(1));
    assert_eq!(b.try_recv(), Ok(1));
}

#[test]
fn broadcast_receivers_on_two_workers_account_for_every_value() {
    const N: u64 = 3_000;
    let rt = rt(2);
    rt.block_on(async {
        // A ring as large as the stream: nobody lags.
        let (tx, rx) = broadcast::channel(N as usize);
        let keepers: Vec<_> = (0..3)
            .map(|_| {
                let mut rx = rx.resubscribe();
                ferrio::spawn(async move {
                    let mut got = Vec::new();
                    while let Ok(v) = rx.recv().await {
                        got.push(v);
                    }
                    got
                })
            })
            .collect();
        // A small ring: receivers lag, and what they skip is reported.
        let (small_tx, small_rx) = broadcast::channel(4);
        let laggers: Vec<_> = (0..3)
            .map(|_| {
                let mut rx = small_rx.resubscribe();
                ferrio::spawn(async move {
                    let (mut next, mut skipped) = (0u64, 0u64);
                    loop {
                        match rx.recv().await {
                            Ok(v) => {
                                assert_eq!(v, next, "values in order, none twice");
                                next += 1;
                            }
                            Err(RecvError::Lagged(n)) => {
                                skipped += n;
                                next += n;
                            }
                            Err(RecvError::Closed) => return (next, skipped),
                        }
                    }
                })
            })
            .collect();
        drop((rx, small_rx));
        for i in 0..N {
            tx.send(i).unwrap();
            small_tx.send(i).unwrap();
            if i % 64 == 0 {
                ferrio::yield_now().await;
            }
        }
        drop((tx, small_tx));
        for k in keepers {
            assert_eq!(k.await.unwrap(), (0..N).collect::<Vec<_>>());
        }
        for l in laggers {
            let (seen_up_to, _skipped) = l.await.unwrap();
            assert_eq!(seen_up_to, N, "received + skipped = sent");
        }
    });
}

#[test]
#[should_panic(expected = "ferrio: broadcast::channel needs a capacity of at least 1")]
fn broadcast_of_no_slot_is_refused() {
    let _ = broadcast::channel::<u8>(0);
}

// --- watch ------------------------------------------------------------------

#[test]
fn watch_changed_coalesces_sends_and_marks_the_value_seen() {
    let (tx, mut rx) = watch::channel(0);
    assert_eq!(
        rx.has_changed(),
        Ok(false),
        "the initial value counts as seen"
    );
    for i in 1..=3 {
        tx.send(i).unwrap();
    }
    let w = TestWaker::new();
    assert_eq!(w.poll(pin!(rx.changed())), Poll::Ready(Ok(())));
    assert_eq!(*rx.borrow(), 3);
    assert_eq!(rx.has_changed(), Ok(false), "one change for three sends");
    let mut changed = Box::pin(rx.changed());
    assert!(w.poll(changed.as_mut()).is_pending());
    assert!(w.poll(changed.as_mut()).is_pending());
    tx.send_modify(|v| *v += 10);
    assert_eq!(w.wakes(), 1);
    assert_eq!(w.poll(changed.as_mut()), Poll::Ready(Ok(())));
    drop(changed);
    assert_eq!(w.outstanding(), 0);
    assert_eq!(*rx.borrow_and_update(), 13);
    // A send that modifies nothing wakes nobody.
    assert!(!tx.send_if_modified(|_| false));
    assert_eq!(rx.has_changed(), Ok(false));
}

#[test]
fn watch_changed_fails_once_every_sender_left_and_the_last_value_was_seen() {
    let (tx, mut rx) = watch::channel("a");
    let tx2 = tx.clone();
    assert_eq!(tx.sender_count(), 2);
    tx.send("b").unwrap();
    drop(tx);
    drop(tx2);
    assert!(rx.is_closed());
    assert!(rx.has_changed().is_err(), "as tokio's: Err once closed");
    let w = TestWaker::new();
    assert_eq!(
        w.poll(pin!(rx.changed())),
        Poll::Ready(Ok(())),
        "b is unseen"
    );
    assert_eq!(*rx.borrow(), "b");
    assert_eq!(
        w.poll(pin!(rx.changed())).map(|r| r.is_err()),
        Poll::Ready(true)
    );
    // A waiting `changed` is woken by the last sender leaving.
    let (tx, mut rx) = watch::channel(0u8);
    let tx2 = tx.clone();
    let mut changed = Box::pin(rx.changed());
    assert!(w.poll(changed.as_mut()).is_pending());
    drop(tx);
    assert_eq!(w.wakes(), 0, "a clone is left");
    drop(tx2);
    assert_eq!(w.wakes(), 1);
    let Poll::Ready(Err(e)) = w.poll(changed.as_mut()) else {
        panic!("not closed")
    };
    assert_eq!(e.to_string(), "channel closed");
    drop(changed);
    assert_eq!(w.outstanding(), 0);
}

#[test]
fn watch_send_needs_a_receiver_but_send_replace_always_stores() {
    let (tx, rx) = watch::channel(1);
    assert!(!tx.is_closed());
    drop(rx);
    assert!(tx.is_closed());
    assert_eq!(tx.send(2), Err(watch::error::SendError(2)));
    assert_eq!(*tx.borrow(), 1, "a failed send stores nothing");
    assert_eq!(tx.send_replace(3), 1);
    assert_eq!(*tx.borrow(), 3);
    let rx = tx.subscribe();
    assert_eq!(
        rx.has_changed(),
        Ok(false),
        "a subscriber has seen the current value"
    );
    assert_eq!(tx.receiver_count(), 1);
    tx.send(4).unwrap();
    assert_eq!(rx.has_changed(), Ok(true));
    let lone = watch::Sender::new("x");
    assert_eq!(lone.receiver_count(), 0);
    assert!(lone.send("y").is_err());
}

#[test]
fn watch_borrows_and_seen_marks() {
    let (tx, mut rx) = watch::channel(String::from("a"));
    tx.send("b".into()).unwrap();
    {
        let r = rx.borrow();
        assert!(r.has_changed());
        assert_eq!(format!("{r:?}"), "\"b\"");
    }
    assert_eq!(rx.has_changed(), Ok(true), "borrow marks nothing seen");
    let rx2 = rx.clone();
    {
        let r = rx.borrow_and_update();
        assert!(r.has_changed());
        assert_eq!(*r, "b");
    }
    assert!(!rx.borrow().has_changed());
    assert_eq!(rx2.has_changed(), Ok(true), "a clone keeps its own mark");
    rx.mark_changed();
    assert_eq!(rx.has_changed(), Ok(true));
    rx.mark_unchanged();
    assert_eq!(rx.has_changed(), Ok(false));
    assert!(!tx.borrow().has_changed());
    assert!(rx.same_channel(&rx2));
    // Borrows held on other threads at once.
    let (r1, r2) = (rx.borrow(), rx2.borrow());
    std::thread::scope(|s| {
        s.spawn(|| assert_eq!(*tx.borrow(), "b"));
    });
    assert_eq!((r1.as_str(), r2.as_str()), ("b", "b"));
}

#[test]
fn watch_dropped_changed_and_closed_leave_nothing_behind() {
    let (tx, mut rx) = watch::channel(0);
    let w = TestWaker::new();
    {
        let mut changed = Box::pin(rx.changed());
        assert!(w.poll(changed.as_mut()).is_pending());
        tx.send(1).unwrap();
        assert_eq!(w.wakes(), 1);
        // Dropped before it looked: the change is still unseen.
    }
    assert_eq!(w.outstanding(), 0);
    assert_eq!(rx.has_changed(), Ok(true));
    assert_eq!(w.poll(pin!(rx.changed())), Poll::Ready(Ok(())));
    {
        let mut again = Box::pin(rx.changed());
        assert!(w.poll(again.as_mut()).is_pending());
    }
    assert_eq!(w.outstanding(), 0);
    // `closed` completes when the last receiver (clones too) is gone.
    let rx2 = rx.clone();
    let mut closed = Box::pin(tx.closed());
    assert!(w.poll(closed.as_mut()).is_pending());
    {
        let mut other = Box::pin(tx.closed());
        let w2 = TestWaker::new();
        assert!(w2.poll(other.as_mut()).is_pending());
        drop(other);
        assert_eq!(w2.outstanding(), 0);
    }
    drop(rx);
    assert_eq!(w.wakes(), 1, "no wake-up while a clone lives");
    drop(rx2);
    assert_eq!(w.wakes(), 2);
    assert_eq!(w.poll(closed.as_mut()), Poll::Ready(()));
    drop(closed);
    assert_eq!(w.outstanding(), 0);
}

#[test]
fn watch_receivers_on_two_workers_see_increasing_values_and_the_last() {
    const N: u32 = 5_000;
    let rt = rt(2);
    rt.block_on(async {
        let (tx, rx) = watch::channel(0u32);
        let watchers: Vec<_> = (0..3)
            .map(|_| {
                let mut rx = rx.clone();
                ferrio::spawn(async move {
                    let (mut last, mut changes) = (0, 0u32);
                    while rx.changed().await.is_ok() {
                        let v = *rx.borrow_and_update();
                        assert!(v > last, "values only move forward");
                        last = v;
                        changes += 1;
                    }
                    (last, changes)
                })
            })
            .collect();
        drop(rx);
        let sender = ferrio::spawn(async move {
            for i in 1..=N {
                tx.send(i).unwrap();
                if i % 16 == 0 {
                    ferrio::yield_now().await;
                }
            }
        });
        sender.await.unwrap();
        for w in watchers {
            let (last, changes) = w.await.unwrap();
            assert_eq!(last, N, "the last value is always seen");
            assert!((1..=N).contains(&changes));
        }
    });
}
