#![allow(dead_code)]
//! Helpers shared by the integration tests.

use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::Thread;
use std::time::Duration;

/// Counts how many times values carrying it were dropped.
#[derive(Clone, Default)]
pub(super) struct DropCounter(pub(super) Arc<AtomicUsize>);

impl DropCounter {
    pub(super) fn new() -> DropCounter {
        DropCounter::default()
    }
    pub(super) fn token(&self) -> DropToken {
        DropToken(self.0.clone())
    }
    pub(super) fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

#[derive(Debug)]
pub(super) struct DropToken(Arc<AtomicUsize>);

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
pub(super) fn block_on_plain<F: Future>(fut: F) -> F::Output {
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

pub(super) fn rt(workers: usize) -> ferrio::Runtime {
    ferrio::Runtime::builder()
        .worker_threads(workers)
        .build()
        .expect("runtime")
}

/// A pipe as two ferrio files: (read end, write end).
pub(super) fn pipe() -> (ferrio::fs::File, ferrio::fs::File) {
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
pub(super) async fn until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !done() {
        assert!(std::time::Instant::now() < deadline, "timed out: {what}");
        ferrio::sleep(std::time::Duration::from_millis(1)).await;
    }
}

/// A waker for polling by hand on the test thread: it remembers that it
/// was woken, unparks the test thread, and its `Arc` count tells how many
/// clones the code under test still holds.
pub(super) struct TestWaker {
    inner: Arc<Tracked>,
    waker: Waker,
}

struct Tracked {
    woken: AtomicBool,
    wakes: AtomicUsize,
    thread: Thread,
}

impl Wake for Tracked {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.wakes.fetch_add(1, Ordering::SeqCst);
        self.woken.store(true, Ordering::SeqCst);
        self.thread.unpark();
    }
}

impl TestWaker {
    pub(super) fn new() -> TestWaker {
        let inner = Arc::new(Tracked {
            woken: AtomicBool::new(false),
            wakes: AtomicUsize::new(0),
            thread: std::thread::current(),
        });
        let waker = Waker::from(inner.clone());
        TestWaker { inner, waker }
    }

    /// Polls `fut` once with this waker.
    pub(super) fn poll<F: Future + ?Sized>(&self, fut: Pin<&mut F>) -> Poll<F::Output> {
        self.inner.woken.store(false, Ordering::SeqCst);
        fut.poll(&mut Context::from_waker(&self.waker))
    }

    /// Blocks the test thread until the waker is woken (20 s at most: a
    /// bound on a hang, not a synchronisation).
    pub(super) fn wait_woken(&self, what: &str) {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while !self.inner.woken.swap(false, Ordering::SeqCst) {
            let now = std::time::Instant::now();
            assert!(now < deadline, "never woken: {what}");
            std::thread::park_timeout(deadline - now);
        }
    }

    /// Polls until ready, sleeping on the waker between polls.
    pub(super) fn block_on<F: Future + ?Sized>(&self, mut fut: Pin<&mut F>) -> F::Output {
        loop {
            if let Poll::Ready(v) = self.poll(fut.as_mut()) {
                return v;
            }
            self.wait_woken("block_on");
        }
    }

    /// Clones of the waker held by anyone but this helper.
    pub(super) fn outstanding(&self) -> usize {
        // One count for `inner`, one for `waker`.
        Arc::strong_count(&self.inner) - 2
    }

    /// Waits until no clone is held by anyone else. A waker that was just
    /// woken on another thread is released there right after the wake
    /// (after our thread may already have run on): give that a bounded
    /// time; a clone that is kept fails.
    pub(super) fn settle(&self, what: &str) {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while self.outstanding() != 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "{what}: {} waker clone(s) left behind",
                self.outstanding()
            );
            std::thread::yield_now();
        }
    }

    /// Wake-ups so far (`wake` and `wake_by_ref`).
    pub(super) fn wakes(&self) -> usize {
        self.inner.wakes.load(Ordering::SeqCst)
    }
}

/// A priority-queue item ordered by its priority only, so equal
/// priorities are real ties (a `(priority, tag)` tuple would break them
/// by the tag).
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Job(pub(super) u8, pub(super) &'static str);

impl PartialOrd for Job {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}

impl Ord for Job {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        self.0.cmp(&o.0)
    }
}

/// Awaits `fut`, sending on `tx` the first time it returns `Pending`: the
/// other side of a test acts only once the future waits.
pub(super) async fn tell_when_pending<F: Future>(
    fut: F,
    tx: std::sync::mpsc::Sender<()>,
) -> F::Output {
    let mut fut = pin!(fut);
    let mut told = false;
    std::future::poll_fn(|cx| {
        let p = fut.as_mut().poll(cx);
        if p.is_pending() && !told {
            told = true;
            let _ = tx.send(());
        }
        p
    })
    .await
}

/// A connected TCP pair on the loopback: (client, server).
pub(super) async fn tcp_pair() -> (ferrio::net::TcpStream, ferrio::net::TcpStream) {
    let listener = ferrio::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (client, accepted) =
        futures::join!(ferrio::net::TcpStream::connect(addr), listener.accept());
    (client.unwrap(), accepted.unwrap().0)
}

/// Operations submitted and not yet completed on `h`'s drivers.
pub(super) fn ops_in_flight(h: &ferrio::Handle) -> u64 {
    let m = h.metrics();
    m.ops_submitted - m.ops_completed
}

/// Lets every other ready task on a one-worker runtime run first (twenty
/// yields).
pub(super) async fn let_others_run() {
    for _ in 0..20 {
        ferrio::yield_now().await;
    }
}

/// Spins on the calling thread (yielding it) until `done` holds; the 20 s
/// bound fails a hang, nothing more.
pub(super) fn spin_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "never settled: {what}"
        );
        std::thread::yield_now();
    }
}
