//! Time: sleeps, intervals, timeouts (asyncio's `sleep`, `wait_for`,
//! `timeout`).
//!
//! Timers live in a hierarchical timing wheel per worker (1 ms resolution,
//! ~2.2 years of range). A timer is registered lazily, on the first poll
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

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crate::loom::sync::atomic::{AtomicU64, AtomicU8, Ordering::SeqCst};
use crate::loom::sync::Mutex;
use crate::runtime::Handle;

pub(crate) mod wheel;

const WAITING: u8 = 0;
const FIRED: u8 = 1;
const CANCELLED: u8 = 2;

/// The state one timer shares between its future and the wheel holding it.
pub(crate) struct TimerShared {
    state: AtomicU8,
    /// The wheel key (bits + 1), 0 until inserted.
    key: AtomicU64,
    waker: Mutex<Option<Waker>>,
}

impl TimerShared {
    pub(crate) fn new(waker: Waker) -> Arc<TimerShared> {
        Arc::new(TimerShared {
            state: AtomicU8::new(WAITING),
            key: AtomicU64::new(0),
            waker: Mutex::new(Some(waker)),
        })
    }

    fn lock(&self) -> crate::loom::sync::MutexGuard<'_, Option<Waker>> {
        self.waker.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The wheel reached the deadline.
    pub(crate) fn fire(&self) {
        if self
            .state
            .compare_exchange(WAITING, FIRED, SeqCst, SeqCst)
            .is_ok()
        {
            let waker = self.lock().take();
            if let Some(w) = waker {
                w.wake();
            }
        }
    }

    /// The future gave up the timer. Returns the key to remove when it was
    /// still waiting in a wheel (0: not inserted yet, or already fired).
    pub(crate) fn cancel(&self) -> Option<u64> {
        if self
            .state
            .compare_exchange(WAITING, CANCELLED, SeqCst, SeqCst)
            .is_ok()
        {
            self.lock().take();
            Some(self.key.load(SeqCst))
        } else {
            None
        }
    }

    pub(crate) fn is_cancelled(&self) -> bool {
        self.state.load(SeqCst) == CANCELLED
    }

    /// Called by the wheel's owner right after inserting.
    pub(crate) fn set_key(&self, key_bits: u64) {
        self.key.store(key_bits + 1, SeqCst);
    }

    pub(crate) fn is_fired(&self) -> bool {
        self.state.load(SeqCst) == FIRED
    }

    fn register(&self, waker: &Waker) {
        let mut w = self.lock();
        match &*w {
            Some(old) if old.will_wake(waker) => {}
            _ => *w = Some(waker.clone()),
        }
    }
}

/// The owner of `wheel` takes in a timer registered from another thread:
/// skipped if already cancelled; removed again if a cancel raced the
/// insert (the canceller saw no key yet, so it left the removal to us).
pub(crate) fn insert_registered(
    wheel: &mut wheel::Wheel<Arc<TimerShared>>,
    ms: u64,
    timer: Arc<TimerShared>,
) {
    if timer.is_cancelled() {
        return;
    }
    let key = wheel.insert(ms, timer.clone());
    timer.set_key(key.to_bits());
    if timer.is_cancelled() {
        wheel.remove(key);
    }
}

/// Turns a key as stored in `TimerShared::key` into wheel key bits.
pub(crate) fn stored_key(stored: u64) -> Option<u64> {
    stored.checked_sub(1)
}

struct Registration {
    shared: Arc<TimerShared>,
    handle: Handle,
    worker: usize,
}

