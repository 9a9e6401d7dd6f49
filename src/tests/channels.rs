// Over 500 lines: the mpsc channels' behaviours, each test a few lines,
// and their cancellation harness, which shares the helpers.
//! `ferrio::sync::mpsc` (tokio's semantics): order, backpressure, the end
//! of the stream, the `try_*` results, permits, `close`, cancellation of
//! every future (dropped after a `Pending` poll: nothing lost, no waker
//! left behind), and use across threads and workers.
//! (`broadcast` and `watch`: `channels_fanout.rs`.)

use std::pin::pin;
use std::task::Poll;

use super::common::{rt, DropCounter, TestWaker};
use ferrio::sync::mpsc::{
    self,
    error::{SendError, TryRecvError, TrySendError},
};

/// No `Debug`: the errors still print (and `unwrap`).
#[derive(PartialEq, Eq)]
struct Opaque(u32);

#[test]
fn bounded_values_arrive_in_order_through_a_small_buffer() {
    let rt = rt(2);
    rt.block_on(async {
        let (tx, mut rx) = mpsc::channel(4);
        let producer = ferrio::spawn(async move {
            for i in 0..2_000u32 {
                tx.send(i).await.unwrap();
            }
        });
        let mut got = Vec::new();
        while let Some(i) = rx.recv().await {
            got.push(i);
        }
        producer.await.unwrap();
        assert_eq!(got, (0..2_000).collect::<Vec<_>>());
    });
}

#[test]
fn unbounded_values_arrive_in_order() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    for i in 0..10_000u32 {
        tx.send(i).unwrap();
    }
    assert_eq!(rx.len(), 10_000);
    drop(tx);
    let got: Vec<u32> = std::iter::from_fn(|| rx.try_recv().ok()).collect();
    assert_eq!(got, (0..10_000).collect::<Vec<_>>());
    assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
}

#[test]
fn bounded_send_waits_until_recv_makes_room() {
    let (tx, mut rx) = mpsc::channel(2);
    let w = TestWaker::new();
    tx.try_send(0).unwrap();
    tx.try_send(1).unwrap();
    assert_eq!(tx.capacity(), 0);
    assert_eq!(tx.max_capacity(), 2);
    let mut send = Box::pin(tx.send(2));
    assert!(w.poll(send.as_mut()).is_pending(), "full: the send waits");
    assert!(w.poll(send.as_mut()).is_pending(), "still full");
    assert_eq!(w.wakes(), 0);
    assert_eq!(rx.try_recv(), Ok(0));
    assert_eq!(w.wakes(), 1, "the slot that came free woke the sender");
    // The slot is the waiting sender's: nobody else takes it.
    assert_eq!(tx.try_send(9), Err(TrySendError::Full(9)));
    assert_eq!(w.poll(send.as_mut()), Poll::Ready(Ok(())));
    drop(send);
    assert_eq!(w.outstanding(), 0);
    assert_eq!(rx.try_recv(), Ok(1));
    assert_eq!(rx.try_recv(), Ok(2));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    assert_eq!(tx.capacity(), 2);
}

#[test]
fn waiting_senders_are_served_in_arrival_order() {
    let (tx, mut rx) = mpsc::channel(1);
    tx.try_send(0).unwrap();
    let wakers: Vec<_> = (0..3).map(|_| TestWaker::new()).collect();
    let mut sends: Vec<_> = (1..=3).map(|i| Box::pin(tx.send(i))).collect();
    for (s, w) in sends.iter_mut().zip(&wakers) {
        assert!(w.poll(s.as_mut()).is_pending());
    }
    for i in 0..3 {
        assert_eq!(rx.try_recv(), Ok(i));
        // Only the sender next in line was woken, and it gets in.
        assert_eq!(wakers[i as usize].wakes(), 1, "sender {i}");
        for later in &wakers[i as usize + 1..] {
            assert_eq!(later.wakes(), 0);
        }
        assert_eq!(
            wakers[i as usize].poll(sends[i as usize].as_mut()),
            Poll::Ready(Ok(()))
        );
    }
    assert_eq!(rx.try_recv(), Ok(3));
}

