// Over 500 lines: the hot path of one ring (submit, reap, deliver, park,
// shutdown drain, and the watchdog's rescue under the same lock) is one
// protocol; its cold setup lives in `setup.rs`, the owner's signal
// handler in `task_work.rs`.
//! The io_uring driver: one ring per worker.
//!
//! A worker parks by submitting its pending SQEs and waiting for one
//! completion in a single `io_uring_enter` (with a timeout equal to its next
//! timer deadline). Other threads wake it through an eventfd on which the
//! ring keeps a read armed; they only write the eventfd when the worker is
//! actually parked, so waking a busy worker costs no syscall (the park
//! routine both drivers share, `driver/parking.rs`). SQEs are pushed as tasks create operations and submitted
//! lazily: at every park and at the scheduler's maintenance ticks.
//! Completions are reaped at the same points and wake their tasks.
//!
//! Threads that are not workers of the runtime (the `block_on` thread, a
//! task's future polled elsewhere) hand their SQEs to a worker's remote
//! queue and wake it; cancellations of operations that live on another
//! worker's ring travel the same way.

use std::cell::{Cell, RefCell};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{
    AtomicBool, AtomicU64,
    Ordering::{Acquire, Relaxed, Release},
};
use std::sync::Arc;
use std::time::{Duration, Instant};

use io_uring::{opcode, squeue, types, IoUring};
use parking_lot::ReentrantMutex;

use crate::park::ParkState;

use crate::weak_list::WeakList;

use super::op_cell::{Completion, OpCell};
use super::parking::{self, Signal, Sleep};
use super::pool::{BufPool, POOL_GROUP};
use super::remote::{OpEntry, RemoteQueue, Ring, SubmissionSink};
use super::setup::{build_ring, probe_opcodes, RingFlags, SetupHook};
use super::user_data::UserData;

/// How long a worker waits at shutdown for its in-flight operations to
/// complete after cancelling them all.
const SHUTDOWN_DRAIN: Duration = Duration::from_secs(2);

/// `io_uring_enter`'s flag to wait for (and flush) completions.
const IORING_ENTER_GETEVENTS: u32 = 1;

/// Counters of one ring, readable from any thread.
#[derive(Default)]
pub(crate) struct RingStats {
    pub(crate) enters: AtomicU64,
    pub(crate) ops_submitted: AtomicU64,
    pub(crate) ops_completed: AtomicU64,
    pub(crate) parks: AtomicU64,
    /// Set once shutdown gave up on the kernel and leaked this ring.
    pub(crate) leaked: AtomicBool,
}

/// A snapshot of one ring's counters ([`UringShared::counters`]).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct RingCounters {
    pub(crate) enters: u64,
    pub(crate) ops_submitted: u64,
    pub(crate) ops_completed: u64,
    pub(crate) parks: u64,
}

fn bump(c: &AtomicU64) {
    // Only the ring's owner writes: no read-modify-write needed.
    c.store(c.load(Relaxed) + 1, Relaxed);
}

/// An operation's SQE whose `user_data` is the kernel's reference to its
/// cell (from `Arc::into_raw`), owned by the entry until it is pushed into
/// the ring or taken back with `into_cell`.
pub(crate) struct RingEntry(squeue::Entry);

impl RingEntry {
    /// Tags `entry` with `cell`, giving it the kernel's reference.
    pub(crate) fn new(entry: squeue::Entry, cell: Arc<OpCell>) -> RingEntry {
        RingEntry(entry.user_data(UserData::op(cell)))
    }

    fn cell_ptr(&self) -> *const OpCell {
        self.0.get_user_data() as *const OpCell
    }
}

impl OpEntry for RingEntry {
    fn cell(&self) -> &OpCell {
        // SAFETY: `user_data` is the reference `new` took with
        // `Arc::into_raw`, which the entry owns while it lives.
        unsafe { &*self.cell_ptr() }
    }

    fn into_cell(self) -> Arc<OpCell> {
        // SAFETY: as above; the entry is consumed, so its reference moves
        // into the returned `Arc` (never reaching the kernel).
        unsafe { Arc::from_raw(self.cell_ptr()) }
    }
}

