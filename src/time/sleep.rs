//! `Sleep`, `sleep` and `sleep_until`: a timer registered lazily in the
//! wheel of the worker that first polls it.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use crate::task::core::wait::{self, WaitKind};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crate::runtime::Handle;
use crate::scheduler::Shared;

use super::core::{stored_key, TimerShared};

type SharedArc = crate::loom::sync::Arc<Shared>;

/// A timer in a worker's wheel (or queued for it).
struct Registration {
    shared: Arc<TimerShared>,
    /// The runtime's scheduler, kept only for a timer registered from
    /// outside the workers. A timer in the wheel of the worker that polled
    /// it keeps the runtime's id instead: cloning the runtime's `Arc` for
    /// every sleep would bounce its count between the workers' caches.
    scheduler: Option<SharedArc>,
    runtime: u64,
    worker: usize,
}

impl Registration {
    /// Runs `f` with the timer's runtime: the one kept, or else the
    /// runtime of the thread (a worker, or an entered handle) when it is
    /// the timer's. `None` on a thread outside that runtime.
    fn with_scheduler<R>(&self, f: impl Fn(&SharedArc) -> R) -> Option<R> {
        if let Some(s) = &self.scheduler {
            return Some(f(s));
        }
        let on_worker = crate::scheduler::current::with_worker(|w| match w {
            Some(w) if w.shared().id() == self.runtime => Some(f(w.shared())),
            _ => None,
        });
        on_worker.or_else(|| {
            Handle::try_current()
                .filter(|h| h.shared.id() == self.runtime)
                .map(|h| f(&h.shared))
        })
    }

    fn cancel(self) {
        if let Some(stored) = self.shared.cancel() {
            if let Some(key) = stored_key(stored) {
                // Off the runtime's threads (a sleep polled on a worker,
                // then dropped on a plain thread) the entry stays in its
                // wheel, cancelled, until its deadline comes or the
                // runtime ends: nothing fires, nothing leaks.
                let _ = self.with_scheduler(|s| s.cancel_timer(self.worker, key));
            }
            // Not inserted yet (a remote registration still queued): the
            // owner sees CANCELLED and skips it.
        }
    }
}

/// Waits until a deadline (asyncio's `await asyncio.sleep(delay)`).
///
/// Created by [`sleep`] and [`sleep_until`]. Registered in a timer wheel
/// at its first poll; dropping it cancels the timer.
#[must_use = "futures do nothing unless awaited"]
pub struct Sleep {
    deadline: Instant,
    registration: Option<Registration>,
    done: bool,
    /// Ended early because the runtime shut down.
    shut_down: bool,
}

impl fmt::Debug for Sleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sleep")
            .field("deadline", &self.deadline)
            .field("registered", &self.registration.is_some())
            .finish()
    }
}

/// Sleeps for `duration` (asyncio's `asyncio.sleep`).
///
/// ```
/// use std::time::{Duration, Instant};
/// ferrio::run(async {
///     let start = Instant::now();
///     ferrio::sleep(Duration::from_millis(20)).await;
///     assert!(start.elapsed() >= Duration::from_millis(20));
/// });
/// ```
pub fn sleep(duration: Duration) -> Sleep {
    let now = super::now();
    let mut sleep = sleep_until(now.checked_add(duration).unwrap_or(now + FAR_FUTURE));
    if duration.is_zero() {
        sleep.mark_due();
    }
    sleep
}

/// About 30 years: what "never" becomes when a duration overflows.
pub(super) const FAR_FUTURE: Duration = Duration::from_secs(86_400 * 365 * 30);

/// Sleeps until `deadline`.
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep {
        deadline,
        registration: None,
        done: false,
        shut_down: false,
    }
}

impl Sleep {
    /// When the sleep ends.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// True once the deadline has passed, or the sleep has ended (also
    /// when it ended early because the runtime shut down).
    pub fn is_elapsed(&self) -> bool {
        self.done || super::now() >= self.deadline
    }

    /// Ready at the first poll, with no timer: for a deadline known to
    /// have passed (which could still lie ahead of the wheel's last step).
    pub(super) fn mark_due(&mut self) {
        self.done = true;
    }

    /// True when the sleep ended before its deadline because its runtime
    /// shut down (see [the module docs](crate::time)).
    pub(crate) fn ended_by_shutdown(&self) -> bool {
        self.shut_down
    }

