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

/// Patience for a wait that the runtime alone can end.
pub(super) const HOUR: Duration = Duration::from_secs(3600);

/// How long anything that must end may take (a bound on a hang, not a
/// synchronisation).
pub(super) const BOUND: Duration = Duration::from_secs(10);

/// Runs `f` on its own thread and returns its result; fails the test if
/// it does not finish within [`BOUND`], and passes on its panic.
pub(super) fn within<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    let t = std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(BOUND) {
        Ok(v) => {
            t.join().unwrap();
            v
        }
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            panic!("{what}: still running after {BOUND:?} (hang)")
        }
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => match t.join() {
            Err(p) => std::panic::resume_unwind(p),
            Ok(()) => unreachable!(),
        },
    }
}

/// A runtime of `workers` workers on the I/O driver `driver`.
pub(super) fn rt_on(driver: ferrio::IoDriver, workers: usize) -> ferrio::Runtime {
    ferrio::Runtime::builder()
        .worker_threads(workers)
        .io_driver(driver)
        .build()
        .expect("runtime")
}

/// A runtime of `workers` workers and the count of task panics it
/// reported as never retrieved (`on_task_panic`).
pub(super) fn rt_counting_unretrieved_panics(
    workers: usize,
) -> (ferrio::Runtime, Arc<AtomicUsize>) {
    let unretrieved = Arc::new(AtomicUsize::new(0));
    let rt = ferrio::Runtime::builder()
        .worker_threads(workers)
        .on_task_panic({
            let unretrieved = unretrieved.clone();
            move |_, _| {
                unretrieved.fetch_add(1, Ordering::SeqCst);
            }
        })
        .build()
        .expect("runtime");
    (rt, unretrieved)
}

/// Runs `fut` as a task on a one-worker runtime, so its operations are
/// submitted from the worker.
pub(super) fn on_worker<F>(fut: F) -> F::Output
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let rt = rt(1);
    let task = rt.spawn(fut);
    rt.block_on(task).expect("test task")
}

/// Polls `fut` once with the waker of the task that awaits this.
pub(super) async fn poll_once<F: Future + ?Sized>(fut: Pin<&mut F>) -> Poll<F::Output> {
    let mut fut = Some(fut);
    std::future::poll_fn(|cx| Poll::Ready(fut.take().unwrap().poll(cx))).await
}

/// Polls `fut` once with a waker that does nothing.
pub(super) fn poll_noop<F: Future + ?Sized>(fut: Pin<&mut F>) -> Poll<F::Output> {
    fut.poll(&mut Context::from_waker(Waker::noop()))
}

/// Waits until `h`'s drivers have no operation in flight (every
/// submitted operation, cancels included, has completed).
pub(super) async fn no_op_in_flight(h: &ferrio::Handle, what: &str) {
    until(&format!("{what}: an operation stayed in flight"), || {
        ops_in_flight(h) == 0
    })
    .await;
}

/// A path under the system's temporary directory, unique to this process
/// and `tag`, with nothing left there from an earlier run.
pub(super) fn temp_path(tag: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("ferrio-test-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// A fresh, empty directory at [`temp_path`]`(tag)`.
pub(super) fn temp_dir(tag: &str) -> std::path::PathBuf {
    let dir = temp_path(tag);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Takes a free lock of `cond` (panics when it is held).
pub(super) fn lock_now<'a, T>(
    cond: &'a ferrio::sync::Condition<T>,
    w: &TestWaker,
) -> ferrio::sync::LockGuard<'a, T> {
    let mut f = Box::pin(cond.lock());
    match w.poll(f.as_mut()) {
        Poll::Ready(g) => g,
        Poll::Pending => panic!("lock not free"),
    }
}

/// A `StreamReader`/`StreamWriter` pair and the plain socket at the other
/// end of the connection.
pub(super) async fn stream_pair() -> (
    (ferrio::StreamReader, ferrio::StreamWriter),
    ferrio::net::TcpStream,
) {
    let listener = ferrio::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    // The handshake completes in the kernel's backlog, before `accept`.
    let pair = ferrio::open_connection(addr).await.unwrap();
    let (peer, _) = listener.accept().await.unwrap();
    peer.set_nodelay(true).unwrap();
    (pair, peer)
}

/// Reads from `peer` until end of stream.
pub(super) async fn read_until_eof(peer: &ferrio::net::TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = Vec::with_capacity(1 << 16);
    loop {
        buf.clear();
        let (r, b) = peer.read(buf).await;
        buf = b;
        match r.unwrap() {
            0 => return out,
            _ => out.extend_from_slice(&buf),
        }
    }
}

/// The waker an operation stepped by hand from a task sees: records that
/// it fired and wakes the stepping task.
#[derive(Default)]
pub(super) struct Stepper {
    woken: AtomicBool,
    harness: std::sync::Mutex<Option<Waker>>,
}

impl Wake for Stepper {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref()
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::SeqCst);
        if let Some(w) = self.harness.lock().unwrap().take() {
            w.wake();
        }
    }
}

impl Stepper {
    pub(super) fn poll<F: Future + ?Sized>(self: &Arc<Self>, fut: Pin<&mut F>) -> Poll<F::Output> {
        self.woken.store(false, Ordering::SeqCst);
        let waker = Waker::from(self.clone());
        fut.poll(&mut Context::from_waker(&waker))
    }

    /// Waits until the operation's waker fired (a hang is a failure).
    pub(super) async fn woken(&self, what: &str) {
        let wait = std::future::poll_fn(|cx| {
            *self.harness.lock().unwrap() = Some(cx.waker().clone());
            if self.woken.load(Ordering::SeqCst) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        });
        ferrio::wait_for(wait, Duration::from_secs(20))
            .await
            .unwrap_or_else(|_| panic!("{what}: the operation was never woken"));
    }
}