/// The part of a worker's driver that other threads touch.
pub(crate) struct UringShared {
    park: ParkState,
    eventfd: OwnedFd,
    remote: RemoteQueue<RingEntry>,
    pub(crate) stats: RingStats,
    /// The setup flags the ring got, once it is built (for metrics).
    flags: std::sync::OnceLock<RingFlags>,
    /// The ring's receive-buffer pool, once registered (5.19+).
    pool: std::sync::OnceLock<Arc<BufPool>>,
    /// The opcodes the kernel has (one bit each, from its probe), once the
    /// ring is built.
    opcodes: std::sync::OnceLock<[u64; 4]>,
    /// Set when the owner starts its shutdown: from then on a cancelled
    /// completion is the shutdown's doing (`is_shutting_down`).
    shutting_down: AtomicBool,
    /// Test switch: cancel at shutdown as on kernels before 5.19, which
    /// reject `IORING_ASYNC_CANCEL_ANY`.
    #[cfg(test)]
    pub(crate) without_cancel_any: AtomicBool,
    /// Test switch: act as on Linux 5.11, without the opcodes added since
    /// (`uring_call::newer_opcode`): their calls go to the blocking pool.
    #[cfg(test)]
    pub(crate) baseline_opcodes_only: AtomicBool,
}

impl UringShared {
    pub(crate) fn new() -> io::Result<Arc<UringShared>> {
        // SAFETY: plain syscall; the returned fd is checked.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Arc::new(UringShared {
            park: ParkState::new(),
            // SAFETY: `fd` is a fresh descriptor we own.
            eventfd: unsafe { OwnedFd::from_raw_fd(fd) },
            remote: RemoteQueue::default(),
            stats: RingStats::default(),
            flags: std::sync::OnceLock::new(),
            pool: std::sync::OnceLock::new(),
            opcodes: std::sync::OnceLock::new(),
            shutting_down: AtomicBool::new(false),
            #[cfg(test)]
            without_cancel_any: AtomicBool::new(false),
            #[cfg(test)]
            baseline_opcodes_only: AtomicBool::new(false),
        }))
    }

    /// True once the owner started its shutdown: an operation completed
    /// with `ECANCELED` was ended by it, and fails as on epoll
    /// (`driver::shutting_down`).
    pub(crate) fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Acquire)
    }

    /// The setup flags the ring got (all false until it is built).
    pub(crate) fn flags(&self) -> RingFlags {
        self.flags.get().copied().unwrap_or_default()
    }

    /// A snapshot of the ring's counters.
    pub(crate) fn counters(&self) -> RingCounters {
        let s = &self.stats;
        // Parks first: each park is counted after its enter, so the
        // snapshot never shows more parks than enters.
        let parks = s.parks.load(Acquire);
        RingCounters {
            parks,
            enters: s.enters.load(Relaxed),
            ops_submitted: s.ops_submitted.load(Relaxed),
            ops_completed: s.ops_completed.load(Relaxed),
        }
    }

    /// Whether the kernel has `opcode` (its probe said so). False until the
    /// ring is built and probed: a call that needs a newer opcode then
    /// runs on the blocking pool, which never fails for want of one.
    pub(crate) fn has_opcode(&self, opcode: u8) -> bool {
        #[cfg(test)]
        if self.baseline_opcodes_only.load(Relaxed) {
            return false;
        }
        self.opcodes
            .get()
            .is_some_and(|bits| bits[usize::from(opcode / 64)] & (1 << (opcode % 64)) != 0)
    }

    /// The ring's provided-buffer pool (`None` where the kernel has no
    /// buffer rings, or registration failed).
    pub(crate) fn pool(&self) -> Option<&Arc<BufPool>> {
        self.pool.get()
    }

    /// Wakes the worker if it is parked on its ring (one eventfd write);
    /// otherwise only marks it notified (`driver/parking.rs`).
    pub(crate) fn unpark(&self) {
        parking::unpark(&self.park, self);
    }
}

