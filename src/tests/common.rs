#![allow(dead_code)]
//! Helpers shared by the integration tests.

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::Thread;

/// Counts how many times values carrying it were dropped.
#[derive(Clone, Default)]
pub struct DropCounter(pub Arc<AtomicUsize>);

impl DropCounter {
    pub fn new() -> DropCounter {
        DropCounter::default()
    }
    pub fn token(&self) -> DropToken {
        DropToken(self.0.clone())
    }
    pub fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

#[derive(Debug)]
pub struct DropToken(Arc<AtomicUsize>);

impl Drop for DropToken {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

struct ThreadWaker(Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// Polls a future to completion on the current (plain) thread, outside any
/// runtime.
pub fn block_on_plain<F: Future>(fut: F) -> F::Output {
    let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut fut = pin!(fut);
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park();
    }
}

pub fn rt(workers: usize) -> ferrio::Runtime {
    ferrio::Runtime::builder()
        .worker_threads(workers)
        .build()
        .expect("runtime")
}

/// A pipe as two ferrio files: (read end, write end).
pub fn pipe() -> (ferrio::fs::File, ferrio::fs::File) {
    use std::os::fd::{FromRawFd, OwnedFd};
    let mut fds = [0; 2];
    // SAFETY: plain syscall with a valid array.
    let r = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    assert_eq!(r, 0);
    // SAFETY: fresh descriptors we own.
    let (rd, wr) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    (
        ferrio::fs::File::from_std(std::fs::File::from(rd)),
        ferrio::fs::File::from_std(std::fs::File::from(wr)),
    )
}

/// Waits (1 ms sleeps, 20 s at most) until `done()` holds: for states
/// the kernel reaches in its own time, however loaded the machine.
pub async fn until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !done() {
        assert!(std::time::Instant::now() < deadline, "timed out: {what}");
        ferrio::sleep(std::time::Duration::from_millis(1)).await;
    }
}
