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
            .expect("SIGUSR1 arrived");
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
            ra.expect("listener a");
            rb.expect("listener b");
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
            .unwrap();
        drop(first);
        assert_eq!(disposition(sig), libc::SIG_DFL, "the last drop restores it");
        let mut again = signal(sig).unwrap();
        raise(sig);
        ferrio::wait_for(again.recv(), Duration::from_secs(10))
            .await
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
            .unwrap();
    });
    drop(first);
    let second = rt(1);
    second.block_on(async {
        raise(sig);
        ferrio::wait_for(listener.recv(), Duration::from_secs(10))
            .await
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
