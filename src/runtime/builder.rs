//! [`Builder`]: a runtime's settings, checked, and the start of its
//! workers.

use std::any::Any;
use std::fmt;
use std::io;
use std::sync::Arc as StdArc;
use std::time::Duration;

use super::context;
use crate::blocking::PoolConfig;
use crate::loom::sync::Arc;
use crate::scheduler::watchdog::{BlockedHandler, BlockedWorker};
use crate::scheduler::{self, Config, PanicHandler, Shared, SlowPollHandler, Worker, Workers};
use crate::task::core::{panic_message, TaskInfo};

use super::{Handle, Runtime};

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
    #[cfg(not(ferrio_loom))]
    io_driver: Option<crate::driver::IoDriver>,
    recv_pool: (usize, usize),
    blocking: PoolConfig,
    slow_poll: Option<(Duration, SlowPollHandler)>,
    blocked: Option<(Duration, BlockedHandler)>,
    #[cfg(all(feature = "test-util", not(ferrio_loom)))]
    start_paused: bool,
    #[cfg(all(feature = "sim", not(ferrio_loom)))]
    simulated: bool,
    #[cfg(all(feature = "sim", not(ferrio_loom)))]
    schedule_seed: Option<u64>,
    #[cfg(all(feature = "sim", not(ferrio_loom)))]
    sim_backend: Option<StdArc<dyn crate::driver::sim_hook::SimBackend>>,
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
            #[cfg(not(ferrio_loom))]
            io_driver: None,
            recv_pool: (128, 16 * 1024),
            blocking: PoolConfig::default(),
            slow_poll: None,
            blocked: None,
            #[cfg(all(feature = "test-util", not(ferrio_loom)))]
            start_paused: false,
            #[cfg(all(feature = "sim", not(ferrio_loom)))]
            simulated: false,
            #[cfg(all(feature = "sim", not(ferrio_loom)))]
            schedule_seed: None,
            #[cfg(all(feature = "sim", not(ferrio_loom)))]
            sim_backend: None,
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
    /// no [`Task`](crate::Task) handle will ever see it (the handle was dropped), like
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

    /// How long a worker may be stuck in one poll before it is reported
    /// (default 100 ms). The report comes while the poll is still running,
    /// once per episode, as one line on stderr naming the task (id, name,
    /// where it was spawned), the worker and how long. Whatever the
    /// threshold, a stuck worker's queued tasks, timers and I/O are handed
    /// to other threads within a few milliseconds (see
    /// [`task::block_in_place`](crate::task::block_in_place)).
    ///
    /// ```
    /// use std::time::Duration;
    /// let rt = ferrio::Runtime::builder()
    ///     .blocked_worker_threshold(Duration::from_millis(250))
    ///     .build()
    ///     .unwrap();
    /// # drop(rt);
    /// ```
    pub fn blocked_worker_threshold(mut self, threshold: Duration) -> Builder {
        self.blocked = Some((
            threshold,
            StdArc::new(crate::scheduler::watchdog::report_to_stderr),
        ));
        self
    }

    /// Reports a worker stuck in one poll for `threshold` to `f` instead
    /// of stderr (called on the watchdog thread, while the poll runs).
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    /// use std::time::Duration;
    ///
    /// let reports = Arc::new(AtomicUsize::new(0));
    /// let seen = reports.clone();
    /// let rt = ferrio::Runtime::builder()
    ///     .worker_threads(2)
    ///     .on_blocked_worker(Duration::from_millis(20), move |report| {
    ///         assert!(report.blocked_for >= Duration::from_millis(20));
    ///         seen.fetch_add(1, Ordering::SeqCst);
    ///     })
    ///     .build()
    ///     .unwrap();
    /// rt.block_on(async {
    ///     ferrio::spawn(async { std::thread::sleep(Duration::from_millis(200)) })
    ///         .await
    ///         .unwrap();
    /// });
    /// assert_eq!(reports.load(Ordering::SeqCst), 1);
    /// ```
    pub fn on_blocked_worker(
        mut self,
        threshold: Duration,
        f: impl Fn(&BlockedWorker) + Send + Sync + 'static,
    ) -> Builder {
        self.blocked = Some((threshold, StdArc::new(f)));
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
    /// back to allocating (as every receive does on epoll, which has no
    /// pool). Bad values are rejected by
    /// [`build`](Builder::build).
    ///
    /// ```
    /// let rt = ferrio::Runtime::builder().recv_buffer_pool(512, 4096).build().unwrap();
    /// // The pool is io_uring's (on epoll, receives allocate).
    /// if rt.handle().io_driver().driver() == ferrio::IoBackend::IoUring {
    ///     assert!(rt.handle().metrics().provided_buffers);
    /// }
    /// let bad = ferrio::Runtime::builder().recv_buffer_pool(100, 4096).build();
    /// assert_eq!(bad.unwrap_err().kind(), std::io::ErrorKind::InvalidInput);
    /// ```
    pub fn recv_buffer_pool(mut self, buffers: usize, size: usize) -> Builder {
        self.recv_pool = (buffers, size);
        self
    }

    /// Which I/O driver the workers run (default [`IoDriver::Auto`]:
    /// io_uring, or epoll where io_uring is unavailable). When this is not
    /// called, the environment variable `FERRIO_IO_DRIVER`
    /// (`auto`, `io_uring` or `epoll`) decides; a choice made here wins
    /// over it. [`Handle::io_driver`] tells which driver runs and why.
    ///
    /// [`IoDriver::Auto`]: crate::IoDriver::Auto
    ///
    /// ```
    /// use ferrio::{IoDriver, Runtime};
    /// let rt = Runtime::builder().io_driver(IoDriver::Epoll).build().unwrap();
    /// let info = rt.handle().io_driver();
    /// assert_eq!(info.driver(), ferrio::IoBackend::Epoll);
    /// assert_eq!(info.fallback_reason(), None);
    /// ```
    #[cfg(not(ferrio_loom))]
    pub fn io_driver(mut self, driver: crate::driver::IoDriver) -> Builder {
        self.io_driver = Some(driver);
        self
    }

    /// Makes io_uring setup fail with the OS error `errno`, as it would
    /// where io_uring is disabled (tests of that path only).
    #[cfg(test)]
    pub(crate) fn simulate_io_uring_setup_error(mut self, errno: i32) -> Builder {
        self.simulate_setup_error = Some(errno);
        self
    }

    /// Starts the worker threads, each with its own I/O driver (an
    /// io_uring ring, or an epoll instance; see [`Builder::io_driver`]).
    ///
    /// # Errors
    /// - `InvalidInput` when `worker_threads` is zero or too large, or
    ///   `FERRIO_IO_DRIVER` holds something else than `auto`, `io_uring`
    ///   or `epoll`;
    /// - with [`IoDriver::IoUring`](crate::IoDriver::IoUring) chosen, when
    ///   io_uring cannot be used here: the error names the cause and the
    ///   fix (kernel too old, `kernel.io_uring_disabled`, a seccomp profile
    ///   such as Docker's default, the locked-memory limit);
    /// - the OS error when a thread cannot be spawned.
    ///
    /// ```
    /// let err = ferrio::Runtime::builder().worker_threads(0).build().unwrap_err();
    /// assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    /// ```
    pub fn build(self) -> io::Result<Runtime> {
        let workers = self
            .worker_threads
            .unwrap_or_else(|| self.default_workers());
        self.validate(workers)?;
        // Which driver: io_uring is probed here, failing fast with the
        // reason when it was asked for and is unavailable.
        #[cfg(not(ferrio_loom))]
        let io_driver = crate::driver::resolve(
            self.io_driver,
            std::env::var(crate::driver::IO_DRIVER_ENV).ok(),
            self.simulate_setup_error,
        )?;
        let config = Config {
            #[cfg(not(ferrio_loom))]
            io_driver,
            on_task_panic: self
                .on_task_panic
                .unwrap_or_else(|| StdArc::new(report_panic)),
            simulate_setup_error: self.simulate_setup_error,
            recv_pool: (self.recv_pool.0 as u16, self.recv_pool.1),
            thread_name: self.thread_name.clone(),
            stack_size: self.stack_size,
            slow_poll: self.slow_poll,
            blocked: self.blocked.unwrap_or_else(|| {
                (
                    DEFAULT_BLOCKED_THRESHOLD,
                    StdArc::new(crate::scheduler::watchdog::report_to_stderr),
                )
            }),
            #[cfg(all(feature = "test-util", not(ferrio_loom)))]
            start_paused: self.start_paused,
            #[cfg(all(feature = "sim", not(ferrio_loom)))]
            simulated: self.simulated,
            #[cfg(all(feature = "sim", not(ferrio_loom)))]
            schedule_seed: self.schedule_seed,
            #[cfg(all(feature = "sim", not(ferrio_loom)))]
            sim_backend: self.sim_backend.clone(),
        };
        let (shared, parts, watchdog) = Shared::new(workers, config)?;
        let handle = Handle::new(Arc::new(shared), self.blocking, self.thread_name);
        let mut rt = Runtime {
            handle: handle.clone(),
            workers: Workers::new(),
        };
        // Each worker thread enters the runtime's context for its life.
        let enter = move |worker: &Worker| {
            context::try_enter(&handle, worker as *const Worker)
                .unwrap_or_else(|()| unreachable!("a new thread is in no runtime"))
        };
        // On error `rt` is dropped, which shuts down the workers started.
        scheduler::launch(&rt.handle.shared, parts, watchdog, enter, &mut rt.workers)?;
        Ok(rt)
    }

    /// One per CPU; one for a runtime that starts paused.
    fn default_workers(&self) -> usize {
        #[cfg(all(feature = "test-util", not(ferrio_loom)))]
        if self.start_paused {
            return 1;
        }
        num_cpus::get()
    }

    /// Starts the runtime's clock paused (feature `test-util`), as
    /// tokio's `start_paused`: time stands still but for
    /// [`time::advance`](crate::time::advance), and jumps to the next
    /// timer whenever the runtime has nothing else to do (see
    /// [`time::pause`](crate::time::pause)). A paused clock needs a
    /// runtime of one worker: without [`worker_threads`](Self::worker_threads)
    /// it gets one, and `build` fails with `InvalidInput` if more were
    /// asked for.
    ///
    /// ```
    /// use std::time::Duration;
    /// let rt = ferrio::Runtime::builder().start_paused(true).build().unwrap();
    /// let wall = std::time::Instant::now();
    /// rt.block_on(async {
    ///     let start = ferrio::time::now();
    ///     ferrio::sleep(Duration::from_secs(3600)).await;
    ///     assert_eq!(ferrio::time::now() - start, Duration::from_secs(3600));
    /// });
    /// assert!(wall.elapsed() < Duration::from_secs(60));
    /// ```
    #[cfg(all(feature = "test-util", not(ferrio_loom)))]
    pub fn start_paused(mut self, paused: bool) -> Builder {
        self.start_paused = paused;
        self
    }

    /// Marks the runtime as running a `ferrio::sim` world: files,
    /// subprocesses and real sockets are refused, `to_thread` runs inline
    /// (see `runtime/simulated.rs`).
    #[cfg(all(feature = "sim", not(ferrio_loom)))]
    pub(crate) fn simulated(mut self) -> Builder {
        self.simulated = true;
        self
    }

    /// Each worker picks the next task among all its runnable ones by a
    /// generator of `seed` (feature `sim`: a world's order of runnable
    /// tasks is then a function of its seed, and varies with it).
    #[cfg(all(feature = "sim", not(ferrio_loom)))]
    pub(crate) fn schedule_seed(mut self, seed: u64) -> Builder {
        self.schedule_seed = Some(seed);
        self
    }

    /// The world whose network the workers' drivers simulate (feature
    /// `sim`: `driver/sim_hook.rs`).
    #[cfg(all(feature = "sim", not(ferrio_loom)))]
    pub(crate) fn sim_backend(
        mut self,
        backend: StdArc<dyn crate::driver::sim_hook::SimBackend>,
    ) -> Builder {
        self.sim_backend = Some(backend);
        self
    }

    /// Rejects settings the runtime cannot run with.
    fn validate(&self, workers: usize) -> io::Result<()> {
        #[cfg(all(feature = "test-util", not(ferrio_loom)))]
        if self.start_paused && workers != 1 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "ferrio: start_paused needs a runtime of one worker (worker_threads(1)); \
                     got worker_threads({workers})"
                ),
            ));
        }
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
        Ok(())
    }
}

/// The default [`Builder::blocked_worker_threshold`].
const DEFAULT_BLOCKED_THRESHOLD: Duration = Duration::from_millis(100);

fn report_slow_poll(info: &TaskInfo, took: Duration) {
    eprintln!(
        "ferrio: slow poll: task '{}' (id {}) held its worker for {took:?} in one poll",
        info.name, info.id
    );
}

fn report_panic(info: &TaskInfo, payload: &(dyn Any + Send)) {
    let msg = panic_message(payload).unwrap_or("<non-string panic payload>");
    eprintln!(
        "ferrio: Task exception was never retrieved: task '{}' (id {}) panicked: {msg}",
        info.name, info.id
    );
}