impl Signal for UringShared {
    fn signal(&self) {
        parking::write_eventfd(&self.eventfd);
    }
}

impl Ring for UringShared {
    type Sink = UringDriver;

    fn remote(&self) -> &RemoteQueue<RingEntry> {
        &self.remote
    }

    fn with_local<R>(&self, f: impl FnOnce(Option<&UringDriver>) -> R) -> R {
        super::context::with_local(|d| match d.and_then(|d| d.uring()) {
            Some(d) if std::ptr::eq(&**d.shared(), self) => f(Some(d)),
            _ => f(None),
        })
    }

    fn wake(&self) {
        self.unpark();
    }
}

impl SubmissionSink for UringDriver {
    type Entry = RingEntry;

    fn push_op(&self, entry: RingEntry) {
        self.core.lock().push_op(entry)
    }

    fn push_cancel(&self, cell: Arc<OpCell>) {
        self.core.lock().push_cancel(cell)
    }
}

/// A worker's ring. Its owner uses it between polls (and pushes SQEs
/// during them); the watchdog delivers its completions while the owner
/// is stuck in a poll (`rescue`). One reentrant lock serves both: the
/// owner's lock is uncontended but for a rescue, and a delivery that
/// pushes (a waker dropping an op on this very ring) re-enters it.
pub(crate) struct UringDriver {
    core: ReentrantMutex<RingCore>,
    shared: Arc<UringShared>,
}

impl UringDriver {
    /// Creates the ring; called on the worker's own thread.
    pub(crate) fn new(
        shared: Arc<UringShared>,
        simulate: SetupHook,
        pool: (u16, usize),
    ) -> io::Result<UringDriver> {
        Ok(UringDriver {
            core: ReentrantMutex::new(RingCore::new(shared.clone(), simulate, pool)?),
            shared,
        })
    }

    pub(crate) fn shared(&self) -> &Arc<UringShared> {
        &self.shared
    }

    /// See [`RingCore::push`].
    pub(crate) fn push(&self, entry: &squeue::Entry, counts_as_op: bool) {
        self.core.lock().push(entry, counts_as_op)
    }

    pub(crate) fn maintain(&self) -> usize {
        self.core.lock().maintain()
    }

    pub(crate) fn park(&self, timeout: Option<Duration>) -> usize {
        self.core.lock().park(timeout)
    }

    pub(crate) fn turn(&self, timeout: Duration) -> usize {
        self.core.lock().turn(timeout)
    }

    pub(crate) fn shutdown(&self) {
        self.core.lock().shutdown();
        // Called on the owner's thread: its signal handler has no ring to
        // submit any more.
        super::task_work::set_thread_ring(-1);
    }

    /// The watchdog's service of a ring whose owner is stuck in a poll
    /// (`thread` is the owner's thread id): delivers the completions the
    /// kernel posted, and, when the ring holds SQEs the owner queued or
    /// task work the owner must run, interrupts the owner so it submits
    /// them and posts the completions (`task_work.rs`). Skipped while the
    /// owner holds the ring (it is then not stuck in user code, or is
    /// about to park).
    ///
    /// The watchdog itself submits nothing: a request's completion is
    /// posted by task work of the thread that submitted it, and the
    /// watchdog may sleep untimed (where nothing would run that work).
    /// When a multi-shot op reaches its queue limit in its reap, it only
    /// queues the op's cancel and has the owner submit it, as above.
    /// The remote queue waits for the owner (requests from outside the
    /// workers avoid a worker being rescued).
    pub(crate) fn rescue(&self, thread: i32) -> usize {
        match self.core.try_lock() {
            Some(core) => core.rescue(thread),
            None => 0,
        }
    }
}

impl SubmissionSink for RingCore {
    type Entry = RingEntry;

    fn push_op(&self, entry: RingEntry) {
        self.remember_remote(&entry);
        // The entry's reference to its cell now belongs to the kernel.
        self.push(&entry.0, true);
    }

