//! Virtual time for tests (feature `test-util`; tokio's `time::pause`):
//! [`now`] always, [`pause`], [`resume`], [`advance`] with the feature.
//! The clock's states and the auto-advance protocol are in
//! `time/core/clock.rs`; the worker's part in `scheduler/worker.rs`
//! (`park_paused`).

use std::time::Instant;

/// Now on the current runtime's clock: `Instant::now()`, but for a
/// runtime whose clock has been paused (feature `test-util`, see
/// [`pause`](crate::time::pause)), where it is the virtual time. Timers,
/// [`sleep`](crate::sleep) and [`wait_for`](crate::wait_for) count from
/// it; code that measures time under a paused clock reads it instead of
/// `Instant::now()`.
///
/// ```
/// let t = ferrio::time::now();
/// assert!(t <= std::time::Instant::now());
/// ```
#[inline]
pub fn now() -> Instant {
    #[cfg(all(feature = "test-util", not(ferrio_loom)))]
    if crate::time::core::any_shifted() {
        if let Some(t) = paused::with_clock(|c| c.now()) {
            return t;
        }
    }
    Instant::now()
}

#[cfg(all(feature = "test-util", not(ferrio_loom)))]
pub use paused::{advance, pause, resume, try_pause, PauseError};

#[cfg(all(feature = "test-util", not(ferrio_loom)))]
mod paused {
    use std::fmt;
    use std::time::Duration;

    use crate::loom::sync::Arc;
    use crate::runtime::Handle;
    use crate::scheduler::Shared;
    use crate::time::core::{Clock, ClockError};

    /// Runs `f` with the clock of the runtime current on this thread.
    pub(super) fn with_clock<R>(f: impl FnOnce(&Clock) -> R) -> Option<R> {
        crate::scheduler::current::with_worker(|w| match w {
            Some(w) => Some(f(w.shared().clock())),
            None => Handle::try_current().map(|h| f(h.shared.clock())),
        })
    }

    fn current() -> Option<Arc<Shared>> {
        crate::scheduler::current::with_worker(|w| match w {
            Some(w) => Some(w.shared().clone()),
            None => Handle::try_current().map(|h| h.shared),
        })
    }

    /// Why [`try_pause`] (or [`pause`], [`resume`], [`advance`], which
    /// panic with it) failed.
    #[derive(Debug, Clone, PartialEq, Eq)]
    #[non_exhaustive]
    pub enum PauseError {
        /// Called outside a ferrio runtime.
        NoRuntime,
        /// The runtime has this many workers; a paused clock needs one.
        SeveralWorkers(usize),
        /// `pause` while the clock is paused already.
        AlreadyPaused,
        /// `resume` or `advance` while the clock runs.
        NotPaused,
    }

