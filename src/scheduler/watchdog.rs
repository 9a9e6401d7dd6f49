//! The watchdog: one thread per runtime that notices a worker stuck in a
//! single poll (a handler that blocks its thread: a std `Mutex`, a slow
//! system call, a CPU-heavy parse) and rescues what that worker owns, so
//! nothing else waits for it.
//!
//! # Detection
//!
//! Each worker counts its polls in its [`Activity`]: the count is odd
//! while a poll runs. No clock is read on the hot path: the watchdog
//! samples the counts every [`TICK`], and a worker whose count is odd and
//! unchanged since the previous sample has been in the same poll for at
//! least that long (as Go's sysmon does). `block_in_place` marks its
//! worker blocking and wakes the watchdog, which then rescues at once.
//!
//! # Rescue
//!
//! While a worker is stuck, every [`SERVICE_INTERVAL`] the watchdog does
//! for it what it would do between polls (`Shared::rescue`):
//! - its LIFO slot and local queue go to the injector (a swap and
//!   steals: each task is taken by exactly one thread) and a parked
//!   sibling is woken to run them;
//! - its wheel's due timers fire (the wheel is behind a lock the owner
//!   takes for each access; the watchdog only ever tries it);
//! - its I/O driver delivers what is ready (`Driver::rescue`: the ring's
//!   completions, or the epoll instance's events), under the same kind of
//!   lock. A ring's completions are posted by task work of the thread
//!   that submitted them; a thread asleep in a system call runs it only
//!   when interrupted, so the watchdog sends it a signal when the ring
//!   says task work is pending.
//!
//! Everything the rescue wakes is scheduled from a thread that is not a
//! worker, so it goes to the injector and runs on another worker. When
//! the poll returns, the owner carries on: nothing was moved that it must
//! take back (its queues are simply emptier), and nothing ran twice.
//!
//! # Reports
//!
//! A poll seen stuck for the runtime's threshold is reported once per
//! episode, while it is still stuck (`Builder::blocked_worker_threshold`),
//! with the task's id, name and spawn location, the worker, and how long.
//!
//! # Sleeping
//!
//! An idle runtime makes no periodic wake-ups: once every worker has been
//! parked for [`QUIET_TICKS`] ticks, the watchdog parks without a timeout, and the first
//! worker to unpark wakes it (a flag read with one load on the way out of
//! a park; the watchdog's store of the flag and the workers' idle count
//! pair up under `SeqCst`, so one of the two always sees the other).
//!
//! The counts in [`Activity`] are plain std atomics, not the loom shim's:
//! the watchdog only reads them to decide when to rescue, and every
//! rescue step is safe at any moment (a swap, a steal, a try-lock).

#![cfg_attr(ferrio_loom, allow(dead_code, unused_imports))] // the thread itself does not run under loom

use std::io;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc as StdArc;
use std::time::{Duration, Instant};

use crate::loom::sync::Arc;
use crate::park::{Parker, Unparker};
use crate::task::core::{info_of, wait, TaskId, TaskInfo};

use super::shared::Shared;

/// How often the watchdog samples the workers while any is busy.
pub(crate) const TICK: Duration = Duration::from_millis(4);

/// How often a stuck worker is serviced.
const SERVICE_INTERVAL: Duration = Duration::from_millis(1);

/// Ticks with every worker parked (about 250 ms) before the watchdog
/// sleeps untimed. Not fewer: the first worker to unpark after that pays
/// the watchdog's wake-up (a futex wake, and a thread competing for its
/// core), which a server with bursts a few milliseconds apart would pay
/// at every burst (the cold scheduler bench did: README).
const QUIET_TICKS: u32 = 64;

/// One worker's poll count and what it polls, for the watchdog.
#[derive(Default)]
pub(crate) struct Activity {
    /// Odd while a poll runs.
    polls: AtomicU64,
    /// The id of the task being polled.
    task: AtomicU64,
    /// `block_in_place` calls in progress on this worker.
    blocking: AtomicUsize,
    /// The worker thread's id (for the signal that runs its task work).
    thread: AtomicI32,
    /// Set by the watchdog while it rescues this worker: requests from
    /// outside the workers (remote I/O, timers) go to another one.
    rescued: AtomicBool,
    /// The poll count the watchdog last saw change, and when (coarse
    /// milliseconds, `task::core::wait::now_ms`): how a task dump tells a
    /// poll that blocks its worker.
    seen_polls: AtomicU64,
    seen_at_ms: AtomicU64,
}

