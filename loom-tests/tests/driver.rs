//! Loom models of the drivers' protocols: the park routine both drivers
//! use (shipped), an operation's completion racing the drop of its
//! future, a timer cancelled from another thread, and the remote queue
//! with its cancel routing.
#![cfg(ferrio_loom)]

use ferrio::loom_models::{DriverParkModel, OpCell, RingModel};
use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use loom::sync::Arc;
use loom::thread;
use loom_tests::Counted;

/// Both drivers park through this routine (`driver::parking`): the
/// ring over its armed eventfd read, epoll over its eventfd in the set.
#[test]
fn park_routine_never_loses_a_wakeup() {
    loom::model(|| {
        let park = Arc::new(DriverParkModel::default());
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
fn park_routine_two_unparks_one_park() {
    loom::model(|| {
        let park = Arc::new(DriverParkModel::default());
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

#[test]
fn op_completion_races_future_drop() {
    loom::model(|| {
        let cell = Arc::new(OpCell::new());
        let (buf, drops) = Counted::new();
        let c2 = cell.clone();
        let ring = thread::spawn(move || c2.complete(42, false));
        let outcome = match cell.poll() {
            Some((res, last)) => {
                assert_eq!((res, last), (42, true));
                drop(buf);
                "completed"
            }
            None => {
                if cell.abandon(Box::new(buf)) {
                    "abandoned in flight"
                } else {
                    "abandoned after completion"
                }
            }
        };
        assert!(ring.join().unwrap(), "a single-shot op's CQE is its last");
        // Whatever the interleaving, the buffer is freed exactly once, and
        // never while the op was in flight.
        assert_eq!(drops.load(SeqCst), 1, "{outcome}");
    });
}

#[test]
fn pooled_buffer_of_an_abandoned_receive_goes_back_exactly_once() {
    loom::model(|| {
        let recycled = Arc::new(AtomicUsize::new(0));
        let r = recycled.clone();
        let cell = Arc::new(OpCell::with_recycler(move |_bid| {
            r.fetch_add(1, SeqCst);
        }));
        let c2 = cell.clone();
        // A multi-shot receive: two completions, each with a buffer.
        let ring = thread::spawn(move || {
            c2.complete_with_buffer(100, 3, true);
            c2.complete_with_buffer(50, 4, false)
        });
        // The future takes at most one result, then is dropped.
        let taken = match cell.poll() {
            Some((res, _)) => {
                assert_eq!(res, 100);
                1 // the reader owns buffer 3 and gives it back itself
            }
            None => 0,
        };
        cell.abandon(Box::new(()));
        assert!(ring.join().unwrap());
        // Every buffer the kernel lent comes back once: by the reader, or
        // by the cell for completions nobody took.
        assert_eq!(recycled.load(SeqCst) + taken, 2);
    });
}

// The driver's remote queue, `closed` flag and cancel routing
// (`driver::remote`), over a stand-in submission queue. Rule checked: an
// op's SQE reaches the kernel before any cancel aimed at it, so a dropped
// op never stays in flight; and nothing pushed around shutdown is stranded.

/// Defect 5 of issue 14: an op started off the workers waits in the
/// worker's remote queue; its future moves to the worker and is dropped
/// there, while the worker may or may not have drained the queue.
#[test]
fn op_dropped_on_its_worker_never_overtakes_its_remote_submit() {
    loom::model(|| {
        let ring = RingModel::new(); // this thread is the worker
        let r2 = ring.clone();
        let block_on = thread::spawn(move || r2.start_op());
        ring.drain();
        // The future arrives on the worker and is dropped there.
        let op = block_on.join().unwrap();
        let (buf, drops) = Counted::new();
        op.drop_future(Box::new(buf));
        ring.drain();
        let k = ring.run_kernel(false);
        assert_eq!(k.in_flight, 0, "the dropped op stays in flight: {k:?}");
        assert_eq!(k.missed, 0, "a cancel overtook its op: {k:?}");
        assert_eq!(drops.load(SeqCst), 1, "resources freed once, at the end");
    });
}

/// An op started off the workers is dropped on a third thread while the
/// worker drains: the drop and the drain race on the op's cell (before,
/// between and after the drain's `begin_submit` and `end_submit`).
#[test]
fn op_dropped_off_the_workers_races_the_drain() {
    loom::model(|| {
        let ring = RingModel::new();
        let r2 = ring.clone();
        let op = thread::spawn(move || r2.start_op()).join().unwrap();
        let (buf, drops) = Counted::new();
        let other = thread::spawn(move || op.drop_future(Box::new(buf)));
        ring.drain();
        other.join().unwrap();
        ring.drain();
        let k = ring.run_kernel(false);
        assert_eq!(k.in_flight, 0, "{k:?}");
        assert_eq!(k.missed, 0, "{k:?}");
        assert_eq!(drops.load(SeqCst), 1);
    });
}

/// A conversion to std cancels a receive it keeps waiting for
/// (`Op::cancel_and_wait`), on a thread other than the worker, while the
/// worker drains: the op ends cancelled (unsubmitted, or by a cancel
/// behind it), never in flight with its cancel lost.
#[test]
fn cancel_requested_while_kept_races_the_drain() {
    loom::model(|| {
        let ring = RingModel::new();
        let r2 = ring.clone();
        let op = thread::spawn(move || r2.start_op()).join().unwrap();
        let other = thread::spawn(move || {
            op.request_cancel();
            op
        });
        ring.drain();
        let op = other.join().unwrap();
        ring.drain();
        let k = ring.run_kernel(false);
        assert_eq!(k.in_flight, 0, "{k:?}");
        assert_eq!(k.missed, 0, "{k:?}");
        assert_eq!(op.poll(), Some(-libc_ecanceled()), "the outcome is known");
    });
}

/// An op started on the worker (straight into its submission queue) and
/// dropped on another thread: the cancel comes back through the remote
/// queue, behind the op.
#[test]
fn local_op_cancelled_from_another_thread_is_cancelled() {
    loom::model(|| {
        let ring = RingModel::new();
        let op = ring.start_op();
        let (buf, drops) = Counted::new();
        let other = thread::spawn(move || op.drop_future(Box::new(buf)));
        ring.drain();
        other.join().unwrap();
        ring.drain();
        let k = ring.run_kernel(false);
        assert_eq!((k.submitted, k.cancelled, k.in_flight), (1, 1, 0), "{k:?}");
        assert_eq!(drops.load(SeqCst), 1);
    });
}

/// Shutdown: an op submitted (and maybe dropped) from another thread
/// while the worker drains for the last time and closes the queue. It is
/// drained (and cancelled with the ring's ops), or finished as cancelled
/// by the close or by the push that finds the queue closed: never left
/// waiting in a queue nobody drains.
#[test]
fn late_requests_at_shutdown_are_finished() {
    loom::model(|| {
        let ring = RingModel::new();
        let r2 = ring.clone();
        let other = thread::spawn(move || r2.start_op());
        ring.drain();
        ring.close();
        ring.run_kernel(true);
        let op = other.join().unwrap();
        assert_eq!(
            op.poll(),
            Some(-libc_ecanceled()),
            "the op's future is answered"
        );
        // A drop after shutdown: nothing to cancel, nothing freed twice.
        let (buf, drops) = Counted::new();
        op.drop_future(Box::new(buf));
        assert_eq!(drops.load(SeqCst), 1);
        assert_eq!(ring.drain(), 0);
    });
}

/// As above, with the future dropped on the other thread right after it
/// started the op: the cancel (if one is sent) may find the queue closed.
#[test]
fn late_drop_at_shutdown_frees_the_op_once() {
    loom::model(|| {
        let ring = RingModel::new();
        let (buf, drops) = Counted::new();
        let r2 = ring.clone();
        let other = thread::spawn(move || {
            let op = r2.start_op();
            op.drop_future(Box::new(buf));
        });
        ring.drain();
        ring.close();
        other.join().unwrap();
        let k = ring.run_kernel(true);
        assert_eq!(k.in_flight, 0, "{k:?}");
        assert_eq!(drops.load(SeqCst), 1, "freed exactly once: {k:?}");
    });
}

/// Two threads off the workers each start an op; one drops its own op,
/// the other hands its op to the worker, which drops it, drains, and shuts
/// down (last drain, close, kernel cancels what it holds). Every op ends
/// exactly once, with no cancel overtaking its op.
#[test]
fn two_remote_ops_dropped_on_both_sides_across_shutdown() {
    loom::model(|| {
        let ring = RingModel::new();
        let (buf_a, drops_a) = Counted::new();
        let (buf_b, drops_b) = Counted::new();
        let r2 = ring.clone();
        let a = thread::spawn(move || {
            let op = r2.start_op();
            op.drop_future(Box::new(buf_a));
        });
        let r3 = ring.clone();
        let b = thread::spawn(move || r3.start_op());
        ring.drain();
        let op_b = b.join().unwrap();
        op_b.drop_future(Box::new(buf_b));
        ring.drain();
        ring.close();
        a.join().unwrap();
        let k = ring.run_kernel(true);
        assert_eq!(k.missed, 0, "a cancel overtook its op: {k:?}");
        assert_eq!(k.in_flight, 0, "{k:?}");
        assert_eq!(drops_a.load(SeqCst), 1, "{k:?}");
        assert_eq!(drops_b.load(SeqCst), 1, "{k:?}");
    });
}

/// `ECANCELED` (loom-tests has no libc of its own).
fn libc_ecanceled() -> i32 {
    125
}
