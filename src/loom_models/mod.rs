// Over 500 lines: one stand-in per modelled protocol, each small; compiled
// only under `cfg(ferrio_loom)`.
//! Entry points for the loom models in `loom-tests/` (only under
//! `cfg(ferrio_loom)`). They drive the real protocol code: tasks with a
//! small test scheduler, the parker, the time driver, the
//! driver's remote queue and cancel routing over a stand-in submission
//! queue. (The whole runtime, one or two real workers, needs nothing
//! from here: `loom-tests/tests/runtime.rs` drives it through the public
//! API.) Nothing here is public API.

mod blocking;
mod cancel_token;
mod epoll;
mod parking;
mod registrations;
mod wait_record;

pub use blocking::{PoolJob, PoolModel};
pub use cancel_token::token_children;
pub use epoll::{Dir, EpollOpModel, ReadinessModel, Ready, Wait};
pub use parking::DriverParkModel;
pub use registrations::{ModelRegistration, RegistrationsModel};
pub use wait_record::{ReadRecord, WaitRecordModel};

use std::any::Any;
use std::collections::VecDeque;
use std::future::Future;

use crate::loom::sync::atomic::{AtomicUsize, Ordering};
use crate::loom::sync::{Arc, Mutex};
use crate::task::core::list::OwnedTasks;
use crate::task::core::{self as task, Notified, RawTask, Schedule, Task, TaskInfo};

/// Plays the watchdog once for worker `index` of the runtime behind
/// `handle`: the shipped rescue (`Shared::rescue`: the LIFO slot and the
/// local queue to the injector, the wheel's due timers fired), whatever
/// the worker is doing at that moment. (The watchdog's thread itself does
/// not run under loom; its sampling decides only when to call this.)
pub fn rescue_worker(handle: &crate::Handle, index: usize) {
    handle.shared.rescue(index);
}

/// A single-queue scheduler for driving tasks by hand in a model.
#[derive(Clone)]
pub struct TestScheduler {
    inner: Arc<Inner>,
}

struct Inner {
    queue: Mutex<VecDeque<Notified>>,
    owned: OwnedTasks,
    unhandled_panics: AtomicUsize,
}

impl Schedule for TestScheduler {
    fn schedule(&self, task: Notified, _is_yield: bool) {
        self.inner.queue.lock().push_back(task);
    }

    fn release(&self, task: RawTask) -> bool {
        self.inner.owned.remove(task)
    }

    fn unhandled_panic(&self, _info: &TaskInfo, _payload: &(dyn Any + Send)) {
        self.inner.unhandled_panics.fetch_add(1, Ordering::SeqCst);
    }
}

impl Default for TestScheduler {
    fn default() -> Self {
        Self::new()
    }
}

impl TestScheduler {
    /// An empty scheduler.
    pub fn new() -> TestScheduler {
        TestScheduler {
            inner: Arc::new(Inner {
                queue: Mutex::new(VecDeque::new()),
                owned: OwnedTasks::new(1),
                unhandled_panics: AtomicUsize::new(0),
            }),
        }
    }

    /// Spawns a task; it is queued, not run.
    pub fn spawn<F>(&self, future: F) -> Task<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let (listed, notified, handle) =
            task::new_task(future, self.clone(), None, std::panic::Location::caller());
        match self.inner.owned.bind(listed, 0) {
            Ok(()) => self.schedule(notified, false),
            Err(listed) => {
                drop(notified);
                listed.shutdown();
            }
        }
        handle
    }

    /// Spawns a task and returns its thread-side view
    /// (`run_coroutine_threadsafe`'s `ConcurrentFuture`).
    pub fn spawn_concurrent<F>(&self, future: F) -> crate::ConcurrentFuture<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        crate::ConcurrentFuture::from_task(self.spawn(future))
    }

    /// Runs the next queued task; false when the queue is empty.
    pub fn run_one(&self) -> bool {
        let next = self.inner.queue.lock().pop_front();
        match next {
            Some(task) => {
                task.run();
                true
            }
            None => false,
        }
    }

    /// Runs queued tasks until the queue is empty.
    pub fn run_all(&self) {
        while self.run_one() {}
    }

    /// Closes the owned list, cancels every task, drops queued
    /// notifications (what a runtime shutdown does).
    pub fn shutdown(&self) {
        self.inner.owned.close();
        for task in self.inner.owned.drain_shard(0) {
            task.shutdown();
        }
        let queued: Vec<_> = self.inner.queue.lock().drain(..).collect();
        drop(queued);
    }

    /// Tasks spawned and not yet finished.
    pub fn live_tasks(&self) -> usize {
        self.inner.owned.len()
    }

    /// Panics reported to the handler.
    pub fn unhandled_panics(&self) -> usize {
        self.inner.unhandled_panics.load(Ordering::SeqCst)
    }
}

