//! Loom models of the time driver (`time::core`): the shipped
//! `TimeDriver` a worker owns (`insert`, `cancel`, `rearm`, `process`, `shutdown`)
//! and the `TimerQueues` other threads reach it through: the `pending`
//! handshake that keeps a request from being stranded, the wake-up of a
//! sleeping owner, firing racing cancellation, and the register queue's
//! close at shutdown, which must end or refuse every registration.
#![cfg(ferrio_loom)]

use ferrio::loom_models::{Parker, TimerModel};
use loom::thread;

/// A cancel from another thread races the owner's round while an earlier
/// request is queued (`pending > 0`): with the handshake (reset
/// `pending`, then take the queues) the new cancel is taken by this round
/// or left, with `pending > 0`, for the next; never stranded.
#[test]
fn timer_requests_racing_the_owners_round_are_never_stranded() {
    loom::model(|| {
        let t = TimerModel::with_timers(2);
        t.insert(0, 5);
        t.insert(1, 5);
        let remote = t.remote();
        // A request already queued by another thread before the round.
        assert!(remote.cancel(0));
        let r2 = remote.clone();
        let canceller = thread::spawn(move || r2.cancel(1));
        // The deadline (5) is not reached: only a processed cancel takes a
        // timer out of the wheel.
        t.process(1);
        assert!(canceller.join().unwrap(), "nothing fired: the cancel won");
        t.process(1);
        assert_eq!(t.in_wheel(), 0, "a cancel was stranded in the queue");
        assert_eq!(t.registered(), 0);
    });
}

/// The owner sleeps until its timers fire; they are registered from
/// another thread, which wakes the owner. Each registration is taken in
/// by a round (before the sleep, or after the wake-up), so the owner
/// never sleeps past one: a stranded request or a lost wake-up is a
/// deadlock here (it fails with `pending` reset after the take).
#[test]
fn remote_registrations_wake_a_sleeping_owner() {
    loom::model(|| {
        let parker = Parker::new();
        let t = TimerModel::with_sleeping_owner(2, parker.unparker());
        let remote = t.remote();
        let r2 = remote.clone();
        let registrant = thread::spawn(move || {
            assert!(r2.register(0, 5));
            assert!(r2.register(1, 5));
        });
        // The clock stands past the deadline: a timer taken in fires.
        while !(remote.fired(0) && remote.fired(1)) {
            if t.process(10) == 0 {
                parker.park();
            }
        }
        registrant.join().unwrap();
        assert_eq!(t.registered(), 0);
    });
}

/// A timer registered from another thread is cancelled from a third
/// while the owner takes it in and fires it: exactly one of fire and
/// cancel wins, and the wheel keeps nothing.
#[test]
fn timer_cancelled_from_another_thread_fires_or_is_removed() {
    loom::model(|| {
        let t = TimerModel::with_timers(1);
        let remote = t.remote();
        assert!(remote.register(0, 5));
        let r2 = remote.clone();
        let canceller = thread::spawn(move || r2.cancel(0));
        // The owner takes the registration in before the deadline, then
        // processes again with the deadline passed.
        t.process(1);
        t.process(10);
        let cancelled = canceller.join().unwrap();
        t.process(10);
        assert!(
            cancelled != remote.fired(0),
            "exactly one of fire and cancel wins"
        );
        assert_eq!(t.in_wheel(), 0, "a cancelled timer's memory is reclaimed");
    });
}

/// A cancel from another thread races the owner's firing round.
#[test]
fn timer_cancel_races_firing() {
    loom::model(|| {
        let t = TimerModel::with_timers(1);
        t.insert(0, 5);
        let remote = t.remote();
        let r2 = remote.clone();
        let canceller = thread::spawn(move || r2.cancel(0));
        t.process(10);
        let cancelled = canceller.join().unwrap();
        t.process(10);
        assert!(cancelled != remote.fired(0));
        assert_eq!(t.in_wheel(), 0);
    });
}

/// A registration from another thread races the owner's shutdown: it is
/// refused (the registrant ends its own sleep) or taken in and ended by
/// the shutdown; never left waiting on a wheel that is gone.
#[test]
fn timer_registration_racing_shutdown_is_ended_or_refused() {
    loom::model(|| {
        let t = TimerModel::with_timers(1);
        let remote = t.remote();
        let r2 = remote.clone();
        let registrant = thread::spawn(move || r2.register(0, 5));
        t.process(1);
        t.shutdown();
        let accepted = registrant.join().unwrap();
        assert_eq!(
            accepted,
            remote.ended_by_shutdown(0),
            "an accepted registration is ended by the shutdown; a refused one is not in it"
        );
        assert_eq!(t.registered(), 0, "nothing is left queued after shutdown");
    });
}

/// The watchdog fires a stuck owner's due timers (`TimeDriver::process`
/// from another thread, as `Shared::rescue` calls it) while the owner,
/// back from its poll, registers, cancels and processes on the same
/// wheel: every due timer fires exactly once (whoever's round takes it;
/// one registered after a round passed its deadline gets no timer),
/// a cancelled one never fires, and the wheel ends empty.
#[test]
fn rescuer_rounds_racing_the_owner_fire_each_timer_once() {
    loom::model(|| {
        let t = TimerModel::with_timers(3);
        t.insert(0, 2);
        t.insert(1, 3);
        let rescuer = t.rescuer();
        let remote = t.remote();
        let watchdog = thread::spawn(move || rescuer.process(5));
        // Refused when the watchdog's round already took the wheel past
        // it: the sleep then completes at once, with no timer.
        let inserted = t.insert(2, 4);
        let cancelled = t.cancel(1);
        let fired_here = t.process(5);
        let fired_there = watchdog.join().unwrap();
        t.process(5);
        assert!(remote.fired(0));
        assert_eq!(remote.fired(2), inserted);
        assert_eq!(remote.fired(1), !cancelled);
        // Each fired timer was fired by one round only.
        assert!(fired_here + fired_there <= 3);
        assert_eq!(t.in_wheel(), 0);
        assert_eq!(t.registered(), 0);
    });
}

/// A sleep reset on its owner (`TimeDriver::rearm`) while the watchdog
/// fires the owner's due timers: either the timer moved before the round
/// (the round leaves it; the owner fires it at its new deadline) or the
/// round took it first (the rearm fails, and the reset's fallback cancels
/// it); the wheel ends empty either way.
#[test]
fn a_rearm_racing_a_rescuer_round_moves_the_timer_or_leaves_it_to_the_round() {
    loom::model(|| {
        let t = TimerModel::with_timers(1);
        t.insert(0, 2);
        let rescuer = t.rescuer();
        let remote = t.remote();
        let watchdog = thread::spawn(move || rescuer.process(5));
        let moved = t.rearm(0, 10);
        if !moved {
            t.cancel(0);
        }
        let fired_there = watchdog.join().unwrap();
        let fired_here = t.process(10);
        if moved {
            assert_eq!(
                fired_there, 0,
                "the round fired a moved timer at its old deadline"
            );
            assert_eq!(fired_here, 1);
            assert!(remote.fired(0));
        } else {
            assert_eq!(
                fired_there, 1,
                "a rearm failed with the timer left in the wheel"
            );
            assert_eq!(fired_here, 0);
        }
        assert_eq!(t.in_wheel(), 0);
        assert_eq!(t.registered(), 0);
    });
}