impl Activity {
    /// The owner starts polling `task`.
    #[inline]
    pub(crate) fn begin_poll(&self, task: TaskId) {
        // Only the owner writes: no read-modify-write needed.
        self.task.store(task.as_u64(), Ordering::Relaxed);
        self.polls
            .store(self.polls.load(Ordering::Relaxed) + 1, Ordering::Release);
    }

    /// The owner's poll returned.
    #[inline]
    pub(crate) fn end_poll(&self) {
        self.polls
            .store(self.polls.load(Ordering::Relaxed) + 1, Ordering::Release);
    }

    pub(crate) fn set_thread(&self, tid: i32) {
        self.thread.store(tid, Ordering::Relaxed);
    }

    pub(crate) fn thread(&self) -> i32 {
        self.thread.load(Ordering::Relaxed)
    }

    /// True while the watchdog rescues this worker.
    pub(crate) fn is_rescued(&self) -> bool {
        self.rescued.load(Ordering::Relaxed)
    }

    pub(crate) fn begin_blocking(&self) {
        self.blocking.fetch_add(1, Ordering::SeqCst);
    }

    pub(crate) fn end_blocking(&self) {
        self.blocking.fetch_sub(1, Ordering::SeqCst);
    }

    /// The task this worker has been polling for at least a watchdog
    /// tick, and for how long (at least), as the watchdog last saw it.
    pub(crate) fn stuck_poll(&self) -> Option<(u64, Duration)> {
        let polls = self.polls.load(Ordering::Acquire);
        if polls % 2 == 0 || self.seen_polls.load(Ordering::Acquire) != polls {
            return None;
        }
        let task = self.task.load(Ordering::Relaxed);
        let since = self.seen_at_ms.load(Ordering::Relaxed);
        let stuck = Duration::from_millis(wait::now_ms().saturating_sub(since));
        // Re-read: the poll may have ended meanwhile.
        (stuck >= TICK && self.polls.load(Ordering::Acquire) == polls).then_some((task, stuck))
    }
}

/// A worker seen stuck in one poll (for [`Builder::on_blocked_worker`]).
///
/// [`Builder::on_blocked_worker`]: crate::runtime::Builder::on_blocked_worker
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct BlockedWorker {
    /// The worker's index (its thread is named `"{thread_name}-{worker}"`).
    pub worker: usize,
    /// The task in the poll (`None` if it finished before it was looked
    /// up).
    pub task: Option<TaskInfo>,
    /// How long the poll has run so far (at least; sampled every few
    /// milliseconds).
    pub blocked_for: Duration,
}

impl std::fmt::Display for BlockedWorker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "worker {} has been stuck in one poll for {:?}",
            self.worker, self.blocked_for
        )?;
        match &self.task {
            Some(t) => write!(
                f,
                " by task '{}' (id {}, spawned at {})",
                t.name, t.id, t.spawned_at
            ),
            None => write!(f, " (the task already finished)"),
        }
    }
}

pub(crate) type BlockedHandler = StdArc<dyn Fn(&BlockedWorker) + Send + Sync>;

/// The watchdog's waking end, held by the scheduler.
pub(crate) struct WatchdogWaker {
    /// Set while the watchdog sleeps without a timeout.
    asleep: AtomicBool,
    unparker: Unparker,
}

impl WatchdogWaker {
    /// Called by a worker leaving its park: wakes the watchdog if it
    /// sleeps untimed (one load otherwise).
    #[inline]
    pub(crate) fn worker_unparked(&self) {
        if self.asleep.load(Ordering::SeqCst) && self.asleep.swap(false, Ordering::SeqCst) {
            self.unparker.unpark();
        }
    }

