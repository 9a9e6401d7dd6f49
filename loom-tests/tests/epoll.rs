//! Loom models of the epoll driver: a descriptor's readiness protocol
//! (an event is never lost between an operation's `EAGAIN` and its wait;
//! shutdown wakes every waiter; a cancelled waiter leaves nothing
//! behind). The shipped code runs; only the socket is a stand-in.
#![cfg(ferrio_loom)]

use std::future::poll_fn;
use std::task::Poll;

use ferrio::loom_models::{Dir, ReadinessModel, Ready, Wait};
use loom::sync::atomic::{AtomicBool, Ordering::SeqCst};
use loom::sync::{Arc, Mutex};
use loom::thread;

/// The stand-in socket: bytes waiting and whether the peer hung up,
/// under a lock, as the kernel's socket lock orders a sender and a
/// receiver.
#[derive(Default)]
struct Sock {
    bytes: usize,
    eof: bool,
}

type Socket = Mutex<Sock>;

/// One non-blocking receive into a buffer larger than anything sent:
/// `Some(n)` (n = 0 at end of stream), or `None` for `EAGAIN`.
fn try_recv(socket: &Socket) -> Option<usize> {
    let mut s = socket.lock().unwrap();
    match std::mem::take(&mut s.bytes) {
        0 if s.eof => Some(0),
        0 => None,
        n => Some(n),
    }
}

/// An operation as `driver::fallback::poll` runs it on a registered
/// descriptor: ask before the call, clear on a drained read, clear and
/// wait on `EAGAIN`. Returns what the receive got.
async fn receive(io: &ReadinessModel, socket: &Socket) -> usize {
    let mut key = None;
    poll_fn(|cx| loop {
        let tick = match io.poll_ready(&mut key, cx.waker()) {
            Ready::Go(t) => t,
            Ready::Pending => return Poll::Pending,
            Ready::Closed => panic!("not closed here"),
        };
        match try_recv(socket) {
            Some(n) => {
                if n > 0 {
                    // Shorter than the buffer: drained.
                    io.clear_if(tick);
                }
                io.cancel(&mut key);
                return Poll::Ready(n);
            }
            None => match io.clear_and_wait(tick, &mut key, cx.waker()) {
                Wait::Retry => continue,
                Wait::Pending => return Poll::Pending,
                Wait::Closed => panic!("not closed here"),
            },
        }
    })
    .await
}

#[test]
fn readiness_event_between_eagain_and_wait_is_not_lost() {
    loom::model(|| {
        let io = ReadinessModel::default();
        let socket = Arc::new(Socket::default());
        let (io2, s2) = (io.clone(), socket.clone());
        // The peer sends; the owner worker delivers the edge.
        let owner = thread::spawn(move || {
            s2.lock().unwrap().bytes = 1;
            io2.dispatch_readable();
        });
        // A lost event leaves the receive pending forever: a loom deadlock.
        let got = loom::future::block_on(receive(&io, &socket));
        assert_eq!(got, 1);
        owner.join().unwrap();
        assert_eq!(io.waiters(), 0, "no waiter left behind");
    });
}

#[test]
fn a_drained_read_never_hides_the_next_edge() {
    loom::model(|| {
        let io = ReadinessModel::default();
        let socket = Arc::new(Socket::default());
        socket.lock().unwrap().bytes = 1;
        let (io2, s2) = (io.clone(), socket.clone());
        // A second piece arrives while the first is read and the mark
        // cleared as drained.
        let owner = thread::spawn(move || {
            s2.lock().unwrap().bytes += 1;
            io2.dispatch_readable();
        });
        let mut got = 0;
        while got < 2 {
            got += loom::future::block_on(receive(&io, &socket));
        }
        owner.join().unwrap();
    });
}

#[test]
fn a_hang_up_in_the_same_edge_as_the_last_data_is_kept() {
    loom::model(|| {
        let io = ReadinessModel::default();
        let socket = Arc::new(Socket::default());
        let (io2, s2) = (io.clone(), socket.clone());
        // The last bytes and the hang-up, coalesced into one edge.
        let owner = thread::spawn(move || {
            {
                let mut s = s2.lock().unwrap();
                s.bytes = 1;
                s.eof = true;
            }
            io2.dispatch_hang_up();
        });
        // Data, then end of stream: a hang-up cleared with the drained
        // data would leave the second receive waiting forever.
        let mut reads = Vec::new();
        loop {
            let n = loom::future::block_on(receive(&io, &socket));
            reads.push(n);
            if n == 0 {
                break;
            }
        }
        assert_eq!(reads.iter().sum::<usize>(), 1);
        owner.join().unwrap();
    });
}

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

/// One operation in `dir` as `driver::fallback::poll` runs it, on a
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
