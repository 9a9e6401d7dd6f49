//! A hierarchical timing wheel: 6 levels × 64 slots at 1 ms resolution,
//! covering one "rotation" of 64^6 ms ≈ 2.2 years. One wheel per worker,
//! touched only by that worker's thread, so insert and remove take no lock.
//!
//! Level `l` slot `s` holds the entries whose deadline, compared with the
//! wheel's current time, first differs in the 6-bit digit `l` and has
//! value `s` there. When time reaches a slot of level > 0, its entries
//! cascade down to lower levels (or fire). A deadline that differs from
//! the current time above the top digit (a later rotation) waits in an
//! overflow list, re-linked when time reaches the next rotation: the wheel
//! has no far edge, so a runtime older than 2.2 years (or a paused clock
//! advanced past that) still fires every timer at its deadline. Entries
//! live in a slab and form one doubly linked list per slot (and one for
//! the overflow), so removal is O(1).

const LEVELS: usize = 6;
const SLOTS: usize = 64;
const SLOT_BITS: u32 = 6;
/// The span of one rotation of the top level.
const ROTATION: u64 = 1 << (SLOT_BITS as u64 * LEVELS as u64);
/// The `level` of an entry in the overflow list.
const OVERFLOW: usize = LEVELS;

const NIL: u32 = u32::MAX;

/// Identifies an entry: slab index and generation (stale keys are ignored).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Key {
    index: u32,
    generation: u32,
}

impl Key {
    pub(crate) fn to_bits(self) -> u64 {
        ((self.generation as u64) << 32) | self.index as u64
    }
    pub(crate) fn from_bits(bits: u64) -> Key {
        Key {
            index: bits as u32,
            generation: (bits >> 32) as u32,
        }
    }
}

struct Entry<T> {
    deadline: u64,
    generation: u32,
    /// Some while the entry is in the wheel.
    value: Option<T>,
    prev: u32,
    next: u32,
    level: u8,
    slot: u8,
}

pub(crate) struct Wheel<T> {
    /// Current time in ms since the wheel's start; everything due at or
    /// before it has been returned.
    elapsed: u64,
    heads: [[u32; SLOTS]; LEVELS],
    occupied: [u64; LEVELS],
    /// The overflow list: entries due in a later rotation.
    overflow: u32,
    /// At most the earliest deadline in the overflow list (an entry
    /// removed may have been it: then the list is looked at early, once).
    overflow_min: u64,
    entries: Vec<Entry<T>>,
    free: Vec<u32>,
    len: usize,
}

/// The level for `deadline` at time `elapsed`; [`OVERFLOW`] when it lies
/// in a later rotation.
fn level_for(elapsed: u64, deadline: u64) -> usize {
    let masked = (elapsed ^ deadline) | (SLOTS as u64 - 1);
    let significant = 63 - masked.leading_zeros() as usize;
    (significant / SLOT_BITS as usize).min(OVERFLOW)
}

fn slot_for(deadline: u64, level: usize) -> usize {
    ((deadline >> (level as u32 * SLOT_BITS)) as usize) & (SLOTS - 1)
}

/// The span of time one slot covers at `level`.
fn slot_range(level: usize) -> u64 {
    1u64 << (level as u32 * SLOT_BITS)
}

