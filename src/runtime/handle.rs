//! [`Handle`]: a cheap reference to a runtime, usable from any thread:
//! spawning, `block_on`, the blocking pool (`run_in_executor`), counts
//! and metrics.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::panic::Location;
use std::pin::pin;
use std::sync::{Arc as StdArc, OnceLock};
use std::task::{Context, Poll, Wake, Waker};

use super::context;
#[cfg(all(feature = "test-util", not(ferrio_loom)))]
use super::held_wake::{FinishOnDrop, HeldWake};
use crate::blocking::{self, BlockingPool, PoolConfig};
use crate::loom::sync::Arc;
use crate::park::{Parker, Unparker};
use crate::scheduler::Shared;
use crate::task::core::wait::{Leaf, WaitKind};
use crate::task::core::{
    entry_of, info_of, new_task, DumpState, DumpedTask, Schedule, Task, TaskDump, TaskId, TaskInfo,
    TaskState,
};

#[cfg(not(ferrio_loom))]
use super::RuntimeMetrics;

/// A cheap, cloneable reference to a runtime, usable from any thread.
#[derive(Clone)]
pub struct Handle {
    pub(crate) shared: Arc<Shared>,
    blocking: StdArc<Blocking>,
}

/// The runtime's blocking pool, started at the first `to_thread`.
struct Blocking {
    pool: OnceLock<StdArc<BlockingPool>>,
    config: PoolConfig,
    thread_name: String,
    /// Jobs hold a pausable clock back (feature `test-util`).
    #[cfg(all(feature = "test-util", not(ferrio_loom)))]
    hold: Option<crate::time::core::HoldSource>,
}

impl Blocking {
    fn pool(&self) -> &StdArc<BlockingPool> {
        self.pool.get_or_init(|| {
            #[cfg(all(feature = "test-util", not(ferrio_loom)))]
            return BlockingPool::with_hold(
                self.config,
                self.thread_name.clone(),
                self.hold.clone(),
            );
            #[cfg(not(all(feature = "test-util", not(ferrio_loom))))]
            BlockingPool::new(self.config, self.thread_name.clone())
        })
    }
}

impl Handle {
    pub(crate) fn new(shared: Arc<Shared>, blocking: PoolConfig, thread_name: String) -> Handle {
        Handle {
            blocking: StdArc::new(Blocking {
                pool: OnceLock::new(),
                config: blocking,
                thread_name,
                #[cfg(all(feature = "test-util", not(ferrio_loom)))]
                hold: shared.clock().hold_source(),
            }),
            shared,
        }
    }

    /// Shuts the blocking pool down. `get_or_init`, not `get`: a pool
    /// that was never used (or whose lazy start races with us) is created
    /// here already shut down, so a `run_in_executor` after shutdown
    /// cannot start a fresh one.
    pub(crate) fn shutdown_blocking_pool(&self) {
        self.blocking.pool().shutdown();
    }

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

