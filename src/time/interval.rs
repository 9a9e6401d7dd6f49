//! `Interval` and `MissedTickBehavior`: ticks without drift.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::sleep::{sleep_until, Sleep, FAR_FUTURE};
use crate::task::core::wait::At;

/// What an [`Interval`] does when ticks were missed (the task was late).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum MissedTickBehavior {
    /// Fire the missed ticks back to back until caught up, keeping the
    /// original schedule (tokio's default).
    #[default]
    Burst,
    /// Restart the schedule from the late tick: the next tick is one
    /// period after it.
    Delay,
    /// Drop the missed ticks: the next tick is the next one on the
    /// original schedule that is still in the future.
    Skip,
}

/// Ticks every `period` (the asyncio idiom `while True: ...; await
/// asyncio.sleep(period)`, without drift).
///
/// The first tick completes at once. Missed ticks follow
/// [`MissedTickBehavior`] (default `Burst`). A tick too far away for an
/// `Instant` (a period like `Duration::MAX`) never comes. After the
/// runtime shuts down, ticks come at once (see [the module docs](crate::time)).
///
/// # Panics
/// When `period` is zero.
///
/// ```
/// use std::time::Duration;
/// ferrio::run(async {
///     let mut every = ferrio::interval(Duration::from_millis(5));
///     let first = every.tick().await;
///     let second = every.tick().await;
///     assert!(second - first >= Duration::from_millis(5));
/// });
/// ```
pub fn interval(period: Duration) -> Interval {
    assert!(
        !period.is_zero(),
        "ferrio::interval: the period must be non-zero"
    );
    Interval::starting(super::now(), period, true)
}

/// Ticks every `period`, the first tick at `start` (tokio's
/// `interval_at`); otherwise as [`interval`]. A `start` in the past makes
/// the first tick complete at once, and the missed ticks after it follow
/// the [`MissedTickBehavior`].
///
/// # Panics
/// When `period` is zero.
///
/// ```
/// use std::time::{Duration, Instant};
/// ferrio::run(async {
///     let start = Instant::now() + Duration::from_millis(20);
///     let mut every = ferrio::time::interval_at(start, Duration::from_millis(5));
///     assert_eq!(every.tick().await, start);
///     assert!(Instant::now() >= start);
///     assert_eq!(every.tick().await, start + Duration::from_millis(5));
/// });
/// ```
pub fn interval_at(start: Instant, period: Duration) -> Interval {
    assert!(
        !period.is_zero(),
        "ferrio::time::interval_at: the period must be non-zero"
    );
    Interval::starting(start, period, start <= super::now())
}

/// A periodic timer; see [`interval`].
#[derive(Debug)]
pub struct Interval {
    next: Instant,
    period: Duration,
    missed: MissedTickBehavior,
    sleep: Sleep,
}

impl Interval {
    /// The first tick at `start`; `due`: it completes at its first poll
    /// (a start of now can lie ahead of the timer wheel's last step, and
    /// the first tick must not wait for the next one).
    fn starting(start: Instant, period: Duration, due: bool) -> Interval {
        let mut sleep = sleep_until(start);
        if due {
            sleep.mark_due();
        }
        Interval {
            next: start,
            period,
            missed: MissedTickBehavior::default(),
            sleep,
        }
    }

    /// Waits for the next tick; returns its scheduled time.
    #[track_caller]
    pub fn tick(&mut self) -> impl Future<Output = Instant> + '_ {
        At::here(async move { std::future::poll_fn(|cx| self.poll_tick(cx)).await })
    }

    /// Polls for the next tick.
    #[track_caller]
    pub fn poll_tick(&mut self, cx: &mut Context<'_>) -> Poll<Instant> {
        if Pin::new(&mut self.sleep).poll(cx).is_pending() {
            return Poll::Pending;
        }
        let tick = self.next;
        self.next = next_tick(self.missed, tick, super::now(), self.period);
        self.sleep.reset(self.next);
        Poll::Ready(tick)
    }

    /// Changes what happens to missed ticks.
    pub fn set_missed_tick_behavior(&mut self, behavior: MissedTickBehavior) {
        self.missed = behavior;
    }

    /// What happens to missed ticks.
    pub fn missed_tick_behavior(&self) -> MissedTickBehavior {
        self.missed
    }

    /// The period.
    pub fn period(&self) -> Duration {
        self.period
    }

    /// Restarts the schedule: the next tick is one period from now, the
    /// ones after it a period apart (tokio's `Interval::reset`). The timer
    /// of a tick already polled moves at once (see [`Sleep::reset`]).
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// ferrio::run(async {
    ///     let mut every = ferrio::interval(Duration::from_millis(30));
    ///     every.tick().await; // the first tick: at once
    ///     ferrio::sleep(Duration::from_millis(10)).await;
    ///     let reset = Instant::now();
    ///     every.reset();
    ///     assert!(every.tick().await >= reset + Duration::from_millis(30));
    /// });
    /// ```
    pub fn reset(&mut self) {
        self.reset_at(add_saturating(super::now(), self.period));
    }

    /// Restarts the schedule with a tick now: the next tick completes at
    /// once, the ones after it a period apart.
    pub fn reset_immediately(&mut self) {
        self.reset_at(super::now());
    }

    /// Restarts the schedule with the next tick `after` from now.
    pub fn reset_after(&mut self, after: Duration) {
        self.reset_at(add_saturating(super::now(), after));
    }

    /// Restarts the schedule with the next tick at `deadline` (in the
    /// past: at once), the ones after it a period apart.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// ferrio::run(async {
    ///     let mut every = ferrio::interval(Duration::from_millis(50));
    ///     every.tick().await;
    ///     let at = Instant::now() + Duration::from_millis(5);
    ///     every.reset_at(at);
    ///     assert_eq!(every.tick().await, at);
    ///     assert_eq!(every.tick().await, at + Duration::from_millis(50));
    /// });
    /// ```
    pub fn reset_at(&mut self, deadline: Instant) {
        self.next = deadline;
        self.sleep.reset(deadline);
    }
}

/// `t + d`, or "never" (far in the future) where that overflows `Instant`.
fn add_saturating(t: Instant, d: Duration) -> Instant {
    t.checked_add(d)
        .or_else(|| t.checked_add(FAR_FUTURE))
        .unwrap_or(t)
}

/// When the tick after `tick` is due, at time `now`, under `missed`.
pub(crate) fn next_tick(
    missed: MissedTickBehavior,
    tick: Instant,
    now: Instant,
    period: Duration,
) -> Instant {
    let next = add_saturating(tick, period);
    match missed {
        MissedTickBehavior::Burst => next,
        MissedTickBehavior::Delay if now > next => add_saturating(now, period),
        MissedTickBehavior::Delay => next,
        MissedTickBehavior::Skip if next > now => next,
        MissedTickBehavior::Skip => {
            // The first tick on the original schedule after `now`; the
            // count of periods behind can exceed any integer a `Duration`
            // multiplies by, so step in nanoseconds.
            let behind = (now - next).as_nanos() / period.as_nanos() + 1;
            let skip_ns = behind.saturating_mul(period.as_nanos());
            let skip = u64::try_from(skip_ns / 1_000_000_000)
                .map(|secs| Duration::new(secs, (skip_ns % 1_000_000_000) as u32))
                .unwrap_or(Duration::MAX);
            add_saturating(next, skip)
        }
    }
}