/// The worker parker (`park`).
pub struct Parker(crate::park::Parker);

/// Its waking end.
#[derive(Clone)]
pub struct Unparker(crate::park::Unparker);

impl Default for Parker {
    fn default() -> Self {
        Self::new()
    }
}

impl Parker {
    /// A new parker.
    pub fn new() -> Parker {
        Parker(crate::park::Parker::new())
    }
    /// Its waking end.
    pub fn unparker(&self) -> Unparker {
        Unparker(self.0.unparker())
    }
    /// Sleeps until unparked.
    pub fn park(&self) {
        self.0.park(None)
    }
}

impl Unparker {
    /// Wakes the parker.
    pub fn unpark(&self) {
        self.0.unpark()
    }
}

/// An io_uring operation's completion cell (`driver::op_cell::OpCell`).
pub struct OpCell(std::sync::Arc<crate::driver::op_cell::OpCell>);

impl OpCell {
    /// A cell whose future registered a no-op waker.
    pub fn new() -> OpCell {
        OpCell(crate::driver::op_cell::OpCell::new(
            std::task::Waker::noop().clone(),
            false,
            None,
        ))
    }
    /// A cell of a pooled receive: provided buffers of completions nobody
    /// takes are handed to `recycle`.
    pub fn with_recycler(recycle: impl Fn(u16) + Send + Sync + 'static) -> OpCell {
        struct Hook<F>(F);
        impl<F: Fn(u16) + Send + Sync> crate::driver::op_cell::Recycle for Hook<F> {
            fn recycle(&self, bid: u16) {
                (self.0)(bid)
            }
        }
        OpCell(crate::driver::op_cell::OpCell::new(
            std::task::Waker::noop().clone(),
            false,
            Some(std::sync::Arc::new(Hook(recycle))),
        ))
    }
    /// The ring delivers a CQE; true when it was the last.
    pub fn complete(&self, res: i32, more: bool) -> bool {
        self.0
            .complete(crate::driver::op_cell::Completion { res, flags: 0 }, more)
    }
    /// The ring delivers a CQE that took provided buffer `bid`.
    pub fn complete_with_buffer(&self, res: i32, bid: u16, more: bool) -> bool {
        let flags = 1 | (u32::from(bid) << 16);
        self.0
            .complete(crate::driver::op_cell::Completion { res, flags }, more)
    }
    /// The future polls: `Some((res, last))` when a result is there.
    pub fn poll(&self) -> Option<(i32, bool)> {
        match self.0.poll(std::task::Waker::noop()) {
            crate::driver::op_cell::OpPoll::Pending => None,
            crate::driver::op_cell::OpPoll::Ready { completion, last } => {
                Some((completion.res, last))
            }
        }
    }
    /// The future is dropped; true when the op was still in flight (its
    /// resources now live in the cell and a cancel must be sent).
    pub fn abandon(&self, resources: Box<dyn Any + Send>) -> bool {
        self.0.abandon(resources)
    }
}

impl Default for OpCell {
    fn default() -> Self {
        Self::new()
    }
}

/// One worker's time driver (`time::core::TimeDriver`, the shipped code
/// a worker owns and calls) and its timers. The model's thread that
/// creates it is the owner; other threads reach the wheel through a
/// [`TimerRemote`], as `scheduler::Shared` does, through the same
/// request queues. An owner that sleeps parks on a [`Parker`] whose
/// unparker the remote side wakes.
pub struct TimerModel {
    driver: std::sync::Arc<crate::time::core::TimeDriver>,
    remote: TimerRemote,
}

/// The watchdog's side of a [`TimerModel`]: `TimeDriver::process` called
/// from another thread while the owner is stuck in a poll, as
/// `Shared::rescue` does.
pub struct TimerRescuer(std::sync::Arc<crate::time::core::TimeDriver>);

