// Over 500 lines: the worker loop and the pieces issue 10 moves out, the time
// driver and the park seam, still live here.
//! The work-stealing scheduler: workers, their queues, stealing, parking.
//!
//! Each worker thread owns a FIFO `Local` queue and a one-task LIFO slot.
//! A task woken by the task running on the same worker goes into the LIFO
//! slot and runs next (message-passing locality), at most
//! `MAX_LIFO_POLLS` times in a row. Tasks scheduled from outside the
//! workers go into the shared `Injector`. An idle worker steals half of a
//! random sibling's queue, then a batch from the injector, under the
//! searching rules in `idle.rs`; finding nothing, it parks on its
//! io_uring ring (`driver`), with a timeout set by its timer wheel.
//!
//! Every `GLOBAL_QUEUE_INTERVAL` ticks (and before parking) a worker does
//! its maintenance: fires due timers, submits queued SQEs and reaps
//! completions.

use std::any::Any;
use std::cell::RefCell;
use std::io;
use std::sync::Arc as StdArc;
use std::time::{Duration, Instant};

use crate::loom::sync::atomic::{fence, AtomicBool, AtomicUsize, Ordering};
use crate::loom::sync::Arc;
use crate::runtime::Handle;
use crate::task::list::OwnedTasks;
use crate::task::{Notified, RawTask, Schedule, TaskInfo};
use crate::time::wheel::{Key, Wheel};
use crate::time::{TimerQueues, TimerShared};

pub(crate) mod idle;
pub(crate) mod park;
pub(crate) mod queue;

use idle::Idle;
pub(crate) use seam::{Park, Seed, Unparker};

/// Where a worker sleeps. Normally its io_uring ring; under loom (which
/// cannot run io_uring) the condition-variable parker with the same state
/// protocol.
#[cfg(not(ferrio_loom))]
mod seam {
    use crate::driver::{Driver, DriverShared, SetupHook};
    use std::io;
    use std::sync::Arc;
    use std::time::Duration;

    pub(crate) type Park = Driver;
    pub(crate) type Unparker = Arc<DriverShared>;
    pub(crate) struct Seed(Arc<DriverShared>);

    pub(crate) fn pair() -> io::Result<(Seed, Unparker)> {
        let shared = DriverShared::new()?;
        Ok((Seed(shared.clone()), shared))
    }

    impl Seed {
        /// Creates the worker's ring, on the worker's own thread.
        pub(crate) fn into_park(self, simulate: SetupHook, pool: (u16, usize)) -> io::Result<Park> {
            Driver::new(self.0, simulate, pool)
        }
    }

    pub(crate) fn park(p: &Park, timeout: Option<Duration>) {
        p.park(timeout);
    }
    pub(crate) fn maintain(p: &Park) {
        p.maintain();
    }
    pub(crate) fn shutdown(p: &Park) {
        p.shutdown();
    }
}

#[cfg(ferrio_loom)]
mod seam {
    use super::park::{Parker, Unparker as CvUnparker};
    use std::io;
    use std::time::Duration;

    pub(crate) type Park = Parker;
    pub(crate) type Unparker = CvUnparker;
    pub(crate) struct Seed(Parker);

    pub(crate) fn pair() -> io::Result<(Seed, Unparker)> {
        let p = Parker::new();
        let u = p.unparker();
        Ok((Seed(p), u))
    }

    impl Seed {
        pub(crate) fn into_park(
            self,
            _simulate: Option<i32>,
            _pool: (u16, usize),
        ) -> io::Result<Park> {
            Ok(self.0)
        }
    }

    pub(crate) fn park(p: &Park, timeout: Option<Duration>) {
        p.park(timeout);
    }
    pub(crate) fn maintain(_: &Park) {}
    pub(crate) fn shutdown(_: &Park) {}
}

/// Every this many ticks a worker looks at the injector before its own
/// queue, so tasks from outside cannot starve behind local ones.
const GLOBAL_QUEUE_INTERVAL: u32 = 61;

/// Owned-list shards for tasks spawned from outside the workers (each
/// worker has one of its own).
#[cfg(not(ferrio_loom))]
const REMOTE_SHARDS: usize = 4;
/// Under loom, one: shutdown locks every shard twice per caller, and each
/// lock is a point loom interleaves (see `remote_shard`).
#[cfg(ferrio_loom)]
const REMOTE_SHARDS: usize = 1;

