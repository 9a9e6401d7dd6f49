//! Loom models of parking: the parker's wake-up protocol, and the
//! idle/searching protocol with a task pushed while the workers sleep, on
//! the real `Idle` and `Parker` but with the worker loop's steps written out
//! here (a copy, without its SeqCst fences). `runtime.rs` runs the shipped
//! `Worker::run` itself; this copy stays because it runs two workers at a
//! deeper preemption bound than the whole runtime can afford.
#![cfg(ferrio_loom)]

use ferrio::__loom::{Idle, Parker};
use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use loom::sync::{Arc, Mutex};
use loom::thread;

#[test]
fn unpark_is_never_lost() {
    loom::model(|| {
        let parker = Parker::new();
        let unparker = parker.unparker();
        let flag = Arc::new(AtomicBool::new(false));
        let f2 = flag.clone();
        let t = thread::spawn(move || {
            f2.store(true, SeqCst);
            unparker.unpark();
        });
        while !flag.load(SeqCst) {
            parker.park();
        }
        t.join().unwrap();
    });
}

#[test]
fn two_unparks_one_park() {
    loom::model(|| {
        let parker = Parker::new();
        let u1 = parker.unparker();
        let u2 = parker.unparker();
        let a = thread::spawn(move || u1.unpark());
        let b = thread::spawn(move || u2.unpark());
        a.join().unwrap();
        b.join().unwrap();
        // Both notifications collapse into one pending token.
        parker.park();
    });
}

/// One worker and one producer, following the worker loop's steps
/// (`Worker::steal_work`, `Worker::park`) and the producer's
/// (`Shared::schedule_remote` → `notify_parked`) over the real `Idle` and
/// `Parker`: the pushed item must be taken, whatever the interleaving.
fn worker_takes_remote_push(workers: usize) {
    loom::model(move || {
        let idle = Arc::new(Idle::new(workers));
        let queue = Arc::new(Mutex::new(Vec::<u32>::new()));
        let parkers: Vec<_> = (0..workers).map(|_| Parker::new()).collect();
        let unparkers: Arc<Vec<_>> = Arc::new(parkers.iter().map(|p| p.unparker()).collect());
        let taken = Arc::new(AtomicUsize::new(0));

        let notify = {
            let idle = idle.clone();
            let unparkers = unparkers.clone();
            move || {
                if let Some(i) = idle.worker_to_notify() {
                    unparkers[i].unpark();
                }
            }
        };

        let mut threads = Vec::new();
        for (index, parker) in parkers.into_iter().enumerate() {
            let idle = idle.clone();
            let queue = queue.clone();
            let taken = taken.clone();
            let notify = notify.clone();
            threads.push(thread::spawn(move || {
                let mut searching = false;
                loop {
                    if taken.load(SeqCst) == 1 {
                        return;
                    }
                    // steal_work
                    if searching || idle.to_searching() {
                        searching = true;
                        if queue.lock().unwrap().pop().is_some() {
                            taken.fetch_add(1, SeqCst);
                            if idle.stop_searching() {
                                notify();
                            }
                            // Wake the other worker so it can exit.
                            for _ in 0..workers {
                                notify();
                            }
                            return;
                        }
                    }
                    // park
                    let last = idle.to_parked(index, searching);
                    searching = false;
                    if last && !queue.lock().unwrap().is_empty() {
                        notify();
                    }
                    if taken.load(SeqCst) == 1 {
                        idle.unpark_self(index);
                        return;
                    }
                    parker.park();
                    if !idle.unpark_self(index) {
                        searching = true;
                    }
                }
            }));
        }

        queue.lock().unwrap().push(1);
        notify();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(taken.load(SeqCst), 1);
    });
}

#[test]
fn idle_protocol_one_worker_no_lost_wakeup() {
    worker_takes_remote_push(1);
}

#[test]
fn idle_protocol_two_workers_no_lost_wakeup() {
    worker_takes_remote_push(2);
}
