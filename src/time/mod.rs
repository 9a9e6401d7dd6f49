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
//!
//! # Shutdown
//!
//! A timer needs its runtime's workers to fire it. When the runtime shuts
//! down (dropped, or [`Runtime::shutdown_timeout`](crate::Runtime::shutdown_timeout)),
//! each worker, as it exits, ends every timer it holds or has queued, and
//! from then on the runtime refuses new timers: a timer awaited through a
//! kept [`Handle`] (in `block_on` on another thread) ends **at once**
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
//! [`Handle::is_shutdown`]. (Tasks are simply dropped at shutdown.)

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crate::loom::lock;
use crate::loom::sync::atomic::{
    AtomicU64, AtomicU8, AtomicUsize,
    Ordering::{Relaxed, SeqCst},
};
use crate::loom::sync::Mutex;
use crate::runtime::Handle;

pub(crate) mod wheel;

const WAITING: u8 = 0;
const FIRED: u8 = 1;
const CANCELLED: u8 = 2;
/// The runtime shut down before the deadline: the wheel that held the
/// timer is gone (or refused it), and its future ends at once.
const SHUT_DOWN: u8 = 3;

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

    /// The runtime shut down with the timer still waiting: wake its
    /// future, which ends at once (see the module docs).
    pub(crate) fn shut_down(&self) {
        if self
            .state
            .compare_exchange(WAITING, SHUT_DOWN, SeqCst, SeqCst)
            .is_ok()
        {
            let waker = self.lock().take();
            if let Some(w) = waker {
                w.wake();
            }
        }
    }

    pub(crate) fn is_shut_down(&self) -> bool {
        self.state.load(SeqCst) == SHUT_DOWN
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

/// Timer requests from other threads for one worker's wheel, and the
/// owner's side of taking them in. The worker (`scheduler`) and the loom
/// model (`__loom::TimerModel`) both run this code.
///
/// Protocol: a requester pushes under the queue's lock, then bumps
/// `pending`; the owner, seeing `pending > 0`, first resets it to 0 and
/// only then takes the queues, so a request pushed after the take leaves
/// `pending > 0` behind and is taken at the next round (never stranded).
/// At shutdown the owner closes the register queue: later registrations
/// are refused, and the registrant ends its timer itself.
#[derive(Default)]
pub(crate) struct TimerQueues {
    register: Mutex<RegisterQueue>,
    cancel: Mutex<Vec<u64>>,
    pending: AtomicUsize,
    /// Timers in the owner's wheel (written by the owner only; read by
    /// tests).
    in_wheel: AtomicUsize,
}

#[derive(Default)]
struct RegisterQueue {
    timers: Vec<(u64, Arc<TimerShared>)>,
    /// Set once the owner has shut down: nothing takes registrations in.
    closed: bool,
}

impl TimerQueues {
    /// Another thread registers `timer` (deadline `ms`). False when
    /// refused because the owner has shut down (the caller ends the timer
    /// itself); when accepted, the caller wakes the owner.
    pub(crate) fn push_register(&self, ms: u64, timer: Arc<TimerShared>) -> bool {
        {
            let mut q = lock(&self.register);
            if q.closed {
                return false;
            }
            q.timers.push((ms, timer));
        }
        self.pending.fetch_add(1, SeqCst);
        true
    }

    /// Another thread (or the owner, while its wheel is borrowed) asks for
    /// the removal of `key`. True for the first request since the owner's
    /// last round: the caller wakes the owner.
    pub(crate) fn push_cancel(&self, key: u64) -> bool {
        lock(&self.cancel).push(key);
        self.pending.fetch_add(1, SeqCst) == 0
    }

    /// Owner: takes in the queued registrations and cancellations, then
    /// advances `wheel` to `now()` and moves every due timer into `due`
    /// (the caller fires them, outside any borrow of the wheel).
    pub(crate) fn collect_due(
        &self,
        wheel: &mut wheel::Wheel<Arc<TimerShared>>,
        now: impl FnOnce() -> u64,
        due: &mut Vec<Arc<TimerShared>>,
    ) {
        if self.pending.load(SeqCst) > 0 {
            // Reset before taking: see the type's docs.
            self.pending.store(0, SeqCst);
            let registers = std::mem::take(&mut lock(&self.register).timers);
            let cancels = std::mem::take(&mut *lock(&self.cancel));
            for (ms, timer) in registers {
                insert_registered(wheel, ms, timer);
            }
            for key in cancels {
                wheel.remove(wheel::Key::from_bits(key));
            }
        }
        if wheel.len() > 0 {
            wheel.advance(now(), |t| due.push(t));
        }
        self.note_len(wheel);
    }

    /// Owner: records the wheel's size after changing it.
    pub(crate) fn note_len(&self, wheel: &wheel::Wheel<Arc<TimerShared>>) {
        self.in_wheel.store(wheel.len(), Relaxed);
    }

    /// Owner, at shutdown: closes the register queue and empties `wheel`
    /// and the queue into `left` (the caller ends each with
    /// [`TimerShared::shut_down`]).
    pub(crate) fn close(
        &self,
        wheel: &mut wheel::Wheel<Arc<TimerShared>>,
        left: &mut Vec<Arc<TimerShared>>,
    ) {
        {
            let mut q = lock(&self.register);
            q.closed = true;
            left.extend(q.timers.drain(..).map(|(_, t)| t));
        }
        lock(&self.cancel).clear();
        wheel.drain(|t| left.push(t));
        self.note_len(wheel);
    }

    /// Timers in the owner's wheel or queued for it.
    #[cfg(any(test, ferrio_loom))]
    pub(crate) fn registered(&self) -> usize {
        self.in_wheel.load(Relaxed) + lock(&self.register).timers.len()
    }
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
        self.done || Instant::now() >= self.deadline
    }

    /// True when the sleep ended before its deadline because its runtime
    /// shut down (see [the module docs](self)).
    pub(crate) fn ended_by_shutdown(&self) -> bool {
        self.shut_down
    }

    /// Moves the deadline (earlier or later). The old timer is cancelled;
    /// the new one is registered at the next poll.
    pub fn reset(&mut self, deadline: Instant) {
        if let Some(r) = self.registration.take() {
            r.cancel();
        }
        self.deadline = deadline;
        self.done = false;
        self.shut_down = false;
    }

    /// Registers the timer; false when the runtime refused it (it is
    /// shutting down): the sleep then ends at once.
    fn register(&mut self, waker: &Waker) -> bool {
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
                match handle.shared.register_timer_remote(ms, shared.clone()) {
                    Some(worker) => (handle, worker),
                    None => return false,
                }
            }
        };
        self.registration = Some(Registration {
            shared,
            handle,
            worker,
        });
        true
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
                if !self.register(cx.waker()) {
                    return self.end_by_shutdown();
                }
                Poll::Pending
            }
            Some(r) => {
                r.shared.register(cx.waker());
                if !r.shared.is_fired() {
                    if r.shared.is_shut_down() {
                        return self.end_by_shutdown();
                    }
                    return Poll::Pending;
                }
                self.registration = None;
                if Instant::now() < self.deadline {
                    // Fired at the wheel's far edge (a deadline past its
                    // ~2.2-year range): wait for the rest.
                    if !self.register(cx.waker()) {
                        return self.end_by_shutdown();
                    }
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
///
/// [`wait_for`] and [`TimeoutScope::run`] also end with this error when
/// the runtime shuts down before the deadline (the timer can no longer
/// fire); [`is_runtime_shutdown`](Self::is_runtime_shutdown) tells the two
/// apart.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TimeoutError {
    runtime_shutdown: bool,
}

impl fmt::Debug for TimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.runtime_shutdown {
            f.write_str("TimeoutError(runtime shut down)")
        } else {
            f.write_str("TimeoutError")
        }
    }
}

