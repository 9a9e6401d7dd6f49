//! Threads: the blocking pool behind `to_thread` / `run_in_executor`, and
//! `run_coroutine_threadsafe` for plain threads (asyncio's thread bridges).
//!
//! # The blocking pool
//! Jobs go into a lock-free queue (crossbeam's `Injector`): submitting
//! takes no lock unless an idle pool thread must be woken, so many
//! spawners do not contend on one mutex (tokio's #2528). The pool grows on
//! demand up to `Builder::max_blocking_threads` (default 512) and an idle
//! thread retires after `Builder::blocking_keep_alive` (default 10 s).
//! Beyond the maximum, jobs wait in the queue in FIFO order; the queue is
//! unbounded (each waiting job costs one boxed closure), so a caller that
//! can flood it should bound itself, e.g. with a `Semaphore`.
//! At runtime shutdown, idle threads exit; a job already running finishes
//! on its own thread (a thread cannot be cancelled) and jobs still queued
//! are dropped. After shutdown nothing new runs: a job submitted then is
//! dropped without running and starts no thread, whether or not the pool
//! was ever used (the runtime marks the pool shut down even if it never
//! started one).
//!
//! # Threads (protocol notes, moved from ARCHITECTURE.md)
//!
//! - **Blocking pool** (`blocking.rs`), one per runtime, started at the first
//!   `to_thread`: a lock-free job queue (crossbeam `Injector`); the pool's
//!   mutex is taken only to wake an idle thread, so many spawners do not
//!   contend (tokio #2528). Grows to `max_blocking_threads` (512), idle
//!   threads retire after `blocking_keep_alive` (10 s); beyond the maximum,
//!   jobs wait FIFO in an unbounded queue (documented: bound yourself with a
//!   `Semaphore` if you can flood it). The job's result crosses to the
//!   awaiting task through a one-shot slot; a panic is re-raised inside that
//!   task, so the `Task` reports `Panicked`.
//! - `run_coroutine_threadsafe` spawns through a `Handle` and returns a
//!   `ConcurrentFuture` that a plain thread blocks on with a thread-park
//!   waker (`result(timeout)`; a timeout leaves the task running).

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{fence, AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crossbeam_deque::{Injector, Steal};

use crate::runtime::Handle;
use crate::task::{Outcome, Task, TaskError};

type Job = Box<dyn FnOnce() + Send>;

/// Settings of a runtime's blocking pool.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PoolConfig {
    pub(crate) max_threads: usize,
    pub(crate) keep_alive: Duration,
}

impl Default for PoolConfig {
    fn default() -> PoolConfig {
        PoolConfig {
            max_threads: 512,
            keep_alive: Duration::from_secs(10),
        }
    }
}

pub(crate) struct BlockingPool {
    queue: Injector<Job>,
    threads: AtomicUsize,
    idle: AtomicUsize,
    shutdown: AtomicBool,
    /// Wake-ups handed to claimed idle threads (each claim takes one idle
    /// thread for one job, so concurrent submitters do not all count on
    /// the same sleeper). `idle` only changes under this lock.
    sleep: Mutex<usize>,
    wake: Condvar,
    config: PoolConfig,
    name: String,
}

impl BlockingPool {
    pub(crate) fn new(config: PoolConfig, name: String) -> Arc<BlockingPool> {
        Arc::new(BlockingPool {
            queue: Injector::new(),
            threads: AtomicUsize::new(0),
            idle: AtomicUsize::new(0),
            shutdown: AtomicBool::new(false),
            sleep: Mutex::new(0),
            wake: Condvar::new(),
            config,
            name,
        })
    }

    fn pop(&self) -> Option<Job> {
        loop {
            match self.queue.steal() {
                Steal::Success(job) => return Some(job),
                Steal::Empty => return None,
                Steal::Retry => std::hint::spin_loop(),
            }
        }
    }

