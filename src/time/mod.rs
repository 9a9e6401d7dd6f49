//! Time: sleeps, intervals, timeouts (asyncio's `sleep`, `wait_for`,
//! `timeout`). The futures here sit above the runtime; the wheels and
//! the per-worker time driver they register with are in `time::core`,
//! below the scheduler.
//!
//! Timers live in a hierarchical timing wheel per worker (1 ms resolution,
//! rotations of ~2.2 years, later ones waiting in an overflow list: no
//! deadline is clamped). A timer is registered lazily, on the first poll
//! of its future, in the wheel of the worker polling it; creating and
//! dropping an unpolled [`Sleep`] costs nothing. Cancelling a timer (by
//! dropping its future) on the worker that owns it removes it from the
//! wheel at once; from another thread it goes through that worker's
//! cancellation queue, which the worker drains at its next maintenance (a
//! sleeping owner is woken for it). No timer operation takes a
//! runtime-wide lock.
//!
//! Sleeps never wake before their deadline (deadlines are rounded up to
//! the next millisecond), and on an idle runtime normally within about a
//! millisecond after it: a worker parks with a timeout equal to its next
//! timer deadline.
//!
//! # Shutdown
//!
//! A timer needs its runtime's workers to fire it. When the runtime shuts
//! down (dropped, or [`Runtime::shutdown_timeout`](crate::Runtime::shutdown_timeout)),
//! each worker, as it exits, ends every timer it holds or has queued, and
//! from then on the runtime refuses new timers: a timer awaited through a
//! kept [`Handle`](crate::Handle) (in `block_on` on another thread) ends **at once**
//! instead of waiting for a wheel that is gone. So:
//!
//! - a [`Sleep`] completes early, and [`Interval::tick`] returns at once;
//! - [`wait_for`] and [`TimeoutScope::run`] drop their inner future and
//!   fail with a [`TimeoutError`] whose
//!   [`is_runtime_shutdown`](TimeoutError::is_runtime_shutdown) is true;
//!
//! as I/O in the same position fails with "the runtime is shutting down".
//! Nothing that awaits a timer waits forever across a shutdown. A loop
//! that sleeps outside the runtime's tasks and must stop with it checks
//! [`Handle::is_shutdown`](crate::Handle::is_shutdown). (Tasks are simply dropped at shutdown.)

pub(crate) mod core;
mod interval;
mod sleep;
mod timeout;
mod virtual_time;

#[cfg(test)]
pub(crate) use interval::next_tick;
pub use interval::{interval, interval_at, Interval, MissedTickBehavior};
pub use sleep::{sleep, sleep_until, Sleep};
pub use timeout::{timeout, timeout_at, wait_for, Scoped, TimeoutError, TimeoutScope, WaitFor};
pub use virtual_time::now;
#[cfg(all(feature = "test-util", not(ferrio_loom)))]
pub use virtual_time::{advance, pause, resume, try_pause, PauseError};