    fn push_cancel(&self, cell: Arc<OpCell>) {
        let target = Arc::as_ptr(&cell) as u64;
        let entry = opcode::AsyncCancel::new(target)
            .build()
            .user_data(UserData::cancel_of(cell));
        self.push(&entry, false);
    }
}

/// A worker's ring and its bookkeeping, under [`UringDriver`]'s lock.
pub(crate) struct RingCore {
    ring: RefCell<Option<IoUring>>,
    shared: Arc<UringShared>,
    flags: RingFlags,
    /// Where the armed eventfd read writes (owned by the kernel while armed).
    eventfd_buf: *mut u64,
    eventfd_armed: Cell<bool>,
    /// The timespec of an armed IORING_OP_TIMEOUT (kernels without EXT_ARG).
    timeout_ts: *mut types::Timespec,
    timeout_armed: Cell<bool>,
    /// Operations submitted whose final CQE has not arrived.
    in_flight: Cell<usize>,
    /// SQEs pushed but not yet submitted.
    unsubmitted: Cell<usize>,
    cqes: RefCell<Vec<(u64, i32, u32)>>,
    /// Operations submitted for other threads (`block_on` outside the
    /// runtime): their futures can outlive the runtime, so shutdown
    /// cancels them one by one, as kernels before 5.19 require. Dead
    /// entries are pruned as the list grows.
    remote_ops: RefCell<WeakList<OpCell>>,
    /// Set while the watchdog delivers for a stuck owner: nothing is
    /// submitted (see [`UringDriver::rescue`]).
    rescuing: Cell<bool>,
    /// Multi-shot ops the watchdog found at their queue limit while the SQ
    /// had no room for their cancel: the owner sends it at its next submit.
    throttles_pending: RefCell<Vec<Arc<OpCell>>>,
}

// SAFETY: the raw pointers are boxes the core owns (handed to the kernel
// while an eventfd read or a timeout is armed); the ring is set up without
// SINGLE_ISSUER, so another thread may reap it (the watchdog submits
// nothing: see `UringDriver::rescue`); and every access goes through
// `UringDriver`'s lock, so the cells are never touched by two threads at
// once.
unsafe impl Send for RingCore {}

impl RingCore {
    fn new(
        shared: Arc<UringShared>,
        simulate: SetupHook,
        (pool_buffers, pool_buffer_size): (u16, usize),
    ) -> io::Result<RingCore> {
        let (ring, flags) = build_ring(simulate)?;
        // This thread's handler of the watchdog's signal submits here.
        super::task_work::set_thread_ring(ring.as_raw_fd());
        let _ = shared.flags.set(flags);
        let _ = shared.opcodes.set(probe_opcodes(&ring));
        let pool = (pool_buffers > 0).then(|| BufPool::new(pool_buffers, pool_buffer_size));
        if let Some(Ok(pool)) = pool {
            // SAFETY: the pool's ring memory is page-aligned, holds
            // `entries` entries and outlives the ring: the pool is freed
            // only after the ring (or leaked with it).
            let registered = unsafe {
                ring.submitter().register_buf_ring_with_flags(
                    pool.ring_addr(),
                    pool.entries(),
                    POOL_GROUP,
                    0,
                )
            };
            if registered.is_ok() {
                let _ = shared.pool.set(Arc::new(pool));
            }
        }
        Ok(RingCore {
            ring: RefCell::new(Some(ring)),
            shared,
            flags,
            eventfd_buf: Box::into_raw(Box::new(0u64)),
            eventfd_armed: Cell::new(false),
            timeout_ts: Box::into_raw(Box::new(types::Timespec::new())),
            timeout_armed: Cell::new(false),
            in_flight: Cell::new(0),
            unsubmitted: Cell::new(0),
            cqes: RefCell::new(Vec::with_capacity(64)),
            remote_ops: RefCell::new(WeakList::default()),
            rescuing: Cell::new(false),
            throttles_pending: RefCell::new(Vec::new()),
        })
    }

