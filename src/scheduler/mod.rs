//! The work-stealing scheduler: workers, their queues, stealing, parking.
//!
//! Each worker thread owns a FIFO `Local` queue and a one-task LIFO slot.
//! A task woken by the task running on the same worker goes into the LIFO
//! slot and runs next (message-passing locality), at most
//! `MAX_LIFO_POLLS` times in a row. Tasks scheduled from outside the
//! workers go into the shared `Injector`. An idle worker steals half of a
//! random sibling's queue, then a batch from the injector, under the
//! searching rules in `idle.rs`; finding nothing, it parks on its I/O
//! driver, its io_uring ring or epoll instance (`worker_park.rs`), with a
//! timeout set by its time driver (`time::core`).
//!
//! Every `GLOBAL_QUEUE_INTERVAL` ticks a worker does its maintenance:
//! fires due timers and has its driver submit queued SQEs and reap
//! completions (on epoll, collect ready events); before parking it only
//! fires timers (the park itself submits and reaps).
//!
//! - `shared.rs`: what the workers share (`Shared`), and its `Schedule`
//!   implementation, the face the task core sees;
//! - `worker.rs`: one worker's loop: find work, run it, steal, park;
//! - `launch.rs`: starting the worker threads and waiting for them to exit;
//! - `worker_park.rs`: where a worker sleeps (its I/O driver; a condition
//!   variable under loom);
//! - `idle.rs`: the searching/parked counts that decide who is woken;
//! - `run_queue.rs`: the run queues (crossbeam-deque; loom stand-ins).
//!
//! The scheduler names neither the runtime nor the user-facing layers.

use std::any::Any;
use std::sync::Arc as StdArc;
use std::time::Duration;

use crate::task::core::TaskInfo;

pub(crate) mod current;
mod idle;
mod launch;
mod lifo;
pub(crate) mod run_queue;
mod shared;
pub(crate) mod watchdog;
mod worker;
mod worker_park;

pub(crate) use launch::{launch, Workers};
pub(crate) use shared::Shared;
pub(crate) use worker::Worker;

/// Every this many ticks a worker looks at the injector before its own
/// queue, so tasks from outside cannot starve behind local ones.
const GLOBAL_QUEUE_INTERVAL: u32 = 61;

/// How many times in a row the LIFO slot may pre-empt the FIFO queue.
const MAX_LIFO_POLLS: u8 = 3;

pub(crate) type PanicHandler = StdArc<dyn Fn(&TaskInfo, &(dyn Any + Send)) + Send + Sync>;

pub(crate) type SlowPollHandler = StdArc<dyn Fn(&TaskInfo, Duration) + Send + Sync>;

/// How the scheduler's workers are set up.
pub(crate) struct Config {
    pub(crate) on_task_panic: PanicHandler,
    /// Makes ring setup fail with this errno (tests of that path).
    pub(crate) simulate_setup_error: Option<i32>,
    /// The I/O driver the workers run, and why.
    #[cfg(not(ferrio_loom))]
    pub(crate) io_driver: crate::driver::IoDriverInfo,
    /// Each ring's receive-buffer pool: (buffers, bytes each); 0 buffers
    /// for none.
    pub(crate) recv_pool: (u16, usize),
    /// Worker `i` is named `"{thread_name}-{i}"`.
    pub(crate) thread_name: String,
    pub(crate) stack_size: Option<usize>,
    /// Debug mode (asyncio's `loop.slow_callback_duration`).
    pub(crate) slow_poll: Option<(Duration, SlowPollHandler)>,
    /// A poll stuck this long is reported, with this handler.
    #[cfg_attr(ferrio_loom, allow(dead_code))]
    pub(crate) blocked: (Duration, watchdog::BlockedHandler),
    /// The clock starts paused (`Builder::start_paused`; one worker).
    #[cfg(all(feature = "test-util", not(ferrio_loom)))]
    pub(crate) start_paused: bool,
    /// The runtime runs a `ferrio::sim` world: real I/O is refused and
    /// `to_thread` runs inline (`runtime/simulated.rs`).
    #[cfg(all(feature = "sim", not(ferrio_loom)))]
    pub(crate) simulated: bool,
    /// The worker picks among its runnable tasks by a generator of this
    /// seed, not in queue order (`worker.rs`, `next_task_seeded`).
    #[cfg(all(feature = "sim", not(ferrio_loom)))]
    pub(crate) schedule_seed: Option<u64>,
    /// The world whose network every worker's driver simulates
    /// (`driver/sim_hook.rs`).
    #[cfg(all(feature = "sim", not(ferrio_loom)))]
    pub(crate) sim_backend: Option<std::sync::Arc<dyn crate::driver::sim_hook::SimBackend>>,
}
