//! Where a queue keeps its items: the `Store` trait and its FIFO, LIFO and
//! priority orders.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

/// Where a queue keeps its items.
pub trait Store<T>: Default {
    /// Adds an item.
    fn push(&mut self, item: T);
    /// Takes the next item.
    fn pop(&mut self) -> Option<T>;
    /// How many items.
    fn len(&self) -> usize;
    /// True when there are no items.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// First in, first out.
#[derive(Debug)]
pub struct Fifo<T>(VecDeque<T>);
/// Last in, first out.
#[derive(Debug)]
pub struct Lifo<T>(Vec<T>);
/// Smallest first; equal items in insertion order.
#[derive(Debug)]
pub struct Priority<T: Ord>(BinaryHeap<Reverse<(T, u64)>>, u64);

impl<T> Default for Fifo<T> {
    fn default() -> Self {
        Fifo(VecDeque::new())
    }
}
impl<T> Default for Lifo<T> {
    fn default() -> Self {
        Lifo(Vec::new())
    }
}
impl<T: Ord> Default for Priority<T> {
    fn default() -> Self {
        Priority(BinaryHeap::new(), 0)
    }
}

impl<T> Store<T> for Fifo<T> {
    fn push(&mut self, item: T) {
        self.0.push_back(item)
    }
    fn pop(&mut self) -> Option<T> {
        self.0.pop_front()
    }
    fn len(&self) -> usize {
        self.0.len()
    }
}

impl<T> Store<T> for Lifo<T> {
    fn push(&mut self, item: T) {
        self.0.push(item)
    }
    fn pop(&mut self) -> Option<T> {
        self.0.pop()
    }
    fn len(&self) -> usize {
        self.0.len()
    }
}

impl<T: Ord> Store<T> for Priority<T> {
    fn push(&mut self, item: T) {
        self.1 += 1;
        self.0.push(Reverse((item, self.1)))
    }
    fn pop(&mut self) -> Option<T> {
        self.0.pop().map(|Reverse((item, _))| item)
    }
    fn len(&self) -> usize {
        self.0.len()
    }
}