    /// Queues a job; claims an idle thread for it, or starts one if below
    /// the maximum. After [`shutdown`](Self::shutdown) the job is handed
    /// back, not run.
    pub(crate) fn submit(self: &Arc<Self>, job: Job) -> Result<(), Job> {
        if self.shutdown.load(SeqCst) {
            return Err(job);
        }
        self.queue.push(job);
        if self.shutdown.load(SeqCst) {
            // Shutdown raced with the push and may have drained the queue
            // before it: drain again (pool threads drop what they pop
            // after shutdown too), and start nothing.
            while self.pop().is_some() {}
            return Ok(());
        }
        // Pairs with the fence in `worker`: either it sees our job on its
        // re-check, or we see it idle and claim it.
        fence(SeqCst);
        if self.idle.load(SeqCst) > 0 {
            let mut pending = self.sleep.lock().unwrap_or_else(|e| e.into_inner());
            if self.idle.load(SeqCst) > 0 {
                self.idle.fetch_sub(1, SeqCst);
                *pending += 1;
                drop(pending);
                self.wake.notify_one();
                return Ok(());
            }
        }
        let mut n = self.threads.load(SeqCst);
        while n < self.config.max_threads {
            match self.threads.compare_exchange_weak(n, n + 1, SeqCst, SeqCst) {
                Ok(_) => {
                    let pool = self.clone();
                    let spawned = std::thread::Builder::new()
                        .name(format!("{}-blocking", self.name))
                        .spawn(move || pool.worker());
                    if spawned.is_err() && self.threads.fetch_sub(1, SeqCst) == 1 {
                        // No thread at all and none can be made: run the
                        // job here rather than leave it waiting forever.
                        if let Some(job) = self.pop() {
                            job();
                        }
                    }
                    return Ok(());
                }
                Err(actual) => n = actual,
            }
        }
        // At the maximum: the job waits in the queue.
        Ok(())
    }

    fn worker(self: Arc<Self>) {
        loop {
            while let Some(job) = self.pop() {
                if self.shutdown.load(SeqCst) {
                    drop(job);
                    continue;
                }
                job();
            }
            let mut pending = self.sleep.lock().unwrap_or_else(|e| e.into_inner());
            self.idle.fetch_add(1, SeqCst);
            fence(SeqCst);
            let deadline = Instant::now() + self.config.keep_alive;
            let claimed = loop {
                if *pending > 0 {
                    // A submitter claimed us (and took us off `idle`).
                    *pending -= 1;
                    break true;
                }
                if !self.queue.is_empty() || self.shutdown.load(SeqCst) {
                    break false;
                }
                let now = Instant::now();
                if now >= deadline {
                    break false;
                }
                pending = self
                    .wake
                    .wait_timeout(pending, deadline - now)
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            };
            if !claimed {
                self.idle.fetch_sub(1, SeqCst);
            }
            let retire = !claimed && self.queue.is_empty() || self.shutdown.load(SeqCst);
            drop(pending);
            if retire {
                self.threads.fetch_sub(1, SeqCst);
                // A job may have arrived after we decided to retire while
                // no thread was counted: make sure one runs it.
                if !self.queue.is_empty() && !self.shutdown.load(SeqCst) {
                    if let Some(job) = self.pop() {
                        // Shutdown since: the job is dropped, as queued
                        // jobs are at shutdown.
                        drop(self.submit(job));
                    }
                }
                return;
            }
        }
    }

    pub(crate) fn shutdown(&self) {
        self.shutdown.store(true, SeqCst);
        drop(self.sleep.lock().unwrap_or_else(|e| e.into_inner()));
        self.wake.notify_all();
        while self.pop().is_some() {}
    }

    pub(crate) fn num_threads(&self) -> usize {
        self.threads.load(SeqCst)
    }
}

/// A one-shot slot from a pool thread to the task awaiting it.
struct Slot<R> {
    state: Mutex<(Option<std::thread::Result<R>>, Option<Waker>)>,
}

