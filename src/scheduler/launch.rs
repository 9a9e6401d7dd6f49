//! Starting the worker threads, and waiting for them to exit.
//!
//! Each worker builds its park (its I/O driver) on its own thread and
//! reports to [`launch`], which waits until every worker is ready or one
//! failed (the error names the cause). Each thread counts its exit on a
//! latch, even when its loop panics; the last worker out drops what is
//! left in the injector (the runtime's owner may not be waiting for it).

use std::io;
use std::time::{Duration, Instant};

use crate::loom::sync::{Arc, Condvar, Mutex};
use crate::loom::thread;

use super::shared::Shared;
use super::watchdog::WatchdogParker;
use super::worker::{Worker, WorkerParts};

/// The running worker threads.
pub(crate) struct Workers {
    threads: Vec<thread::JoinHandle<()>>,
    exited: Arc<Latch>,
    #[cfg(not(ferrio_loom))]
    watchdog: Option<std::thread::JoinHandle<()>>,
}

/// Starts one thread per part, each running a [`Worker`] inside the
/// guard that `enter` returns (the runtime enters its context there), and
/// waits until all of them are ready.
///
/// # Errors
/// The first worker's setup error (its driver could not be created), or the
/// OS error when a thread cannot be spawned. The workers already started
/// are left running: the caller shuts them down (`Shared::begin_shutdown`,
/// then [`Workers::join`]).
pub(crate) fn launch<E, G>(
    shared: &Arc<Shared>,
    parts: Vec<WorkerParts>,
    watchdog: WatchdogParker,
    enter: E,
    workers: &mut Workers,
) -> io::Result<()>
where
    E: Fn(&Worker) -> G + Clone + Send + 'static,
{
    let count = parts.len();
    // Shim mutex and condvar, not a std channel: under loom the workers
    // are loom threads and the wait must be one loom sees.
    let startup = Arc::new(Startup::new());
    for part in parts {
        let index = part.index();
        let shared = shared.clone();
        let exited = workers.exited.clone();
        let report = StartupReport(Some(startup.clone()));
        let enter = enter.clone();
        let mut builder =
            thread::Builder::new().name(format!("{}-{index}", shared.config.thread_name));
        if let Some(size) = shared.config.stack_size {
            builder = builder.stack_size(size);
        }
        let spawned = builder.spawn(move || {
            // Counts the exit even if the worker loop itself panics.
            let _exit = ExitGuard {
                exited,
                shared: shared.clone(),
                workers: count,
            };
            let worker = match part.build(shared) {
                Ok(w) => {
                    report.finish(Ok(()));
                    w
                }
                Err(e) => {
                    report.finish(Err(e));
                    return;
                }
            };
            let entered = enter(&worker);
            worker.run();
            drop(entered);
            drop(worker);
        });
        match spawned {
            Ok(t) => workers.threads.push(t),
            Err(e) => {
                return Err(io::Error::new(
                    e.kind(),
                    format!("ferrio: could not spawn worker thread {index}: {e}"),
                ));
            }
        }
    }
    startup.wait(count)?;
    #[cfg(not(ferrio_loom))]
    {
        workers.watchdog = Some(
            super::watchdog::spawn(shared.clone(), watchdog).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("ferrio: could not spawn the watchdog thread: {e}"),
                )
            })?,
        );
    }
    #[cfg(ferrio_loom)]
    drop(watchdog);
    Ok(())
}

impl Workers {
    /// No threads yet ([`launch`] adds them).
    pub(crate) fn new() -> Workers {
        Workers {
            threads: Vec::new(),
            exited: Arc::new(Latch::new()),
            #[cfg(not(ferrio_loom))]
            watchdog: None,
        }
    }

    /// Waits (at most `timeout`) until every worker thread has exited,
    /// and joins them. False on timeout: the threads are detached and
    /// finish on their own.
    pub(crate) fn join(&mut self, timeout: Option<Duration>) -> bool {
        if !self.exited.wait(self.threads.len(), timeout) {
            self.threads.clear();
            return false;
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        // The watchdog leaves at its next look once shutdown began (it
        // was woken by `begin_shutdown`).
        #[cfg(not(ferrio_loom))]
        if let Some(w) = self.watchdog.take() {
            let _ = w.join();
        }
        true
    }

    /// Forgets the threads without waiting (shutdown from inside a
    /// worker, which must not wait on itself).
    pub(crate) fn detach(&mut self) {
        self.threads.clear();
        #[cfg(not(ferrio_loom))]
        drop(self.watchdog.take());
    }
}

/// Counts a worker's exit even if its loop panicked; the last worker out
/// drops what is left in the injector (the owner may not be waiting, when
/// the runtime was dropped on a worker thread or timed out).
struct ExitGuard {
    exited: Arc<Latch>,
    shared: Arc<Shared>,
    workers: usize,
}

impl Drop for ExitGuard {
    fn drop(&mut self) {
        if self.exited.count_up() == self.workers {
            self.shared.drain_injector();
        }
    }
}

/// The workers' start-up reports, which [`launch`] waits for.
struct Startup {
    state: Mutex<StartupState>,
    cvar: Condvar,
}

#[derive(Default)]
struct StartupState {
    ready: usize,
    /// The first worker that could not start (its error), or one that
    /// exited (panicked) before reporting.
    failed: Option<io::Error>,
}

impl Startup {
    fn new() -> Startup {
        Startup {
            state: Mutex::new(StartupState::default()),
            cvar: Condvar::new(),
        }
    }

    fn report(&self, result: io::Result<()>) {
        let mut state = self.state.lock();
        match result {
            Ok(()) => state.ready += 1,
            Err(e) => {
                state.failed.get_or_insert(e);
            }
        }
        drop(state);
        self.cvar.notify_all();
    }

    /// Waits until `workers` workers are ready, or one failed.
    fn wait(&self, workers: usize) -> io::Result<()> {
        let mut state = self.state.lock();
        loop {
            if let Some(e) = state.failed.take() {
                return Err(e);
            }
            if state.ready >= workers {
                return Ok(());
            }
            state = self.cvar.wait(state);
        }
    }
}

/// A worker's one start-up report; dropped unsent (the thread panicked
/// first), it reports the worker gone.
struct StartupReport(Option<Arc<Startup>>);

impl StartupReport {
    fn finish(mut self, result: io::Result<()>) {
        if let Some(startup) = self.0.take() {
            startup.report(result);
        }
    }
}

impl Drop for StartupReport {
    fn drop(&mut self) {
        if let Some(startup) = self.0.take() {
            startup.report(Err(io::Error::other(
                "ferrio: a worker thread exited before its ring was ready",
            )));
        }
    }
}

/// Counts exited workers; the runtime's owner waits on it.
struct Latch {
    count: Mutex<usize>,
    cvar: Condvar,
}

impl Latch {
    fn new() -> Latch {
        Latch {
            count: Mutex::new(0),
            cvar: Condvar::new(),
        }
    }

    /// Returns the new count.
    fn count_up(&self) -> usize {
        let mut count = self.count.lock();
        *count += 1;
        let now = *count;
        drop(count);
        self.cvar.notify_all();
        now
    }

    /// Waits until the count reaches `n`; false on timeout.
    fn wait(&self, n: usize, timeout: Option<Duration>) -> bool {
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut count = self.count.lock();
        while *count < n {
            match deadline {
                None => count = self.cvar.wait(count),
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        return false;
                    }
                    count = self.cvar.wait_timeout(count, d - now).0;
                }
            }
        }
        true
    }
}