impl TimerRescuer {
    /// One round of `TimeDriver::process` at time `now`, off the owner.
    pub fn process(&self, now: u64) -> usize {
        self.0.process(|| now)
    }
}

/// The other threads' side of a [`TimerModel`]: `TimerQueues::register`
/// and `TimerQueues::cancel` with the owner's wake-up, as
/// `Shared::register_timer_remote` and `Shared::cancel_timer` call them.
#[derive(Clone)]
pub struct TimerRemote(std::sync::Arc<RemoteTimers>);

struct RemoteTimers {
    timers: Vec<std::sync::Arc<crate::time::core::TimerShared>>,
    requests: std::sync::Arc<crate::time::core::TimerQueues>,
    owner: Option<Unparker>,
}

impl TimerModel {
    /// `n` timers, none registered; nobody is woken (the owner never
    /// sleeps).
    pub fn with_timers(n: usize) -> TimerModel {
        TimerModel::build(n, None)
    }

    /// `n` timers, none registered; requests wake the owner through
    /// `owner` (the unparker of the [`Parker`] it sleeps on).
    pub fn with_sleeping_owner(n: usize, owner: Unparker) -> TimerModel {
        TimerModel::build(n, Some(owner))
    }

    fn build(n: usize, owner: Option<Unparker>) -> TimerModel {
        let requests = std::sync::Arc::new(crate::time::core::TimerQueues::default());
        TimerModel {
            driver: std::sync::Arc::new(crate::time::core::TimeDriver::new(requests.clone())),
            remote: TimerRemote(std::sync::Arc::new(RemoteTimers {
                timers: (0..n)
                    .map(|_| crate::time::core::TimerShared::new(std::task::Waker::noop().clone()))
                    .collect(),
                requests,
                owner,
            })),
        }
    }

    /// The other threads' side.
    pub fn remote(&self) -> TimerRemote {
        self.remote.clone()
    }

    /// The watchdog's side.
    pub fn rescuer(&self) -> TimerRescuer {
        TimerRescuer(self.driver.clone())
    }

    /// Owner: a task on the owner registers timer `i`
    /// (`TimeDriver::insert_unless_due`). False when the wheel had already
    /// passed `ms` (the sleep completes without a timer).
    pub fn insert(&self, i: usize, ms: u64) -> bool {
        let timer = self.remote.0.timers[i].clone();
        self.driver.insert_unless_due(ms, || timer).is_some()
    }

    /// Owner: a task on the owner drops timer `i`'s future
    /// (`Registration::cancel`, then `TimeDriver::cancel`). True when it
    /// cancelled a waiting timer.
    pub fn cancel(&self, i: usize) -> bool {
        match self.remote.0.timers[i].cancel() {
            Some(stored) => {
                if let Some(key) = crate::time::core::stored_key(stored) {
                    self.driver.cancel(key);
                }
                true
            }
            None => false,
        }
    }

    /// Owner: a task on the owner resets timer `i`'s sleep to `ms`
    /// (`Sleep::reset` on the owning worker: `TimeDriver::rearm` with the
    /// timer's key). False when the timer was not moved: the reset then
    /// cancels it and registers a new one.
    pub fn rearm(&self, i: usize, ms: u64) -> bool {
        match self.remote.0.timers[i].key() {
            Some(key) => self.driver.rearm(key, ms),
            None => false,
        }
    }

    /// Owner: one round of `TimeDriver::process` at time `now`. Returns
    /// how many timers fired.
    pub fn process(&self, now: u64) -> usize {
        self.driver.process(|| now)
    }

    /// Owner: `TimeDriver::next_deadline`.
    pub fn next_deadline(&self) -> Option<u64> {
        self.driver.next_deadline()
    }

    /// Owner: `TimeDriver::shutdown`.
    pub fn shutdown(&self) {
        self.driver.shutdown();
    }

    /// Timers in the owner's wheel.
    pub fn in_wheel(&self) -> usize {
        self.driver.len()
    }

    /// Timers in the wheel or queued for it (the count tests read).
    pub fn registered(&self) -> usize {
        self.remote.0.requests.registered()
    }
}

impl TimerRemote {
    /// Registers timer `i` (deadline `ms`) and wakes the owner
    /// (`Shared::register_timer_remote` past its shutdown check). False
    /// when refused: the registrant then ends its sleep itself.
    pub fn register(&self, i: usize, ms: u64) -> bool {
        let r = &*self.0;
        r.requests
            .register(ms, r.timers[i].clone(), || r.wake_owner())
    }

