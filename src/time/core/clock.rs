//! `Clock`: the runtime's millisecond clock that every wheel counts in,
//! and (feature `test-util`) its virtual mode: paused, advanced by hand,
//! or jumping to the next timer when the runtime is idle.
//!
//! # Virtual time (feature `test-util`)
//!
//! A clock of a one-worker runtime can be paused. Its time is then
//! `base` (a `std::time::Instant`), which moves only when
//! [`advance`](Clock::advance) is called: by `time::advance`, or by the
//! worker when it has nothing to run (the *auto-advance*, see
//! `scheduler/worker.rs`). Resumed, it runs again at the real pace from
//! where it stood (`base + (real now - unfrozen)`), ahead of real time.
//!
//! Auto-advance is held back while anything outside the worker may still
//! wake a task without the worker noticing: the `block_on` thread while it
//! polls (or has been woken to poll), and each blocking-pool job in
//! flight. Each takes a [`Hold`]; dropping the last one wakes the worker
//! (through the waker the scheduler installed with
//! [`set_idle_waker`](Clock::set_idle_waker)) so that it decides again.
//! I/O that waits on the outside world holds nothing back: the worker
//! first polls its driver without sleeping, and advances only when that
//! woke no task (tokio's rule; real I/O in a paused test may see its
//! timeouts fire "early" in wall-clock terms).
//!
//! With the feature off, `Clock` is `start` alone and `now` is
//! `Instant::now()`: nothing of this is compiled.

use std::time::{Duration, Instant};

/// The runtime's clock: milliseconds since the runtime started, the unit
/// of every wheel.
#[derive(Debug)]
pub(crate) struct Clock {
    start: Instant,
    /// The virtual state, for a clock that may be paused (one worker).
    #[cfg(all(feature = "test-util", not(ferrio_loom)))]
    virt: Option<Box<virt::Virtual>>,
}

impl Clock {
    /// A clock whose zero is now (real time, never paused).
    pub(crate) fn new() -> Clock {
        Clock {
            start: Instant::now(),
            #[cfg(all(feature = "test-util", not(ferrio_loom)))]
            virt: None,
        }
    }

    /// A clock whose zero is now and which may be paused; paused from the
    /// start if `paused`.
    #[cfg(all(feature = "test-util", not(ferrio_loom)))]
    pub(crate) fn pausable(paused: bool) -> Clock {
        let start = Instant::now();
        let clock = Clock {
            start,
            virt: Some(Box::new(virt::Virtual::new(start))),
        };
        if paused {
            clock.pause().expect("a new pausable clock pauses");
        }
        clock
    }

    /// Now, on this clock: `Instant::now()`, or the virtual time of a
    /// clock that has been paused.
    #[inline]
    pub(crate) fn now(&self) -> Instant {
        #[cfg(all(feature = "test-util", not(ferrio_loom)))]
        if let Some(v) = &self.virt {
            return v.now();
        }
        Instant::now()
    }

    /// Milliseconds since the start, rounded down.
    pub(crate) fn now_ms(&self) -> u64 {
        self.now().saturating_duration_since(self.start).as_millis() as u64
    }

    /// A deadline in milliseconds, rounded up so a timer never fires
    /// early.
    pub(crate) fn deadline_ms(&self, deadline: Instant) -> u64 {
        let ns = deadline.saturating_duration_since(self.start).as_nanos();
        ns.div_ceil(1_000_000).min(u64::MAX as u128) as u64
    }

    /// The instant of millisecond `ms`.
    pub(crate) fn instant_of(&self, ms: u64) -> Instant {
        self.start + Duration::from_millis(ms)
    }
}

#[cfg(all(feature = "test-util", not(ferrio_loom)))]
pub(crate) use virt::{any_shifted, ClockError, Hold, HoldSource};