    /// See [`UringDriver::rescue`].
    fn rescue(&self, thread: i32) -> usize {
        self.rescuing.set(true);
        let interrupted = self.task_work_pending() || self.sqes_pending();
        if interrupted {
            super::task_work::interrupt(thread);
        }
        let n = self.reap();
        // A multi-shot op that reached its limit in this reap had its
        // cancel queued: the owner's handler submits it now, or the kernel
        // would go on accepting for as long as the owner is stuck.
        if !interrupted && self.sqes_pending() {
            super::task_work::interrupt(thread);
        }
        self.rescuing.set(false);
        n
    }

    /// Cancels a multi-shot op that queued as many results as its limit
    /// (its future resubmits once they are taken). The owner submits the
    /// cancel at once: every result until the kernel sees it overshoots
    /// the limit. The watchdog queues it where the SQ has room (its
    /// caller then has the owner submit it), else leaves it to the owner.
    fn throttle(&self, cell: Arc<OpCell>) {
        if !self.rescuing.get() {
            self.push_cancel(cell);
            self.submit(true);
        } else if self.sq_full() {
            self.throttles_pending.borrow_mut().push(cell);
        } else {
            // Room in the SQ: `push` cannot loop on a full queue (which it
            // would, as the watchdog submits nothing).
            self.push_cancel(cell);
        }
    }

    fn sq_full(&self) -> bool {
        let mut ring = self.ring.borrow_mut();
        let ring = ring.as_mut().expect("ring alive");
        let full = ring.submission().is_full();
        full
    }

    /// SQEs in the ring that the kernel has not consumed (pushed by the
    /// owner, not yet submitted).
    fn sqes_pending(&self) -> bool {
        let mut ring = self.ring.borrow_mut();
        let ring = ring.as_mut().expect("ring alive");
        let pending = !ring.submission().is_empty();
        pending
    }

    fn task_work_pending(&self) -> bool {
        let mut ring = self.ring.borrow_mut();
        let ring = ring.as_mut().expect("ring alive");
        let pending = ring.submission().taskrun();
        pending
    }

    /// Pushes an SQE whose resources stay alive until its completion.
    /// Never drops it: when the queue is full, submits to make room.
    pub(crate) fn push(&self, entry: &squeue::Entry, counts_as_op: bool) {
        loop {
            let pushed = {
                let mut guard = self.ring.borrow_mut();
                let ring = guard.as_mut().expect("ring alive while the worker runs");
                let mut sq = ring.submission();
                // SAFETY: every SQE we push points only into memory owned
                // by an operation cell (or the driver) that stays alive
                // until the SQE's completion is reaped.
                let ok = unsafe { sq.push(entry).is_ok() };
                drop(sq);
                ok
            };
            if pushed {
                break;
            }
            // The SQ is full: hand it to the kernel and reap, then retry.
            self.submit(false);
            self.reap();
        }
        self.unsubmitted.set(self.unsubmitted.get() + 1);
        if counts_as_op {
            self.in_flight.set(self.in_flight.get() + 1);
            bump(&self.shared.stats.ops_submitted);
        }
    }

    /// Submits pending SQEs without waiting.
    fn submit(&self, force: bool) {
        if self.rescuing.get() {
            self.flush_overflow();
            return;
        }
        let pending = std::mem::take(&mut *self.throttles_pending.borrow_mut());
        for cell in pending {
            self.push_cancel(cell);
        }
        if self.unsubmitted.get() == 0 && !force && !self.needs_enter() {
            return;
        }
        let ring = self.ring.borrow();
        let ring = ring.as_ref().expect("ring alive");
        bump(&self.shared.stats.enters);
        match ring.submit() {
            Ok(_) => self.unsubmitted.set(0),
            Err(e) if matches!(e.raw_os_error(), Some(libc::EBUSY) | Some(libc::EAGAIN)) => {
                // The CQ is full (or resources are short): the caller reaps
                // and we will submit again.
            }
            Err(e) if e.raw_os_error() == Some(libc::EINTR) => {}
            Err(e) => eprintln!("ferrio: io_uring submit failed: {e}"),
        }
    }