struct Recv<R>(Arc<Slot<R>>);

impl<R> Future for Recv<R> {
    type Output = std::thread::Result<R>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut st = self.0.state.lock().unwrap_or_else(|e| e.into_inner());
        match st.0.take() {
            Some(r) => Poll::Ready(r),
            None => {
                st.1 = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

impl Handle {
    /// Runs the blocking function `f` on the runtime's blocking pool and
    /// returns a [`Task`] for its result (asyncio's
    /// `loop.run_in_executor(None, f)`). A panic in `f` makes the task
    /// resolve to `Err(TaskError::Panicked)`. Cancelling the task does not
    /// stop `f` (a thread cannot be interrupted); its result is dropped.
    ///
    /// Once the runtime has begun shutting down, `f` never runs (it is
    /// dropped on the calling thread) and the task is already cancelled:
    /// it resolves to `Err(TaskError::Cancelled)`, like any task spawned
    /// after shutdown.
    ///
    /// ```
    /// let rt = ferrio::Runtime::new().unwrap();
    /// let handle = rt.handle();
    /// drop(rt);
    /// let late = handle.run_in_executor(|| unreachable!("runs after shutdown"));
    /// assert!(handle.block_on(late).unwrap_err().is_cancelled());
    /// ```
    pub fn run_in_executor<F, R>(&self, f: F) -> Task<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        let slot = Arc::new(Slot {
            state: Mutex::new((None, None)),
        });
        let tx = slot.clone();
        let submitted = self.shared.blocking_pool().submit(Box::new(move || {
            let out = catch_unwind(AssertUnwindSafe(f));
            let waker = {
                let mut st = tx.state.lock().unwrap_or_else(|e| e.into_inner());
                st.0 = Some(out);
                st.1.take()
            };
            if let Some(w) = waker {
                w.wake();
            }
        }));
        let task = self.spawn(async move {
            match Recv(slot).await {
                Ok(v) => v,
                Err(payload) => std::panic::resume_unwind(payload),
            }
        });
        if let Err(job) = submitted {
            // Shut down: `f` goes unrun, and nothing will fill the slot.
            drop(job);
            task.cancel();
        }
        task
    }
}

/// Runs `f` on the current runtime's blocking pool (asyncio's
/// `asyncio.to_thread`). See [`Handle::run_in_executor`].
///
/// ```
/// ferrio::run(async {
///     let t = ferrio::to_thread(|| std::thread::current().name().map(str::to_owned));
///     let name = t.await.unwrap().unwrap();
///     assert!(name.ends_with("-blocking"));
/// });
/// ```
///
/// # Panics
/// Outside a runtime.
pub fn to_thread<F, R>(f: F) -> Task<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    crate::context::with_current_handle(|h| match h {
        Some(h) => h.run_in_executor(f),
        None => {
            panic!("ferrio::to_thread called outside a ferrio runtime; use Handle::run_in_executor")
        }
    })
}

/// Why [`ConcurrentFuture::result`] has no value.
pub enum ConcurrentError {
    /// The timeout passed first; the task keeps running.
    Timeout,
    /// The task was cancelled.
    Cancelled,
    /// The task panicked; the payload is kept.
    Panicked(Box<dyn Any + Send>),
    /// The result was already taken by an earlier `result` call.
    Taken,
}

impl fmt::Debug for ConcurrentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConcurrentError::Timeout => "Timeout",
            ConcurrentError::Cancelled => "Cancelled",
            ConcurrentError::Panicked(_) => "Panicked(..)",
            ConcurrentError::Taken => "Taken",
        })
    }
}

impl fmt::Display for ConcurrentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConcurrentError::Timeout => "timed out waiting for the result",
            ConcurrentError::Cancelled => "the task was cancelled",
            ConcurrentError::Panicked(_) => "the task panicked",
            ConcurrentError::Taken => "the result was already taken",
        })
    }
}

