//! One worker: its queues, its LIFO slot, its time driver and its park;
//! the loop that finds work, runs it, steals, and parks.

use std::cell::Cell;
use std::io;
use std::sync::Arc as StdArc;
use std::time::Duration;

use crate::loom::sync::atomic::{fence, Ordering};
use crate::loom::sync::Arc;
use crate::task::core::Notified;
use crate::time::core::TimeDriver;

use super::lifo::LifoSlot;
use super::run_queue;
use super::shared::{Shared, WorkerRemote};
use super::worker_park::{self, ParkBuilder, WorkerPark};
use super::{GLOBAL_QUEUE_INTERVAL, MAX_LIFO_POLLS};

/// The parts of a worker made on the runtime's thread, moved into the
/// worker's thread and built into a [`Worker`] there.
pub(crate) struct WorkerParts {
    pub(super) index: usize,
    pub(super) local: run_queue::Local<Notified>,
    pub(super) park: ParkBuilder,
}

impl WorkerParts {
    pub(crate) fn index(&self) -> usize {
        self.index
    }

    /// Creates the worker, with its park (its I/O driver), on the calling
    /// thread, which is the thread that will run it.
    pub(crate) fn build(self, shared: Arc<Shared>) -> io::Result<Worker> {
        let park = StdArc::new(
            self.park
                .build(shared.config.simulate_setup_error, shared.config.recv_pool)?,
        );
        // The watchdog may now deliver this driver's I/O while we are
        // stuck in a poll.
        #[cfg(not(ferrio_loom))]
        {
            *shared.remotes[self.index].driver.lock() = Some(park.clone());
        }
        Ok(Worker::new(shared, self.index, self.local, park))
    }
}

/// A worker, living on its thread's stack for the length of `run`.
pub(crate) struct Worker {
    shared: Arc<Shared>,
    index: usize,
    local: run_queue::Local<Notified>,
    lifo_polls: Cell<u8>,
    is_searching: Cell<bool>,
    tick: Cell<u32>,
    rng: Cell<u64>,
    park: StdArc<WorkerPark>,
    /// A seeded runtime's runnable tasks and its generator (feature
    /// `sim`; see `next_task_seeded`).
    #[cfg(all(feature = "sim", not(ferrio_loom)))]
    seeded: Option<Seeded>,
    /// `&shared.remotes[index]`, resolved once.
    remote: *const WorkerRemote,
}

impl Worker {
    fn new(
        shared: Arc<Shared>,
        index: usize,
        local: run_queue::Local<Notified>,
        park: StdArc<WorkerPark>,
    ) -> Worker {
        let seed =
            0x9E37_79B9_7F4A_7C15u64 ^ (index as u64 + 1).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        let remote = &shared.remotes[index] as *const WorkerRemote;
        #[cfg(all(feature = "sim", not(ferrio_loom)))]
        let seeded = shared.config.schedule_seed.map(Seeded::new);
        Worker {
            #[cfg(all(feature = "sim", not(ferrio_loom)))]
            seeded,
            remote,
            shared,
            index,
            local,
            lifo_polls: Cell::new(0),
            is_searching: Cell::new(false),
            tick: Cell::new(0),
            rng: Cell::new(seed),
            park,
        }
    }

    /// What this worker shares with other threads (its LIFO slot, wheel
    /// and poll count are on every task's path: one field, no index).
    #[inline]
    fn remote(&self) -> &WorkerRemote {
        // SAFETY: `remote` points into `self.shared.remotes`, a boxed
        // slice that never moves or shrinks, kept alive by the `Arc` this
        // worker holds.
        unsafe { &*self.remote }
    }

    fn lifo(&self) -> &LifoSlot {
        &self.remote().lifo
    }

    pub(crate) fn index(&self) -> usize {
        self.index
    }

    /// The scheduler this worker belongs to.
    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// This worker's timers.
    pub(crate) fn time(&self) -> &TimeDriver {
        &self.remote().time
    }

