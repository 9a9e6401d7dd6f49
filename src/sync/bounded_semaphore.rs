//! `BoundedSemaphore` (asyncio's): a semaphore whose `release` refuses
//! to grow it past its initial value.

use std::fmt;

use super::semaphore::{Acquire, Semaphore};

/// The error of releasing a [`BoundedSemaphore`] past its initial value
/// (asyncio's `ValueError`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TooManyReleasesError;

/// The former name of [`TooManyReleasesError`].
#[deprecated(note = "renamed `TooManyReleasesError` (errors are named `<What>Error`)")]
#[doc(hidden)]
pub type TooManyReleases = TooManyReleasesError;

impl fmt::Display for TooManyReleasesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BoundedSemaphore released too many times")
    }
}

impl std::error::Error for TooManyReleasesError {}

/// A semaphore that refuses to grow past its initial value (asyncio's
/// `BoundedSemaphore`).
///
/// ```
/// ferrio::run(async {
///     let sem = ferrio::sync::BoundedSemaphore::new(1);
///     assert!(sem.release().is_err());
///     sem.acquire().await.forget();
///     assert!(sem.release().is_ok());
/// });
/// ```
///
/// Use either guards (a permit returns when its guard drops) or asyncio's
/// manual style (`forget` the guard, later `release`), not both for the
/// same permit.
#[derive(Debug)]
pub struct BoundedSemaphore {
    sem: Semaphore,
    bound: usize,
}

impl BoundedSemaphore {
    /// A semaphore with `permits` permits, never more.
    pub fn new(permits: usize) -> BoundedSemaphore {
        BoundedSemaphore {
            sem: Semaphore::new(permits),
            bound: permits,
        }
    }

    /// Waits for a permit (FIFO); see [`Semaphore::acquire`].
    pub fn acquire(&self) -> Acquire<'_> {
        self.sem.acquire()
    }

    /// True when an `acquire` would wait.
    pub fn locked(&self) -> bool {
        self.sem.locked()
    }

    /// Returns a permit. Fails when that would exceed the initial value.
    pub fn release(&self) -> Result<(), TooManyReleasesError> {
        let mut st = self.sem.lock();
        if st.permits >= self.bound {
            return Err(TooManyReleasesError);
        }
        st.permits += 1;
        let wake = Semaphore::grant(&mut st);
        drop(st);
        for w in wake {
            w.wake();
        }
        Ok(())
    }
}