impl Registration {
    fn cancel(self) {
        if let Some(stored) = self.shared.cancel() {
            if let Some(key) = stored_key(stored) {
                self.handle.shared.cancel_timer(self.worker, key);
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
    let now = Instant::now();
    sleep_until(now.checked_add(duration).unwrap_or(now + FAR_FUTURE))
}

/// About 30 years: what "never" becomes when a duration overflows.
const FAR_FUTURE: Duration = Duration::from_secs(86_400 * 365 * 30);

/// Sleeps until `deadline`.
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep {
        deadline,
        registration: None,
        done: false,
    }
}

impl Sleep {
    /// When the sleep ends.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// True once the deadline has passed.
    pub fn is_elapsed(&self) -> bool {
        self.done || Instant::now() >= self.deadline
    }

    /// Moves the deadline (earlier or later). The old timer is cancelled;
    /// the new one is registered at the next poll.
    pub fn reset(&mut self, deadline: Instant) {
        if let Some(r) = self.registration.take() {
            r.cancel();
        }
        self.deadline = deadline;
        self.done = false;
    }

    fn register(&mut self, waker: &Waker) {
        let shared = TimerShared::new(waker.clone());
        let registered = crate::context::with_worker(|w| {
            w.map(|w| {
                let handle = w.handle();
                let ms = handle.shared.deadline_ms(self.deadline);
                w.insert_timer(ms, shared.clone());
                (handle, w.index())
            })
        });
        let (handle, worker) = match registered {
            Some(r) => r,
            None => {
                let handle = Handle::try_current().unwrap_or_else(|| {
                    panic!(
                        "ferrio::sleep polled outside a ferrio runtime: await it inside \
                         Runtime::block_on, ferrio::run or a spawned task"
                    )
                });
                let ms = handle.shared.deadline_ms(self.deadline);
                let worker = handle.shared.register_timer_remote(ms, shared.clone());
                (handle, worker)
            }
        };
        self.registration = Some(Registration {
            shared,
            handle,
            worker,
        });
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.done {
            return Poll::Ready(());
        }
        match &self.registration {
            None => {
                if Instant::now() >= self.deadline {
                    self.done = true;
                    return Poll::Ready(());
                }
                self.register(cx.waker());
                Poll::Pending
            }
            Some(r) => {
                r.shared.register(cx.waker());
                if !r.shared.is_fired() {
                    return Poll::Pending;
                }
                self.registration = None;
                if Instant::now() < self.deadline {
                    // Fired at the wheel's far edge (a deadline past its
                    // ~2.2-year range): wait for the rest.
                    self.register(cx.waker());
                    return Poll::Pending;
                }
                self.done = true;
                Poll::Ready(())
            }
        }
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Some(r) = self.registration.take() {
            r.cancel();
        }
    }
}

/// The deadline passed before the operation finished (asyncio's
/// `TimeoutError`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TimeoutError(());

impl fmt::Debug for TimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TimeoutError")
    }
}

impl TimeoutError {
    pub(crate) fn new() -> TimeoutError {
        TimeoutError(())
    }
}

impl fmt::Display for TimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadline has elapsed")
    }
}

impl std::error::Error for TimeoutError {}

impl From<TimeoutError> for std::io::Error {
    fn from(_: TimeoutError) -> std::io::Error {
        std::io::ErrorKind::TimedOut.into()
    }
}

/// Runs `future` with a time limit (asyncio's `wait_for`).
///
/// On timeout the inner future is **dropped** (cancelled) and the result
/// is `Err(TimeoutError)`. To let the work go on past the timeout, give it
/// its own task (spawn it and wait for the [`Task`](crate::Task); asyncio's
/// `wait_for(shield(..))`): dropping a `Task` does not cancel it.
///
/// ```
/// use std::time::Duration;
/// ferrio::run(async {
///     let slow = ferrio::sleep(Duration::from_secs(10));
///     let r = ferrio::wait_for(slow, Duration::from_millis(10)).await;
///     assert!(r.is_err());
///     let fast = async { 5 };
///     assert_eq!(ferrio::wait_for(fast, Duration::from_secs(1)).await, Ok(5));
/// });
/// ```
pub fn wait_for<F: Future>(future: F, timeout: Duration) -> WaitFor<F> {
    WaitFor {
        inner: Some(future),
        sleep: sleep(timeout),
    }
}

/// The future returned by [`wait_for`].
#[must_use = "futures do nothing unless awaited"]
pub struct WaitFor<F> {
    inner: Option<F>,
    sleep: Sleep,
}

