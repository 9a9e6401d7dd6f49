// Over 500 lines: builder, handle and metrics still share this file; they
// split when the scheduler/runtime seam is redrawn, issue 10.
//! The runtime: building it, entering it, shutting it down (asyncio's event
//! loop).
//!
//! | ferrio | asyncio |
//! | --- | --- |
//! | [`run`](crate::run) | `asyncio.run(main())` |
//! | [`Runtime::new`], [`Runtime::builder`] | `new_event_loop()` |
//! | [`Runtime::block_on`] | `loop.run_until_complete` |
//! | [`Handle::current`], [`Handle::try_current`] | `get_running_loop()` |
//! | [`Runtime::shutdown_timeout`], `Drop` | `loop.close()` |
//! | [`Handle::call_soon_threadsafe`] | `loop.call_soon_threadsafe` |

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::io;
use std::pin::pin;
use std::sync::Arc as StdArc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use crate::context;
use crate::loom::sync::{Arc, Condvar, Mutex};
use crate::loom::thread;
use crate::scheduler::park::{Parker, Unparker};
use crate::scheduler::{Config, PanicHandler, Shared, Worker};
use crate::task::{self, Task, TaskInfo};

/// A multi-threaded, work-stealing runtime.
///
/// ```
/// let rt = ferrio::Runtime::new().unwrap();
/// let answer = rt.block_on(async {
///     let task = ferrio::spawn(async { 40 + 2 });
///     task.await.unwrap()
/// });
/// assert_eq!(answer, 42);
/// ```
pub struct Runtime {
    handle: Handle,
    threads: Vec<thread::JoinHandle<()>>,
    exited: Arc<Latch>,
}

/// A cheap, cloneable reference to a runtime, usable from any thread.
#[derive(Clone)]
pub struct Handle {
    pub(crate) shared: Arc<Shared>,
}

/// Configures and builds a [`Runtime`].
///
/// ```
/// let rt = ferrio::Runtime::builder()
///     .worker_threads(2)
///     .thread_name("my-app")
///     .on_task_panic(|info, _payload| eprintln!("{} failed", info.name))
///     .build()
///     .unwrap();
/// assert_eq!(rt.handle().num_workers(), 2);
/// ```
pub struct Builder {
    worker_threads: Option<usize>,
    thread_name: String,
    stack_size: Option<usize>,
    on_task_panic: Option<PanicHandler>,
    simulate_setup_error: Option<i32>,
    recv_pool: (usize, usize),
    blocking: crate::blocking::PoolConfig,
    slow_poll: Option<(Duration, crate::scheduler::SlowPollHandler)>,
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("worker_threads", &self.worker_threads)
            .field("thread_name", &self.thread_name)
            .field("stack_size", &self.stack_size)
            .finish_non_exhaustive()
    }
}

impl Default for Builder {
    fn default() -> Builder {
        Builder {
            worker_threads: None,
            thread_name: "ferrio-worker".to_string(),
            stack_size: None,
            on_task_panic: None,
            simulate_setup_error: None,
            recv_pool: (128, 16 * 1024),
            blocking: crate::blocking::PoolConfig::default(),
            slow_poll: None,
        }
    }
}

impl Builder {
    /// A builder with defaults: one worker per CPU.
    pub fn new() -> Builder {
        Builder::default()
    }

    /// How many worker threads (default: the number of CPUs). Zero is
    /// rejected by [`build`](Builder::build).
    pub fn worker_threads(mut self, n: usize) -> Builder {
        self.worker_threads = Some(n);
        self
    }

    /// The name prefix of worker threads; worker `i` is named `"{name}-{i}"`.
    pub fn thread_name(mut self, name: impl Into<String>) -> Builder {
        self.thread_name = name.into();
        self
    }

    /// Stack size of worker threads, in bytes.
    pub fn thread_stack_size(mut self, bytes: usize) -> Builder {
        self.stack_size = Some(bytes);
        self
    }