    /// For the watchdog: flushes completions the kernel held back on a
    /// CQ overflow, submitting nothing.
    fn flush_overflow(&self) {
        let overflow = {
            let mut ring = self.ring.borrow_mut();
            let ring = ring.as_mut().expect("ring alive");
            let overflow = ring.submission().cq_overflow();
            overflow
        };
        if overflow {
            let ring = self.ring.borrow();
            let ring = ring.as_ref().expect("ring alive");
            // SAFETY: no submission and no argument: the call only flushes
            // the overflowed completions into the CQ.
            let _ = unsafe {
                ring.submitter()
                    .enter::<libc::sigset_t>(0, 0, IORING_ENTER_GETEVENTS, None)
            };
        }
    }

    /// True when the kernel has completions or task work for us that only
    /// an enter with GETEVENTS delivers.
    fn needs_enter(&self) -> bool {
        let mut ring = self.ring.borrow_mut();
        let ring = ring.as_mut().expect("ring alive");
        let sq = ring.submission();
        sq.cq_overflow() || sq.taskrun()
    }

    /// Moves requests from other threads into the ring; returns how many
    /// operations it submitted.
    fn drain_remote(&self) -> usize {
        self.shared.remote.drain_into(self)
    }

    fn remember_remote(&self, entry: &RingEntry) {
        // SAFETY: the entry owns a reference from `Arc::into_raw`;
        // borrowed here without taking it over.
        let cell = std::mem::ManuallyDrop::new(unsafe { Arc::from_raw(entry.cell_ptr()) });
        self.remote_ops.borrow_mut().push(&cell);
    }

    /// Reaps every available completion and delivers it. Returns how many.
    pub(crate) fn reap(&self) -> usize {
        let mut total = 0;
        loop {
            // The buffer is taken out of its cell for the delivery, so user
            // code run by a delivery (a waker, a dropped buffer) that ends
            // up back in `reap` cannot hit a double borrow.
            let mut cqes = std::mem::take(&mut *self.cqes.borrow_mut());
            {
                let mut ring = self.ring.borrow_mut();
                let ring = ring.as_mut().expect("ring alive");
                for cqe in ring.completion() {
                    cqes.push((cqe.user_data(), cqe.result(), cqe.flags()));
                }
            }
            if cqes.is_empty() {
                *self.cqes.borrow_mut() = cqes;
                break;
            }
            total += cqes.len();
            // Deliver outside the ring borrow: wakers and dropped resources
            // run user code.
            for (user_data, res, flags) in cqes.drain(..) {
                self.deliver(user_data, res, flags);
            }
            *self.cqes.borrow_mut() = cqes;
            // Completions the kernel buffered on CQ overflow are flushed by
            // another enter; keep going until the queue stays empty.
            if self.needs_enter() {
                self.submit(true);
            }
        }
        total
    }

    fn deliver(&self, user_data: u64, res: i32, flags: u32) {
        match UserData::decode(user_data) {
            UserData::Eventfd => self.eventfd_armed.set(false),
            UserData::Timeout => self.timeout_armed.set(false),
            UserData::Cancel => {}
            UserData::CancelOf(cell) => {
                // SAFETY: `cell` is the reference `push_cancel` gave to its
                // ASYNC_CANCEL (`UserData::cancel_of`); this is that SQE's
                // only CQE.
                drop(unsafe { Arc::from_raw(cell) });
            }
            UserData::Op(cell) => {
                let more = io_uring::cqueue::more(flags);
                if !more {
                    // Counted before the wake, so a woken waiter sees it.
                    bump(&self.shared.stats.ops_completed);
                }
                // SAFETY: non-token user_data is a pointer from
                // `Arc::into_raw` of an OpCell; the kernel's reference is
                // alive until the last CQE, which releases it below.
                let last = unsafe { (*cell).complete(Completion { res, flags }, more) };
                // SAFETY: the cell is alive (the kernel's reference).
                if !last && unsafe { (*cell).take_throttle() } {
                    // SAFETY: as above; the cancel gets its own reference.
                    let arc = unsafe {
                        Arc::increment_strong_count(cell);
                        Arc::from_raw(cell)
                    };
                    self.throttle(arc);
                }
                if last {
                    // SAFETY: the last CQE of the op: drop the reference
                    // the SQE carried.
                    drop(unsafe { Arc::from_raw(cell) });
                    self.in_flight.set(self.in_flight.get() - 1);
                }
            }
        }
    }