impl TimeoutError {
    pub(crate) fn new() -> TimeoutError {
        TimeoutError {
            runtime_shutdown: false,
        }
    }

    /// The error of a time limit ended by `sleep` (its deadline, or the
    /// runtime's shutdown).
    fn after(sleep: &Sleep) -> TimeoutError {
        TimeoutError {
            runtime_shutdown: sleep.ended_by_shutdown(),
        }
    }

    /// True when the runtime shut down before the deadline, rather than
    /// the deadline passing.
    pub fn is_runtime_shutdown(&self) -> bool {
        self.runtime_shutdown
    }
}

impl fmt::Display for TimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.runtime_shutdown {
            f.write_str("the runtime shut down before the deadline")
        } else {
            f.write_str("deadline has elapsed")
        }
    }
}

impl std::error::Error for TimeoutError {}

impl From<TimeoutError> for std::io::Error {
    fn from(e: TimeoutError) -> std::io::Error {
        if e.runtime_shutdown {
            std::io::Error::other("ferrio: the runtime is shutting down; the timer cannot fire")
        } else {
            std::io::ErrorKind::TimedOut.into()
        }
    }
}

/// Runs `future` with a time limit (asyncio's `wait_for`).
///
/// On timeout the inner future is **dropped** (cancelled) and the result
/// is `Err(TimeoutError)`. If the runtime shuts down first, the inner
/// future is dropped too and the error's
/// [`is_runtime_shutdown`](TimeoutError::is_runtime_shutdown) is true. To let the work go on past the timeout, give it
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
        // SAFETY: as above: `inner` stays where it is while pinned.
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
            return Poll::Ready(Err(TimeoutError::after(&this.sleep)));
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
///
/// Nested scopes work as in asyncio. When an inner scope expires and no
/// enclosing one has, the inner scope reports the timeout and the outer
/// body carries on. When several nested scopes have expired by the time
/// the innermost notices (the same deadline, or a late poll), the
/// **outermost** expired scope reports: its whole body, inner scopes
/// included, is dropped, the inner scopes do not report, and every
/// expired scope's `expired()` is true. The choice is made on the
/// deadlines, so it does not depend on which worker's timer fires first.
///
/// If the runtime shuts down before the deadline, `run` ends with a
/// [`TimeoutError`] whose [`is_runtime_shutdown`](TimeoutError::is_runtime_shutdown)
/// is true (and `expired()` stays false).
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
            link: ScopeLink {
                scope: self.clone(),
                sleep: None,
                generation: u64::MAX,
                id,
            },
        }
    }
}