    /// This worker's I/O driver.
    #[cfg(not(ferrio_loom))]
    pub(crate) fn driver(&self) -> &crate::driver::Driver {
        &self.park
    }

    /// Takes queued timer requests, advances the wheel to now and fires
    /// what is due.
    fn process_timers(&self) {
        self.time().process(|| self.shared.clock().now_ms());
    }

    /// How long the worker may sleep before its next timer is due.
    fn park_timeout(&self) -> Option<Duration> {
        let next = self.time().next_deadline()?;
        let clock = self.shared.clock();
        Some(
            clock
                .instant_of(next)
                .saturating_duration_since(clock.now()),
        )
    }

    /// Parks under a paused clock (feature `test-util`): polls the driver
    /// without sleeping; if that made nothing runnable and nothing holds
    /// the clock back, jumps to the next timer and fires it; otherwise
    /// sleeps until woken (releasing the last hold wakes us). See
    /// `time/core/clock.rs`.
    #[cfg(all(feature = "test-util", not(ferrio_loom)))]
    fn park_paused(&self) {
        let clock = self.shared.clock();
        worker_park::park(&self.park, Some(Duration::ZERO));
        self.process_timers();
        if self.has_local_work() || self.shared.has_pending_work() {
            return;
        }
        if clock.can_auto_advance() {
            if let Some(next) = self.time().next_deadline() {
                clock.advance_to_ms(next);
                self.process_timers();
                return;
            }
        }
        worker_park::park(&self.park, None);
    }

    /// Timers, submissions, completions.
    fn maintain(&self) {
        self.process_timers();
        worker_park::maintain(&self.park);
    }

    fn has_local_work(&self) -> bool {
        !self.lifo().is_empty() || !self.local.is_empty()
    }

    /// The worker loop. Returns after shutdown, with every task it held
    /// dropped.
    pub(crate) fn run(&self) {
        #[cfg(not(ferrio_loom))]
        // SAFETY: gettid has no preconditions.
        self.remote().activity.set_thread(unsafe { libc::gettid() });
        while !self.shared.is_shutdown() {
            if let Some(task) = self.next_task() {
                // A worker woken by a notification starts out counted as
                // searching; having found work, it must stop counting as
                // one, or notifications stay silenced while it runs.
                self.end_search();
                self.run_task(task);
                continue;
            }
            if let Some(task) = self.steal_work() {
                self.run_task(task);
                continue;
            }
            self.park();
        }
        self.shutdown();
    }

    /// Polls `task`, counting the poll for the watchdog.
    #[inline]
    fn run_task(&self, task: Notified) {
        let activity = &self.remote().activity;
        activity.begin_poll(task.id());
        task.run();
        activity.end_poll();
    }

