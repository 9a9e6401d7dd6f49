//! What the workers share ([`Shared`]): each worker's remote face (its
//! stealer, its waker, its timer request queues), the injector, the idle
//! counts, the owned-task list and the shutdown flag; and the
//! [`Schedule`] implementation through which the task core reaches the
//! scheduler.

use std::any::Any;
use std::io;
use std::sync::Arc as StdArc;
use std::time::Duration;

use crate::loom::sync::atomic::{fence, AtomicBool, AtomicUsize, Ordering};
use crate::loom::sync::Arc;
use crate::task::core::list::OwnedTasks;
use crate::task::core::{Notified, RawTask, Schedule, TaskInfo};
use crate::time::core::{Clock, TimerQueues, TimerShared};

use crossbeam_utils::CachePadded;

use crate::time::core::TimeDriver;

use super::idle::Idle;
use super::lifo::LifoSlot;
use super::run_queue;
use super::watchdog::{self, Activity, WatchdogParker, WatchdogWaker};
use super::worker::WorkerParts;
use super::worker_park::{self, WorkerWaker};
use super::Config;

/// Owned-list shards for tasks spawned from outside the workers (each
/// worker has one of its own).
#[cfg(not(ferrio_loom))]
const REMOTE_SHARDS: usize = 4;
/// Under loom, one: shutdown locks every shard twice per caller, and each
/// lock is a point loom interleaves (see `remote_shard`).
#[cfg(ferrio_loom)]
const REMOTE_SHARDS: usize = 1;

/// The runtime's clock: pausable when it has one worker (feature
/// `test-util`), else real time.
fn new_clock(workers: usize, config: &Config) -> Clock {
    #[cfg(all(feature = "test-util", not(ferrio_loom)))]
    if workers == 1 {
        return Clock::pausable(config.start_paused);
    }
    let _ = (workers, config);
    Clock::new()
}

/// What the workers share.
pub(crate) struct Shared {
    pub(super) remotes: Box<[WorkerRemote]>,
    pub(super) injector: run_queue::Injector<Notified>,
    pub(super) idle: Idle,
    pub(crate) owned: OwnedTasks,
    shutdown: AtomicBool,
    pub(crate) config: Config,
    /// Time zero of every timer wheel of this runtime.
    clock: Clock,
    /// Round-robin choice of a worker for requests from outside.
    next_remote: AtomicUsize,
    /// Unique in the process (never reused, unlike the address): how a
    /// timer tells its runtime without holding a reference to it.
    id: u64,
    /// Wakes the watchdog (`watchdog.rs`).
    watchdog: WatchdogWaker,
}

/// What other threads may touch of a worker: what it shares with its
/// thieves and wakers, and what the watchdog takes over while it is stuck
/// in a poll (its LIFO slot, its wheel, its driver).
pub(super) struct WorkerRemote {
    pub(super) stealer: run_queue::Stealer<Notified>,
    pub(super) waker: WorkerWaker,
    pub(super) timers: StdArc<TimerQueues>,
    /// Written by the owner at every wake-up it schedules, and its wheel's
    /// lock at every timer operation: each on a cache line of its own, so
    /// the thieves and notifiers reading the fields above do not pull
    /// them away from the owner.
    pub(super) lifo: CachePadded<LifoSlot>,
    pub(super) time: CachePadded<TimeDriver>,
    /// Its poll count, for the watchdog.
    pub(super) activity: CachePadded<Activity>,
    /// Its driver, from the moment it is built on the worker's thread
    /// until the worker exits.
    #[cfg(not(ferrio_loom))]
    pub(super) driver: crate::loom::plain::Mutex<Option<StdArc<crate::driver::Driver>>>,
}

