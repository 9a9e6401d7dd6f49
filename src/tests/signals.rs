//! `ferrio::signal`. Signals are process-wide and these tests run in
//! parallel threads of one process, so each test uses a signal of its own.

use std::time::Duration;

use ferrio::signal::signal;

use super::common::rt;

/// The disposition of `signum` right now.
fn disposition(signum: i32) -> libc::sighandler_t {
    // SAFETY: reads the current action into a zeroed struct.
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        assert_eq!(libc::sigaction(signum, std::ptr::null(), &mut old), 0);
        old.sa_sigaction
    }
}

fn raise(signum: i32) {
    // SAFETY: a plain syscall; a handler is installed for `signum`.
    assert_eq!(unsafe { libc::raise(signum) }, 0);
}

#[test]
fn a_raised_signal_is_received() {
    let rt = rt(2);
    rt.block_on(async {
        let mut usr1 = signal(libc::SIGUSR1).unwrap();
        raise(libc::SIGUSR1);
        ferrio::wait_for(usr1.recv(), Duration::from_secs(10))
            .await
            .expect("SIGUSR1 arrived")
            .unwrap();
    });
}

#[test]
fn two_listeners_both_see_each_delivery() {
    let rt = rt(2);
    rt.block_on(async {
        let mut a = signal(libc::SIGUSR2).unwrap();
        let mut b = signal(libc::SIGUSR2).unwrap();
        for _ in 0..3 {
            raise(libc::SIGUSR2);
            let (ra, rb) = ferrio::gather!(
                ferrio::wait_for(a.recv(), Duration::from_secs(10)),
                ferrio::wait_for(b.recv(), Duration::from_secs(10))
            )
            .await;
            ra.expect("listener a").unwrap();
            rb.expect("listener b").unwrap();
        }
    });
}

#[test]
// The drop is the point: a `Signal` that gains a `Drop` must not restore.
#[allow(clippy::drop_non_drop)]
fn the_handler_stays_installed_after_the_last_listener_is_dropped() {
    let sig = libc::SIGWINCH;
    assert_eq!(disposition(sig), libc::SIG_DFL);
    let rt = rt(1);
    rt.block_on(async {
        let mut first = signal(sig).unwrap();
        let ours = disposition(sig);
        assert_ne!(ours, libc::SIG_DFL, "a handler is installed");
        raise(sig);
        ferrio::wait_for(first.recv(), Duration::from_secs(10))
            .await
            .unwrap()
            .unwrap();
        drop(first);
        assert_eq!(disposition(sig), ours, "the last drop changes nothing");
        let mut again = signal(sig).unwrap();
        raise(sig);
        ferrio::wait_for(again.recv(), Duration::from_secs(10))
            .await
            .unwrap()
            .unwrap();
    });
}

#[test]
fn ctrl_c_keeps_sigint_caught_between_calls() {
    let rt = rt(1);
    rt.block_on(async {
        // One `ctrl_c()` polled and dropped: SIGINT must not be fatal
        // afterwards (a Ctrl-C between two calls would kill the process).
        let mut first = std::pin::pin!(ferrio::signal::ctrl_c());
        assert!(super::common::poll_once(first.as_mut()).await.is_pending());
    });
    assert_ne!(disposition(libc::SIGINT), libc::SIG_DFL);
    assert_ne!(disposition(libc::SIGINT), libc::SIG_IGN);
}

static CHAINED_CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

extern "C" fn counting_handler(_: libc::c_int) {
    CHAINED_CALLS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
}

extern "C" fn ignoring_handler(_: libc::c_int) {}

/// Installs `handler` for `signum` (plain shape, no `SA_SIGINFO`).
fn install_plain(signum: i32, handler: extern "C" fn(libc::c_int)) {
    // SAFETY: a zeroed action with a plain handler and an empty mask.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = handler as usize;
        libc::sigemptyset(&mut action.sa_mask);
        assert_eq!(libc::sigaction(signum, &action, std::ptr::null_mut()), 0);
    }
}