/// The future returned by [`TimeoutScope::run`].
#[must_use = "futures do nothing unless awaited"]
pub struct Scoped<F> {
    inner: Option<F>,
    link: ScopeLink,
}

impl<F> Drop for Scoped<F> {
    fn drop(&mut self) {
        let mut st = self.link.scope.lock();
        st.wakers.remove(&self.link.id);
        // A body dropped unfinished once the deadline has passed (an
        // enclosing scope that expired with ours reported first, possibly
        // before our own poll saw the deadline): expired, as asyncio's
        // timer callback would have marked it.
        if self.inner.is_some() && st.deadline.is_some_and(|d| Instant::now() >= d) {
            st.expired = true;
        }
    }
}

/// What a [`Scoped`] keeps of its scope besides its body.
struct ScopeLink {
    scope: TimeoutScope,
    sleep: Option<Sleep>,
    generation: u64,
    id: u64,
}

impl ScopeLink {
    /// Registers `waker` with the scope, follows a rescheduled deadline
    /// (a new timer), and returns the deadline.
    fn refresh(&mut self, waker: &Waker) -> Option<Instant> {
        let mut st = self.scope.lock();
        match st.wakers.get(&self.id) {
            Some(w) if w.will_wake(waker) => {}
            _ => {
                st.wakers.insert(self.id, waker.clone());
            }
        }
        if st.generation != self.generation {
            self.generation = st.generation;
            self.sleep = st.deadline.map(sleep_until);
        }
        st.deadline
    }
}

impl<F: Future> Future for Scoped<F> {
    type Output = Result<F::Output, TimeoutError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: `inner` is structurally pinned and only dropped in place;
        // the other fields are Unpin and never pinned.
        let this = unsafe { self.get_unchecked_mut() };
        // SAFETY: as above: `inner` stays where it is while pinned.
        let mut inner = unsafe { Pin::new_unchecked(&mut this.inner) };
        let link = &mut this.link;
        let fut = inner
            .as_mut()
            .as_pin_mut()
            .expect("Scoped polled after completion");
        // Scopes nested in the body see our deadline.
        let deadline = link.refresh(cx.waker());
        let polled = {
            let _scope = crate::context::enter_timeout_scope(deadline);
            fut.poll(cx)
        };
        if let Poll::Ready(v) = polled {
            inner.set(None);
            return Poll::Ready(Ok(v));
        }
        // Again: the body may have rescheduled us.
        let Some(deadline) = link.refresh(cx.waker()) else {
            return Poll::Pending;
        };
        // The timer wakes us; the decision is taken on the deadline itself,
        // so it does not depend on which wheel fired first.
        let sleep = link.sleep.as_mut().expect("a deadline has a timer");
        let timer_ended = Pin::new(&mut *sleep).poll(cx).is_ready();
        if timer_ended && sleep.ended_by_shutdown() {
            // The deadline was not reached: not `expired`.
            let err = TimeoutError::after(sleep);
            inner.set(None);
            return Poll::Ready(Err(err));
        }
        let now = Instant::now();
        if !timer_ended && now < deadline {
            return Poll::Pending;
        }
        link.scope.lock().expired = true;
        if crate::context::enclosing_scope_deadline().is_some_and(|outer| outer <= now) {
            // An enclosing scope has expired too: the outermost one
            // reports, as in asyncio, dropping our body with its own. It
            // checks right after this poll returns.
            return Poll::Pending;
        }
        inner.set(None);
        Poll::Ready(Err(TimeoutError::new()))
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
/// [`MissedTickBehavior`] (default `Burst`). A tick too far away for an
/// `Instant` (a period like `Duration::MAX`) never comes. After the
/// runtime shuts down, ticks come at once (see [the module docs](self)).
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
        self.next = next_tick(self.missed, tick, Instant::now(), self.period);
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
        self.next = add_saturating(Instant::now(), self.period);
        self.sleep.reset(self.next);
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