impl Shared {
    /// Creates the shared state and the per-worker parts to move into the
    /// worker threads.
    pub(crate) fn new(
        workers: usize,
        config: Config,
    ) -> io::Result<(Shared, Vec<WorkerParts>, WatchdogParker)> {
        let (watchdog_parker, watchdog) = watchdog::pair();
        let mut remotes = Vec::with_capacity(workers);
        let mut parts = Vec::with_capacity(workers);
        for index in 0..workers {
            let (local, stealer) = run_queue::local();
            #[cfg(all(not(ferrio_loom), feature = "sim"))]
            let (park, waker) = match &config.sim_backend {
                Some(b) => worker_park::pair_sim(b.clone())?,
                None => worker_park::pair(config.io_driver.driver())?,
            };
            #[cfg(all(not(ferrio_loom), not(feature = "sim")))]
            let (park, waker) = worker_park::pair(config.io_driver.driver())?;
            #[cfg(ferrio_loom)]
            let (park, waker) = worker_park::pair()?;
            let timers = StdArc::new(TimerQueues::default());
            remotes.push(WorkerRemote {
                stealer,
                waker,
                timers: timers.clone(),
                lifo: CachePadded::new(LifoSlot::new()),
                time: CachePadded::new(TimeDriver::new(timers)),
                activity: CachePadded::new(Activity::default()),
                #[cfg(not(ferrio_loom))]
                driver: crate::loom::plain::Mutex::new(None),
            });
            parts.push(WorkerParts { index, local, park });
        }
        let clock = new_clock(workers, &config);
        let shared = Shared {
            remotes: remotes.into_boxed_slice(),
            injector: run_queue::Injector::new(),
            idle: Idle::new(workers),
            owned: OwnedTasks::new(workers + REMOTE_SHARDS),
            shutdown: AtomicBool::new(false),
            config,
            clock,
            next_remote: AtomicUsize::new(0),
            id: {
                // Plain std: a process-wide counter, in no protocol.
                static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
                NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            },
            watchdog,
        };
        // A paused clock's last hold released wakes the one worker, to
        // decide on jumping ahead (`time/core/clock.rs`).
        #[cfg(all(feature = "test-util", not(ferrio_loom)))]
        if shared.clock.is_pausable() {
            let waker = shared.remotes[0].waker.clone();
            shared
                .clock
                .set_idle_waker(Box::new(move || waker.unpark()));
        }
        Ok((shared, parts, watchdog_parker))
    }

    /// A worker for a request from outside the workers, round robin,
    /// passing over workers the watchdog is rescuing (stuck in a poll).
    fn pick_worker(&self) -> usize {
        let n = self.remotes.len();
        let first = self.next_remote.fetch_add(1, Ordering::Relaxed) % n;
        (0..n)
            .map(|i| (first + i) % n)
            .find(|&i| !self.remotes[i].activity.is_rescued())
            .unwrap_or(first)
    }

    /// The runtime's clock, which every wheel counts in.
    pub(crate) fn clock(&self) -> &Clock {
        &self.clock
    }

    /// The runtime's id, unique in the process.
    pub(crate) fn id(&self) -> u64 {
        self.id
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
        if !remote.timers.register(ms, timer, || remote.waker.unpark()) {
            return None;
        }
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
        let local = super::current::with_worker(|w| match w {
            Some(w) if std::ptr::eq(Arc::as_ptr(w.shared()), self) && w.index() == index => {
                self.remotes[index].time.cancel(key);
                true
            }
            _ => false,
        });
        if !local {
            let remote = &self.remotes[index];
            remote.timers.cancel(key, || remote.waker.unpark());
        }
    }

    /// Moves the timer with key `key` in worker `index`'s wheel to
    /// deadline `ms`, when called on that worker (`TimeDriver::rearm`).
    /// False elsewhere, or when the timer is not in the wheel: the caller
    /// cancels it and registers a new one.
    pub(crate) fn rearm_timer(&self, index: usize, key: u64, ms: u64) -> bool {
        super::current::with_worker(|w| match w {
            Some(w) if std::ptr::eq(Arc::as_ptr(w.shared()), self) && w.index() == index => {
                self.remotes[index].time.rearm(key, ms)
            }
            _ => false,
        })
    }

    /// The driver an operation started off the workers goes to (a ring:
    /// through its remote queue).
    #[cfg(not(ferrio_loom))]
    pub(crate) fn remote_ring(&self) -> io::Result<crate::driver::DriverShared> {
        if self.is_shutdown() {
            return Err(crate::driver::shutting_down());
        }
        Ok(self.remotes[self.pick_worker()].waker.clone())
    }

    /// Each worker driver's shared part (counters; tests).
    #[cfg(not(ferrio_loom))]
    pub(crate) fn each_ring(&self) -> impl Iterator<Item = &crate::driver::DriverShared> {
        self.remotes.iter().map(|r| &r.waker)
    }