impl std::error::Error for ConcurrentError {}

/// A task's result seen from a plain thread (asyncio's
/// `concurrent.futures.Future`, as returned by `run_coroutine_threadsafe`).
pub struct ConcurrentFuture<T> {
    task: Option<Task<T>>,
}

impl<T> fmt::Debug for ConcurrentFuture<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConcurrentFuture")
            .field("done", &self.done())
            .finish()
    }
}

/// Wakes the thread blocked in `ConcurrentFuture::result` (a loom thread
/// under loom, so the hand-off is model-checked).
struct ThreadWake(crate::loom::thread::Thread);

impl std::task::Wake for ThreadWake {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

#[cfg(not(ferrio_loom))]
fn park_timeout(d: Duration) {
    std::thread::park_timeout(d);
}

// loom has no timed park; models only use `result(None)`.
#[cfg(ferrio_loom)]
fn park_timeout(_: Duration) {
    crate::loom::thread::park();
}

impl<T> ConcurrentFuture<T> {
    pub(crate) fn from_task(task: Task<T>) -> ConcurrentFuture<T> {
        ConcurrentFuture { task: Some(task) }
    }

    /// Blocks this thread until the task finishes, or at most `timeout`
    /// (`None`: no limit). A timeout leaves the task running; call again.
    ///
    /// Do not call this on a runtime worker: it blocks the thread.
    pub fn result(&mut self, timeout: Option<Duration>) -> Result<T, ConcurrentError> {
        let Some(task) = self.task.as_mut() else {
            return Err(ConcurrentError::Taken);
        };
        let deadline = timeout.map(|t| Instant::now() + t);
        let waker = Waker::from(Arc::new(ThreadWake(crate::loom::thread::current())));
        let mut cx = Context::from_waker(&waker);
        loop {
            if let Poll::Ready(r) = Pin::new(&mut *task).poll(&mut cx) {
                self.task = None;
                return r.map_err(|e| match e {
                    TaskError::Cancelled => ConcurrentError::Cancelled,
                    TaskError::Panicked(p) => ConcurrentError::Panicked(p),
                });
            }
            match deadline {
                None => crate::loom::thread::park(),
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        return Err(ConcurrentError::Timeout);
                    }
                    park_timeout(d - now);
                }
            }
        }
    }

    /// Cancels the task in the runtime. False when already done.
    pub fn cancel(&self) -> bool {
        self.task.as_ref().is_some_and(|t| t.cancel())
    }

    /// True once the task finished.
    pub fn done(&self) -> bool {
        self.task.as_ref().is_none_or(|t| t.is_done())
    }

    /// True once the task finished by being cancelled.
    pub fn cancelled(&self) -> bool {
        self.task.as_ref().is_some_and(|t| t.is_cancelled())
    }

    /// Runs `f` when the task finishes (at once if it has).
    pub fn add_done_callback(&self, f: impl FnOnce(Outcome) + Send + 'static) {
        if let Some(t) = &self.task {
            t.add_done_callback(f);
        }
    }
}

/// Submits `future` to the runtime behind `handle` from any thread, and
/// returns a [`ConcurrentFuture`] to wait for it there (asyncio's
/// `run_coroutine_threadsafe`).
///
/// ```
/// let rt = ferrio::Runtime::new().unwrap();
/// let handle = rt.handle();
/// let from_thread = std::thread::spawn(move || {
///     let mut fut = ferrio::run_coroutine_threadsafe(async { 6 * 7 }, &handle);
///     fut.result(None).unwrap()
/// });
/// assert_eq!(from_thread.join().unwrap(), 42);
/// ```
pub fn run_coroutine_threadsafe<F>(future: F, handle: &Handle) -> ConcurrentFuture<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    ConcurrentFuture::from_task(handle.spawn(future))
}