    /// Drops timer `i`'s future (`Registration::cancel`, then
    /// `Shared::cancel_timer` off the owner). True when it cancelled a
    /// waiting timer.
    pub fn cancel(&self, i: usize) -> bool {
        let r = &*self.0;
        match r.timers[i].cancel() {
            Some(stored) => {
                if let Some(key) = crate::time::core::stored_key(stored) {
                    r.requests.cancel(key, || r.wake_owner());
                }
                true
            }
            None => false,
        }
    }

    /// Whether timer `i` fired.
    pub fn fired(&self, i: usize) -> bool {
        self.0.timers[i].is_fired()
    }

    /// Whether timer `i` was ended by the owner's shutdown.
    pub fn ended_by_shutdown(&self, i: usize) -> bool {
        self.0.timers[i].is_shut_down()
    }
}

impl RemoteTimers {
    fn wake_owner(&self) {
        if let Some(owner) = &self.owner {
            owner.unpark();
        }
    }
}

/// `TaskGroup`'s spawn (`GroupSpawner::spawn`) onto a test scheduler: the
/// shipped group code, with the scheduler's spawn in place of the
/// runtime's.
pub fn group_spawn<E, F>(
    scheduler: &TestScheduler,
    spawner: &crate::combinators::GroupSpawner<E>,
    future: F,
) -> Result<(), crate::combinators::GroupClosedError>
where
    E: Send + 'static,
    F: Future<Output = Result<(), E>> + Send + 'static,
{
    spawner.spawn_with(future, |child| scheduler.spawn(child))
}

/// A ring for the model of the driver's remote queue: the shipped
/// `driver::remote` code (remote queue, `closed` flag, cancel routing,
/// the cell's `queued` state) over a stand-in submission queue that logs
/// what the worker pushes, in order. The thread that creates it is the
/// ring's worker.
#[derive(Clone)]
pub struct RingModel(std::sync::Arc<ModelRing>);

struct ModelRing {
    remote: crate::driver::remote::RemoteQueue<ModelEntry>,
    sink: ModelSink,
    worker: crate::loom::thread::Thread,
}

/// A stand-in SQE: the kernel's reference to the cell.
struct ModelEntry(std::sync::Arc<crate::driver::op_cell::OpCell>);

enum Sqe {
    Op(std::sync::Arc<crate::driver::op_cell::OpCell>),
    Cancel(std::sync::Arc<crate::driver::op_cell::OpCell>),
}

/// The stand-in submission queue (touched by the worker only).
struct ModelSink {
    // A plain mutex: only the worker touches it, so loom need not
    // interleave it.
    sqes: crate::loom::plain::Mutex<Vec<Sqe>>,
}

impl crate::driver::remote::OpEntry for ModelEntry {
    fn cell(&self) -> &crate::driver::op_cell::OpCell {
        &self.0
    }
    fn into_cell(self) -> std::sync::Arc<crate::driver::op_cell::OpCell> {
        self.0
    }
}

impl crate::driver::remote::SubmissionSink for ModelSink {
    type Entry = ModelEntry;
    fn push_op(&self, entry: ModelEntry) {
        self.sqes.lock().push(Sqe::Op(entry.0));
    }
    fn push_cancel(&self, cell: std::sync::Arc<crate::driver::op_cell::OpCell>) {
        self.sqes.lock().push(Sqe::Cancel(cell));
    }
}

impl crate::driver::remote::Ring for ModelRing {
    type Sink = ModelSink;
    fn remote(&self) -> &crate::driver::remote::RemoteQueue<ModelEntry> {
        &self.remote
    }
    fn with_local<R>(&self, f: impl FnOnce(Option<&ModelSink>) -> R) -> R {
        if crate::loom::thread::current().id() == self.worker.id() {
            f(Some(&self.sink))
        } else {
            f(None)
        }
    }
    fn wake(&self) {}
}

/// An operation's future, as the model sees it.
pub struct ModelOp {
    cell: std::sync::Arc<crate::driver::op_cell::OpCell>,
    ring: std::sync::Arc<ModelRing>,
}