    /// Called with the task's info and panic payload when a task panics and
    /// no [`Task`] handle will ever see it (the handle was dropped), like
    /// asyncio's "Task exception was never retrieved". The default prints
    /// the task's name and the panic message to stderr. The worker carries
    /// on either way; a panic inside the handler is contained.
    pub fn on_task_panic(
        mut self,
        f: impl Fn(&TaskInfo, &(dyn Any + Send)) + Send + Sync + 'static,
    ) -> Builder {
        self.on_task_panic = Some(StdArc::new(f));
        self
    }

    /// Debug mode (asyncio's debug mode and `slow_callback_duration`): a
    /// task poll that runs longer than `threshold` is reported on stderr
    /// with the task's name and how long it held its worker. Off by
    /// default (it times every poll).
    pub fn slow_poll_threshold(mut self, threshold: Duration) -> Builder {
        self.slow_poll = Some((threshold, StdArc::new(report_slow_poll)));
        self
    }

    /// Debug mode with your own report instead of stderr.
    pub fn on_slow_poll(
        mut self,
        threshold: Duration,
        f: impl Fn(&TaskInfo, Duration) + Send + Sync + 'static,
    ) -> Builder {
        self.slow_poll = Some((threshold, StdArc::new(f)));
        self
    }

    /// The most threads the blocking pool (`to_thread`) may run at once
    /// (default 512); jobs beyond it wait in FIFO order. Zero is rejected
    /// by [`build`](Builder::build).
    pub fn max_blocking_threads(mut self, n: usize) -> Builder {
        self.blocking.max_threads = n;
        self
    }

    /// How long an idle blocking-pool thread waits for work before it
    /// exits (default 10 s).
    pub fn blocking_keep_alive(mut self, keep_alive: Duration) -> Builder {
        self.blocking.keep_alive = keep_alive;
        self
    }

    /// Each worker ring's pool of receive buffers (`IORING_REGISTER_PBUF_RING`):
    /// `buffers` (a power of two, at most 32,768; 0 for no pool) of `size`
    /// bytes each. Default 128 × 16 KiB = 2 MiB per worker, whatever the
    /// number of connections: a pooled receive holds a buffer only while
    /// its data waits to be read. When the pool runs dry, receives fall
    /// back to allocating. Bad values are rejected by
    /// [`build`](Builder::build).
    ///
    /// ```
    /// let rt = ferrio::Runtime::builder().recv_buffer_pool(512, 4096).build().unwrap();
    /// assert!(rt.handle().metrics().provided_buffers);
    /// let bad = ferrio::Runtime::builder().recv_buffer_pool(100, 4096).build();
    /// assert_eq!(bad.unwrap_err().kind(), std::io::ErrorKind::InvalidInput);
    /// ```
    pub fn recv_buffer_pool(mut self, buffers: usize, size: usize) -> Builder {
        self.recv_pool = (buffers, size);
        self
    }

    /// Makes io_uring setup fail with the OS error `errno`, as it would
    /// where io_uring is disabled (tests of that path only).
    #[cfg(test)]
    pub(crate) fn simulate_io_uring_setup_error(mut self, errno: i32) -> Builder {
        self.simulate_setup_error = Some(errno);
        self
    }