    /// Enters this runtime on the current thread until the guard drops
    /// (tokio's `Handle::enter`): [`spawn`](crate::spawn),
    /// [`Handle::current`], `TaskGroup` and `JoinSet` spawns, and
    /// futures polled on this thread outside the workers (timers, I/O
    /// ops, say under another executor) then use this runtime.
    ///
    /// Entering nests anywhere: outside any runtime, inside
    /// [`block_on`](Self::block_on), in a task on a worker (of this runtime
    /// or another one). Dropping the guard puts back the runtime that was
    /// entered before. Entering is not *running*: `block_on` with a
    /// guard alive works, while `block_on` inside `block_on` or on a worker
    /// still panics, guard or not. On a worker, entering another runtime
    /// changes where `spawn` goes, not the worker's own parts: a timer or
    /// an I/O op polled there is still driven by that worker.
    ///
    /// ```
    /// let rt = ferrio::Runtime::new().unwrap();
    /// let _guard = rt.handle().enter();
    /// // No block_on around this: the entered runtime takes the spawn.
    /// let task = ferrio::spawn(async { 40 + 2 });
    /// assert!(ferrio::Handle::try_current().is_some());
    /// assert_eq!(rt.block_on(task).unwrap(), 42);
    /// ```
    ///
    /// # Panics
    /// Dropping guards out of order (the reverse of the order they were
    /// made) panics, as in tokio: putting back an outer runtime while an
    /// inner guard lives would leave the wrong runtime entered.
    pub fn enter(&self) -> EnterGuard<'_> {
        EnterGuard {
            _inner: context::enter_handle(self),
            _marker: PhantomData,
        }
    }

    /// Spawns a task onto this runtime; works from any thread (asyncio's
    /// `loop.create_task`). After the runtime shut down, the returned task
    /// is already cancelled.
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> Task<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.spawn_named_at(future, None, Location::caller())
    }

    /// Spawns a task named `name` that was spawned at `location` (the
    /// user's call, through `#[track_caller]`).
    pub(crate) fn spawn_named_at<F>(
        &self,
        future: F,
        name: Option<Box<str>>,
        location: &'static Location<'static>,
    ) -> Task<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let (listed, notified, task) = new_task(future, self.shared.clone(), name, location);
        match self.shared.bind(listed) {
            Ok(()) => Schedule::schedule(&self.shared, notified, false),
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

    /// See [`Runtime::block_on`](crate::Runtime::block_on).
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        let _enter = context::try_enter(self, std::ptr::null()).unwrap_or_else(|()| {
            panic!(
                "ferrio: block_on called from inside a runtime (this thread is a runtime \
                 worker or is already inside block_on); blocking here would stall the \
                 runtime. Await the future instead, or spawn it and await the Task."
            )
        });
        let parker = Parker::new();
        #[cfg(all(feature = "test-util", not(ferrio_loom)))]
        let held = self.shared.clock().hold_source().map(HeldWake::new);
        #[cfg(all(feature = "test-util", not(ferrio_loom)))]
        let _finish = FinishOnDrop(held.clone());
        let waker = Waker::from(StdArc::new(ThreadWaker {
            unparker: parker.unparker(),
            #[cfg(all(feature = "test-util", not(ferrio_loom)))]
            held: held.clone(),
        }));
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
            #[cfg(all(feature = "test-util", not(ferrio_loom)))]
            if held.as_ref().is_some_and(|h| h.before_park()) {
                continue;
            }
            parker.park(None);
            #[cfg(all(feature = "test-util", not(ferrio_loom)))]
            if let Some(h) = &held {
                h.after_park();
            }
        }
    }

    /// How many worker threads the runtime has.
    pub fn num_workers(&self) -> usize {
        self.shared.num_workers()
    }

    /// Threads in the blocking pool right now.
    pub fn blocking_threads(&self) -> usize {
        self.blocking.pool.get().map_or(0, |p| p.num_threads())
    }

    /// How many tasks are alive (spawned and not yet finished).
    pub fn num_tasks(&self) -> usize {
        self.shared.num_tasks()
    }

    /// A snapshot of every task not yet done (asyncio's `all_tasks()`).
    pub fn all_tasks(&self) -> Vec<TaskInfo> {
        let mut out = Vec::new();
        self.shared.owned.for_each(|t| {
            let info = info_of(t);
            if info.state != TaskState::Done {
                out.push(info);
            }
        });
        out.sort_by_key(|i| i.id);
        out
    }

    /// A dump of every live task: its id, name and state (idle, queued,
    /// running, or blocked in one poll for so long), where it was spawned,
    /// and what it waits on (the leaf: a socket read with its fd, a sleep
    /// with its deadline, a `Lock`, a join of another task...) with the
    /// location of the `.await` that reached it and how long it has
    /// waited. A `TaskGroup`'s children print under the task that owns the
    /// group.
    ///
    /// Nothing is polled and no worker is waited for: it works while a
    /// worker is stuck in a poll. It walks the owned-task list under each
    /// shard's lock (spawns and completions on that shard wait meanwhile:
    /// about 10 ms for 100,000 tasks, README).
    ///
    /// ```
    /// let rt = ferrio::Runtime::new().unwrap();
    /// let event = std::sync::Arc::new(ferrio::sync::Event::new());
    /// let e = event.clone();
    /// let task = rt.spawn(async move { e.wait().await });
    /// let dump = loop {
    ///     let dump = rt.handle().dump();
    ///     if dump.get(task.id()).is_some_and(|t| t.wait.is_some()) {
    ///         break dump;
    ///     }
    ///     std::thread::yield_now();
    /// };
    /// let waiting = dump.get(task.id()).unwrap().wait.as_ref().unwrap();
    /// assert_eq!(waiting.on, ferrio::task::WaitOn::Event);
    /// assert_eq!(waiting.at.file(), file!());
    /// event.set();
    /// rt.block_on(task).unwrap();
    /// ```
    pub fn dump(&self) -> TaskDump {
        let now = crate::task::core::wait::now_ms();
        let mut tasks = Vec::with_capacity(self.shared.num_tasks());
        self.shared.owned.for_each(|t| {
            if let Some(entry) = entry_of(t, now) {
                tasks.push(entry);
            }
        });
        tasks.sort_unstable_by_key(|t| t.id);
        let dump_index =
            |tasks: &[DumpedTask], id: TaskId| tasks.binary_search_by_key(&id, |t| t.id).ok();
        for (worker, task, in_poll_for) in self.shared.stuck_polls() {
            if let Some(i) = tasks.iter().position(|t| t.id.as_u64() == task) {
                if tasks[i].state == DumpState::Running {
                    tasks[i].state = DumpState::Blocked {
                        in_poll_for,
                        worker,
                    };
                }
            }
        }
        for (id, frames) in crate::task::core::wait::deep_frames() {
            if let Some(i) = dump_index(&tasks, id) {
                if tasks[i].wait.is_some() {
                    tasks[i].frames = Some(frames);
                }
            }
        }
        crate::task::core::groups::for_each_member(|owner, child| {
            if let Some(i) = dump_index(&tasks, child) {
                tasks[i].group_owner = owner;
            }
        });
        TaskDump {
            tasks,
            taken_at: std::time::Instant::now(),
        }
    }

    /// Counters of the runtime's I/O drivers (summed over workers), and
    /// which driver runs.
    #[cfg(not(ferrio_loom))]
    pub fn metrics(&self) -> RuntimeMetrics {
        RuntimeMetrics::collect(
            self.shared.config.io_driver.driver(),
            self.shared.each_ring(),
        )
    }

    /// Which I/O driver the runtime runs, what was asked for, and why it
    /// fell back to epoll if it did (io_uring's setup error, explained).
    ///
    /// ```
    /// let rt = ferrio::Runtime::new().unwrap();
    /// let info = rt.handle().io_driver();
    /// match info.fallback_reason() {
    ///     None => println!("running on {}", info.driver()),
    ///     Some(why) => println!("running on epoll: {why}"),
    /// }
    /// ```
    #[cfg(not(ferrio_loom))]
    pub fn io_driver(&self) -> crate::driver::IoDriverInfo {
        self.shared.config.io_driver.clone()
    }

    /// True once the runtime began shutting down.
    pub fn is_shutdown(&self) -> bool {
        self.shared.is_shutdown()
    }

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
    /// Inside a `ferrio::sim` world (feature `sim`), `f` runs
    /// inline, on the calling thread, before this returns: a pool thread
    /// would run it out of the world's order.
    ///
    /// ```
    /// let rt = ferrio::Runtime::new().unwrap();
    /// let handle = rt.handle();
    /// drop(rt);
    /// let late = handle.run_in_executor(|| unreachable!("runs after shutdown"));
    /// assert!(handle.block_on(late).unwrap_err().is_cancelled());
    /// ```
    #[track_caller]
    pub fn run_in_executor<F, R>(&self, f: F) -> Task<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        self.run_in_executor_at(f, Location::caller())
    }

    /// [`run_in_executor`](Self::run_in_executor) called from `at`.
    pub(crate) fn run_in_executor_at<F, R>(&self, f: F, at: &'static Location<'static>) -> Task<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        // Inside a simulation: `f` runs here, now, on the calling task
        // (a thread of the pool would run it out of the world's order).
        #[cfg(all(feature = "sim", not(ferrio_loom)))]
        if self.shared.config.simulated && !self.shared.is_shutdown() {
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
            return self.spawn_named_at(
                async move {
                    match result {
                        Ok(v) => v,
                        Err(payload) => std::panic::resume_unwind(payload),
                    }
                },
                None,
                at,
            );
        }
        match blocking::submit(self.blocking.pool(), f) {
            Ok(result) => self.spawn_named_at(
                async move {
                    match Leaf::new(WaitKind::ToThread, 0, at, result).await {
                        Some(Ok(v)) => v,
                        Some(Err(payload)) => std::panic::resume_unwind(payload),
                        // Dropped unrun: the runtime is shutting down, and
                        // cancels this task with the others.
                        None => std::future::pending().await,
                    }
                },
                None,
                at,
            ),
            Err(job) => {
                // Shut down: `f` goes unrun, and the task is cancelled.
                drop(job);
                let task = self.spawn_named_at(std::future::pending(), None, at);
                task.cancel();
                task
            }
        }
    }
}

