//! Time limits: `wait_for` and `TimeoutScope` (asyncio's `timeout`), and
//! `TimeoutError`.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use super::sleep::{sleep, sleep_until, Sleep, FAR_FUTURE};

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

impl<F> fmt::Debug for WaitFor<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitFor")
            .field("done", &self.inner.is_none())
            .finish_non_exhaustive()
    }
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
        // The body's leaf names the wait, not our timer.
        if Pin::new(&mut this.sleep).poll_sleep(cx).is_ready() {
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
    state: crate::loom::plain::Mutex<ScopeState>,
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
    let now = super::now();
    timeout_at(Some(now.checked_add(delay).unwrap_or(now + FAR_FUTURE)))
}

/// A timeout scope ending at `deadline`; `None` never expires until
/// rescheduled (asyncio's `timeout_at(when)` / `timeout(None)`).
pub fn timeout_at(deadline: Option<Instant>) -> TimeoutScope {
    TimeoutScope {
        inner: Arc::new(ScopeInner {
            state: crate::loom::plain::Mutex::new(ScopeState {
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
    fn lock(&self) -> crate::loom::plain::MutexGuard<'_, ScopeState> {
        self.inner.state.lock()
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

impl<F> fmt::Debug for Scoped<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scoped")
            .field("done", &self.inner.is_none())
            .finish_non_exhaustive()
    }
}

impl<F> Drop for Scoped<F> {
    fn drop(&mut self) {
        let mut st = self.link.scope.lock();
        st.wakers.remove(&self.link.id);
        // A body dropped unfinished once the deadline has passed (an
        // enclosing scope that expired with ours reported first, possibly
        // before our own poll saw the deadline): expired, as asyncio's
        // timer callback would have marked it.
        if self.inner.is_some() && st.deadline.is_some_and(|d| super::now() >= d) {
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
            let _scope = crate::poll_state::enter_timeout_scope(deadline);
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
        // The body's leaf names the wait, not our timer.
        let timer_ended = Pin::new(&mut *sleep).poll_sleep(cx).is_ready();
        if timer_ended && sleep.ended_by_shutdown() {
            // The deadline was not reached: not `expired`.
            let err = TimeoutError::after(sleep);
            inner.set(None);
            return Poll::Ready(Err(err));
        }
        let now = super::now();
        if !timer_ended && now < deadline {
            return Poll::Pending;
        }
        link.scope.lock().expired = true;
        if crate::poll_state::enclosing_scope_deadline().is_some_and(|outer| outer <= now) {
            // An enclosing scope has expired too: the outermost one
            // reports, as in asyncio, dropping our body with its own. It
            // checks right after this poll returns.
            return Poll::Pending;
        }
        inner.set(None);
        Poll::Ready(Err(TimeoutError::new()))
    }
}
