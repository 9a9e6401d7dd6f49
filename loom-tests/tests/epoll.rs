//! Loom models of the epoll driver: its park/unpark over an eventfd, and
//! a descriptor's readiness protocol (an event is never lost between an
//! operation's `EAGAIN` and its wait; shutdown wakes every waiter; a
//! cancelled waiter leaves nothing behind). The shipped code runs; only
//! the eventfd and the socket are stand-ins.
#![cfg(ferrio_loom)]

use std::future::poll_fn;
use std::task::Poll;

use ferrio::loom_models::{EpollParkModel, ReadinessModel, Wait};
use loom::sync::atomic::{AtomicBool, Ordering::SeqCst};
use loom::sync::{Arc, Mutex};
use loom::thread;

#[test]
fn epoll_park_unpark_never_loses_a_wakeup() {
    loom::model(|| {
        let park = Arc::new(EpollParkModel::default());
        let work = Arc::new(AtomicBool::new(false));
        let (p2, w2) = (park.clone(), work.clone());
        let waker = thread::spawn(move || {
            w2.store(true, SeqCst);
            p2.unpark();
        });
        // A lost wake-up leaves this loop parked forever: a loom deadlock.
        while !work.load(SeqCst) {
            park.park();
        }
        waker.join().unwrap();
        // Only a parked worker costs an eventfd write.
        assert!(park.writes() <= 1);
    });
}

#[test]
fn epoll_two_unparks_one_park() {
    loom::model(|| {
        let park = Arc::new(EpollParkModel::default());
        let work = Arc::new(loom::sync::atomic::AtomicUsize::new(0));
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let (p, w) = (park.clone(), work.clone());
                thread::spawn(move || {
                    w.fetch_add(1, SeqCst);
                    p.unpark();
                })
            })
            .collect();
        while work.load(SeqCst) < 2 {
            park.park();
        }
        for t in threads {
            t.join().unwrap();
        }
    });
}

/// The stand-in socket: a flag under a lock, as the kernel's socket lock
/// orders a sender and a receiver.
type Socket = Mutex<bool>;

/// One non-blocking receive: the data if there is some (taking it), else
/// `EAGAIN`.
fn try_recv(socket: &Socket) -> bool {
    std::mem::take(&mut *socket.lock().unwrap())
}

#[test]
fn readiness_event_between_eagain_and_wait_is_not_lost() {
    loom::model(|| {
        let io = ReadinessModel::default();
        let socket = Arc::new(Socket::new(false));
        let (io2, s2) = (io.clone(), socket.clone());
        // The peer sends; the owner worker delivers the edge.
        let owner = thread::spawn(move || {
            *s2.lock().unwrap() = true;
            io2.dispatch_readable();
        });
        // The operation, as `driver::fallback::poll` runs it: a lost
        // event leaves it pending forever (a loom deadlock).
        let mut key = None;
        loom::future::block_on(poll_fn(|cx| loop {
            if try_recv(&socket) {
                io.cancel(&mut key);
                return Poll::Ready(());
            }
            match io.wait(&mut key, cx.waker()) {
                Wait::Retry => continue,
                Wait::Pending => return Poll::Pending,
                Wait::Closed => panic!("not closed here"),
            }
        }));
        owner.join().unwrap();
        assert_eq!(io.waiters(), 0, "no waiter left behind");
    });
}

#[test]
fn readiness_close_wakes_a_waiter() {
    loom::model(|| {
        let io = ReadinessModel::default();
        let io2 = io.clone();
        let owner = thread::spawn(move || io2.close());
        let mut key = None;
        let closed = loom::future::block_on(poll_fn(|cx| match io.wait(&mut key, cx.waker()) {
            Wait::Retry => unreachable!("no event"),
            Wait::Pending => Poll::Pending,
            Wait::Closed => Poll::Ready(true),
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
        let waker = futures_noop_waker();
        let first = io.wait(&mut key, &waker);
        assert!(matches!(first, Wait::Pending | Wait::Retry));
        // The operation's future is dropped.
        io.cancel(&mut key);
        owner.join().unwrap();
        assert_eq!(io.waiters(), 0);
    });
}

fn futures_noop_waker() -> std::task::Waker {
    std::task::Waker::noop().clone()
}
