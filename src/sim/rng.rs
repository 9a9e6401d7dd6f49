//! The seeded random source of a simulation: every choice a run makes
//! (latency jitter, later: faults, the next task) is drawn from it, in
//! the order the run asks, so one seed gives one run.

use std::fmt;

use crate::loom::plain::Mutex;

/// A seeded pseudo-random generator (splitmix64: a fixed, portable
/// sequence per seed, identical across processes and platforms).
pub(super) struct SimRng {
    state: Mutex<u64>,
}

impl fmt::Debug for SimRng {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimRng").finish_non_exhaustive()
    }
}

impl SimRng {
    pub(super) fn new(seed: u64) -> SimRng {
        SimRng {
            state: Mutex::new(seed),
        }
    }

    /// The next 64 random bits.
    pub(super) fn next_u64(&self) -> u64 {
        let mut s = self.state.lock();
        *s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = *s;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..=max`.
    pub(super) fn up_to(&self, max: u64) -> u64 {
        if max == u64::MAX {
            return self.next_u64();
        }
        self.next_u64() % (max + 1)
    }
}
