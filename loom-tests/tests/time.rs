//! Loom models of the timer owner's request queues (`time::TimerQueues`,
//! the code `Worker::process_timers` and `Worker::shutdown_timers` run):
//! the `pending` handshake that keeps a request from being stranded, and
//! the register queue's close at shutdown, which must end or refuse every
//! registration.
#![cfg(ferrio_loom)]

use ferrio::__loom::TimerModel;
use loom::sync::Arc;
use loom::thread;

/// A cancel from another thread races the owner's round while an earlier
/// request is queued (`pending > 0`): with the handshake (reset
/// `pending`, then take the queues) the new cancel is taken by this round
/// or left, with `pending > 0`, for the next; never stranded.
#[test]
fn timer_requests_racing_the_owners_round_are_never_stranded() {
    loom::model(|| {
        let t = Arc::new(TimerModel::with_timers(2));
        t.owner_insert_local(0, 5);
        t.owner_insert_local(1, 5);
        // A request already queued by another thread before the round.
        assert!(t.remote_cancel_at(0));
        let t2 = t.clone();
        let canceller = thread::spawn(move || t2.remote_cancel_at(1));
        // The deadline (5) is not reached: only a processed cancel takes a
        // timer out of the wheel.
        t.owner_process(1);
        assert!(canceller.join().unwrap(), "nothing fired: the cancel won");
        t.owner_process(1);
        assert_eq!(t.in_wheel(), 0, "a cancel was stranded in the queue");
        assert_eq!(t.registered(), 0);
    });
}

/// A registration from another thread races the owner's shutdown: it is
/// refused (the registrant ends its own sleep) or taken in and ended by
/// the shutdown; never left waiting on a wheel that is gone.
#[test]
fn timer_registration_racing_shutdown_is_ended_or_refused() {
    loom::model(|| {
        let t = Arc::new(TimerModel::with_timers(1));
        let t2 = t.clone();
        let registrant = thread::spawn(move || t2.remote_register(0, 5));
        t.owner_process(1);
        t.owner_shutdown();
        let accepted = registrant.join().unwrap();
        assert_eq!(
            accepted,
            t.ended_by_shutdown(0),
            "an accepted registration is ended by the shutdown; a refused one is not in it"
        );
        assert_eq!(t.registered(), 0, "nothing is left queued after shutdown");
    });
}