    /// Wakes the watchdog now (`block_in_place`, shutdown).
    pub(crate) fn wake(&self) {
        self.asleep.store(false, Ordering::SeqCst);
        self.unparker.unpark();
    }
}

/// The sleeping end, moved into the watchdog thread.
pub(crate) struct WatchdogParker(Parker);

pub(crate) fn pair() -> (WatchdogParker, WatchdogWaker) {
    let parker = Parker::new();
    let unparker = parker.unparker();
    (
        WatchdogParker(parker),
        WatchdogWaker {
            asleep: AtomicBool::new(false),
            unparker,
        },
    )
}

/// Starts the watchdog thread of `shared`.
#[cfg(not(ferrio_loom))]
pub(crate) fn spawn(
    shared: Arc<Shared>,
    parker: WatchdogParker,
) -> io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name(format!("{}-watchdog", shared.config.thread_name))
        .spawn(move || run(&shared, parker))
}

#[derive(Clone, Copy)]
struct Seen {
    polls: u64,
    since: Instant,
    reported: bool,
}

fn run(shared: &Shared, parker: WatchdogParker) {
    let threshold = shared.config.blocked.0;
    let now = Instant::now();
    let mut seen = vec![
        Seen {
            polls: 0,
            since: now,
            reported: false
        };
        shared.num_workers()
    ];
    let mut quiet = 0;
    while !shared.is_shutdown() {
        let now = Instant::now();
        let mut rescuing = false;
        let mut busy = false;
        for (index, last) in seen.iter_mut().enumerate() {
            let activity = shared.activity(index);
            let polls = activity.polls.load(Ordering::Acquire);
            if polls != last.polls {
                activity.seen_at_ms.store(wait::now_ms(), Ordering::Relaxed);
                activity.seen_polls.store(polls, Ordering::Release);
                *last = Seen {
                    polls,
                    since: now,
                    reported: false,
                };
            }
            if polls % 2 == 0 {
                activity.rescued.store(false, Ordering::Relaxed);
                continue;
            }
            busy = true;
            let blocking = activity.blocking.load(Ordering::SeqCst) > 0;
            let stuck_for = now - last.since;
            // Seen in the same poll at the previous sample: stuck for at
            // least a tick.
            if !blocking && stuck_for.is_zero() {
                activity.rescued.store(false, Ordering::Relaxed);
                continue;
            }
            rescuing = true;
            activity.rescued.store(true, Ordering::Relaxed);
            shared.rescue(index);
            if !blocking && !last.reported && stuck_for >= threshold {
                last.reported = true;
                report(
                    shared,
                    index,
                    activity.task.load(Ordering::Relaxed),
                    stuck_for,
                );
            }
        }
        if rescuing {
            quiet = 0;
            parker.0.park(Some(SERVICE_INTERVAL));
        } else if busy || !shared.all_parked() {
            quiet = 0;
            parker.0.park(Some(TICK));
        } else if quiet < QUIET_TICKS {
            quiet += 1;
            parker.0.park(Some(TICK));
        } else {
            quiet = 0;
            let waker = shared.watchdog();
            waker.asleep.store(true, Ordering::SeqCst);
            // Pairs with the worker's SeqCst update of the idle count and
            // its load of `asleep`: a worker that unparked after this check
            // sees the flag and wakes us.
            if shared.all_parked() && !shared.is_shutdown() {
                parker.0.park(None);
            }
            waker.asleep.store(false, Ordering::SeqCst);
        }
    }
}

fn report(shared: &Shared, worker: usize, task: u64, blocked_for: Duration) {
    let mut info = None;
    shared.owned.for_each(|t| {
        if info.is_none() && t.id().as_u64() == task {
            info = Some(info_of(t));
        }
    });
    let report = BlockedWorker {
        worker,
        task: info,
        blocked_for,
    };
    let handler = &shared.config.blocked.1;
    crate::task::core::contain(|| handler(&report));
}

/// The default report: one line on stderr.
pub(crate) fn report_to_stderr(report: &BlockedWorker) {
    eprintln!("ferrio: {report}; its queued tasks, timers and I/O were handed to other threads");
}