impl<T> Wheel<T> {
    pub(crate) fn new() -> Wheel<T> {
        Wheel {
            elapsed: 0,
            heads: [[NIL; SLOTS]; LEVELS],
            occupied: [0; LEVELS],
            overflow: NIL,
            overflow_min: u64::MAX,
            entries: Vec::new(),
            free: Vec::new(),
            len: 0,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Removes every entry, handing each to `f` (in no particular order).
    pub(crate) fn drain(&mut self, mut f: impl FnMut(T)) {
        let entries = std::mem::take(&mut self.entries);
        *self = Wheel {
            elapsed: self.elapsed,
            ..Wheel::new()
        };
        for e in entries {
            if let Some(v) = e.value {
                f(v);
            }
        }
    }

    /// The time (ms) the wheel has advanced to: every deadline at or
    /// before it has fired.
    pub(crate) fn elapsed(&self) -> u64 {
        self.elapsed
    }

    /// Slab slots allocated (live or free): a bound on the wheel's memory.
    #[cfg(test)]
    pub(crate) fn capacity(&self) -> usize {
        self.entries.len()
    }

    /// Adds `value` due at `deadline` (ms). A deadline at or before the
    /// current time is due on the next `advance`.
    pub(crate) fn insert(&mut self, deadline: u64, value: T) -> Key {
        let deadline = deadline.max(self.elapsed);
        let index = match self.free.pop() {
            Some(i) => i,
            None => {
                self.entries.push(Entry {
                    deadline: 0,
                    generation: 0,
                    value: None,
                    prev: NIL,
                    next: NIL,
                    level: 0,
                    slot: 0,
                });
                (self.entries.len() - 1) as u32
            }
        };
        let e = &mut self.entries[index as usize];
        e.deadline = deadline;
        e.value = Some(value);
        let generation = e.generation;
        self.link(index);
        self.len += 1;
        Key { index, generation }
    }

    /// Removes the entry behind `key`, if it is still in the wheel.
    pub(crate) fn remove(&mut self, key: Key) -> Option<T> {
        let e = self.entries.get(key.index as usize)?;
        if e.generation != key.generation || e.value.is_none() {
            return None;
        }
        self.unlink(key.index);
        Some(self.release(key.index))
    }

    fn release(&mut self, index: u32) -> T {
        let e = &mut self.entries[index as usize];
        e.generation = e.generation.wrapping_add(1);
        let value = e.value.take().expect("live entry");
        self.free.push(index);
        self.len -= 1;
        value
    }

    fn link(&mut self, index: u32) {
        let deadline = self.entries[index as usize].deadline;
        let level = level_for(self.elapsed, deadline);
        if level == OVERFLOW {
            let head = self.overflow;
            let e = &mut self.entries[index as usize];
            e.level = OVERFLOW as u8;
            e.slot = 0;
            e.prev = NIL;
            e.next = head;
            if head != NIL {
                self.entries[head as usize].prev = index;
            }
            self.overflow = index;
            self.overflow_min = self.overflow_min.min(deadline);
            return;
        }
        let slot = slot_for(deadline, level);
        let head = self.heads[level][slot];
        {
            let e = &mut self.entries[index as usize];
            e.level = level as u8;
            e.slot = slot as u8;
            e.prev = NIL;
            e.next = head;
        }
        if head != NIL {
            self.entries[head as usize].prev = index;
        }
        self.heads[level][slot] = index;
        self.occupied[level] |= 1 << slot;
    }

    fn unlink(&mut self, index: u32) {
        let (prev, next, level, slot) = {
            let e = &self.entries[index as usize];
            (e.prev, e.next, e.level as usize, e.slot as usize)
        };
        if prev != NIL {
            self.entries[prev as usize].next = next;
        } else if level == OVERFLOW {
            self.overflow = next;
        } else {
            self.heads[level][slot] = next;
            if next == NIL {
                self.occupied[level] &= !(1 << slot);
            }
        }
        if next != NIL {
            self.entries[next as usize].prev = prev;
        }
    }

    /// The time (ms) of the next slot that holds entries: nothing is due
    /// before it. `None` when the wheel is empty.
    pub(crate) fn next_expiration(&self) -> Option<u64> {
        (0..LEVELS)
            .find_map(|level| self.next_in_level(level))
            .or_else(|| self.next_rotation())
    }

    /// The start of the rotation of the overflow list's earliest entry
    /// (every entry in the levels is due before it), when the list holds
    /// any: time jumps there directly, not rotation by rotation.
    fn next_rotation(&self) -> Option<u64> {
        (self.overflow != NIL).then_some(self.overflow_min & !(ROTATION - 1))
    }

    fn next_in_level(&self, level: usize) -> Option<u64> {
        let occupied = self.occupied[level];
        if occupied == 0 {
            return None;
        }
        let range = slot_range(level);
        let now_slot = slot_for(self.elapsed, level) as u32;
        // Slots at or after the current one, in wheel order.
        let rotated = occupied.rotate_right(now_slot);
        let distance = rotated.trailing_zeros() as u64;
        let level_range = range * SLOTS as u64;
        let level_start = self.elapsed & !(level_range - 1);
        let mut when = level_start + (now_slot as u64 + distance) * range;
        if when < self.elapsed {
            // Can only happen for the current slot of a higher level,
            // whose start lies in the past: it is due now.
            when = self.elapsed;
        }
        Some(when)
    }

    /// Moves time forward to `now` (ms), calling `fire` with every value
    /// whose deadline is at or before `now`. Returns how many fired.
    pub(crate) fn advance(&mut self, now: u64, mut fire: impl FnMut(T)) -> usize {
        let mut fired = 0;
        while let Some(when) = self.next_expiration() {
            if when > now {
                break;
            }
            let level = (0..LEVELS)
                .find(|&l| self.next_in_level(l) == Some(when))
                .unwrap_or(OVERFLOW);
            self.elapsed = self.elapsed.max(when);
            // Take the whole slot (or, at a new rotation, the overflow
            // list), then fire or cascade each entry.
            let mut index = if level == OVERFLOW {
                self.overflow_min = u64::MAX;
                std::mem::replace(&mut self.overflow, NIL)
            } else {
                let slot = slot_for(when, level);
                self.occupied[level] &= !(1 << slot);
                std::mem::replace(&mut self.heads[level][slot], NIL)
            };
            while index != NIL {
                let next = self.entries[index as usize].next;
                if self.entries[index as usize].deadline <= now {
                    fire(self.release(index));
                    fired += 1;
                } else {
                    self.link(index);
                }
                index = next;
            }
        }
        self.elapsed = self.elapsed.max(now);
        fired
    }
}

#[cfg(all(test, not(ferrio_loom)))]
mod tests {
    use super::*;

    fn drain(w: &mut Wheel<u64>, now: u64) -> Vec<u64> {
        let mut out = Vec::new();
        w.advance(now, |v| out.push(v));
        out
    }

    #[test]
    fn fires_in_deadline_order_and_never_early() {
        let mut w = Wheel::new();
        let deadlines = [5, 1, 64, 63, 65, 4095, 4096, 4097, 300_000, 2];
        for &d in &deadlines {
            w.insert(d, d);
        }
        let mut fired = Vec::new();
        let mut now = 0;
        while w.len() > 0 {
            let next = w.next_expiration().unwrap();
            assert!(next >= now);
            now = next;
            for v in drain(&mut w, now) {
                assert!(v <= now, "fired {v} at {now}: early");
                fired.push(v);
            }
        }
        let mut sorted = deadlines.to_vec();
        sorted.sort();
        assert_eq!(fired, sorted);
    }

    #[test]
    fn fires_exactly_at_deadline_across_every_level_boundary() {
        // Deadlines on and around each level's slot boundary.
        for level in 0..LEVELS as u32 {
            let boundary = 1u64 << (level * SLOT_BITS);
            for d in [
                boundary - 1,
                boundary,
                boundary + 1,
                boundary * 63,
                boundary * 64,
            ] {
                if d == 0 || d >= ROTATION {
                    continue;
                }
                let mut w = Wheel::new();
                w.insert(d, d);
                assert!(drain(&mut w, d - 1).is_empty(), "{d} fired early");
                assert_eq!(drain(&mut w, d), vec![d], "{d} did not fire on time");
            }
        }
    }

    #[test]
    fn cascades_from_the_top_level_and_later_rotations() {
        let mut w = Wheel::new();
        let edge = ROTATION - 1;
        w.insert(edge, 1);
        w.insert(edge - 1, 2);
        // In later rotations: the overflow list, then the wheel.
        w.insert(ROTATION, 3);
        w.insert(3 * ROTATION + 5, 4);
        w.insert(u64::MAX, 5);
        assert!(drain(&mut w, edge - 2).is_empty());
        assert_eq!(drain(&mut w, edge - 1), vec![2]);
        assert_eq!(drain(&mut w, edge), vec![1]);
        assert_eq!(drain(&mut w, ROTATION), vec![3]);
        assert!(drain(&mut w, 3 * ROTATION + 4).is_empty());
        assert_eq!(w.next_expiration(), Some(3 * ROTATION + 5));
        assert_eq!(drain(&mut w, 3 * ROTATION + 5), vec![4]);
        assert!(drain(&mut w, u64::MAX - 1).is_empty());
        assert_eq!(drain(&mut w, u64::MAX), vec![5]);
        assert_eq!(w.len(), 0);
    }

    #[test]
    fn a_wheel_older_than_a_rotation_fires_short_timers_on_time() {
        // Time has run for more than 2.2 years: a 5 ms timer still waits
        // 5 ms, and one in the overflow list can be removed.
        let mut w = Wheel::new();
        let far = w.insert(10 * ROTATION, 9);
        let start = ROTATION + ROTATION / 2 + 7;
        assert!(drain(&mut w, start).is_empty());
        w.insert(start + 5, 1);
        assert!(drain(&mut w, start + 4).is_empty());
        assert_eq!(drain(&mut w, start + 5), vec![1]);
        assert_eq!(w.remove(far), Some(9));
        assert_eq!(w.next_expiration(), None);
        assert_eq!(w.len(), 0);
    }

    #[test]
    fn insert_after_time_moved_and_in_the_past() {
        let mut w = Wheel::new();
        drain(&mut w, 1_000_000);
        w.insert(1_000_050, 50);
        w.insert(10, 10); // already due
        assert_eq!(w.next_expiration(), Some(1_000_000));
        assert_eq!(drain(&mut w, 1_000_000), vec![10]);
        assert!(drain(&mut w, 1_000_049).is_empty());
        assert_eq!(drain(&mut w, 1_000_050), vec![50]);
    }

    #[test]
    fn remove_is_exact_and_stale_keys_do_nothing() {
        let mut w = Wheel::new();
        let a = w.insert(100, 1);
        let b = w.insert(100, 2);
        let c = w.insert(5_000, 3);
        assert_eq!(w.remove(b), Some(2));
        assert_eq!(w.remove(b), None);
        assert_eq!(drain(&mut w, 100), vec![1]);
        assert_eq!(w.remove(a), None, "fired entries are gone");
        // Slot reuse bumps the generation: the old key cannot hit it.
        let d = w.insert(200, 4);
        assert_eq!(w.remove(a), None);
        assert_eq!(w.remove(c), Some(3));
        assert_eq!(w.remove(d), Some(4));
        assert_eq!(w.len(), 0);
    }

    #[test]
    fn drain_hands_out_every_live_entry_once() {
        let mut w = Wheel::new();
        let a = w.insert(10, 1u64);
        w.insert(5_000, 2);
        w.insert(ROTATION - 1, 3);
        w.remove(a);
        let mut out = Vec::new();
        w.drain(|v| out.push(v));
        out.sort();
        assert_eq!(out, vec![2, 3]);
        assert_eq!(w.len(), 0);
        assert_eq!(w.next_expiration(), None);
        assert!(drain(&mut w, u64::MAX / 2).is_empty());
    }

    #[test]
    fn reset_in_a_loop_reuses_memory() {
        let mut w = Wheel::new();
        let mut key = w.insert(60_000, 0u64);
        for i in 1..100_000u64 {
            w.remove(key);
            key = w.insert(60_000 + i, i);
        }
        assert_eq!(w.len(), 1);
        assert!(w.capacity() <= 2);
    }

    /// Inserts `count` pseudo-random deadlines below `range`, then
    /// advances from one expiration to the next: each fires at or after
    /// its deadline, all in order, none lost.
    fn random_deadlines_fire_in_order(count: usize, range: u64) {
        let mut w = Wheel::new();
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        let mut all = Vec::new();
        for _ in 0..count {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let d = x % range;
            all.push(d);
            w.insert(d, d);
        }
        all.sort();
        let mut fired = Vec::new();
        let mut now = 0;
        while let Some(next) = w.next_expiration() {
            now = next.max(now);
            let mut batch = drain(&mut w, now);
            assert!(batch.iter().all(|v| *v <= now));
            batch.sort();
            fired.extend(batch);
        }
        assert_eq!(fired, all);
    }

    #[test]
    fn many_random_deadlines_fire_in_order() {
        random_deadlines_fire_in_order(10_000, 10_000_000);
    }

    #[test]
    fn random_deadlines_over_five_rotations_fire_in_order() {
        random_deadlines_fire_in_order(2_000, 5 * ROTATION);
    }
}
