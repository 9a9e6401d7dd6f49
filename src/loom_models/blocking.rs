//! The blocking pool (`blocking::BlockingPool`, shipped) for the loom
//! models: jobs submitted racing the pool's shutdown, run by the pool's
//! own threads (loom threads under the shim).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use crate::blocking::{self, BlockingPool, JobResult, PoolConfig};

/// A runtime's blocking pool with at most `max_threads` threads.
pub struct PoolModel(Arc<BlockingPool>);

/// What became of a job: `Some(value)` if it ran, `None` if it was
/// dropped unrun (queued at shutdown).
pub struct PoolJob(JobResult<usize>);

impl Future for PoolJob {
    type Output = Option<usize>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<usize>> {
        Pin::new(&mut self.0)
            .poll(cx)
            .map(|outcome| outcome.map(|r| r.expect("the job does not panic")))
    }
}

impl PoolModel {
    pub fn new(max_threads: usize) -> PoolModel {
        PoolModel(BlockingPool::new(
            PoolConfig {
                max_threads,
                keep_alive: Duration::from_secs(3600),
            },
            "model".into(),
        ))
    }

    /// `blocking::submit` of a job returning `value`: `None` if the pool
    /// refused it (it had shut down; the job comes back unrun).
    pub fn submit(&self, value: usize) -> Option<PoolJob> {
        blocking::submit(&self.0, move || value).ok().map(PoolJob)
    }

    /// `BlockingPool::shutdown`.
    pub fn shutdown(&self) {
        self.0.shutdown();
    }

    /// Pool threads still counted.
    pub fn threads(&self) -> usize {
        self.0.num_threads()
    }
}

impl Clone for PoolModel {
    fn clone(&self) -> Self {
        PoolModel(self.0.clone())
    }
}