impl<F: Future> Future for WaitFor<F> {
    type Output = Result<F::Output, TimeoutError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: `inner` is structurally pinned: it is never moved out
        // while pinned, only dropped in place (`set(None)` drops it
        // without moving). `sleep` is Unpin and not pinned.
        let this = unsafe { self.get_unchecked_mut() };
        let mut inner = unsafe { Pin::new_unchecked(&mut this.inner) };
        if let Some(fut) = inner.as_mut().as_pin_mut() {
            if let Poll::Ready(v) = fut.poll(cx) {
                inner.set(None);
                return Poll::Ready(Ok(v));
            }
        } else {
            panic!("WaitFor polled after completion");
        }
        if Pin::new(&mut this.sleep).poll(cx).is_ready() {
            inner.set(None);
            return Poll::Ready(Err(TimeoutError(())));
        }
        Poll::Pending
    }
}

/// A timeout scope (asyncio's `async with asyncio.timeout(delay)`).
///
/// Create one with [`timeout`] or [`timeout_at`], then run a future inside
/// it with [`TimeoutScope::run`]. The scope is a cheap clonable handle, so
/// the body can move its own deadline with [`reschedule`](Self::reschedule).
/// When the deadline passes, the body is dropped and `run` resolves to
/// `Err(TimeoutError)`; [`expired`](Self::expired) then reports true.
/// Nested scopes work as in asyncio: the innermost expired scope reports
/// the timeout and the outer body carries on.
///
/// ```
/// use std::time::{Duration, Instant};
/// ferrio::run(async {
///     let scope = ferrio::timeout(Duration::from_millis(10));
///     let s = scope.clone();
///     let r = scope
///         .run(async move {
///             // More time is needed: push the deadline back.
///             s.reschedule(Some(Instant::now() + Duration::from_secs(5)));
///             ferrio::sleep(Duration::from_millis(30)).await;
///             "done"
///         })
///         .await;
///     assert_eq!(r, Ok("done"));
///     assert!(!scope.expired());
/// });
/// ```
#[derive(Clone)]
pub struct TimeoutScope {
    inner: Arc<ScopeInner>,
}

struct ScopeInner {
    state: std::sync::Mutex<ScopeState>,
}

struct ScopeState {
    deadline: Option<Instant>,
    generation: u64,
    expired: bool,
    /// Every body running under the scope, by id.
    wakers: std::collections::HashMap<u64, Waker>,
    next_id: u64,
}

impl fmt::Debug for TimeoutScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimeoutScope")
            .field("deadline", &self.deadline())
            .field("expired", &self.expired())
            .finish()
    }
}

/// A timeout scope ending `delay` from now (asyncio's `timeout(delay)`).
pub fn timeout(delay: Duration) -> TimeoutScope {
    let now = Instant::now();
    timeout_at(Some(now.checked_add(delay).unwrap_or(now + FAR_FUTURE)))
}

/// A timeout scope ending at `deadline`; `None` never expires until
/// rescheduled (asyncio's `timeout_at(when)` / `timeout(None)`).
pub fn timeout_at(deadline: Option<Instant>) -> TimeoutScope {
    TimeoutScope {
        inner: Arc::new(ScopeInner {
            state: std::sync::Mutex::new(ScopeState {
                deadline,
                generation: 0,
                expired: false,
                wakers: std::collections::HashMap::new(),
                next_id: 0,
            }),
        }),
    }
}

impl TimeoutScope {
    fn lock(&self) -> std::sync::MutexGuard<'_, ScopeState> {
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The current deadline (`None`: no limit).
    pub fn deadline(&self) -> Option<Instant> {
        self.lock().deadline
    }

    /// Moves the deadline: later, earlier (a past deadline expires the
    /// scope at once), or `None` for no limit.
    pub fn reschedule(&self, deadline: Option<Instant>) {
        let wakers: Vec<Waker> = {
            let mut st = self.lock();
            st.deadline = deadline;
            st.generation += 1;
            st.wakers.values().cloned().collect()
        };
        for w in wakers {
            w.wake();
        }
    }