/// How many times in a row the LIFO slot may pre-empt the FIFO queue.
const MAX_LIFO_POLLS: u8 = 3;

pub(crate) type PanicHandler = StdArc<dyn Fn(&TaskInfo, &(dyn Any + Send)) + Send + Sync>;

pub(crate) struct Config {
    pub(crate) on_task_panic: PanicHandler,
    /// Makes ring setup fail with this errno (tests of that path).
    pub(crate) simulate_setup_error: Option<i32>,
    /// Each ring's receive-buffer pool: (buffers, bytes each); 0 buffers
    /// for none.
    pub(crate) recv_pool: (u16, usize),
    pub(crate) blocking: crate::blocking::PoolConfig,
    pub(crate) thread_name: String,
    /// Debug mode (asyncio's `loop.slow_callback_duration`).
    pub(crate) slow_poll: Option<(std::time::Duration, SlowPollHandler)>,
}

pub(crate) type SlowPollHandler = StdArc<dyn Fn(&TaskInfo, std::time::Duration) + Send + Sync>;

/// What the workers share.
pub(crate) struct Shared {
    remotes: Box<[Remote]>,
    injector: queue::Injector<Notified>,
    idle: Idle,
    pub(crate) owned: OwnedTasks,
    shutdown: AtomicBool,
    pub(crate) config: Config,
    /// Time zero of every timer wheel of this runtime.
    start: Instant,
    /// Round-robin choice of a worker for requests from outside.
    next_remote: AtomicUsize,
    /// Started at the first `to_thread`.
    blocking: std::sync::OnceLock<StdArc<crate::blocking::BlockingPool>>,
}

/// What other threads may touch of a worker.
struct Remote {
    stealer: queue::Stealer<Notified>,
    unparker: Unparker,
    timers: TimerQueues,
}

/// The parts of a worker that stay on its thread.
pub(crate) struct WorkerParts {
    index: usize,
    local: queue::Local<Notified>,
    seed: Seed,
}

impl WorkerParts {
    pub(crate) fn index(&self) -> usize {
        self.index
    }

    /// Creates the worker's park (its ring) on the calling thread.
    pub(crate) fn into_parts(
        self,
        simulate: Option<i32>,
        pool: (u16, usize),
    ) -> io::Result<(usize, queue::Local<Notified>, Park)> {
        Ok((self.index, self.local, self.seed.into_park(simulate, pool)?))
    }
}

impl Shared {
    /// Creates the shared state and the per-worker parts to move into the
    /// worker threads.
    pub(crate) fn new(workers: usize, config: Config) -> io::Result<(Shared, Vec<WorkerParts>)> {
        let mut remotes = Vec::with_capacity(workers);
        let mut parts = Vec::with_capacity(workers);
        for index in 0..workers {
            let (local, stealer) = queue::local();
            let (seed, unparker) = seam::pair()?;
            remotes.push(Remote {
                stealer,
                unparker,
                timers: TimerQueues::default(),
            });
            parts.push(WorkerParts { index, local, seed });
        }
        let shared = Shared {
            remotes: remotes.into_boxed_slice(),
            injector: queue::Injector::new(),
            idle: Idle::new(workers),
            owned: OwnedTasks::new(workers + REMOTE_SHARDS),
            shutdown: AtomicBool::new(false),
            config,
            start: Instant::now(),
            next_remote: AtomicUsize::new(0),
            blocking: std::sync::OnceLock::new(),
        };
        Ok((shared, parts))
    }

    /// The runtime's blocking pool, started on first use.
    pub(crate) fn blocking_pool(&self) -> &StdArc<crate::blocking::BlockingPool> {
        self.blocking.get_or_init(|| {
            crate::blocking::BlockingPool::new(
                self.config.blocking,
                self.config.thread_name.clone(),
            )
        })
    }

    pub(crate) fn blocking_threads(&self) -> usize {
        self.blocking.get().map_or(0, |p| p.num_threads())
    }

    fn pick_worker(&self) -> usize {
        self.next_remote.fetch_add(1, Ordering::Relaxed) % self.remotes.len()
    }

    /// Milliseconds of the runtime's clock, rounded down.
    pub(crate) fn now_ms(&self) -> u64 {
        Instant::now()
            .saturating_duration_since(self.start)
            .as_millis() as u64
    }

