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
fn a_listener_dropped_and_created_again_works_and_the_default_comes_back() {
    let sig = libc::SIGWINCH;
    assert_eq!(disposition(sig), libc::SIG_DFL);
    let rt = rt(1);
    rt.block_on(async {
        let mut first = signal(sig).unwrap();
        assert_ne!(disposition(sig), libc::SIG_DFL, "a handler is installed");
        raise(sig);
        ferrio::wait_for(first.recv(), Duration::from_secs(10))
            .await
            .unwrap()
            .unwrap();
        drop(first);
        assert_eq!(disposition(sig), libc::SIG_DFL, "the last drop restores it");
        let mut again = signal(sig).unwrap();
        raise(sig);
        ferrio::wait_for(again.recv(), Duration::from_secs(10))
            .await
            .unwrap()
            .unwrap();
    });
    assert_eq!(disposition(sig), libc::SIG_DFL);
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
    let across =
        super::shutdown_sweep::within("recv across the shutdown", move || waiter.join().unwrap());
    assert!(across.is_err(), "{across:?}");
    let after = handle.block_on(async { signal(sig).unwrap().recv().await });
    assert!(after.is_err(), "{after:?}");
}
