//! The owned-task list: every live task of a runtime, so that shutdown can
//! reach (and drop) each one exactly once.
//!
//! Sharded by task id to keep spawners on different workers off each
//! other's lock. Each shard is a slab; a task remembers its slot in
//! `Header::owner_slot`, which is only touched under the shard's lock.

use super::RawTask;
use crate::loom::sync::{Mutex, MutexGuard};

pub(crate) struct OwnedTasks {
    shards: Box<[Mutex<Shard>]>,
    mask: usize,
}

#[derive(Default)]
struct Shard {
    slots: Vec<Option<RawTask>>,
    free: Vec<usize>,
    closed: bool,
}

impl OwnedTasks {
    pub(crate) fn new(shards: usize) -> OwnedTasks {
        let n = shards.max(1).next_power_of_two();
        OwnedTasks {
            shards: (0..n).map(|_| Mutex::new(Shard::default())).collect(),
            mask: n - 1,
        }
    }

    fn shard(&self, task: RawTask) -> MutexGuard<'_, Shard> {
        let i = task.id().as_u64() as usize & self.mask;
        lock(&self.shards[i])
    }

    /// Adds a task (taking over the reference meant for the list). Fails,
    /// handing the reference back, once the list is closed.
    pub(crate) fn bind(&self, task: RawTask) -> Result<(), RawTask> {
        let mut shard = self.shard(task);
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
        // SAFETY: owner_slot is only accessed under this shard's lock.
        task.header().owner_slot.with_mut(|s| unsafe { *s = slot });
        Ok(())
    }

    /// Removes a completed task. Returns true when it was listed: the
    /// list's reference then belongs to the caller.
    pub(crate) fn remove(&self, task: RawTask) -> bool {
        let mut shard = self.shard(task);
        // SAFETY: owner_slot is only accessed under this shard's lock.
        let slot = task.header().owner_slot.with(|s| unsafe { *s });
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
            lock(shard).closed = true;
        }
    }

    /// Takes every task out of shard `i` (the list's references go to the
    /// caller). Only meaningful after `close`, when no task can be added.
    pub(crate) fn drain_shard(&self, i: usize) -> Vec<RawTask> {
        let mut shard = lock(&self.shards[i & self.mask]);
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
            for task in lock(shard).slots.iter().flatten() {
                f(*task);
            }
        }
    }

    #[cfg_attr(not(ferrio_loom), allow(dead_code))]
    pub(crate) fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| lock(s).slots.iter().flatten().count())
            .sum()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