    /// Starts the worker threads, each with its own io_uring ring.
    ///
    /// # Errors
    /// - `InvalidInput` when `worker_threads` is zero or too large;
    /// - when io_uring cannot be used here: the error names the cause and
    ///   the fix (kernel too old, `kernel.io_uring_disabled`, a seccomp
    ///   profile such as Docker's default, the locked-memory limit);
    /// - the OS error when a thread cannot be spawned.
    ///
    /// ```
    /// let err = ferrio::Runtime::builder().worker_threads(0).build().unwrap_err();
    /// assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    /// ```
    pub fn build(self) -> io::Result<Runtime> {
        let workers = self.worker_threads.unwrap_or_else(num_cpus::get);
        if workers == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "ferrio: worker_threads must be at least 1",
            ));
        }
        if workers > 4096 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("ferrio: worker_threads = {workers} is more than the supported 4096"),
            ));
        }
        if self.blocking.max_threads == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "ferrio: max_blocking_threads must be at least 1",
            ));
        }
        let (buffers, size) = self.recv_pool;
        if buffers != 0
            && (!buffers.is_power_of_two()
                || buffers > 32_768
                || size == 0
                || size > u32::MAX as usize)
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "ferrio: recv_buffer_pool needs a power-of-two buffer count up to 32768 \
                     (or 0) and a size from 1 byte to 4 GiB; got {buffers} x {size}"
                ),
            ));
        }
        // Fail fast, with the reason, where io_uring is unavailable.
        #[cfg(not(ferrio_loom))]
        crate::driver::probe(self.simulate_setup_error)?;
        let config = Config {
            on_task_panic: self
                .on_task_panic
                .unwrap_or_else(|| StdArc::new(report_panic)),
            simulate_setup_error: self.simulate_setup_error,
            recv_pool: (self.recv_pool.0 as u16, self.recv_pool.1),
            blocking: self.blocking,
            thread_name: self.thread_name.clone(),
            slow_poll: self.slow_poll.clone(),
        };
        let (shared, parts) = Shared::new(workers, config)?;
        let handle = Handle {
            shared: Arc::new(shared),
        };
        let exited = Arc::new(Latch::new());
        let mut rt = Runtime {
            handle: handle.clone(),
            threads: Vec::with_capacity(workers),
            exited: exited.clone(),
        };
        // Each worker creates its ring on its own thread and reports here.
        // (Shim mutex and condvar, not a std channel: under loom the
        // workers are loom threads and the wait must be one loom sees.)
        let startup = Arc::new(Startup::new());
        for part in parts {
            let index = part.index();
            let handle = handle.clone();
            let exited = exited.clone();
            let report = StartupReport(Some(startup.clone()));
            let mut b = thread::Builder::new().name(format!("{}-{index}", self.thread_name));
            if let Some(size) = self.stack_size {
                b = b.stack_size(size);
            }
            let spawned = b.spawn(move || {
                // Counts the exit even if the worker loop itself panics.
                let _exit = ExitGuard {
                    exited,
                    shared: handle.shared.clone(),
                    workers,
                };
                let simulate = handle.shared.config.simulate_setup_error;
                let pool = handle.shared.config.recv_pool;
                let (index, local, park) = match part.into_parts(simulate, pool) {
                    Ok(p) => {
                        report.finish(Ok(()));
                        p
                    }
                    Err(e) => {
                        report.finish(Err(e));
                        return;
                    }
                };
                let worker = Worker::new(handle.shared.clone(), index, local, park);
                let enter = context::try_enter(&handle, &worker as *const Worker)
                    .unwrap_or_else(|()| unreachable!("a new thread is in no runtime"));
                worker.run();
                drop(enter);
                drop(worker);
                drop(handle);
            });
            match spawned {
                Ok(t) => rt.threads.push(t),
                Err(e) => {
                    // `rt` shuts down the workers already started.
                    return Err(io::Error::new(
                        e.kind(),
                        format!("ferrio: could not spawn worker thread {index}: {e}"),
                    ));
                }
            }
        }
        startup.wait(workers)?;
        Ok(rt)
    }
}

fn report_slow_poll(info: &TaskInfo, took: Duration) {
    eprintln!(
        "ferrio: slow poll: task '{}' (id {}) held its worker for {took:?} in one poll",
        info.name, info.id
    );
}

fn report_panic(info: &TaskInfo, payload: &(dyn Any + Send)) {
    let msg = task::panic_message(payload).unwrap_or("<non-string panic payload>");
    eprintln!(
        "ferrio: Task exception was never retrieved: task '{}' (id {}) panicked: {msg}",
        info.name, info.id
    );
}

impl Runtime {
    /// A runtime with default settings (one worker per CPU).
    pub fn new() -> io::Result<Runtime> {
        Builder::new().build()
    }

    /// A [`Builder`] to configure a runtime.
    pub fn builder() -> Builder {
        Builder::new()
    }

