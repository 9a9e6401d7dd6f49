//! Loom models of the epoll driver: a descriptor's readiness protocol
//! (an event is never lost between an operation's `EAGAIN` and its wait;
//! shutdown wakes every waiter; a cancelled waiter leaves nothing
//! behind), and the operation loop that runs it. The shipped code runs;
//! only the socket (and the owner's `epoll_wait`) is a stand-in.
#![cfg(ferrio_loom)]

use std::future::poll_fn;
use std::task::Poll;

use ferrio::loom_models::{Dir, EpollOpModel, ReadinessModel, Ready, RegistrationsModel, Wait};
use loom::sync::atomic::{AtomicBool, Ordering::SeqCst};
use loom::sync::Arc;
use loom::thread;

#[test]
fn readiness_close_wakes_a_waiter() {
    loom::model(|| {
        let io = ReadinessModel::default();
        let io2 = io.clone();
        let owner = thread::spawn(move || io2.close());
        let mut key = None;
        // Not ready (a first call answered EAGAIN at tick 0), then wait.
        let closed = loom::future::block_on(poll_fn(|cx| {
            match io.clear_and_wait(0, &mut key, cx.waker()) {
                Wait::Retry => unreachable!("no event"),
                Wait::Pending => Poll::Pending,
                Wait::Closed => Poll::Ready(true),
            }
        }));
        owner.join().unwrap();
        assert!(closed);
        assert_eq!(io.waiters(), 0);
    });
}

#[test]
fn readiness_cancelled_waiter_leaves_nothing_racing_an_event() {
    loom::model(|| {
        let io = ReadinessModel::default();
        let io2 = io.clone();
        let owner = thread::spawn(move || io2.dispatch_readable());
        let mut key = None;
        let waker = std::task::Waker::noop().clone();
        let first = io.clear_and_wait(0, &mut key, &waker);
        assert!(matches!(first, Wait::Pending | Wait::Retry));
        // The operation's future is dropped.
        io.cancel(&mut key);
        owner.join().unwrap();
        assert_eq!(io.waiters(), 0);
    });
}

/// One operation in `dir` as `driver::epoll_op::EpollOp::poll` runs it, on a
/// stand-in call that succeeds once `ready` is set: `Some(())` when it
/// went through, `None` when the driver closed.
async fn operate(io: &ReadinessModel, dir: Dir, ready: &AtomicBool) -> Option<()> {
    let mut key = None;
    poll_fn(|cx| loop {
        let tick = match io.poll_ready_for(dir, &mut key, cx.waker()) {
            Ready::Go(t) => t,
            Ready::Pending => return Poll::Pending,
            Ready::Closed => {
                io.cancel(&mut key);
                return Poll::Ready(None);
            }
        };
        if ready.load(SeqCst) {
            io.cancel(&mut key);
            return Poll::Ready(Some(()));
        }
        match io.clear_and_wait_for(dir, tick, &mut key, cx.waker()) {
            Wait::Retry => continue,
            Wait::Pending => return Poll::Pending,
            Wait::Closed => {
                io.cancel(&mut key);
                return Poll::Ready(None);
            }
        }
    })
    .await
}

#[test]
fn a_reader_and_a_writer_on_one_descriptor_end_when_close_races_the_event() {
    loom::model(|| {
        let io = ReadinessModel::default();
        let readable = Arc::new(AtomicBool::new(false));
        let writable = Arc::new(AtomicBool::new(false));
        let (io2, r2, w2) = (io.clone(), readable.clone(), writable.clone());
        // The peer sends and makes room; the owner delivers one edge for
        // both directions.
        let owner = thread::spawn(move || {
            r2.store(true, SeqCst);
            w2.store(true, SeqCst);
            io2.dispatch_both();
        });
        // The runtime shutting down closes the registration meanwhile.
        let io3 = io.clone();
        let closer = thread::spawn(move || io3.close());
        let (io4, w4) = (io.clone(), writable.clone());
        let writer = thread::spawn(move || loom::future::block_on(operate(&io4, Dir::Write, &w4)));
        // Either ends with its call made or with Closed; a lost wake-up
        // leaves one waiting forever: a loom deadlock.
        let _read = loom::future::block_on(operate(&io, Dir::Read, &readable));
        let _wrote = writer.join().unwrap();
        owner.join().unwrap();
        closer.join().unwrap();
        assert_eq!(io.waiters(), 0, "no waiter left behind");
    });
}