/// The guard of [`Handle::enter`] and [`Runtime::enter`](crate::Runtime::enter):
/// the runtime stays entered on this thread until it drops. Not `Send`:
/// it belongs to the thread that entered.
#[must_use = "the runtime is entered only while the guard lives"]
pub struct EnterGuard<'a> {
    _inner: context::HandleEnterGuard,
    /// Borrows the handle; `*const ()` keeps the guard on its thread.
    _marker: PhantomData<(&'a Handle, *const ())>,
}

impl fmt::Debug for EnterGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnterGuard").finish_non_exhaustive()
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle")
            .field("workers", &self.num_workers())
            .finish_non_exhaustive()
    }
}

struct ThreadWaker {
    unparker: Unparker,
    /// The thread's hold on a pausable clock (feature `test-util`).
    #[cfg(all(feature = "test-util", not(ferrio_loom)))]
    held: Option<StdArc<HeldWake>>,
}

impl Wake for ThreadWaker {
    fn wake(self: StdArc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &StdArc<Self>) {
        #[cfg(all(feature = "test-util", not(ferrio_loom)))]
        if let Some(h) = &self.held {
            h.on_wake();
        }
        self.unparker.unpark();
    }
}

#[cfg(not(ferrio_loom))]
impl crate::driver::context::RuntimeIo for Handle {
    fn remote_driver(&self) -> std::io::Result<crate::driver::DriverShared> {
        self.shared.remote_ring()
    }

    /// Started on first use.
    fn blocking_pool(&self) -> StdArc<BlockingPool> {
        self.blocking.pool().clone()
    }

    #[cfg(feature = "sim")]
    fn sim_backend(&self) -> Option<StdArc<dyn crate::driver::sim_hook::SimBackend>> {
        self.shared.config.sim_backend.clone()
    }
}