#[test]
fn the_stream_ends_when_every_sender_and_clone_is_gone() {
    let w = TestWaker::new();
    let (tx, mut rx) = mpsc::channel(4);
    let tx2 = tx.clone();
    tx2.try_send(7).unwrap();
    drop(tx);
    // One clone is left: the buffered value comes, then waiting.
    assert_eq!(w.poll(pin!(rx.recv())), Poll::Ready(Some(7)));
    assert!(w.poll(pin!(rx.recv())).is_pending(), "a clone is left");
    assert!(!rx.is_closed());
    drop(tx2);
    assert_eq!(w.poll(pin!(rx.recv())), Poll::Ready(None));
    assert_eq!(w.poll(pin!(rx.recv())), Poll::Ready(None));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
    let (tx, mut rx) = mpsc::unbounded_channel();
    let tx2 = tx.clone();
    tx.send(8).unwrap();
    drop(tx);
    assert_eq!(w.poll(pin!(rx.recv())), Poll::Ready(Some(8)));
    assert!(w.poll(pin!(rx.recv())).is_pending(), "a clone is left");
    drop(tx2);
    assert_eq!(w.poll(pin!(rx.recv())), Poll::Ready(None));
    assert_eq!(w.outstanding(), 0);
}

#[test]
fn a_waiting_recv_is_woken_by_the_last_sender_leaving() {
    let (tx, mut rx) = mpsc::channel::<u8>(1);
    let tx2 = tx.clone();
    let w = TestWaker::new();
    let mut recv = Box::pin(rx.recv());
    assert!(w.poll(recv.as_mut()).is_pending());
    drop(tx);
    assert_eq!(w.wakes(), 0, "a clone is still there");
    drop(tx2);
    assert_eq!(w.wakes(), 1);
    assert_eq!(w.poll(recv.as_mut()), Poll::Ready(None));
    drop(recv);
    assert_eq!(w.outstanding(), 0);
    assert!(rx.is_closed());
}

#[test]
fn try_results_hand_values_back() {
    let (tx, mut rx) = mpsc::channel(1);
    assert!(matches!(rx.try_recv(), Err(TryRecvError::Empty)));
    tx.try_send(Opaque(1)).unwrap();
    let full = tx.try_send(Opaque(2)).unwrap_err();
    assert!(full.is_full() && !full.is_closed());
    assert_eq!(
        format!("{full:?} / {full}"),
        "Full(..) / no available capacity"
    );
    assert!(full.into_inner() == Opaque(2));
    assert!(matches!(tx.try_reserve(), Err(TrySendError::Full(()))));
    assert!(rx.try_recv().ok() == Some(Opaque(1)));
    drop(rx);
    let closed = tx.try_send(Opaque(3)).unwrap_err();
    assert!(closed.is_closed());
    assert_eq!(closed.to_string(), "channel closed");
    assert!(matches!(tx.try_reserve(), Err(TrySendError::Closed(()))));
    let SendError(back) = ferrio::run(tx.send(Opaque(4))).unwrap_err();
    assert!(back == Opaque(4));
    let e = SendError(Opaque(5));
    assert_eq!(format!("{e:?} / {e}"), "SendError { .. } / channel closed");
    let as_error: &dyn std::error::Error = &e;
    assert_eq!(as_error.to_string(), "channel closed");
    assert_eq!(
        TrySendError::from(SendError(6)),
        TrySendError::Closed(6),
        "a send error is a closed try_send"
    );
    assert_eq!(
        TryRecvError::Disconnected.to_string(),
        "receiving on a closed channel"
    );
}

#[test]
fn try_recv_reports_disconnected_only_when_nothing_can_come() {
    let (tx, mut rx) = mpsc::channel(2);
    tx.try_send(1).unwrap();
    drop(tx);
    assert_eq!(rx.try_recv(), Ok(1), "buffered values outlive the senders");
    assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
    // Closed by the receiver, with a permit still out: Empty until it is
    // used or dropped.
    let (tx, mut rx) = mpsc::channel::<u8>(2);
    let permit = tx.try_reserve().unwrap();
    rx.close();
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    drop(permit);
    assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
}