#[cfg(all(feature = "test-util", not(ferrio_loom)))]
mod virt {
    use std::fmt;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
    use std::sync::{Arc, OnceLock};
    use std::time::{Duration, Instant};

    use crate::loom::plain::Mutex;

    use super::Clock;

    /// Clocks in this process that have ever been paused: while zero,
    /// `time::now()` needs no look-up of the current runtime.
    static SHIFTED: AtomicUsize = AtomicUsize::new(0);

    /// True when some clock in the process may read other than
    /// `Instant::now()` (one was paused, and its runtime still lives).
    #[inline]
    pub(crate) fn any_shifted() -> bool {
        SHIFTED.load(std::sync::atomic::Ordering::Relaxed) > 0
    }

    /// Why a clock refused to pause, resume or advance.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(crate) enum ClockError {
        /// The runtime has more than one worker.
        NotPausable,
        /// `resume` or `advance` on a clock that is not paused.
        NotPaused,
        /// `pause` on a clock already paused.
        AlreadyPaused,
    }

    struct State {
        /// The time at `unfrozen` (or now, while paused).
        base: Instant,
        /// When the clock last resumed: `None` while paused.
        unfrozen: Option<Instant>,
    }

    /// The shared part of a pausable clock (also held by [`Hold`]s).
    pub(super) struct Virtual {
        state: Mutex<State>,
        /// Set once paused: `now` reads `state` instead of the real clock.
        shifted: AtomicBool,
        paused: AtomicBool,
        holds: Arc<Holds>,
    }

    pub(super) struct Holds {
        count: AtomicUsize,
        /// Wakes the worker (installed by the scheduler).
        wake: OnceLock<Box<dyn Fn() + Send + Sync>>,
        paused: AtomicBool,
    }

    impl fmt::Debug for Virtual {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("Virtual")
                .field("paused", &self.paused.load(SeqCst))
                .field("holds", &self.holds.count.load(SeqCst))
                .finish_non_exhaustive()
        }
    }

    impl Drop for Virtual {
        fn drop(&mut self) {
            if self.shifted.load(SeqCst) {
                SHIFTED.fetch_sub(1, SeqCst);
            }
        }
    }

    impl Virtual {
        pub(super) fn new(start: Instant) -> Virtual {
            Virtual {
                state: Mutex::new(State {
                    base: start,
                    unfrozen: Some(start),
                }),
                shifted: AtomicBool::new(false),
                paused: AtomicBool::new(false),
                holds: Arc::new(Holds {
                    count: AtomicUsize::new(0),
                    wake: OnceLock::new(),
                    paused: AtomicBool::new(false),
                }),
            }
        }

        #[inline]
        pub(super) fn now(&self) -> Instant {
            if !self.shifted.load(std::sync::atomic::Ordering::Relaxed) {
                return Instant::now();
            }
            let s = self.state.lock();
            match s.unfrozen {
                None => s.base,
                Some(at) => s.base + at.elapsed(),
            }
        }
    }

    /// Keeps a paused clock from jumping ahead while it lives (see the
    /// module's docs). Free on a clock that cannot pause.
    pub(crate) struct Hold(Option<Arc<Holds>>);

    impl fmt::Debug for Hold {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("Hold")
                .field("active", &self.0.is_some())
                .finish()
        }
    }

    /// Makes [`Hold`]s on one clock (kept by who takes them later: the
    /// `block_on` waker, the blocking pool).
    #[derive(Clone)]
    pub(crate) struct HoldSource(Arc<Holds>);

    impl fmt::Debug for HoldSource {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("HoldSource").finish_non_exhaustive()
        }
    }

    impl HoldSource {
        /// Takes a hold.
        pub(crate) fn hold(&self) -> Hold {
            self.0.count.fetch_add(1, SeqCst);
            Hold(Some(self.0.clone()))
        }
    }

    impl Holds {
        fn wake_worker(&self) {
            if let Some(wake) = self.wake.get() {
                wake();
            }
        }
    }

    impl Drop for Hold {
        fn drop(&mut self) {
            if let Some(h) = self.0.take() {
                if h.count.fetch_sub(1, SeqCst) == 1 && h.paused.load(SeqCst) {
                    h.wake_worker();
                }
            }
        }
    }

    impl Clock {
        fn virt(&self) -> Result<&Virtual, ClockError> {
            self.virt.as_deref().ok_or(ClockError::NotPausable)
        }

        /// True while the clock is paused.
        pub(crate) fn is_paused(&self) -> bool {
            self.virt.as_ref().is_some_and(|v| v.paused.load(SeqCst))
        }

        /// True when a pause may happen on this clock (one worker).
        pub(crate) fn is_pausable(&self) -> bool {
            self.virt.is_some()
        }

        /// Stops the clock. The virtual time then stands at now, rounded
        /// up to a whole millisecond of the clock (so that timers of whole
        /// milliseconds fire at exactly their deadlines).
        pub(crate) fn pause(&self) -> Result<(), ClockError> {
            let v = self.virt()?;
            let mut s = v.state.lock();
            let Some(at) = s.unfrozen else {
                return Err(ClockError::AlreadyPaused);
            };
            let now = s.base + at.elapsed();
            let ms = self.deadline_ms(now);
            s.base = self.instant_of(ms).max(now);
            s.unfrozen = None;
            if !v.shifted.swap(true, SeqCst) {
                SHIFTED.fetch_add(1, SeqCst);
            }
            v.paused.store(true, SeqCst);
            v.holds.paused.store(true, SeqCst);
            drop(s);
            // The worker may be asleep until a real deadline: let it
            // decide again under the paused clock.
            v.holds.wake_worker();
            Ok(())
        }

        /// Lets the clock run again, at the real pace, from where it stands.
        pub(crate) fn resume(&self) -> Result<(), ClockError> {
            let v = self.virt()?;
            let mut s = v.state.lock();
            if s.unfrozen.is_some() {
                return Err(ClockError::NotPaused);
            }
            s.unfrozen = Some(Instant::now());
            v.paused.store(false, SeqCst);
            v.holds.paused.store(false, SeqCst);
            drop(s);
            // It may sleep with no timeout: it needs one again.
            v.holds.wake_worker();
            Ok(())
        }

        /// Moves a paused clock forward by `by`.
        pub(crate) fn advance(&self, by: Duration) -> Result<(), ClockError> {
            let v = self.virt()?;
            let mut s = v.state.lock();
            if s.unfrozen.is_some() {
                return Err(ClockError::NotPaused);
            }
            s.base = s.base.checked_add(by).unwrap_or(s.base);
            Ok(())
        }

        /// Moves a paused clock forward to millisecond `ms` (no-op if it
        /// stands there or later already). The worker's auto-advance.
        pub(crate) fn advance_to_ms(&self, ms: u64) {
            let Ok(v) = self.virt() else { return };
            let mut s = v.state.lock();
            if s.unfrozen.is_none() {
                s.base = s.base.max(self.instant_of(ms));
            }
        }

        /// What takes holds on this clock later; `None` when it cannot
        /// pause.
        pub(crate) fn hold_source(&self) -> Option<HoldSource> {
            self.virt.as_ref().map(|v| HoldSource(v.holds.clone()))
        }

        /// True when no [`Hold`] keeps the clock from jumping.
        pub(crate) fn can_auto_advance(&self) -> bool {
            self.virt
                .as_ref()
                .is_some_and(|v| v.paused.load(SeqCst) && v.holds.count.load(SeqCst) == 0)
        }

        /// Installs what wakes the worker when the last hold is released.
        pub(crate) fn set_idle_waker(&self, wake: Box<dyn Fn() + Send + Sync>) {
            if let Some(v) = &self.virt {
                let _ = v.holds.wake.set(wake);
            }
        }
    }
}