    fn arm_eventfd(&self) {
        if self.eventfd_armed.get() {
            return;
        }
        let entry = opcode::Read::new(
            types::Fd(self.shared.eventfd.as_raw_fd()),
            self.eventfd_buf as *mut u8,
            8,
        )
        .build()
        .user_data(UserData::EVENTFD);
        self.push(&entry, false);
        self.eventfd_armed.set(true);
    }

    /// Submits, reaps, and handles requests from other threads; no waiting.
    pub(crate) fn maintain(&self) -> usize {
        self.drain_remote();
        self.submit(false);
        self.reap()
    }

    /// Parks the worker on its ring until a completion, a wake-up from
    /// another thread, or the timeout. Returns how many completions were
    /// delivered.
    pub(crate) fn park(&self, timeout: Option<Duration>) -> usize {
        self.drain_remote();
        parking::park(&self.shared.park, self, timeout)
    }

    /// Blocks the worker on its own ring (not parking it: wake-ups from
    /// other threads are not awaited) until a completion arrives or
    /// `timeout` passes, then delivers what arrived. For a caller on the
    /// worker that must see an operation's outcome before it returns.
    pub(crate) fn turn(&self, timeout: Duration) -> usize {
        self.drain_remote();
        self.wait(Some(timeout));
        self.drain_remote();
        self.reap()
    }