    /// A handle to this runtime.
    pub fn handle(&self) -> Handle {
        self.handle.clone()
    }

    /// Spawns a task onto this runtime (see [`spawn`](crate::spawn)).
    pub fn spawn<F>(&self, future: F) -> Task<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.handle.spawn(future)
    }

    /// Runs `future` to completion on the calling thread, with this runtime
    /// entered: [`spawn`](crate::spawn) and [`Handle::current`] work inside
    /// it (asyncio's `run_until_complete`). The future itself does not
    /// need to be `Send`; the tasks it spawns run on the workers.
    ///
    /// # Panics
    /// When called from inside a runtime (a worker thread, or inside
    /// another `block_on`): blocking there would deadlock the worker.
    /// Await the future instead. A panic of `future` propagates.
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.handle.block_on(future)
    }

    /// Shuts down, waiting at most `timeout` for the workers to stop.
    ///
    /// Every task's future is dropped exactly once and every awaited
    /// [`Task`] resolves to `Cancelled`. A worker stuck in a long poll is
    /// abandoned after `timeout` (its thread is detached and finishes the
    /// shutdown on its own when the poll returns).
    pub fn shutdown_timeout(mut self, timeout: Duration) {
        self.shutdown(Some(timeout));
    }

    fn shutdown(&mut self, timeout: Option<Duration>) {
        let shared = &self.handle.shared;
        shared.begin_shutdown();
        let on_worker = context::with_worker(|w| w.is_some());
        if on_worker {
            // Dropped from inside a worker: blocking here could wait on
            // ourselves. The workers finish the shutdown on their own.
            self.threads.clear();
            return;
        }
        let all_exited = match timeout {
            None => {
                self.exited.wait(self.threads.len(), None);
                true
            }
            Some(t) => self.exited.wait(self.threads.len(), Some(t)),
        };
        if all_exited {
            for t in self.threads.drain(..) {
                let _ = t.join();
            }
            shared.shutdown_tasks(0);
            shared.drain_injector();
        } else {
            self.threads.clear();
        }
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.shutdown(None);
    }
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime")
            .field("workers", &self.handle.num_workers())
            .finish_non_exhaustive()
    }
}

impl Handle {
    /// The runtime this thread is running in (asyncio's
    /// `get_running_loop()`).
    ///
    /// # Panics
    /// Outside a runtime; use [`Handle::try_current`] to ask.
    pub fn current() -> Handle {
        Handle::try_current().expect(
            "ferrio::Handle::current() called outside a ferrio runtime: call it from a task, \
             from inside Runtime::block_on / ferrio::run, or pass a Handle to this thread",
        )
    }

    /// The runtime this thread is running in, if any.
    pub fn try_current() -> Option<Handle> {
        context::current_handle()
    }

