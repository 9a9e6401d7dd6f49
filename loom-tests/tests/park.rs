//! Loom models of the parker's wake-up protocol (`park::Parker`). The
//! idle/searching protocol around it is modelled by `runtime.rs`, which
//! runs the shipped worker loop (`Worker::run`, `Worker::park`,
//! `Shared::notify_parked`) with two real workers.
#![cfg(ferrio_loom)]

use ferrio::loom_models::Parker;
use loom::sync::atomic::{AtomicBool, Ordering::SeqCst};
use loom::sync::Arc;
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