#[test]
fn one_edge_both_ways_wakes_the_reader_and_the_writer() {
    loom::model(|| {
        let io = ReadinessModel::default();
        let readable = Arc::new(AtomicBool::new(false));
        let writable = Arc::new(AtomicBool::new(false));
        let (io2, r2, w2) = (io.clone(), readable.clone(), writable.clone());
        let owner = thread::spawn(move || {
            r2.store(true, SeqCst);
            w2.store(true, SeqCst);
            io2.dispatch_both();
        });
        let (io3, w3) = (io.clone(), writable.clone());
        let writer = thread::spawn(move || loom::future::block_on(operate(&io3, Dir::Write, &w3)));
        // Nothing closes: each must make its call (a waiter the edge did
        // not wake waits forever: a loom deadlock).
        assert_eq!(
            loom::future::block_on(operate(&io, Dir::Read, &readable)),
            Some(())
        );
        assert_eq!(writer.join().unwrap(), Some(()));
        owner.join().unwrap();
        assert_eq!(io.waiters(), 0);
    });
}

#[test]
fn the_shipped_op_loop_never_misses_the_edge_of_a_send() {
    loom::model(|| {
        let sock = EpollOpModel::default();
        let (peer, owner) = (sock.clone(), sock.clone());
        let peer = thread::spawn(move || peer.send(1));
        let owner = thread::spawn(move || owner.deliver_until_finished());
        // The send lands before the first call, between its EAGAIN and
        // the registration, or after the wait: a lost edge leaves this
        // receive waiting forever (a loom deadlock).
        assert_eq!(loom::future::block_on(sock.receive()), 1);
        peer.join().unwrap();
        sock.finish();
        owner.join().unwrap();
        assert_eq!(sock.waiters(), 0, "no waiter left behind");
    });
}

#[test]
fn the_shipped_op_loop_takes_two_sends_across_a_drained_read() {
    loom::model(|| {
        let sock = EpollOpModel::default();
        sock.send(1);
        let (peer, owner) = (sock.clone(), sock.clone());
        let peer = thread::spawn(move || peer.send(1));
        let owner = thread::spawn(move || owner.deliver_until_finished());
        let mut got = 0;
        while got < 2 {
            got += loom::future::block_on(sock.receive());
        }
        assert_eq!(got, 2);
        peer.join().unwrap();
        sock.finish();
        owner.join().unwrap();
    });
}

#[test]
fn the_shipped_op_loop_keeps_a_hang_up_in_the_same_edge_as_the_last_data() {
    loom::model(|| {
        let sock = EpollOpModel::default();
        let (peer, owner) = (sock.clone(), sock.clone());
        let peer = thread::spawn(move || peer.send_and_hang_up(1));
        let owner = thread::spawn(move || owner.deliver_until_finished());
        // Data, then end of stream: a hang-up cleared with the drained
        // data would leave the second receive waiting forever.
        let mut reads = Vec::new();
        loop {
            let n = loom::future::block_on(sock.receive());
            reads.push(n);
            if n == 0 {
                break;
            }
        }
        assert_eq!(reads.iter().sum::<usize>(), 1);
        peer.join().unwrap();
        sock.finish();
        owner.join().unwrap();
    });
}

#[test]
fn a_registration_dropped_while_its_event_is_in_a_batch_is_freed_after_it() {
    loom::model(|| {
        let set = RegistrationsModel::default();
        let reg = set.register(3);
        set.ready(3);
        let (peer, owner) = (set.clone(), set.clone());
        // More readiness while the descriptor closes.
        let peer = thread::spawn(move || peer.ready(3));
        // The owner's batches, racing the close: an event of the closing
        // descriptor may be in either; its `ScheduledIo` must outlive it.
        let owner = thread::spawn(move || {
            owner.batch();
            owner.batch();
        });
        drop(reg);
        peer.join().unwrap();
        owner.join().unwrap();
        set.shutdown();
    });
}

#[test]
fn a_registration_dropped_across_the_shutdown_is_closed_or_freed_once() {
    loom::model(|| {
        let set = RegistrationsModel::default();
        let reg = set.register(3);
        set.ready(3);
        let owner = set.clone();
        let owner = thread::spawn(move || {
            owner.batch();
            owner.shutdown();
        });
        drop(reg);
        owner.join().unwrap();
    });
}