    /// A deadline in milliseconds of the runtime's clock, rounded up so a
    /// timer never fires early.
    pub(crate) fn deadline_ms(&self, deadline: Instant) -> u64 {
        let ns = deadline.saturating_duration_since(self.start).as_nanos();
        ns.div_ceil(1_000_000).min(u64::MAX as u128) as u64
    }

    fn instant_of(&self, ms: u64) -> Instant {
        self.start + Duration::from_millis(ms)
    }

    /// Registers a timer from a thread that is not a worker: it goes to a
    /// worker's queue, and that worker is woken to take it into its wheel
    /// (and shorten its sleep). Returns the worker; `None` when the
    /// runtime is shutting down (no wheel will fire the timer: the caller
    /// ends it at once).
    pub(crate) fn register_timer_remote(
        &self,
        ms: u64,
        timer: StdArc<TimerShared>,
    ) -> Option<usize> {
        if self.is_shutdown() {
            return None;
        }
        let index = self.pick_worker();
        let remote = &self.remotes[index];
        // A worker closes its queue when it exits: a registration that
        // raced past the check above is refused here, or taken in (and
        // ended) by the worker's shutdown.
        if !remote.timers.push_register(ms, timer) {
            return None;
        }
        remote.unparker.unpark();
        Some(index)
    }

    /// Timers in the workers' wheels or queued for them (for tests).
    #[cfg(test)]
    pub(crate) fn timers_registered(&self) -> usize {
        self.remotes.iter().map(|r| r.timers.registered()).sum()
    }

    /// Removes a timer from worker `index`'s wheel: directly when called on
    /// that worker, else through its cancellation queue (drained at its
    /// next maintenance, or at once if it sleeps: it is woken).
    pub(crate) fn cancel_timer(&self, index: usize, key: u64) {
        let local = crate::context::with_worker(|w| match w {
            Some(w) if std::ptr::eq(Arc::as_ptr(&w.shared), self) && w.index == index => {
                w.remove_timer(key);
                true
            }
            _ => false,
        });
        if !local {
            let remote = &self.remotes[index];
            // The first queued request wakes a sleeping owner, so the
            // cancelled timer's memory is reclaimed now, not at its
            // deadline; later ones ride on that wake-up.
            if remote.timers.push_cancel(key) {
                remote.unparker.unpark();
            }
        }
    }

    /// The ring an operation started off the workers goes to (through
    /// its remote queue).
    #[cfg(not(ferrio_loom))]
    pub(crate) fn remote_ring(&self) -> io::Result<StdArc<crate::driver::DriverShared>> {
        if self.is_shutdown() {
            return Err(io::Error::other(
                "ferrio: the runtime is shutting down; no new I/O can start",
            ));
        }
        Ok(self.remotes[self.pick_worker()].unparker.clone())
    }

    /// Each worker ring's shared part (for tests).
    #[cfg(all(test, not(ferrio_loom)))]
    pub(crate) fn each_ring(&self) -> impl Iterator<Item = &crate::driver::DriverShared> {
        self.remotes.iter().map(|r| &*r.unparker)
    }

    /// io_uring counters summed over the workers' rings.
    #[cfg(not(ferrio_loom))]
    pub(crate) fn ring_stats(&self) -> [u64; 5] {
        let mut out = [0; 5];
        out[4] = self.remotes[0].unparker.features.load(Ordering::Relaxed) as u64;
        if self.remotes[0].unparker.pool().is_some() {
            out[4] |= 16;
        }
        for r in self.remotes.iter() {
            let s = &r.unparker.stats;
            // Parks first: each park is counted after its enter.
            out[3] += s.parks.load(Ordering::Acquire);
            out[0] += s.enters.load(Ordering::Relaxed);
            out[1] += s.ops_submitted.load(Ordering::Relaxed);
            out[2] += s.ops_completed.load(Ordering::Relaxed);
        }
        out
    }

    /// Binds a new task into the owned list: into the spawning worker's
    /// shard, or a remote one.
    pub(crate) fn bind(&self, task: RawTask) -> Result<(), RawTask> {
        let workers = self.remotes.len();
        let hint = crate::context::with_worker(|w| match w {
            Some(w) if std::ptr::eq(Arc::as_ptr(&w.shared), self) => w.index,
            _ => workers + remote_shard(&task),
        });
        self.owned.bind(task, hint)
    }

    pub(crate) fn num_workers(&self) -> usize {
        self.remotes.len()
    }