    /// Spawns a task onto this runtime; works from any thread (asyncio's
    /// `loop.create_task`). After the runtime shut down, the returned task
    /// is already cancelled.
    pub fn spawn<F>(&self, future: F) -> Task<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.spawn_named(future, None)
    }

    pub(crate) fn spawn_named<F>(&self, future: F, name: Option<Box<str>>) -> Task<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let (listed, notified, task) = task::new_task(future, self.clone(), name);
        match self.shared.bind(listed) {
            Ok(()) => task::Schedule::schedule(self, notified, false),
            Err(listed) => {
                // The runtime is shutting down: the task never runs.
                drop(notified);
                listed.shutdown();
            }
        }
        task
    }

    /// Runs `f` on a worker thread soon (asyncio's
    /// `loop.call_soon_threadsafe`). Returns the task that runs it; drop it
    /// to fire and forget.
    ///
    /// ```
    /// let rt = ferrio::Runtime::new().unwrap();
    /// let on_worker = rt
    ///     .handle()
    ///     .call_soon_threadsafe(|| std::thread::current().name().map(str::to_owned));
    /// let name = rt.block_on(on_worker).unwrap().unwrap();
    /// assert!(name.starts_with("ferrio-worker"));
    /// ```
    pub fn call_soon_threadsafe<F, R>(&self, f: F) -> Task<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        self.spawn(async move { f() })
    }

    /// See [`Runtime::block_on`].
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        let _enter = context::try_enter(self, std::ptr::null()).unwrap_or_else(|()| {
            panic!(
                "ferrio: block_on called from inside a runtime (this thread is a runtime \
                 worker or is already inside block_on); blocking here would stall the \
                 runtime. Await the future instead, or spawn it and await the Task."
            )
        });
        let parker = Parker::new();
        let waker = Waker::from(StdArc::new(ThreadWaker(parker.unparker())));
        let mut cx = Context::from_waker(&waker);
        let mut future = pin!(future);
        loop {
            let polled = {
                let _budget = context::enter_block_on_poll();
                future.as_mut().poll(&mut cx)
            };
            if let Poll::Ready(out) = polled {
                return out;
            }
            parker.park(None);
        }
    }

    /// How many worker threads the runtime has.
    pub fn num_workers(&self) -> usize {
        self.shared.num_workers()
    }

    /// Threads in the blocking pool right now.
    pub fn blocking_threads(&self) -> usize {
        self.shared.blocking_threads()
    }

    /// How many tasks are alive (spawned and not yet finished).
    pub fn num_tasks(&self) -> usize {
        self.shared.num_tasks()
    }

    /// A snapshot of every task not yet done (asyncio's `all_tasks()`).
    pub fn all_tasks(&self) -> Vec<TaskInfo> {
        let mut out = Vec::new();
        self.shared.owned.for_each(|t| {
            let info = task::info_of(t);
            if info.state != task::TaskState::Done {
                out.push(info);
            }
        });
        out.sort_by_key(|i| i.id);
        out
    }

    /// Counters of the runtime's io_uring rings (summed over workers).
    #[cfg(not(ferrio_loom))]
    pub fn metrics(&self) -> RuntimeMetrics {
        let [io_uring_enters, ops_submitted, ops_completed, parks, features] =
            self.shared.ring_stats();
        RuntimeMetrics {
            io_uring_enters,
            ops_submitted,
            ops_completed,
            parks,
            single_issuer: features & 1 != 0,
            defer_taskrun: features & 2 != 0,
            coop_taskrun: features & 4 != 0,
            ext_arg: features & 8 != 0,
            provided_buffers: features & 16 != 0,
        }
    }

    /// True once the runtime began shutting down.
    pub fn is_shutdown(&self) -> bool {
        self.shared.is_shutdown()
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle")
            .field("workers", &self.num_workers())
            .finish_non_exhaustive()
    }
}

/// Counters of a runtime's io_uring rings, summed over its workers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RuntimeMetrics {
    /// `io_uring_enter` system calls (submits and waits).
    pub io_uring_enters: u64,
    /// Operations submitted to the rings.
    pub ops_submitted: u64,
    /// Operations whose final completion was reaped.
    pub ops_completed: u64,
    /// Times a worker went to sleep on its ring.
    pub parks: u64,
    /// The rings were set up with `IORING_SETUP_SINGLE_ISSUER` (6.0+).
    pub single_issuer: bool,
    /// ... with `IORING_SETUP_DEFER_TASKRUN` (6.1+).
    pub defer_taskrun: bool,
    /// ... with `IORING_SETUP_COOP_TASKRUN` (5.19+).
    pub coop_taskrun: bool,
    /// The kernel takes a timeout with the wait (`IORING_FEAT_EXT_ARG`,
    /// 5.11+); otherwise parks arm an `IORING_OP_TIMEOUT`.
    pub ext_arg: bool,
    /// Each ring has a pool of receive buffers (`IORING_REGISTER_PBUF_RING`,
    /// 5.19+): socket reads that wait hold no memory.
    pub provided_buffers: bool,
}

struct ThreadWaker(Unparker);

impl Wake for ThreadWaker {
    fn wake(self: StdArc<Self>) {
        self.0.unpark();
    }
    fn wake_by_ref(self: &StdArc<Self>) {
        self.0.unpark();
    }
}

