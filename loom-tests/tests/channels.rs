//! Loom models of the `mpsc` channel's close/wake protocol, on the shipped
//! code (its public API: one mutex, the receiver's waker, the senders'
//! line for a slot): the end of the stream reaches a waiting receiver, a
//! slot that comes free reaches a waiting sender, a dropped waiting
//! sender passes its slot on, and a close reaches a waiting sender.
#![cfg(ferrio_loom)]

use std::future::Future;
use std::task::{Context, Poll, Waker};

use ferrio::sync::mpsc;
use loom::future::block_on;
use loom::thread;

#[test]
fn a_receiver_waiting_while_the_last_sender_drops_sees_the_end() {
    loom::model(|| {
        let (tx, mut rx) = mpsc::channel::<u8>(1);
        let receiver = thread::spawn(move || {
            block_on(async move {
                let first = rx.recv().await;
                let second = rx.recv().await;
                (first, second)
            })
        });
        tx.try_send(1).unwrap();
        drop(tx);
        assert_eq!(receiver.join().unwrap(), (Some(1), None));
    });
}

#[test]
fn a_sender_waiting_for_a_slot_is_woken_when_the_receiver_takes_one() {
    loom::model(|| {
        let (tx, mut rx) = mpsc::channel::<u8>(1);
        tx.try_send(1).unwrap();
        let sender = thread::spawn(move || block_on(tx.send(2)));
        assert_eq!(block_on(rx.recv()), Some(1));
        assert_eq!(block_on(rx.recv()), Some(2));
        sender.join().unwrap().unwrap();
        assert_eq!(block_on(rx.recv()), None);
    });
}

#[test]
fn a_dropped_waiting_sender_passes_its_slot_on() {
    loom::model(|| {
        let (tx, mut rx) = mpsc::channel::<u8>(1);
        tx.try_send(1).unwrap();
        let tx2 = tx.clone();
        let quitter = thread::spawn(move || {
            // Poll once (queue up, or get in), then give up.
            let mut send = Box::pin(tx2.send(2));
            let mut cx = Context::from_waker(Waker::noop());
            matches!(send.as_mut().poll(&mut cx), Poll::Ready(Ok(())))
        });
        assert_eq!(block_on(rx.recv()), Some(1));
        let sent = quitter.join().unwrap();
        if sent {
            assert_eq!(rx.try_recv(), Ok(2));
        }
        // The slot is not stuck with the dropped sender.
        assert_eq!(tx.capacity(), 1);
        tx.try_send(3).unwrap();
        assert_eq!(rx.try_recv(), Ok(3));
    });
}

#[test]
fn a_close_reaches_a_sender_waiting_for_a_slot() {
    loom::model(|| {
        let (tx, mut rx) = mpsc::channel::<u8>(1);
        tx.try_send(1).unwrap();
        let sender = thread::spawn(move || block_on(tx.send(2)));
        rx.close();
        assert_eq!(sender.join().unwrap(), Err(mpsc::error::SendError(2)));
        assert_eq!(rx.try_recv(), Ok(1));
        assert_eq!(rx.try_recv(), Err(mpsc::error::TryRecvError::Disconnected));
    });
}
