//! Loom models of the task state machine, reference counting and the join
//! waker hand-off, driven through the real task code with a test scheduler.
#![cfg(ferrio_loom)]

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use ferrio::loom_models::TestScheduler;
use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use loom::sync::{Arc, Mutex};
use loom::thread;
use loom_tests::Counted;

/// Pending until `ready` is set; parks its waker in `slot`.
struct Gate {
    ready: Arc<AtomicBool>,
    slot: Arc<Mutex<Option<Waker>>>,
    drops: Arc<AtomicUsize>,
}

impl Future for Gate {
    type Output = u32;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<u32> {
        if self.ready.load(SeqCst) {
            return Poll::Ready(7);
        }
        *self.slot.lock().unwrap() = Some(cx.waker().clone());
        if self.ready.load(SeqCst) {
            return Poll::Ready(7);
        }
        Poll::Pending
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        self.drops.fetch_add(1, SeqCst);
    }
}

fn gate() -> (
    Gate,
    Arc<AtomicBool>,
    Arc<Mutex<Option<Waker>>>,
    Arc<AtomicUsize>,
) {
    let ready = Arc::new(AtomicBool::new(false));
    let slot = Arc::new(Mutex::new(None));
    let drops = Arc::new(AtomicUsize::new(0));
    (
        Gate {
            ready: ready.clone(),
            slot: slot.clone(),
            drops: drops.clone(),
        },
        ready,
        slot,
        drops,
    )
}

fn open(ready: &AtomicBool, slot: &Mutex<Option<Waker>>) {
    ready.store(true, SeqCst);
    let w = slot.lock().unwrap().take();
    if let Some(w) = w {
        w.wake();
    }
}

fn poll_once<F: Future + Unpin>(f: &mut F) -> Poll<F::Output> {
    let waker = futures_noop_waker();
    let mut cx = Context::from_waker(&waker);
    Pin::new(f).poll(&mut cx)
}

fn futures_noop_waker() -> Waker {
    Waker::noop().clone()
}

#[test]
fn wake_during_poll_is_not_lost() {
    loom::model(|| {
        let sched = TestScheduler::new();
        let (fut, ready, slot, drops) = gate();
        let mut task = sched.spawn(fut);
        let waker_thread = thread::spawn(move || open(&ready, &slot));
        sched.run_all();
        waker_thread.join().unwrap();
        sched.run_all();
        match poll_once(&mut task) {
            Poll::Ready(Ok(7)) => {}
            other => panic!("task did not complete: {:?}", other.map(|r| r.is_ok())),
        }
        assert_eq!(drops.load(SeqCst), 1);
        assert_eq!(sched.live_tasks(), 0);
    });
}

#[test]
fn cancel_during_poll_drops_future_once() {
    loom::model(|| {
        let sched = TestScheduler::new();
        let (fut, _ready, _slot, drops) = gate();
        let task = Arc::new(sched.spawn(fut));
        let t2 = task.clone();
        let canceller = thread::spawn(move || assert!(t2.cancel()));
        sched.run_all();
        canceller.join().unwrap();
        sched.run_all();
        assert!(task.is_done());
        assert!(task.is_cancelled());
        assert_eq!(drops.load(SeqCst), 1);
        assert_eq!(sched.live_tasks(), 0);
    });
}

#[test]
fn cancel_races_completion() {
    loom::model(|| {
        let sched = TestScheduler::new();
        let (out, out_drops) = Counted::new();
        let task = Arc::new(sched.spawn(async move { out }));
        let t2 = task.clone();
        let canceller = thread::spawn(move || t2.cancel());
        sched.run_all();
        let cancelled = canceller.join().unwrap();
        let mut task = Arc::try_unwrap(task).unwrap();
        match poll_once(&mut task) {
            Poll::Ready(Ok(out)) => {
                assert!(
                    !cancelled,
                    "cancel() returned true but the output came through"
                );
                drop(out);
            }
            Poll::Ready(Err(e)) => {
                assert!(cancelled && e.is_cancelled());
            }
            Poll::Pending => panic!("task not finished"),
        }
        drop(task);
        // The output, if produced, was dropped exactly once.
        assert!(out_drops.load(SeqCst) <= 1);
        assert_eq!(sched.live_tasks(), 0);
    });
}

#[test]
fn join_handle_drop_races_completion() {
    loom::model(|| {
        let sched = TestScheduler::new();
        let (out, out_drops) = Counted::new();
        let task = sched.spawn(async move { out });
        let dropper = thread::spawn(move || drop(task));
        sched.run_all();
        dropper.join().unwrap();
        assert_eq!(out_drops.load(SeqCst), 1);
        assert_eq!(sched.live_tasks(), 0);
    });
}

#[test]
fn join_waker_hand_off() {
    loom::model(|| {
        let sched = TestScheduler::new();
        let (fut, ready, slot, _drops) = gate();
        let mut task = sched.spawn(fut);
        let joiner = thread::spawn(move || {
            // First poll with one waker, then block with another: the
            // handle must swap wakers without losing the completion.
            match poll_once(&mut task) {
                Poll::Ready(out) => out,
                Poll::Pending => loom::future::block_on(task),
            }
        });
        sched.run_all();
        open(&ready, &slot);
        sched.run_all();
        assert_eq!(joiner.join().unwrap().unwrap(), 7);
    });
}

#[test]
fn waker_clones_woken_and_dropped_concurrently() {
    loom::model(|| {
        let sched = TestScheduler::new();
        let (fut, ready, slot, drops) = gate();
        let task = sched.spawn(fut);
        sched.run_all();
        let w = slot.lock().unwrap().take().unwrap();
        let w2 = w.clone();
        let r2 = ready.clone();
        let a = thread::spawn(move || {
            r2.store(true, SeqCst);
            w2.wake();
        });
        let b = thread::spawn(move || {
            w.wake_by_ref();
            drop(w);
        });
        a.join().unwrap();
        b.join().unwrap();
        sched.run_all();
        assert!(task.is_done());
        assert_eq!(drops.load(SeqCst), 1);
        drop(task);
        assert_eq!(sched.live_tasks(), 0);
    });
}

#[test]
fn shutdown_races_wake() {
    loom::model(|| {
        let sched = TestScheduler::new();
        let (fut, ready, slot, drops) = gate();
        let task = sched.spawn(fut);
        sched.run_all();
        let s2 = sched.clone();
        let waker = thread::spawn(move || open(&ready, &slot));
        s2.shutdown();
        waker.join().unwrap();
        sched.run_all();
        assert!(task.is_done());
        assert_eq!(drops.load(SeqCst), 1);
    });
}

#[test]
fn panicking_detached_task_is_reported_once() {
    loom::model(|| {
        let sched = TestScheduler::new();
        let task = sched.spawn(async {
            panic!("model panic");
        });
        let dropper = thread::spawn(move || drop(task));
        sched.run_all();
        dropper.join().unwrap();
        assert_eq!(sched.unhandled_panics(), 1);
    });
}

#[test]
fn concurrent_future_result_hand_off_to_a_blocked_thread() {
    loom::model(|| {
        let sched = TestScheduler::new();
        let (fut, ready, slot, _drops) = gate();
        let mut cf = sched.spawn_concurrent(fut);
        let waiter = thread::spawn(move || cf.result(None).ok());
        sched.run_all();
        open(&ready, &slot);
        sched.run_all();
        assert_eq!(waiter.join().unwrap(), Some(7));
    });
}
