//! The blocking pool behind `to_thread` / `run_in_executor`, name lookups
//! and, on the epoll driver, file operations (`run_coroutine_threadsafe`,
//! the other thread bridge, is in `threads.rs`).
//!
//! # The blocking pool
//! Jobs go into a lock-free queue (crossbeam's `Injector`): submitting
//! takes no lock unless an idle pool thread must be woken, so many
//! spawners do not contend on one mutex (tokio's blocking pool queues
//! behind one). The pool grows on demand up to
//! `Builder::max_blocking_threads` (default 512) and an idle
//! thread retires after `Builder::blocking_keep_alive` (default 10 s).
//! Beyond the maximum, jobs wait in the queue in FIFO order; the queue is
//! unbounded (each waiting job costs one boxed closure), so a caller that
//! can flood it should bound itself, e.g. with a `Semaphore`.
//! At runtime shutdown, idle threads exit; a job already running finishes
//! on its own thread (a thread cannot be cancelled) and jobs still queued
//! are dropped, each reporting to its awaiting side that it never ran
//! (so a thread blocked on one returns). After shutdown nothing new runs: a job submitted then is
//! dropped without running and starts no thread, whether or not the pool
//! was ever used (the runtime marks the pool shut down even if it never
//! started one).
//!
//! The job's result crosses to the awaiting task through a one-shot slot
//! ([`submit`] returns its receiving end); a panic is re-raised inside that
//! task, so the `Task` reports `Panicked`.
//!
//! The pool belongs to the runtime (`runtime::Handle::run_in_executor`);
//! it names neither the runtime nor the scheduler. Its atomics, lock,
//! condition variable and threads come from the loom shim: the models in
//! `loom-tests/tests/blocking.rs` run this code.

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crossbeam_deque::{Injector, Steal};

use crate::loom::sync::atomic::{fence, AtomicBool, AtomicUsize, Ordering::SeqCst};
use crate::loom::sync::{Condvar, Mutex};

pub(crate) type Job = Box<dyn FnOnce() + Send>;

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
    /// A job in flight holds a paused clock back from jumping ahead
    /// (feature `test-util`; `time/core/clock.rs`).
    #[cfg(all(feature = "test-util", not(ferrio_loom)))]
    hold: Option<crate::time::core::HoldSource>,
}

impl BlockingPool {
    #[cfg_attr(all(feature = "test-util", not(ferrio_loom)), allow(dead_code))]
    pub(crate) fn new(config: PoolConfig, name: String) -> Arc<BlockingPool> {
        #[cfg(all(feature = "test-util", not(ferrio_loom)))]
        return BlockingPool::with_hold(config, name, None);
        #[cfg(not(all(feature = "test-util", not(ferrio_loom))))]
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

    /// A pool whose jobs in flight each hold `hold`'s clock back.
    #[cfg(all(feature = "test-util", not(ferrio_loom)))]
    pub(crate) fn with_hold(
        config: PoolConfig,
        name: String,
        hold: Option<crate::time::core::HoldSource>,
    ) -> Arc<BlockingPool> {
        Arc::new(BlockingPool {
            hold,
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
            let mut pending = self.sleep.lock();
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
                    let spawned = crate::loom::thread::Builder::new()
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
            let mut pending = self.sleep.lock();
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
                pending = self.wake.wait_timeout(pending, deadline - now).0;
            };
            if !claimed {
                self.idle.fetch_sub(1, SeqCst);
            }
            let retire = !claimed && self.queue.is_empty() || self.shutdown.load(SeqCst);
            drop(pending);
            if retire {
                self.threads.fetch_sub(1, SeqCst);
                if self.shutdown.load(SeqCst) {
                    // A submitter that had not yet seen the shutdown may
                    // have queued a job after the shutdown's drain (and
                    // claimed us for it): it is dropped here, telling its
                    // awaiting side, not stranded.
                    while let Some(job) = self.pop() {
                        drop(job);
                    }
                    return;
                }
                // A job may have arrived after we decided to retire while
                // no thread was counted: make sure one runs it.
                if !self.queue.is_empty() {
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
        drop(self.sleep.lock());
        self.wake.notify_all();
        while self.pop().is_some() {}
    }

    pub(crate) fn num_threads(&self) -> usize {
        self.threads.load(SeqCst)
    }
}

/// A one-shot slot from a pool thread to the task awaiting it.
struct Slot<R> {
    state: Mutex<(Option<Outcome<R>>, Option<Waker>)>,
}

/// What became of a job: its result (`Err`: the panic payload), or
/// `None` when it was dropped without running (the pool shut down with it
/// queued).
pub(crate) type Outcome<R> = Option<std::thread::Result<R>>;

/// The result of a job submitted with [`submit`].
pub(crate) struct JobResult<R>(Arc<Slot<R>>);

impl<R> Future for JobResult<R> {
    type Output = Outcome<R>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut st = self.0.state.lock();
        match st.0.take() {
            Some(r) => Poll::Ready(r),
            None => {
                st.1 = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

/// The sending end of a job's slot, moved into the job. Dropped without
/// sending (the job dropped unrun at shutdown), it reports `None`, so the
/// awaiting side never waits for a job that will not run.
struct Sender<R> {
    slot: Option<Arc<Slot<R>>>,
}

impl<R> Sender<R> {
    fn send(mut self, outcome: Outcome<R>) {
        if let Some(slot) = self.slot.take() {
            fill(&slot, outcome);
        }
    }
}

impl<R> Drop for Sender<R> {
    fn drop(&mut self) {
        if let Some(slot) = self.slot.take() {
            fill(&slot, None);
        }
    }
}

fn fill<R>(slot: &Slot<R>, outcome: Outcome<R>) {
    let waker = {
        let mut st = slot.state.lock();
        st.0 = Some(outcome);
        st.1.take()
    };
    if let Some(w) = waker {
        w.wake();
    }
}

/// Submits `f` to `pool`. Returns the future of its outcome, or `f` back,
/// unrun, when the pool has shut down (the future would never resolve).
pub(crate) fn submit<F, R>(pool: &Arc<BlockingPool>, f: F) -> Result<JobResult<R>, Job>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let slot = Arc::new(Slot {
        state: Mutex::new((None, None)),
    });
    let tx = Sender {
        slot: Some(slot.clone()),
    };
    // Released once the outcome is sent (its waker run) or the job is
    // dropped unrun.
    #[cfg(all(feature = "test-util", not(ferrio_loom)))]
    let hold = pool.hold.as_ref().map(|h| h.hold());
    pool.submit(Box::new(move || {
        let out = catch_unwind(AssertUnwindSafe(f));
        tx.send(Some(out));
        #[cfg(all(feature = "test-util", not(ferrio_loom)))]
        drop(hold);
    }))?;
    Ok(JobResult(slot))
}