    /// Schedules from a thread that is not one of our workers.
    fn schedule_remote(&self, task: Notified) {
        self.injector.push(task);
        // Pairs with the SeqCst store in `begin_shutdown`: either the
        // runtime's final drain sees our push, or we see the shutdown and
        // drain ourselves (a notification queued after shutdown would
        // otherwise keep `Shared` alive through its task: a cycle).
        fence(Ordering::SeqCst);
        if self.is_shutdown() {
            self.drain_injector();
        } else {
            self.notify_parked();
        }
    }

    /// Wakes one sleeping worker if nobody is searching.
    fn notify_parked(&self) {
        // Pairs with the fence in `Worker::park`: either the last searcher
        // sees our push, or we see it gone and wake a sleeper.
        fence(Ordering::SeqCst);
        if let Some(index) = self.idle.worker_to_notify() {
            self.remotes[index].unparker.unpark();
        }
    }

    fn has_pending_work(&self) -> bool {
        !self.injector.is_empty() || self.remotes.iter().any(|r| !r.stealer.is_empty())
    }

    pub(crate) fn is_shutdown(&self) -> bool {
        self.shutdown.load(Ordering::SeqCst)
    }

    /// Starts shutdown: workers notice, drop every task, drain, and exit.
    pub(crate) fn begin_shutdown(&self) {
        self.shutdown.store(true, Ordering::SeqCst);
        self.owned.close();
        // `get_or_init`, not `get`: a pool that was never used (or whose
        // lazy start races with us) is created here already shut down, so
        // a `run_in_executor` after shutdown cannot start a fresh one.
        self.blocking_pool().shutdown();
        for r in self.remotes.iter() {
            r.unparker.unpark();
        }
    }

    /// Drops every task still listed (its future is dropped exactly once).
    /// Every worker and the runtime's owner may call this; each shard is
    /// drained by whoever gets there first.
    pub(crate) fn shutdown_tasks(&self, start: usize) {
        self.owned.close();
        let n = self.owned.num_shards();
        for i in 0..n {
            for task in self.owned.drain_shard((start + i) % n) {
                task.shutdown();
            }
        }
    }

    /// Drops the notifications left in the injector (after all workers
    /// stopped).
    pub(crate) fn drain_injector(&self) {
        // `pop` gives up on contention; loop until the queue is empty.
        while !self.injector.is_empty() {
            drop(self.injector.pop());
        }
    }

    /// Tasks spawned and not yet done.
    pub(crate) fn num_tasks(&self) -> usize {
        let mut n = 0;
        self.owned.for_each(|t| {
            if !t.header().state.load().is_complete() {
                n += 1;
            }
        });
        n
    }
}

/// The owned-list shard (past the workers' own) of a task spawned from
/// outside the workers: spread by task id.
#[cfg(not(ferrio_loom))]
fn remote_shard(task: &RawTask) -> usize {
    task.id().as_u64() as usize % REMOTE_SHARDS
}

/// Under loom, the only one (`REMOTE_SHARDS`), whatever the id: task ids
/// come from a process-wide
/// counter (`loom::plain`) that keeps counting across a model's
/// executions, and loom replays each execution's schedule assuming the
/// code does the same thing every time. A shard picked by id made a
/// replay lock a different mutex than the recorded run, and loom then
/// handed a load a store its coherence rules forbid, tripping its
/// internal `match_load_to_stores` assertion (loom 0.7.3; see
/// loom-tests/src/lib.rs, "Loom strategy").
#[cfg(ferrio_loom)]
fn remote_shard(_task: &RawTask) -> usize {
    0
}

impl Schedule for Handle {
    fn schedule(&self, task: Notified, is_yield: bool) {
        crate::context::with_worker(|worker| match worker {
            Some(w) if std::ptr::eq(Arc::as_ptr(&w.shared), Arc::as_ptr(&self.shared)) => {
                w.schedule_local(task, is_yield)
            }
            _ => self.shared.schedule_remote(task),
        })
    }

    fn release(&self, task: RawTask) -> bool {
        self.shared.owned.remove(task)
    }

    fn unhandled_panic(&self, info: &TaskInfo, payload: &(dyn Any + Send)) {
        (self.shared.config.on_task_panic)(info, payload)
    }

    fn slow_poll_threshold(&self) -> Option<Duration> {
        self.shared.config.slow_poll.as_ref().map(|(t, _)| *t)
    }

    fn report_slow_poll(&self, info: &TaskInfo, took: Duration) {
        if let Some((_, report)) = &self.shared.config.slow_poll {
            report(info, took)
        }
    }
}