#[test]
fn permits_hold_a_slot_until_they_send_or_drop() {
    ferrio::run(async {
        let (tx, mut rx) = mpsc::channel(2);
        let a = tx.reserve().await.unwrap();
        let b = tx.try_reserve().unwrap();
        assert_eq!(tx.capacity(), 0);
        assert_eq!(rx.capacity(), 0);
        assert!(matches!(tx.try_send(0), Err(TrySendError::Full(0))));
        // A sender waits for a slot; the unused permit's slot goes to it.
        let w = TestWaker::new();
        let mut send = Box::pin(tx.send(3));
        assert!(w.poll(send.as_mut()).is_pending());
        b.send(1);
        assert_eq!(w.wakes(), 0, "a sent permit frees no slot");
        drop(a);
        assert_eq!(w.wakes(), 1, "the dropped permit's slot was handed on");
        assert_eq!(w.poll(send.as_mut()), Poll::Ready(Ok(())));
        assert_eq!(rx.recv().await, Some(1));
        assert_eq!(rx.recv().await, Some(3));
        assert_eq!(tx.capacity(), 2);
    });
}

#[test]
fn close_fails_senders_but_keeps_buffered_values_and_permits() {
    let (tx, mut rx) = mpsc::channel(2);
    tx.try_send(1).unwrap();
    let permit = tx.try_reserve().unwrap();
    let w = TestWaker::new();
    let mut waiting = Box::pin(tx.send(2));
    assert!(w.poll(waiting.as_mut()).is_pending());
    let wc = TestWaker::new();
    let mut closed = Box::pin(tx.closed());
    assert!(wc.poll(closed.as_mut()).is_pending());
    assert!(!tx.is_closed());
    rx.close();
    assert!(tx.is_closed() && rx.is_closed());
    assert_eq!(w.wakes(), 1, "the waiting send was told");
    assert_eq!(w.poll(waiting.as_mut()), Poll::Ready(Err(SendError(2))));
    assert_eq!(wc.wakes(), 1);
    assert_eq!(wc.poll(closed.as_mut()), Poll::Ready(()));
    drop((waiting, closed));
    assert_eq!((w.outstanding(), wc.outstanding()), (0, 0));
    assert_eq!(tx.try_send(3), Err(TrySendError::Closed(3)));
    // A permit out before the close still sends, and the end waits for it.
    let wr = TestWaker::new();
    assert_eq!(wr.poll(pin!(rx.recv())), Poll::Ready(Some(1)));
    let mut recv = Box::pin(rx.recv());
    assert!(wr.poll(recv.as_mut()).is_pending());
    permit.send(4);
    assert_eq!(wr.wakes(), 1);
    assert_eq!(wr.poll(recv.as_mut()), Poll::Ready(Some(4)));
    drop(recv);
    assert_eq!(wr.poll(pin!(rx.recv())), Poll::Ready(None));
    // A permit dropped unused after the close wakes the receiver for the end.
    let (tx, mut rx) = mpsc::channel::<u8>(1);
    let permit = tx.try_reserve().unwrap();
    rx.close();
    let mut recv = Box::pin(rx.recv());
    assert!(wr.poll(recv.as_mut()).is_pending());
    drop(permit);
    assert!(wr.wakes() >= 2);
    assert_eq!(wr.poll(recv.as_mut()), Poll::Ready(None));
}

#[test]
fn dropping_the_receiver_drops_buffered_values_and_later_permit_sends() {
    let counter = DropCounter::new();
    let (tx, rx) = mpsc::channel(4);
    tx.try_send(counter.token()).unwrap();
    tx.try_send(counter.token()).unwrap();
    let permit = tx.try_reserve().unwrap();
    drop(rx);
    assert_eq!(counter.count(), 2);
    permit.send(counter.token());
    assert_eq!(counter.count(), 3, "nobody can receive it");
    let back = tx.try_send(counter.token()).unwrap_err().into_inner();
    assert_eq!(counter.count(), 3, "handed back, not dropped");
    drop(back);
    assert_eq!(counter.count(), 4);
}