/// What the stand-in kernel did with the SQEs it was given.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct KernelOutcome {
    /// Operations submitted.
    pub submitted: usize,
    /// Cancels that found their operation in flight.
    pub cancelled: usize,
    /// Cancels that found nothing (`ENOENT`).
    pub missed: usize,
    /// Operations still in flight after every SQE was processed.
    pub in_flight: usize,
}

impl Default for RingModel {
    fn default() -> Self {
        Self::new()
    }
}

impl RingModel {
    /// A ring whose worker is the calling thread.
    pub fn new() -> RingModel {
        RingModel(std::sync::Arc::new(ModelRing {
            remote: Default::default(),
            sink: ModelSink {
                sqes: crate::loom::plain::Mutex::new(Vec::new()),
            },
            worker: crate::loom::thread::current(),
        }))
    }

    /// Starts an operation from this thread, as `Op::poll` does: straight
    /// into the submission queue on the worker, through the remote queue
    /// elsewhere.
    pub fn start_op(&self) -> ModelOp {
        use crate::driver::remote::{Ring, SubmissionSink};
        let cell =
            crate::driver::op_cell::OpCell::new(std::task::Waker::noop().clone(), false, None);
        let entry = ModelEntry(cell.clone());
        let local = self.0.with_local(|sink| match sink {
            Some(sink) => {
                sink.push_op(entry);
                None
            }
            None => Some(entry),
        });
        if let Some(entry) = local {
            crate::driver::remote::submit_remote(&*self.0, entry);
        }
        ModelOp {
            cell,
            ring: self.0.clone(),
        }
    }

    /// The worker drains its remote queue (`Driver::drain_remote`).
    pub fn drain(&self) -> usize {
        self.0.remote.drain_into(&self.0.sink)
    }

    /// The worker closes its remote queue at shutdown.
    pub fn close(&self) {
        self.0.remote.close()
    }

    /// The stand-in kernel processes the SQEs pushed so far, in order: an
    /// op goes in flight; a cancel completes its op with `ECANCELED` if it
    /// is in flight, and finds nothing otherwise. With `shutdown`, the
    /// ops left in flight are then cancelled too (`ASYNC_CANCEL_ANY`).
    pub fn run_kernel(&self, shutdown: bool) -> KernelOutcome {
        let sqes: Vec<Sqe> = std::mem::take(&mut *self.0.sink.sqes.lock());
        let mut out = KernelOutcome::default();
        let mut in_flight: Vec<std::sync::Arc<crate::driver::op_cell::OpCell>> = Vec::new();
        let cancelled = crate::driver::op_cell::Completion {
            res: -libc::ECANCELED,
            flags: 0,
        };
        for sqe in sqes {
            match sqe {
                Sqe::Op(cell) => {
                    out.submitted += 1;
                    in_flight.push(cell);
                }
                Sqe::Cancel(target) => {
                    match in_flight
                        .iter()
                        .position(|c| std::sync::Arc::ptr_eq(c, &target))
                    {
                        Some(i) => {
                            out.cancelled += 1;
                            in_flight.swap_remove(i).complete(cancelled, false);
                        }
                        None => out.missed += 1,
                    }
                }
            }
        }
        if shutdown {
            for cell in in_flight.drain(..) {
                cell.complete(cancelled, false);
            }
        }
        out.in_flight = in_flight.len();
        // Ops still in flight keep their kernel reference (leaked, as a
        // ring that never completes them would).
        in_flight.into_iter().for_each(std::mem::forget);
        out
    }
}

impl ModelOp {
    /// The future polls: `Some(res)` once the op has completed.
    pub fn poll(&self) -> Option<i32> {
        match self.cell.poll(std::task::Waker::noop()) {
            crate::driver::op_cell::OpPoll::Pending => None,
            crate::driver::op_cell::OpPoll::Ready { completion, .. } => Some(completion.res),
        }
    }

    /// The future asks for the op to be cancelled and keeps waiting for
    /// its outcome (`Op::cancel_and_wait`, used by the conversions to std).
    pub fn request_cancel(&self) {
        crate::driver::remote::request_cancel(&*self.ring, &self.cell);
    }

    /// The future is dropped: `resources` move into the cell until the op
    /// ends, and the cancel is routed as the driver routes it.
    pub fn drop_future(self, resources: Box<dyn Any + Send>) {
        crate::driver::remote::abandon(&*self.ring, self.cell, resources);
    }
}