/// A worker, living on its thread's stack for the length of `run`.
pub(crate) struct Worker {
    shared: Arc<Shared>,
    index: usize,
    local: queue::Local<Notified>,
    lifo: std::cell::Cell<Option<Notified>>,
    lifo_polls: std::cell::Cell<u8>,
    is_searching: std::cell::Cell<bool>,
    tick: std::cell::Cell<u32>,
    rng: std::cell::Cell<u64>,
    park: Park,
    wheel: RefCell<Wheel<StdArc<TimerShared>>>,
    fired: RefCell<Vec<StdArc<TimerShared>>>,
}

impl Worker {
    pub(crate) fn new(
        shared: Arc<Shared>,
        index: usize,
        local: queue::Local<Notified>,
        park: Park,
    ) -> Worker {
        let seed =
            0x9E37_79B9_7F4A_7C15u64 ^ (index as u64 + 1).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        Worker {
            shared,
            index,
            local,
            lifo: std::cell::Cell::new(None),
            lifo_polls: std::cell::Cell::new(0),
            is_searching: std::cell::Cell::new(false),
            tick: std::cell::Cell::new(0),
            rng: std::cell::Cell::new(seed),
            park,
            wheel: RefCell::new(Wheel::new()),
            fired: RefCell::new(Vec::new()),
        }
    }

    pub(crate) fn index(&self) -> usize {
        self.index
    }

    pub(crate) fn handle(&self) -> Handle {
        Handle {
            shared: self.shared.clone(),
        }
    }

    /// This worker's io_uring driver.
    #[cfg(not(ferrio_loom))]
    pub(crate) fn driver(&self) -> &crate::driver::Driver {
        &self.park
    }

    /// Inserts a timer into this worker's wheel.
    pub(crate) fn insert_timer(&self, ms: u64, timer: StdArc<TimerShared>) {
        let mut wheel = self.wheel.borrow_mut();
        let key = wheel.insert(ms, timer.clone());
        timer.set_key(key.to_bits());
        self.shared.remotes[self.index].timers.note_len(&wheel);
    }

    /// Removes a timer from this worker's wheel (stale keys are ignored).
    pub(crate) fn remove_timer(&self, key: u64) {
        let q = &self.shared.remotes[self.index].timers;
        match self.wheel.try_borrow_mut() {
            Ok(mut wheel) => {
                drop(wheel.remove(Key::from_bits(key)));
                q.note_len(&wheel);
            }
            Err(_) => {
                // Taken at our next round; we are awake, no wake-up needed.
                q.push_cancel(key);
            }
        }
    }

    /// Takes queued timer requests, advances the wheel to now and fires
    /// what is due. Returns how many fired.
    fn process_timers(&self) -> usize {
        let q = &self.shared.remotes[self.index].timers;
        let mut fired = std::mem::take(&mut *self.fired.borrow_mut());
        q.collect_due(
            &mut self.wheel.borrow_mut(),
            || self.shared.now_ms(),
            &mut fired,
        );
        let n = fired.len();
        // Wake outside the wheel borrow (and with the buffer out of its
        // cell, so nothing a waker runs can hit a double borrow).
        for t in fired.drain(..) {
            t.fire();
        }
        *self.fired.borrow_mut() = fired;
        n
    }

    /// How long the worker may sleep before its next timer is due.
    fn park_timeout(&self) -> Option<Duration> {
        let next = self.wheel.borrow().next_expiration()?;
        Some(
            self.shared
                .instant_of(next)
                .saturating_duration_since(Instant::now()),
        )
    }

    /// Timers, submissions, completions.
    fn maintain(&self) {
        self.process_timers();
        seam::maintain(&self.park);
    }

    fn has_local_work(&self) -> bool {
        let lifo = self.lifo.take();
        let some = lifo.is_some();
        self.lifo.set(lifo);
        some || !self.local.is_empty()
    }

    /// The worker loop. Returns after shutdown, with every task it held
    /// dropped.
    pub(crate) fn run(&self) {
        while !self.shared.is_shutdown() {
            if let Some(task) = self.next_task() {
                // A worker woken by a notification starts out counted as
                // searching; having found work, it must stop counting as
                // one, or notifications stay silenced while it runs.
                self.end_search();
                task.run();
                continue;
            }
            if let Some(task) = self.steal_work() {
                task.run();
                continue;
            }
            self.park();
        }
        self.shutdown();
    }