/// A value whose destructor uses the channel it travelled on.
struct CarriesSender(#[allow(dead_code)] mpsc::UnboundedSender<CarriesSender>);

#[test]
fn values_whose_drop_uses_the_channel_do_not_deadlock() {
    let (tx, rx) = mpsc::unbounded_channel();
    for _ in 0..3 {
        tx.send(CarriesSender(tx.clone())).unwrap();
    }
    // Dropping the receiver drops the values, each dropping a sender.
    drop(rx);
    assert!(tx.is_closed());
    let (tx, mut rx) = mpsc::channel(2);
    let (inner_tx, mut inner_rx) = mpsc::unbounded_channel();
    tx.try_send(CarriesSender(inner_tx)).unwrap();
    drop(rx.try_recv().unwrap());
    assert_eq!(inner_rx.try_recv().err(), Some(TryRecvError::Disconnected));
}

#[test]
fn receivers_are_streams() {
    use futures::StreamExt;
    ferrio::run(async {
        let (tx, rx) = mpsc::channel(3);
        let producer = ferrio::spawn(async move {
            for i in 0..10u32 {
                tx.send(i).await.unwrap();
            }
        });
        let got: Vec<u32> = rx.collect().await;
        producer.await.unwrap();
        assert_eq!(got, (0..10).collect::<Vec<_>>());
        let (tx, rx) = mpsc::unbounded_channel();
        tx.send("a").unwrap();
        drop(tx);
        assert_eq!(rx.collect::<Vec<_>>().await, ["a"]);
    });
}

#[test]
#[should_panic(expected = "ferrio: mpsc::channel needs a capacity of at least 1")]
fn a_bounded_channel_of_no_slot_is_refused() {
    let _ = mpsc::channel::<u8>(0);
}

#[test]
fn debug_output_needs_no_debug_values() {
    let (tx, rx) = mpsc::channel::<Opaque>(3);
    assert_eq!(
        format!("{tx:?}"),
        "Sender { len: 0, max_capacity: 3, senders: 1, closed: false }"
    );
    assert!(format!("{rx:?}").starts_with("Receiver {"));
    let (utx, _urx) = mpsc::unbounded_channel::<Opaque>();
    assert_eq!(
        format!("{utx:?}"),
        "UnboundedSender { len: 0, senders: 1, closed: false }"
    );
    assert_eq!(format!("{:?}", tx.try_reserve().unwrap()), "Permit { .. }");
}

// --- cancellation -----------------------------------------------------------

#[test]
fn a_dropped_recv_loses_no_value_and_leaves_no_waker() {
    let (tx, mut rx) = mpsc::channel(1);
    let w = TestWaker::new();
    {
        let mut recv = Box::pin(rx.recv());
        assert!(w.poll(recv.as_mut()).is_pending());
        assert_eq!(w.outstanding(), 1, "registered");
    }
    assert_eq!(w.outstanding(), 0, "the dropped recv took its waker back");
    // Woken by a send, then dropped before it polls again: the value stays.
    {
        let mut recv = Box::pin(rx.recv());
        assert!(w.poll(recv.as_mut()).is_pending());
        tx.try_send(5).unwrap();
        assert_eq!(w.wakes(), 1);
    }
    assert_eq!(w.outstanding(), 0);
    assert_eq!(rx.try_recv(), Ok(5));
    // The same through a task: a receiving task cancelled while it waits
    // takes its receiver (and the channel) down with it.
    let rt = rt(2);
    let (tx, mut rx) = mpsc::unbounded_channel::<u32>();
    let (pending_tx, pending_rx) = std::sync::mpsc::channel();
    let waiting =
        rt.spawn(async move { super::common::tell_when_pending(rx.recv(), pending_tx).await });
    pending_rx.recv().unwrap();
    assert!(!tx.is_closed());
    waiting.cancel();
    assert!(rt.block_on(waiting).unwrap_err().is_cancelled());
    assert!(tx.is_closed(), "the receiver dropped with the task");
    assert_eq!(tx.send(1), Err(SendError(1)));
}

#[test]
fn a_dropped_send_loses_no_slot_and_leaves_no_waker() {
    // Dropped while waiting in line, behind nobody: nothing changes.
    let (tx, mut rx) = mpsc::channel(1);
    tx.try_send(0).unwrap();
    let (w, w2) = (TestWaker::new(), TestWaker::new());
    {
        let mut send = Box::pin(tx.send(1));
        assert!(w.poll(send.as_mut()).is_pending());
    }
    assert_eq!(w.outstanding(), 0);
    assert_eq!(rx.try_recv(), Ok(0));
    assert_eq!(tx.capacity(), 1, "no slot kept for the dropped send");
    // Handed a slot, then dropped before polling again: the slot passes to
    // the next sender in line, which is woken.
    tx.try_send(0).unwrap();
    let mut first = Box::pin(tx.send(1));
    let mut second = Box::pin(tx.send(2));
    assert!(w.poll(first.as_mut()).is_pending());
    assert!(w2.poll(second.as_mut()).is_pending());
    assert_eq!(rx.try_recv(), Ok(0));
    assert_eq!((w.wakes(), w2.wakes()), (1, 0));
    drop(first);
    assert_eq!(w2.wakes(), 1, "the wake-up was passed on");
    assert_eq!(w2.poll(second.as_mut()), Poll::Ready(Ok(())));
    drop(second);
    assert_eq!((w.outstanding(), w2.outstanding()), (0, 0));
    assert_eq!(rx.try_recv(), Ok(2), "1 was never sent");
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    assert_eq!(tx.capacity(), 1);
}

#[test]
fn a_send_cancelled_at_every_point_loses_nothing() {
    // Events before poll i: 1 = a second sender queues behind, 2 = the
    // receiver takes a value (the slot goes to us), 3 = it takes another.
    for k in 0..=5 {
        let (tx, mut rx) = mpsc::channel(1);
        tx.try_send(100).unwrap();
        let (w, w2) = (TestWaker::new(), TestWaker::new());
        let mut op = Box::pin(tx.send(1));
        let mut behind = None;
        let mut received = Vec::new();
        let mut done = false;
        for i in 0..=k {
            match i {
                1 => {
                    let mut b = Box::pin(tx.send(2));
                    assert!(w2.poll(b.as_mut()).is_pending());
                    behind = Some(b);
                }
                2 | 3 => received.extend(rx.try_recv().ok()),
                _ => {}
            }
            if i == k || done {
                continue;
            }
            if let Poll::Ready(r) = w.poll(op.as_mut()) {
                r.unwrap();
                done = true;
            }
        }
        drop(op);
        assert_eq!(w.outstanding(), 0, "k={k}: waker left behind");
        if let Some(mut b) = behind {
            if w2.poll(b.as_mut()).is_pending() {
                // Only while the one slot is taken (by 100 or by 1).
                received.extend(rx.try_recv().ok());
                assert!(w2.wakes() >= 1, "k={k}: the sender behind not woken");
                assert_eq!(w2.poll(b.as_mut()), Poll::Ready(Ok(())), "k={k}");
            }
            drop(b);
            assert_eq!(w2.outstanding(), 0, "k={k}");
        }
        received.extend(std::iter::from_fn(|| rx.try_recv().ok()));
        // 100 first; then ours if it got in; then the one queued behind
        // us (from event 1 on), which always gets in once we are gone.
        let mut expected = vec![100];
        if done {
            expected.push(1);
        }
        if k >= 1 {
            expected.push(2);
        }
        assert_eq!(received, expected, "k={k}: values lost or duplicated");
        assert_eq!(tx.capacity(), 1, "k={k}: slot lost");
    }
}

#[test]
fn a_dropped_reserve_passes_its_slot_on_and_a_dropped_closed_leaves_no_waker() {
    let (tx, mut rx) = mpsc::channel(1);
    tx.try_send(0).unwrap();
    let (w, w2) = (TestWaker::new(), TestWaker::new());
    let mut first = Box::pin(tx.reserve());
    let mut second = Box::pin(tx.reserve());
    assert!(w.poll(first.as_mut()).is_pending());
    assert!(w2.poll(second.as_mut()).is_pending());
    assert_eq!(rx.try_recv(), Ok(0));
    drop(first);
    assert_eq!(w2.wakes(), 1);
    let Poll::Ready(Ok(permit)) = w2.poll(second.as_mut()) else {
        panic!("the slot was not passed on")
    };
    permit.send(1);
    drop(second);
    assert_eq!((w.outstanding(), w2.outstanding()), (0, 0));
    assert_eq!(rx.try_recv(), Ok(1));
    {
        let mut closed = Box::pin(tx.closed());
        assert!(w.poll(closed.as_mut()).is_pending());
        assert_eq!(w.outstanding(), 1);
    }
    assert_eq!(w.outstanding(), 0);
}

// --- across threads and workers ---------------------------------------------

#[test]
fn senders_on_plain_threads_through_a_runtime_handle() {
    const PER: u32 = 500;
    let rt = rt(2);
    let (tx, mut rx) = mpsc::channel::<(u32, u32)>(8);
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let (tx, handle) = (tx.clone(), rt.handle().clone());
            std::thread::spawn(move || {
                for i in 0..PER {
                    handle.block_on(tx.send((t, i))).unwrap();
                }
            })
        })
        .collect();
    drop(tx);
    let got = rt.block_on(async move {
        let mut got = Vec::new();
        while let Some(v) = rx.recv().await {
            got.push(v);
        }
        got
    });
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(got.len(), 4 * PER as usize);
    for t in 0..4 {
        let mine: Vec<u32> = got.iter().filter(|v| v.0 == t).map(|v| v.1).collect();
        assert_eq!(mine, (0..PER).collect::<Vec<_>>(), "sender {t}: order");
    }
}