    /// Moves the deadline, earlier or later, as tokio's `Sleep::reset`;
    /// the sleep is armed again even if it had ended.
    ///
    /// A sleep that is waiting (polled, its timer in a wheel) is re-armed
    /// at once: its timer moves in the wheel and the task that polled it
    /// is woken at the new deadline, whether or not it polls the sleep
    /// again before then. A deadline already past wakes that task now, and
    /// the next poll completes. A sleep not polled yet, or ended, registers
    /// its timer at its next poll, as a new one does.
    ///
    /// `Sleep` is `Unpin`, so a pinned sleep is reset through its pin
    /// (`sleep.as_mut().reset(deadline)`), as in tokio:
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// ferrio::run(async {
    ///     let start = Instant::now();
    ///     let mut sleep = std::pin::pin!(ferrio::sleep(Duration::from_secs(3600)));
    ///     // Polled once: its timer is in the wheel, an hour away.
    ///     let r = ferrio::wait_for(sleep.as_mut(), Duration::from_millis(1)).await;
    ///     assert!(r.is_err());
    ///     sleep.as_mut().reset(Instant::now() + Duration::from_millis(10));
    ///     sleep.as_mut().await;
    ///     assert!(start.elapsed() >= Duration::from_millis(10));
    ///     assert!(start.elapsed() < Duration::from_secs(3600));
    /// });
    /// ```
    pub fn reset(&mut self, deadline: Instant) {
        self.deadline = deadline;
        self.done = false;
        self.shut_down = false;
        let Some(r) = self.registration.take() else {
            // Never polled, or ended: registered at the next poll.
            return;
        };
        // The waker the timer holds: `None` once it fired (the task is
        // woken and polls again, registering the new deadline then).
        let Some(waker) = r.shared.waker() else {
            r.cancel();
            return;
        };
        if super::now() >= deadline {
            // Due already: no timer; the next poll completes.
            r.cancel();
            waker.wake();
            return;
        }
        let Some(scheduler) = r.with_scheduler(|s| s.clone()) else {
            // Reset outside the timer's runtime: the task is woken, and
            // its next poll registers the new deadline.
            r.cancel();
            waker.wake();
            return;
        };
        let ms = scheduler.clock().deadline_ms(deadline);
        // On the owning worker the entry moves in its wheel; elsewhere (or
        // if it is not in the wheel) the old timer is cancelled, through
        // the owner's queue if need be, and a new one registered.
        if let Some(key) = r.shared.key() {
            if scheduler.rearm_timer(r.worker, key, ms) {
                self.registration = Some(r);
                return;
            }
        }
        r.cancel();
        match self.register(&waker, Some(scheduler)) {
            Registered::Waiting => {}
            Registered::Due => waker.wake(),
            Registered::Refused => {
                let _ = self.end_by_shutdown();
                waker.wake();
            }
        }
    }

    /// Registers the timer: in the wheel of the worker polling it, or else
    /// through a worker's queue of `runtime` (by default the current
    /// one). `Due` when the deadline has passed (on a worker: the wheel
    /// has advanced past it, so no clock is read; elsewhere: by the
    /// clock); `Refused` when the runtime is shutting down (the sleep then
    /// ends at once).
    fn register(&mut self, waker: &Waker, runtime: Option<SharedArc>) -> Registered {
        let deadline = self.deadline;
        let registered = crate::scheduler::current::with_worker(|w| {
            w.map(|w| {
                let ms = w.shared().clock().deadline_ms(deadline);
                w.time()
                    .insert_unless_due(ms, || TimerShared::new(waker.clone()))
                    .map(|shared| (shared, None, w.shared().id(), w.index()))
            })
        });
        let (shared, scheduler, runtime, worker) = match registered {
            Some(Some(r)) => r,
            Some(None) => return Registered::Due,
            None => {
                if super::now() >= deadline {
                    return Registered::Due;
                }
                let shared = TimerShared::new(waker.clone());
                let scheduler = runtime.unwrap_or_else(|| {
                    Handle::try_current()
                        .unwrap_or_else(|| {
                            panic!(
                                "ferrio::sleep polled outside a ferrio runtime: await it inside \
                                 Runtime::block_on, ferrio::run or a spawned task"
                            )
                        })
                        .shared
                });
                let ms = scheduler.clock().deadline_ms(deadline);
                match scheduler.register_timer_remote(ms, shared.clone()) {
                    Some(worker) => {
                        let id = scheduler.id();
                        (shared, Some(scheduler), id, worker)
                    }
                    None => return Registered::Refused,
                }
            }
        };
        self.registration = Some(Registration {
            shared,
            scheduler,
            runtime,
            worker,
        });
        Registered::Waiting
    }

    fn end_by_shutdown(&mut self) -> Poll<()> {
        self.registration = None;
        self.done = true;
        self.shut_down = true;
        Poll::Ready(())
    }
}

impl Future for Sleep {
    type Output = ();

    #[track_caller]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let deadline = self.deadline;
        let out = self.poll_sleep(cx);
        if out.is_pending() {
            wait::record(WaitKind::Sleep, wait::instant_ms(deadline));
        }
        out
    }
}

impl Sleep {
    /// Polls the timer without writing a wait record: for a timer that
    /// guards another future (`wait_for`, a timeout scope), whose own leaf
    /// names the wait.
    pub(crate) fn poll_sleep(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.done {
            return Poll::Ready(());
        }
        match &self.registration {
            None => self.register_or_finish(cx.waker()),
            Some(r) => {
                if !r.shared.is_fired() {
                    r.shared.register(cx.waker());
                    // Fired meanwhile: its wake may have gone to the old
                    // waker, so look again rather than wait.
                    if !r.shared.is_fired() {
                        if r.shared.is_shut_down() {
                            return self.end_by_shutdown();
                        }
                        return Poll::Pending;
                    }
                }
                // A wheel fires a timer at the first millisecond at or after
                // its deadline (rounded up; the wheel's time rounded down),
                // so a fired timer is due: no clock read.
                self.registration = None;
                self.done = true;
                Poll::Ready(())
            }
        }
    }

    /// Registers the timer, or ends the sleep if it is due (or refused).
    fn register_or_finish(&mut self, waker: &Waker) -> Poll<()> {
        match self.register(waker, None) {
            Registered::Waiting => Poll::Pending,
            Registered::Due => {
                self.done = true;
                Poll::Ready(())
            }
            Registered::Refused => self.end_by_shutdown(),
        }
    }
}

/// What [`Sleep::register`] did.
enum Registered {
    /// The timer waits in a wheel, or in a queue for one.
    Waiting,
    /// The deadline has passed: no timer.
    Due,
    /// The runtime is shutting down.
    Refused,
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Some(r) = self.registration.take() {
            r.cancel();
        }
    }
}