/// Counts a worker's exit even if its loop panicked; the last worker out
/// drops what is left in the injector (the owner may not be waiting, when
/// the runtime was dropped on a worker thread or timed out).
struct ExitGuard {
    exited: Arc<Latch>,
    shared: Arc<Shared>,
    workers: usize,
}

impl Drop for ExitGuard {
    fn drop(&mut self) {
        if self.exited.count_up() == self.workers {
            self.shared.drain_injector();
        }
    }
}

/// The workers' start-up reports, which `Builder::build` waits for.
struct Startup {
    state: Mutex<StartupState>,
    cvar: Condvar,
}

#[derive(Default)]
struct StartupState {
    ready: usize,
    /// The first worker that could not start (its error), or one that
    /// exited (panicked) before reporting.
    failed: Option<io::Error>,
}

impl Startup {
    fn new() -> Startup {
        Startup {
            state: Mutex::new(StartupState::default()),
            cvar: Condvar::new(),
        }
    }

    fn report(&self, result: io::Result<()>) {
        let mut state = crate::loom::lock(&self.state);
        match result {
            Ok(()) => state.ready += 1,
            Err(e) => {
                state.failed.get_or_insert(e);
            }
        }
        drop(state);
        self.cvar.notify_all();
    }

    /// Waits until `workers` workers are ready, or one failed.
    fn wait(&self, workers: usize) -> io::Result<()> {
        let mut state = crate::loom::lock(&self.state);
        loop {
            if let Some(e) = state.failed.take() {
                return Err(e);
            }
            if state.ready >= workers {
                return Ok(());
            }
            state = self.cvar.wait(state).unwrap_or_else(|e| e.into_inner());
        }
    }
}

/// A worker's one start-up report; dropped unsent (the thread panicked
/// first), it reports the worker gone.
struct StartupReport(Option<Arc<Startup>>);

impl StartupReport {
    fn finish(mut self, result: io::Result<()>) {
        if let Some(startup) = self.0.take() {
            startup.report(result);
        }
    }
}

impl Drop for StartupReport {
    fn drop(&mut self) {
        if let Some(startup) = self.0.take() {
            startup.report(Err(io::Error::other(
                "ferrio: a worker thread exited before its ring was ready",
            )));
        }
    }
}

/// Counts exited workers; the runtime's owner waits on it.
struct Latch {
    count: Mutex<usize>,
    cvar: Condvar,
}

impl Latch {
    fn new() -> Latch {
        Latch {
            count: Mutex::new(0),
            cvar: Condvar::new(),
        }
    }

    /// Returns the new count.
    fn count_up(&self) -> usize {
        let mut count = self.count.lock().unwrap_or_else(|e| e.into_inner());
        *count += 1;
        let now = *count;
        drop(count);
        self.cvar.notify_all();
        now
    }

    /// Waits until the count reaches `n`; false on timeout.
    fn wait(&self, n: usize, timeout: Option<Duration>) -> bool {
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut count = self.count.lock().unwrap_or_else(|e| e.into_inner());
        while *count < n {
            match deadline {
                None => count = self.cvar.wait(count).unwrap_or_else(|e| e.into_inner()),
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        return false;
                    }
                    count = wait_timeout(&self.cvar, count, d - now);
                }
            }
        }
        true
    }
}

#[cfg(not(ferrio_loom))]
fn wait_timeout<'a, T>(
    cvar: &Condvar,
    guard: std::sync::MutexGuard<'a, T>,
    t: Duration,
) -> std::sync::MutexGuard<'a, T> {
    cvar.wait_timeout(guard, t)
        .unwrap_or_else(|e| e.into_inner())
        .0
}

#[cfg(ferrio_loom)]
fn wait_timeout<'a, T>(
    cvar: &Condvar,
    guard: loom::sync::MutexGuard<'a, T>,
    t: Duration,
) -> loom::sync::MutexGuard<'a, T> {
    cvar.wait_timeout(guard, t).unwrap().0
}
