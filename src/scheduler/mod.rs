//! The work-stealing scheduler: workers, their queues, stealing, parking.
//!
//! Each worker thread owns a FIFO `Local` queue and a one-task LIFO slot.
//! A task woken by the task running on the same worker goes into the LIFO
//! slot and runs next (message-passing locality), at most
//! `MAX_LIFO_POLLS` times in a row. Tasks scheduled from outside the
//! workers go into the shared `Injector`. An idle worker steals half of a
//! random sibling's queue, then a batch from the injector, under the
//! searching rules in `idle.rs`; finding nothing, it parks (`park.rs`).

use std::any::Any;
use std::sync::Arc as StdArc;

use crate::loom::sync::atomic::{fence, AtomicBool, Ordering};
use crate::loom::sync::Arc;
use crate::runtime::Handle;
use crate::task::list::OwnedTasks;
use crate::task::{Notified, RawTask, Schedule, TaskInfo};

pub(crate) mod idle;
pub(crate) mod park;
pub(crate) mod queue;

use idle::Idle;
use park::{Parker, Unparker};

/// Every this many ticks a worker looks at the injector before its own
/// queue, so tasks from outside cannot starve behind local ones.
const GLOBAL_QUEUE_INTERVAL: u32 = 61;

/// Owned-list shards for tasks spawned from outside the workers (each
/// worker has one of its own).
const REMOTE_SHARDS: usize = 4;

/// How many times in a row the LIFO slot may pre-empt the FIFO queue.
const MAX_LIFO_POLLS: u8 = 3;

pub(crate) type PanicHandler = StdArc<dyn Fn(&TaskInfo, &(dyn Any + Send)) + Send + Sync>;

pub(crate) struct Config {
    pub(crate) on_task_panic: PanicHandler,
}

/// What the workers share.
pub(crate) struct Shared {
    remotes: Box<[Remote]>,
    injector: queue::Injector<Notified>,
    idle: Idle,
    pub(crate) owned: OwnedTasks,
    shutdown: AtomicBool,
    pub(crate) config: Config,
}

/// What other threads may touch of a worker.
struct Remote {
    stealer: queue::Stealer<Notified>,
    unparker: Unparker,
}

/// The parts of a worker that stay on its thread.
pub(crate) struct WorkerParts {
    index: usize,
    local: queue::Local<Notified>,
    parker: Parker,
}

impl WorkerParts {
    pub(crate) fn index(&self) -> usize {
        self.index
    }
}

impl Shared {
    /// Creates the shared state and the per-worker parts to move into the
    /// worker threads.
    pub(crate) fn new(workers: usize, config: Config) -> (Shared, Vec<WorkerParts>) {
        let mut remotes = Vec::with_capacity(workers);
        let mut parts = Vec::with_capacity(workers);
        for index in 0..workers {
            let (local, stealer) = queue::local();
            let parker = Parker::new();
            remotes.push(Remote {
                stealer,
                unparker: parker.unparker(),
            });
            parts.push(WorkerParts {
                index,
                local,
                parker,
            });
        }
        let shared = Shared {
            remotes: remotes.into_boxed_slice(),
            injector: queue::Injector::new(),
            idle: Idle::new(workers),
            owned: OwnedTasks::new(workers + REMOTE_SHARDS),
            shutdown: AtomicBool::new(false),
            config,
        };
        (shared, parts)
    }

    /// Binds a new task into the owned list: into the spawning worker's
    /// shard, or a remote one.
    pub(crate) fn bind(&self, task: RawTask) -> Result<(), RawTask> {
        let workers = self.remotes.len();
        let hint = crate::context::with_worker(|w| match w {
            Some(w) if std::ptr::eq(Arc::as_ptr(&w.shared), self) => w.index,
            _ => workers + (task.id().as_u64() as usize % REMOTE_SHARDS),
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
    parker: Parker,
}

impl Worker {
    pub(crate) fn new(shared: Arc<Shared>, parts: WorkerParts) -> Worker {
        let seed =
            0x9E37_79B9_7F4A_7C15u64 ^ (parts.index as u64 + 1).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        Worker {
            shared,
            index: parts.index,
            local: parts.local,
            lifo: std::cell::Cell::new(None),
            lifo_polls: std::cell::Cell::new(0),
            is_searching: std::cell::Cell::new(false),
            tick: std::cell::Cell::new(0),
            rng: std::cell::Cell::new(seed),
            parker: parts.parker,
        }
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
        let was_searching = self.is_searching.replace(false);
        let last_searcher = self.shared.idle.to_parked(self.index, was_searching);
        // Pairs with the fence in `notify_parked`.
        fence(Ordering::SeqCst);
        if last_searcher && self.shared.has_pending_work() {
            self.shared.notify_parked();
        }
        if !self.shared.is_shutdown() {
            self.parker.park(None);
        }
        if !self.shared.idle.unpark_self(self.index) {
            // A notifier picked us and counted us as searching.
            self.is_searching.set(true);
        }
    }

    fn shutdown(&self) {
        if self.is_searching.replace(false) {
            self.shared.idle.stop_searching();
        }
        self.shared.shutdown_tasks(self.index);
        drop(self.lifo.take());
        while let Some(task) = self.local.pop() {
            drop(task);
        }
    }
}