    impl fmt::Display for PauseError {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match self {
                PauseError::NoRuntime => {
                    f.write_str("ferrio: time::pause/resume/advance called outside a runtime")
                }
                PauseError::SeveralWorkers(n) => write!(
                    f,
                    "ferrio: a paused clock needs a runtime of one worker \
                     (Builder::worker_threads(1)); this one has {n}"
                ),
                PauseError::AlreadyPaused => f.write_str("ferrio: the clock is already paused"),
                PauseError::NotPaused => f.write_str("ferrio: the clock is not paused"),
            }
        }
    }

    impl std::error::Error for PauseError {}

    fn clock_op(op: impl FnOnce(&Clock) -> Result<(), ClockError>) -> Result<(), PauseError> {
        let shared = current().ok_or(PauseError::NoRuntime)?;
        op(shared.clock()).map_err(|e| match e {
            ClockError::NotPausable => PauseError::SeveralWorkers(shared.num_workers()),
            ClockError::AlreadyPaused => PauseError::AlreadyPaused,
            ClockError::NotPaused => PauseError::NotPaused,
        })
    }

    /// Pauses the current runtime's clock, as [`pause`] does, or says
    /// why it cannot (no runtime, several workers, already paused).
    ///
    /// ```
    /// let rt = ferrio::Runtime::builder().worker_threads(2).build().unwrap();
    /// rt.block_on(async {
    ///     let err = ferrio::time::try_pause().unwrap_err();
    ///     assert_eq!(err, ferrio::time::PauseError::SeveralWorkers(2));
    /// });
    /// ```
    pub fn try_pause() -> Result<(), PauseError> {
        clock_op(Clock::pause)
    }

    /// Pauses the current runtime's clock (tokio's `time::pause`; feature
    /// `test-util`).
    ///
    /// From now on the runtime's time ([`now`](crate::time::now), and
    /// every timer) moves only by [`advance`], or when the runtime has
    /// nothing else to do: when its worker finds no task to run, no
    /// finished I/O, no blocking job in flight and the `block_on` future
    /// waiting, time jumps to the next timer's deadline and fires it. So a
    /// test of timeouts and retries runs in no wall-clock time, and its
    /// timers fire at exactly their virtual deadlines, in deadline order.
    /// The virtual time starts at now rounded up to a whole millisecond of
    /// the runtime's clock (`start_paused`: at the runtime's start).
    ///
    /// I/O that waits on the outside world does not hold time back (as in
    /// tokio): a real socket's timeout in a paused test fires as soon as
    /// nothing else runs.
    ///
    /// # Panics
    /// Outside a runtime, on a runtime of more than one worker, or when
    /// already paused; [`try_pause`] reports these instead.
    ///
    /// ```
    /// use std::time::Duration;
    /// let rt = ferrio::Runtime::builder().worker_threads(1).build().unwrap();
    /// rt.block_on(async {
    ///     ferrio::time::pause();
    ///     let start = ferrio::time::now();
    ///     let late = ferrio::wait_for(ferrio::sleep(Duration::from_secs(60)), Duration::from_secs(5));
    ///     assert!(late.await.is_err());
    ///     assert_eq!(ferrio::time::now() - start, Duration::from_secs(5));
    /// });
    /// ```
    pub fn pause() {
        if let Err(e) = try_pause() {
            panic!("{e}");
        }
    }

    /// Lets a paused clock run again at the real pace, from the virtual
    /// time it stands at (tokio's `time::resume`).
    ///
    /// # Panics
    /// Outside a runtime, or when the clock is not paused.
    ///
    /// ```
    /// use std::time::Duration;
    /// let rt = ferrio::Runtime::builder().start_paused(true).build().unwrap();
    /// rt.block_on(async {
    ///     ferrio::time::advance(Duration::from_secs(10)).await;
    ///     ferrio::time::resume();
    ///     let t = ferrio::time::now();
    ///     ferrio::sleep(Duration::from_millis(5)).await;
    ///     assert!(ferrio::time::now() - t >= Duration::from_millis(5));
    /// });
    /// ```
    pub fn resume() {
        if let Err(e) = clock_op(Clock::resume) {
            panic!("{e}");
        }
    }

    /// Moves a paused clock forward by `duration` in one jump (tokio's
    /// `time::advance`): every timer due by then fires before this
    /// returns (their tasks are woken, in deadline order; they run as the
    /// scheduler picks them), then the caller yields once.
    ///
    /// # Panics
    /// Outside a runtime, or when the clock is not paused.
    ///
    /// ```
    /// use std::time::Duration;
    /// let rt = ferrio::Runtime::builder().start_paused(true).build().unwrap();
    /// rt.block_on(async {
    ///     let start = ferrio::time::now();
    ///     let timer = ferrio::spawn(ferrio::sleep(Duration::from_secs(30)));
    ///     ferrio::time::advance(Duration::from_secs(29)).await;
    ///     assert!(!timer.is_done());
    ///     ferrio::time::advance(Duration::from_secs(1)).await;
    ///     timer.await.unwrap();
    ///     assert_eq!(ferrio::time::now() - start, Duration::from_secs(30));
    /// });
    /// ```
    pub async fn advance(duration: Duration) {
        if let Err(e) = clock_op(|c| c.advance(duration)) {
            panic!("{e}");
        }
        if !fire_due() {
            // Not on the worker (the `block_on` thread): let it fire them.
            if let Some(shared) = current() {
                let handle = Handle::try_current();
                if let Some(h) = handle.filter(|h| Arc::ptr_eq(&h.shared, &shared)) {
                    let _ = h.spawn(async { fire_due() }).await;
                }
            }
        }
        crate::task::yield_now().await;
    }

    /// On a worker: fires its due timers; false elsewhere.
    fn fire_due() -> bool {
        crate::scheduler::current::with_worker(|w| {
            w.map(|w| {
                w.time().process(|| w.shared().clock().now_ms());
            })
            .is_some()
        })
    }
}