    /// Binds a new task into the owned list: into the spawning worker's
    /// shard, or a remote one.
    pub(crate) fn bind(&self, task: RawTask) -> Result<(), RawTask> {
        let workers = self.remotes.len();
        let hint = super::current::with_worker(|w| match w {
            Some(w) if std::ptr::eq(Arc::as_ptr(w.shared()), self) => w.index(),
            _ => workers + remote_shard(&task),
        });
        self.owned.bind(task, hint)
    }

    pub(crate) fn num_workers(&self) -> usize {
        self.remotes.len()
    }

    /// Worker `index`'s poll count.
    #[cfg_attr(ferrio_loom, allow(dead_code))]
    pub(super) fn activity(&self, index: usize) -> &Activity {
        &self.remotes[index].activity
    }

    /// `(worker, task id, how long)` for each worker the watchdog has seen
    /// in one poll for at least a tick (a task dump's "blocked" state).
    pub(crate) fn stuck_polls(&self) -> Vec<(usize, u64, std::time::Duration)> {
        (0..self.num_workers())
            .filter_map(|i| {
                let (task, d) = self.activity(i).stuck_poll()?;
                Some((i, task, d))
            })
            .collect()
    }

    pub(super) fn watchdog(&self) -> &WatchdogWaker {
        &self.watchdog
    }

    /// True when every worker is parked.
    #[cfg_attr(ferrio_loom, allow(dead_code))]
    pub(super) fn all_parked(&self) -> bool {
        self.idle.all_parked()
    }

    /// Does for worker `index`, stuck in a poll, what it would do between
    /// polls: its queued tasks go to the injector (a sibling is woken to
    /// run them), its due timers fire, its driver delivers what is ready.
    /// Everything woken here is scheduled from outside the workers, so it
    /// runs elsewhere. Safe at any moment (see `watchdog.rs`).
    pub(crate) fn rescue(&self, index: usize) {
        // A simulated world's order is its seed's alone: a rescue, timed
        // by the wall clock, would change it (it is only reported).
        #[cfg(all(feature = "sim", not(ferrio_loom)))]
        if self.config.simulated {
            return;
        }
        let remote = &self.remotes[index];
        if let Some(task) = remote.lifo.take() {
            self.schedule_remote(task);
        }
        while let Some(task) = remote.stealer.steal() {
            self.schedule_remote(task);
        }
        remote.time.process(|| self.clock.now_ms());
        #[cfg(not(ferrio_loom))]
        {
            let driver = remote.driver.lock().clone();
            if let Some(driver) = driver {
                driver.rescue(remote.activity.thread());
            }
        }
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
    pub(super) fn notify_parked(&self) {
        // Pairs with the fence in `Worker::park`: either the last searcher
        // sees our push, or we see it gone and wake a sleeper.
        fence(Ordering::SeqCst);
        if let Some(index) = self.idle.worker_to_notify() {
            self.remotes[index].waker.unpark();
        }
    }

    pub(super) fn has_pending_work(&self) -> bool {
        !self.injector.is_empty() || self.remotes.iter().any(|r| !r.stealer.is_empty())
    }

    pub(crate) fn is_shutdown(&self) -> bool {
        self.shutdown.load(Ordering::SeqCst)
    }

    /// Starts shutdown: workers notice, drop every task, drain, and exit.
    pub(crate) fn begin_shutdown(&self) {
        self.shutdown.store(true, Ordering::SeqCst);
        self.owned.close();
        for r in self.remotes.iter() {
            r.waker.unpark();
        }
        self.watchdog.wake();
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

/// The scheduler as the task core sees it: every task of a runtime holds
/// a clone of this `Arc`.
impl Schedule for Arc<Shared> {
    fn schedule(&self, task: Notified, is_yield: bool) {
        super::current::with_worker(|worker| match worker {
            Some(w) if Arc::ptr_eq(w.shared(), self) => w.schedule_local(task, is_yield),
            _ => self.schedule_remote(task),
        })
    }

    fn release(&self, task: RawTask) -> bool {
        self.owned.remove(task)
    }

    fn unhandled_panic(&self, info: &TaskInfo, payload: &(dyn Any + Send)) {
        (self.config.on_task_panic)(info, payload)
    }

    fn slow_poll_threshold(&self) -> Option<Duration> {
        self.config.slow_poll.as_ref().map(|(t, _)| *t)
    }

    fn report_slow_poll(&self, info: &TaskInfo, took: Duration) {
        if let Some((_, report)) = &self.config.slow_poll {
            report(info, took)
        }
    }
}