    /// True when the scope's deadline cancelled its body.
    pub fn expired(&self) -> bool {
        self.lock().expired
    }

    /// Runs `future` under this scope's deadline.
    pub fn run<F: Future>(&self, future: F) -> Scoped<F> {
        let id = {
            let mut st = self.lock();
            st.next_id += 1;
            st.next_id
        };
        Scoped {
            inner: Some(future),
            scope: self.clone(),
            sleep: None,
            generation: u64::MAX,
            id,
        }
    }
}

/// The future returned by [`TimeoutScope::run`].
#[must_use = "futures do nothing unless awaited"]
pub struct Scoped<F> {
    inner: Option<F>,
    scope: TimeoutScope,
    sleep: Option<Sleep>,
    generation: u64,
    id: u64,
}

impl<F> Drop for Scoped<F> {
    fn drop(&mut self) {
        self.scope.lock().wakers.remove(&self.id);
    }
}

impl<F: Future> Future for Scoped<F> {
    type Output = Result<F::Output, TimeoutError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: `inner` is structurally pinned and only dropped in place;
        // the other fields are Unpin and never pinned.
        let this = unsafe { self.get_unchecked_mut() };
        let mut inner = unsafe { Pin::new_unchecked(&mut this.inner) };
        let fut = inner
            .as_mut()
            .as_pin_mut()
            .expect("Scoped polled after completion");
        if let Poll::Ready(v) = fut.poll(cx) {
            inner.set(None);
            return Poll::Ready(Ok(v));
        }
        let deadline = {
            let mut st = this.scope.lock();
            st.wakers.insert(this.id, cx.waker().clone());
            if st.generation != this.generation {
                this.generation = st.generation;
                this.sleep = st.deadline.map(sleep_until);
            }
            st.deadline
        };
        if deadline.is_some() {
            if let Some(s) = &mut this.sleep {
                if Pin::new(s).poll(cx).is_ready() {
                    this.scope.lock().expired = true;
                    inner.set(None);
                    return Poll::Ready(Err(TimeoutError(())));
                }
            }
        }
        Poll::Pending
    }
}

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
/// [`MissedTickBehavior`] (default `Burst`).
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
    let now = Instant::now();
    Interval {
        next: now,
        period,
        missed: MissedTickBehavior::default(),
        sleep: sleep_until(now),
    }
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
    /// Waits for the next tick; returns its scheduled time.
    pub async fn tick(&mut self) -> Instant {
        std::future::poll_fn(|cx| self.poll_tick(cx)).await
    }

    /// Polls for the next tick.
    pub fn poll_tick(&mut self, cx: &mut Context<'_>) -> Poll<Instant> {
        if Pin::new(&mut self.sleep).poll(cx).is_pending() {
            return Poll::Pending;
        }
        let tick = self.next;
        let now = Instant::now();
        self.next = match self.missed {
            MissedTickBehavior::Burst => tick + self.period,
            MissedTickBehavior::Delay => {
                if now > tick + self.period {
                    now + self.period
                } else {
                    tick + self.period
                }
            }
            MissedTickBehavior::Skip => {
                let mut next = tick + self.period;
                if next <= now {
                    let behind = (now - next).as_nanos() / self.period.as_nanos() + 1;
                    next += self.period * behind as u32;
                }
                next
            }
        };
        self.sleep.reset(self.next);
        Poll::Ready(tick)
    }

    /// Changes what happens to missed ticks.
    pub fn set_missed_tick_behavior(&mut self, behavior: MissedTickBehavior) {
        self.missed = behavior;
    }

    /// The period.
    pub fn period(&self) -> Duration {
        self.period
    }

    /// Restarts the schedule: the next tick is one period from now.
    pub fn reset(&mut self) {
        self.next = Instant::now() + self.period;
        self.sleep.reset(self.next);
    }
}