#[test]
fn producer_tasks_on_two_workers_into_one_consumer() {
    const PER: u32 = 2_000;
    let rt = rt(2);
    rt.block_on(async {
        let (tx, mut rx) = mpsc::channel::<(u32, u32)>(16);
        let (utx, mut urx) = mpsc::unbounded_channel::<(u32, u32)>();
        for p in 0..6 {
            let (tx, utx) = (tx.clone(), utx.clone());
            drop(ferrio::spawn(async move {
                for i in 0..PER {
                    tx.send((p, i)).await.unwrap();
                    utx.send((p, i)).unwrap();
                }
            }));
        }
        drop((tx, utx));
        let mut next = [0u32; 6];
        while let Some((p, i)) = rx.recv().await {
            assert_eq!(i, next[p as usize], "producer {p}: order");
            next[p as usize] += 1;
        }
        assert_eq!(next, [PER; 6]);
        let mut next = [0u32; 6];
        while let Some((p, i)) = urx.recv().await {
            assert_eq!(i, next[p as usize]);
            next[p as usize] += 1;
        }
        assert_eq!(next, [PER; 6]);
    });
}

#[test]
fn a_receiver_task_and_sender_tasks_see_close_across_workers() {
    let rt = rt(2);
    rt.block_on(async {
        let (tx, mut rx) = mpsc::channel::<u32>(1);
        tx.send(0).await.unwrap();
        // Senders blocked on the full channel on any worker fail at close.
        let blocked: Vec<_> = (1..=4)
            .map(|i| {
                let tx = tx.clone();
                ferrio::spawn(async move { tx.send(i).await })
            })
            .collect();
        let watcher = {
            let tx = tx.clone();
            ferrio::spawn(async move { tx.closed().await })
        };
        rx.close();
        let mut failed = 0;
        for b in blocked {
            match b.await.unwrap() {
                Ok(()) => {}
                Err(SendError(_)) => failed += 1,
            }
        }
        watcher.await.unwrap();
        // Whatever got in before the close is still received.
        let mut got = 0;
        while rx.recv().await.is_some() {
            got += 1;
        }
        assert_eq!(got + failed, 5);
    });
}