    /// Marks this worker as blocking (`block_in_place`) until the guard
    /// drops: the watchdog hands its work to other threads at once.
    pub(crate) fn begin_blocking(&self) -> BlockingGuard<'_> {
        self.remote().activity.begin_blocking();
        self.shared.watchdog().wake();
        BlockingGuard(self)
    }

    pub(super) fn schedule_local(&self, task: Notified, is_yield: bool) {
        if is_yield {
            self.local.push(task);
        } else {
            match self.lifo().replace(task) {
                None => return,
                Some(prev) => self.local.push(prev),
            }
        }
        // Something stealable was added: let a sleeper come and take it.
        self.shared.notify_parked();
    }

    fn next_task(&self) -> Option<Notified> {
        #[cfg(all(feature = "sim", not(ferrio_loom)))]
        if let Some(seeded) = &self.seeded {
            return self.next_task_seeded(seeded);
        }
        let tick = self.tick.get().wrapping_add(1);
        self.tick.set(tick);
        if tick % GLOBAL_QUEUE_INTERVAL == 0 {
            self.maintain();
            if let Some(task) = self.shared.injector.pop() {
                return Some(task);
            }
        }
        if let Some(task) = self.lifo().take() {
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

    /// A seeded runtime's `next_task` (feature `sim`): every runnable
    /// task (the LIFO slot, the local queue, the injector) joins the
    /// pool, and the next is drawn from it by the seed's generator. The
    /// pool is the worker's own, so nothing else sees it; with one task
    /// runnable nothing is drawn, so the sequence of draws is a function
    /// of the sequence of pools, itself one of the run. The periodic
    /// maintenance keeps its place in the tick count.
    #[cfg(all(feature = "sim", not(ferrio_loom)))]
    fn next_task_seeded(&self, seeded: &Seeded) -> Option<Notified> {
        let tick = self.tick.get().wrapping_add(1);
        self.tick.set(tick);
        if tick % GLOBAL_QUEUE_INTERVAL == 0 {
            self.maintain();
        }
        let mut pool = seeded.pool.borrow_mut();
        pool.extend(self.lifo().take());
        while let Some(task) = self.local.pop() {
            pool.push(task);
        }
        while let Some(task) = self.shared.injector.pop() {
            pool.push(task);
        }
        match pool.len() {
            0 | 1 => pool.pop(),
            n => {
                let i = xorshift_below(&seeded.rng, n);
                Some(pool.swap_remove(i))
            }
        }
    }

    fn next_random(&self, n: usize) -> usize {
        xorshift_below(&self.rng, n)
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
        // park itself: on io_uring its one enter submits what is pending
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
            #[cfg(all(feature = "test-util", not(ferrio_loom)))]
            if self.shared.clock().is_paused() {
                self.park_paused();
            } else {
                worker_park::park(&self.park, self.park_timeout());
            }
            #[cfg(not(all(feature = "test-util", not(ferrio_loom))))]
            worker_park::park(&self.park, self.park_timeout());
            self.process_timers();
        }
        if !self.shared.idle.unpark_self(self.index) {
            // A notifier picked us and counted us as searching.
            self.is_searching.set(true);
        }
        // After the idle count's update (SeqCst): a watchdog asleep
        // because every worker was parked is woken (one load otherwise).
        self.shared.watchdog().worker_unparked();
    }

    /// Drops the notifications in the LIFO slot and the local queue (their
    /// tasks are complete or being shut down).
    fn drop_queued(&self) {
        #[cfg(all(feature = "sim", not(ferrio_loom)))]
        if let Some(seeded) = &self.seeded {
            let pool = std::mem::take(&mut *seeded.pool.borrow_mut());
            drop(pool);
        }
        drop(self.lifo().take());
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
        self.time().shutdown();
        // Every task is gone: cancel what is still in flight on our ring
        // and wait (bounded) until the kernel has let go of every buffer
        // (epoll: close every registration, failing its waiters).
        worker_park::shutdown(&self.park);
        // Completions delivered while draining may have queued wake-ups.
        self.drop_queued();
        // The watchdog lets go of the driver: it is dropped with us, on
        // this thread.
        #[cfg(not(ferrio_loom))]
        drop(self.remote().driver.lock().take());
    }
}

/// A draw below `n` from the xorshift64* generator in `state`.
fn xorshift_below(state: &Cell<u64>, n: usize) -> usize {
    let mut x = state.get();
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    state.set(x);
    (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 32) as usize % n
}

/// A seeded worker's runnable tasks and the generator that picks among
/// them (feature `sim`).
#[cfg(all(feature = "sim", not(ferrio_loom)))]
struct Seeded {
    pool: std::cell::RefCell<Vec<Notified>>,
    rng: Cell<u64>,
}

#[cfg(all(feature = "sim", not(ferrio_loom)))]
impl Seeded {
    fn new(seed: u64) -> Seeded {
        // splitmix64 of the seed: nearby seeds start far apart, and the
        // state is never zero (xorshift's fixed point).
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Seeded {
            pool: std::cell::RefCell::new(Vec::new()),
            rng: Cell::new((z ^ (z >> 31)) | 1),
        }
    }
}

/// Ends a `block_in_place` on its worker.
pub(crate) struct BlockingGuard<'a>(&'a Worker);

impl Drop for BlockingGuard<'_> {
    fn drop(&mut self) {
        self.0.remote().activity.end_blocking();
    }
}
