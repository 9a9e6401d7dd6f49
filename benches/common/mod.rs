//! The two runtimes every bench compares, built the same way.
#![allow(dead_code)]

/// ferrio with `workers` workers.
pub(crate) fn ferrio_rt(workers: usize) -> ferrio::Runtime {
    ferrio::Runtime::builder()
        .worker_threads(workers)
        .build()
        .unwrap()
}

/// tokio's multi-thread runtime with `workers` workers, timers on.
pub(crate) fn tokio_rt(workers: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_time()
        .build()
        .unwrap()
}