    fn schedule_local(&self, task: Notified, is_yield: bool) {
        if is_yield {
            self.local.push(task);
        } else {
            match self.lifo.replace(Some(task)) {
                None => return,
                Some(prev) => self.local.push(prev),
            }
        }
        // Something stealable was added: let a sleeper come and take it.
        self.shared.notify_parked();
    }

    fn next_task(&self) -> Option<Notified> {
        let tick = self.tick.get().wrapping_add(1);
        self.tick.set(tick);
        if tick % GLOBAL_QUEUE_INTERVAL == 0 {
            self.maintain();
            if let Some(task) = self.shared.injector.pop() {
                return Some(task);
            }
        }
        if let Some(task) = self.lifo.take() {
            let polls = self.lifo_polls.get();
            if polls < MAX_LIFO_POLLS {
                self.lifo_polls.set(polls + 1);
                return Some(task);
            }
            // A ping-pong pair would otherwise live in the LIFO slot
            // forever: send it to the back of the queue.
            self.local.push(task);
        }
        self.lifo_polls.set(0);
        if let Some(task) = self.local.pop() {
            return Some(task);
        }
        self.shared.injector.steal_into(&self.local)
    }

    fn next_random(&self, n: usize) -> usize {
        // xorshift64*
        let mut x = self.rng.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng.set(x);
        (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 32) as usize % n
    }

    /// Steals from siblings (starting at a random one), then the injector.
    fn steal_work(&self) -> Option<Notified> {
        if !self.is_searching.get() {
            if !self.shared.idle.to_searching() {
                return None;
            }
            self.is_searching.set(true);
        }
        let n = self.shared.remotes.len();
        let start = self.next_random(n);
        let found = (0..n)
            .map(|i| (start + i) % n)
            .filter(|&i| i != self.index)
            .find_map(|i| self.shared.remotes[i].stealer.steal_into(&self.local))
            .or_else(|| self.shared.injector.steal_into(&self.local));
        if found.is_some() {
            self.end_search();
        }
        found
    }

    /// Leaves the searching state; the last searcher to find work wakes
    /// another worker to look for more (the cascade).
    fn end_search(&self) {
        if self.is_searching.replace(false) && self.shared.idle.stop_searching() {
            self.shared.notify_parked();
        }
    }

    fn park(&self) {
        // Due timers may have work for us. Finished I/O is left to the
        // park itself: its one `io_uring_enter` submits what is pending
        // and returns at once if any of it completed inline, where a
        // separate submit first would cost a second system call.
        self.process_timers();
        if self.has_local_work() {
            return;
        }
        let was_searching = self.is_searching.replace(false);
        let last_searcher = self.shared.idle.to_parked(self.index, was_searching);
        // Pairs with the fence in `notify_parked`.
        fence(Ordering::SeqCst);
        if last_searcher && self.shared.has_pending_work() {
            self.shared.notify_parked();
        }
        if !self.shared.is_shutdown() {
            seam::park(&self.park, self.park_timeout());
            self.process_timers();
        }
        if !self.shared.idle.unpark_self(self.index) {
            // A notifier picked us and counted us as searching.
            self.is_searching.set(true);
        }
    }

    /// Drops the notifications in the LIFO slot and the local queue (their
    /// tasks are complete or being shut down).
    fn drop_queued(&self) {
        drop(self.lifo.take());
        while let Some(task) = self.local.pop() {
            drop(task);
        }
    }

    fn shutdown(&self) {
        if self.is_searching.replace(false) {
            self.shared.idle.stop_searching();
        }
        self.shared.shutdown_tasks(self.index);
        self.drop_queued();
        // No task is left here to register a timer; block_on threads
        // waiting on ours are released now, before the bounded wait below.
        self.shutdown_timers();
        // Every task is gone: cancel what is still in flight on our ring
        // and wait (bounded) until the kernel has let go of every buffer.
        seam::shutdown(&self.park);
        // Completions delivered while draining may have queued wake-ups.
        self.drop_queued();
    }

    /// Ends every timer this worker holds, or that is queued for it, and
    /// refuses later registrations: nothing will ever fire them, so their
    /// futures are woken and end at once (see `time`'s docs).
    fn shutdown_timers(&self) {
        let mut left = Vec::new();
        self.shared.remotes[self.index]
            .timers
            .close(&mut self.wheel.borrow_mut(), &mut left);
        for t in left {
            t.shut_down();
        }
    }
}
