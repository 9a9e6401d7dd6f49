//! The owned-task list: every live task of a runtime, so that shutdown can
//! reach (and drop) each one exactly once.
//!
//! Sharded by spawner: a worker binds the tasks it spawns into its own
//! shard, so spawning takes an uncontended lock whose cache line stays on
//! that worker (tasks mostly complete where they were spawned); spawns from
//! outside the workers spread over a few extra shards. Each shard is a
//! slab. A task remembers `(shard, slot)` in `Header::owner_slot`, written
//! once at bind under the shard's lock, before the task is first scheduled
//! (so every later reader happens-after the write).

use super::RawTask;
use crate::loom::sync::Mutex;

pub(crate) struct OwnedTasks {
    shards: Box<[Mutex<Shard>]>,
}

const SLOT_BITS: u32 = 40;
const SLOT_MASK: usize = (1 << SLOT_BITS) - 1;

#[derive(Default)]
struct Shard {
    slots: Vec<Option<RawTask>>,
    free: Vec<usize>,
    closed: bool,
}

impl OwnedTasks {
    pub(crate) fn new(shards: usize) -> OwnedTasks {
        OwnedTasks {
            shards: (0..shards.max(1))
                .map(|_| Mutex::new(Shard::default()))
                .collect(),
        }
    }

    /// Adds a task (taking over the reference meant for the list) to shard
    /// `hint % shards`. Fails, handing the reference back, once the list is
    /// closed.
    pub(crate) fn bind(&self, task: RawTask, hint: usize) -> Result<(), RawTask> {
        let index = hint % self.shards.len();
        let mut shard = self.shards[index].lock();
        if shard.closed {
            return Err(task);
        }
        let slot = match shard.free.pop() {
            Some(i) => {
                shard.slots[i] = Some(task);
                i
            }
            None => {
                shard.slots.push(Some(task));
                shard.slots.len() - 1
            }
        };
        debug_assert!(slot <= SLOT_MASK);
        // SAFETY: written once, here, under the shard lock, before the task
        // is scheduled; readers happen-after (see the module docs).
        task.header()
            .owner_slot
            .with_mut(|s| unsafe { *s = (index << SLOT_BITS) | slot });
        Ok(())
    }

    /// Removes a completed task. Returns true when it was listed: the
    /// list's reference then belongs to the caller.
    pub(crate) fn remove(&self, task: RawTask) -> bool {
        // SAFETY: no write races this read (see the module docs).
        let packed = task.header().owner_slot.with(|s| unsafe { *s });
        let (index, slot) = (packed >> SLOT_BITS, packed & SLOT_MASK);
        let Some(shard) = self.shards.get(index) else {
            return false;
        };
        let mut shard = shard.lock();
        match shard.slots.get_mut(slot) {
            Some(entry) if *entry == Some(task) => {
                *entry = None;
                shard.free.push(slot);
                true
            }
            _ => false,
        }
    }

    /// Refuses new tasks from now on.
    pub(crate) fn close(&self) {
        for shard in self.shards.iter() {
            shard.lock().closed = true;
        }
    }

    /// Takes every task out of shard `i` (the list's references go to the
    /// caller). Only meaningful after `close`, when no task can be added.
    pub(crate) fn drain_shard(&self, i: usize) -> Vec<RawTask> {
        let mut shard = self.shards[i % self.shards.len()].lock();
        shard.free.clear();
        std::mem::take(&mut shard.slots)
            .into_iter()
            .flatten()
            .collect()
    }

    pub(crate) fn num_shards(&self) -> usize {
        self.shards.len()
    }

    /// Calls `f` on every listed task, under each shard's lock in turn.
    pub(crate) fn for_each(&self, mut f: impl FnMut(RawTask)) {
        for shard in self.shards.iter() {
            for task in shard.lock().slots.iter().flatten() {
                f(*task);
            }
        }
    }

    #[cfg_attr(not(ferrio_loom), allow(dead_code))]
    pub(crate) fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().slots.iter().flatten().count())
            .sum()
    }
}