#[test]
fn a_handler_installed_before_ferrio_is_chained() {
    // +5 is the shutdown sweep's.
    let sig = libc::SIGRTMIN() + 7;
    install_plain(sig, counting_handler);
    let rt = rt(1);
    rt.block_on(async {
        let mut listener = signal(sig).unwrap();
        raise(sig);
        ferrio::wait_for(listener.recv(), Duration::from_secs(10))
            .await
            .expect("ferrio saw the delivery")
            .unwrap();
    });
    assert_eq!(
        CHAINED_CALLS.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "the handler ferrio replaced was not called"
    );
}

#[test]
#[allow(clippy::drop_non_drop)]
fn dropping_a_listener_leaves_a_handler_installed_after_ferrio() {
    let sig = libc::SIGRTMIN() + 8;
    let listener = signal(sig).unwrap();
    install_plain(sig, ignoring_handler);
    drop(listener);
    assert_eq!(
        disposition(sig),
        ignoring_handler as extern "C" fn(libc::c_int) as usize
    );
}

#[test]
fn a_listener_survives_the_runtime_of_the_pipe_reader() {
    // The reader task starts on the first runtime; when that runtime
    // shuts down, a listener on another runtime starts its own.
    let sig = libc::SIGRTMIN() + 2;
    let mut listener = signal(sig).unwrap();
    let first = rt(1);
    first.block_on(async {
        raise(sig);
        ferrio::wait_for(listener.recv(), Duration::from_secs(10))
            .await
            .unwrap()
            .unwrap();
    });
    drop(first);
    let second = rt(1);
    second.block_on(async {
        raise(sig);
        ferrio::wait_for(listener.recv(), Duration::from_secs(10))
            .await
            .unwrap()
            .unwrap();
    });
}

#[test]
fn signals_that_cannot_be_listened_for_are_clear_errors() {
    for bad in [0, -1, 65, libc::SIGKILL, libc::SIGSTOP, libc::SIGSEGV] {
        let err = signal(bad).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{bad}");
    }
}

/// A `recv` dropped while waiting leaves no waker registered (the
/// cancellation rule of every ferrio future).
#[test]
fn a_dropped_recv_leaves_nothing_registered() {
    let rt = rt(1);
    rt.block_on(async {
        let mut sig = signal(libc::SIGRTMIN() + 3).unwrap();
        {
            let mut recv = std::pin::pin!(sig.recv());
            assert!(futures::poll!(recv.as_mut()).is_pending());
        }
        assert!(
            !sig.is_waiting(),
            "the dropped recv's waker is still registered"
        );
        // And a recv that completes unregisters too.
        {
            let mut recv = std::pin::pin!(sig.recv());
            assert!(futures::poll!(recv.as_mut()).is_pending());
            raise(libc::SIGRTMIN() + 3);
            ferrio::wait_for(recv, Duration::from_secs(10))
                .await
                .unwrap()
                .unwrap();
        }
        assert!(!sig.is_waiting());
    });
}

/// Nothing hangs across a shutdown: a `recv` waiting when its runtime
/// goes, or polled through a kept handle afterwards, fails.
#[test]
fn recv_across_and_after_a_shutdown_fails_instead_of_hanging() {
    let sig = libc::SIGRTMIN() + 4;
    let rt = rt(1);
    let handle = rt.handle();
    let (tx, rx) = std::sync::mpsc::channel();
    let waiter = std::thread::spawn({
        let handle = handle.clone();
        move || {
            handle.block_on(async {
                let mut s = signal(sig).unwrap();
                let mut recv = std::pin::pin!(s.recv());
                assert!(futures::poll!(recv.as_mut()).is_pending());
                tx.send(()).unwrap();
                recv.await
            })
        }
    });
    rx.recv().unwrap();
    drop(rt);
    let across = super::common::within("recv across the shutdown", move || waiter.join().unwrap());
    assert!(across.is_err(), "{across:?}");
    let after = handle.block_on(async { signal(sig).unwrap().recv().await });
    assert!(after.is_err(), "{after:?}");
}