    /// One `io_uring_enter`: submit everything and wait for one CQE.
    fn wait(&self, timeout: Option<Duration>) {
        let ts = timeout.map(|t| {
            types::Timespec::new()
                .sec(t.as_secs())
                .nsec(t.subsec_nanos())
        });
        if let (Some(ts), false) = (&ts, self.flags.ext_arg) {
            if !self.timeout_armed.get() {
                // SAFETY: the timespec lives in the driver until the
                // timeout's CQE (`UserData::Timeout`) arrives.
                unsafe { *self.timeout_ts = *ts };
                let entry = opcode::Timeout::new(self.timeout_ts)
                    .count(1)
                    .build()
                    .user_data(UserData::TIMEOUT);
                self.push(&entry, false);
                self.timeout_armed.set(true);
            }
        }
        let ring = self.ring.borrow();
        let ring = ring.as_ref().expect("ring alive");
        bump(&self.shared.stats.enters);
        let res = match (&ts, self.flags.ext_arg) {
            (Some(ts), true) => {
                let args = types::SubmitArgs::new().timespec(ts);
                ring.submitter().submit_with_args(1, &args)
            }
            _ => ring.submit_and_wait(1),
        };
        match res {
            Ok(_) => self.unsubmitted.set(0),
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ETIME) | Some(libc::EINTR) | Some(libc::EBUSY)
                ) =>
            {
                // Timed out, interrupted, or the CQ needs reaping first:
                // what was submitted before the error stays submitted.
                if e.raw_os_error() == Some(libc::ETIME) {
                    self.unsubmitted.set(0);
                }
            }
            Err(e) => eprintln!("ferrio: io_uring wait failed: {e}"),
        }
    }

    /// Asks the kernel to cancel every operation on this ring.
    ///
    /// Operations of dropped futures were each cancelled by their drop; at
    /// shutdown every task is dropped first. What is left: the driver's
    /// own eventfd read and timeout, and operations submitted for threads
    /// outside the runtime, whose futures live on. Those are cancelled one
    /// by one, which every kernel supports; `IORING_ASYNC_CANCEL_ANY`
    /// (5.19+; older kernels answer it `EINVAL`) also catches an op whose
    /// future was moved out of its task.
    fn cancel_everything(&self) {
        #[cfg(test)]
        let cancel_any = !self.shared.without_cancel_any.load(Relaxed);
        #[cfg(not(test))]
        let cancel_any = true;
        if cancel_any {
            let any = opcode::AsyncCancel2::new(types::CancelBuilder::any())
                .build()
                .user_data(UserData::CANCEL);
            self.push(&any, false);
        }
        let remote_ops = self.remote_ops.borrow_mut().take_live();
        for cell in remote_ops {
            // A finished op answers ENOENT: harmless.
            self.push_cancel(cell);
        }
        if self.eventfd_armed.get() {
            let read = opcode::AsyncCancel::new(UserData::EVENTFD)
                .build()
                .user_data(UserData::CANCEL);
            self.push(&read, false);
        }
        if self.timeout_armed.get() {
            let timeout = opcode::TimeoutRemove::new(UserData::TIMEOUT)
                .build()
                .user_data(UserData::CANCEL);
            self.push(&timeout, false);
        }
    }

    /// Cancels everything in flight and waits (bounded) for the kernel to
    /// let go of every buffer. If it does not in time, the ring and the
    /// operations' resources are leaked rather than freed under the
    /// kernel's feet.
    pub(crate) fn shutdown(&self) {
        self.shared.shutting_down.store(true, Release);
        self.drain_remote();
        self.cancel_everything();
        let deadline = Instant::now() + SHUTDOWN_DRAIN;
        loop {
            if self.drain_remote() > 0 {
                // Operations queued by other threads before the flag was
                // seen arrive late: cancel them too.
                self.cancel_everything();
            }
            self.submit(true);
            self.reap();
            let busy =
                self.in_flight.get() > 0 || self.eventfd_armed.get() || self.timeout_armed.get();
            let now = Instant::now();
            if !busy || now >= deadline {
                break;
            }
            self.wait(Some((deadline - now).min(Duration::from_millis(10))));
        }
        // From now on nothing drains the remote queue: close it, and finish
        // what arrived after the last drain as cancelled.
        self.shared.remote.close();
        if self.in_flight.get() > 0 || self.eventfd_armed.get() || self.timeout_armed.get() {
            self.shared.stats.leaked.store(true, Relaxed);
            eprintln!(
                "ferrio: {} io_uring operations did not complete within {:?} of shutdown; \
                 leaking their ring and buffers rather than freeing memory the kernel may \
                 still write",
                self.in_flight.get(),
                SHUTDOWN_DRAIN
            );
            if let Some(ring) = self.ring.borrow_mut().take() {
                std::mem::forget(ring);
                // Its buffer pool may still be written by the kernel too.
                std::mem::forget(self.shared.pool().cloned());
            }
        }
    }
}

/// The ring under the common park routine (`driver/parking.rs`).
impl Sleep for RingCore {
    fn poll_now(&self) -> usize {
        self.maintain()
    }

    /// Sleeps in `io_uring_enter` with the eventfd's read armed; what
    /// arrived is reaped in `woken`, once the worker is no longer parked.
    fn sleep(&self, timeout: Option<Duration>) -> usize {
        self.arm_eventfd();
        self.wait(timeout);
        // Counted after its enter, with Release: a reader that loads
        // `parks` (Acquire) before `enters` never sees more parks than
        // enters.
        let parks = &self.shared.stats.parks;
        parks.store(parks.load(Relaxed) + 1, Release);
        0
    }

    fn woken(&self) -> usize {
        self.drain_remote();
        self.reap()
    }
}

impl Drop for RingCore {
    fn drop(&mut self) {
        let ring = self.ring.get_mut().take();
        let kernel_done = ring.is_some()
            && self.in_flight.get() == 0
            && !self.eventfd_armed.get()
            && !self.timeout_armed.get();
        if kernel_done {
            drop(ring);
            // SAFETY: no SQE refers to these any more (their CQEs arrived)
            // and they came from Box::into_raw.
            unsafe {
                drop(Box::from_raw(self.eventfd_buf));
                drop(Box::from_raw(self.timeout_ts));
            }
        } else if let Some(ring) = ring {
            // The kernel may still write: leak rather than free.
            std::mem::forget(ring);
            std::mem::forget(self.shared.pool().cloned());
        }
    }
}
