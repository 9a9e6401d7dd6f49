//! The I/O drivers: one io_uring ring per worker (`ring`), or, where
//! io_uring is unavailable, one epoll instance per worker (`epoll`),
//! behind one enum (`worker_driver`). An operation is described once,
//! backend-neutrally (`call`); each backend translates it: into an SQE
//! (`uring_call`), or into a plain system call after readiness or on the
//! blocking pool (`epoll_op` over `plain_call` and `ready_loop`). Around
//! them: the op futures (`op_future`), the ring's completion cell
//! (`op_cell`), the requests other threads make of a ring (`remote`), a
//! descriptor's readiness on epoll (`readiness`), the descriptor shared
//! with its operations (`fd`). `op_cell`, `remote`, `readiness`,
//! `ready_loop`, `epoll_set` and `parking` are also compiled under loom.
//!
//! **Adding a backend** (a simulator, say): one file that turns each
//! `Call` into its own operation and returns CQE-shaped `Completion`s, one
//! variant in `worker_driver`'s enums, one arm in `op_future`'s `Stage`.
//! The op kinds in net/, fs/, io/ and process/ do not change.
//!
//! # The io_uring driver
//!
//! - **One ring per worker**, created on the worker's own thread. Setup
//!   asks for `COOP_TASKRUN | TASKRUN_FLAG` (plain on `EINVAL`), and not
//!   for `SINGLE_ISSUER` or `DEFER_TASKRUN`: the watchdog must be able to
//!   reap a stuck worker's ring (`scheduler/watchdog.rs`), which both
//!   forbid. `Handle::metrics()` reports what each ring got.
//! - **Park** = one `io_uring_enter`: submit everything, wait for one CQE, with
//!   the next timer deadline as timeout (`EXT_ARG`, 5.11+; otherwise an
//!   `IORING_OP_TIMEOUT` with count 1). A read of the worker's eventfd is kept
//!   armed while it sleeps; other threads write the eventfd only when the park
//!   state says PARKED.
//! - **Batching**: SQEs are pushed as tasks create operations and submitted at
//!   the next park or maintenance tick, not one syscall per op. A full SQ is
//!   submitted and reaped, then the push retried (never dropped, never hung);
//!   a CQ overflow (or pending task work) triggers another enter until clear.
//! - **Operations** (`op_cell.rs`, `op_future.rs`): each op has one
//!   `Arc`'d cell; the SQE's `user_data` is that `Arc`'s pointer, a reference
//!   owned by the kernel until the op's last CQE (multi-shot ops keep it while
//!   `IORING_CQE_F_MORE` is set). The future owns its resources (buffers are
//!   owned, `(io::Result<T>, buf)` style). **Invariant: no resource the kernel
//!   may touch is freed before the op's final CQE.** A future dropped early
//!   moves its resources into the cell and sends an `ASYNC_CANCEL`; the final
//!   CQE frees them. An op that yields a descriptor (accept, open) closes one
//!   that arrives after the drop.
//! - **Multi-shot ops** (`MultiOp`): one SQE, many CQEs (`IORING_CQE_F_MORE`);
//!   when the kernel ends one (an error such as `EMFILE`, a full CQ) the next
//!   poll submits it again. Used by `incoming()` (multi-shot accept, 5.19+,
//!   single-shot accepts after an `EINVAL`). Completions queued when the
//!   stream is dropped are released: descriptors closed, buffers recycled.
//! - **Buffer pool** (`driver/pool.rs`): each ring registers a provided-buffer
//!   ring (`IORING_REGISTER_PBUF_RING`, 5.19+) of 128 × 16 KiB buffers
//!   (`Builder::recv_buffer_pool` sets the count and size, or turns it off). A
//!   pooled receive (`IOSQE_BUFFER_SELECT`) takes a buffer only when data
//!   arrives, so a waiting connection pins none. Invariants: a buffer id is
//!   either in the ring or held by exactly one owner (a `RecvBuf`, or the
//!   cell of an abandoned op, which recycles it); the ring has as many
//!   entries as buffers, so writing at our tail never overwrites an entry
//!   the kernel has not consumed; entries are written before the tail is
//!   published (release store). Returns come from any thread, under a mutex.
//!   An empty pool (`ENOBUFS`) falls back to an allocated buffer; a kernel
//!   without buffer rings gets plain receives. Receives are single-shot with
//!   buffer select, not multi-shot: a multi-shot receive keeps taking pool
//!   buffers while the application is not reading, so one fast sender to a
//!   slow reader could drain the worker's whole pool and starve every other
//!   connection on it; one receive per read call bounds each connection to
//!   one buffer and keeps TCP's own flow control in charge.
//! - **Streaming** (`op_future.rs`): a socket whose last receive filled
//!   its buffer tries its next receive or send as a plain `MSG_DONTWAIT`
//!   call before going to the ring, so a large message moves in plain
//!   calls instead of a park and a wake-up per chunk; `EAGAIN` ends it.
//! - **Which ring**: an op is submitted on the ring of the worker polling it;
//!   its completion wakes the task wherever it runs next. From a thread that
//!   is not a worker (the `block_on` thread) the SQE goes to a worker's remote
//!   queue (round robin) and that worker is woken. A cancel for an op on
//!   another worker's ring goes through that ring's remote queue.
//! - **Submit before cancel**: an op's SQE reaches its ring before any cancel
//!   aimed at it. An op dropped while its SQE still waits in a remote queue
//!   sends no cancel: its cell is marked `queued`, and the drain finishes it
//!   as cancelled without submitting it; a drop racing the drain is ordered
//!   by the cell's lock (`begin_submit`/`end_submit`: the worker pushes the
//!   cancel right behind the SQE). Modelled in `loom-tests/tests/driver.rs`
//!   over a stand-in submission queue (`driver::remote`).
//! - **Conversions**: `into_split` gives the write half the write in flight;
//!   `into_std_parts` cancels a pending receive, waits for its outcome and
//!   returns the bytes received and not yet read (`into_std` refuses to drop
//!   any).
//! - **A stuck worker** (a task blocking in a long poll): the watchdog
//!   delivers its ring's completions under the ring's lock (`ring.rs`,
//!   `UringDriver::rescue`) and has the owner's thread submit its queued
//!   SQEs and run its task work (`task_work.rs`); on epoll it collects
//!   the instance's events. The tasks woken run on other workers.
//! - **Shutdown**: all tasks are dropped first (each dropped op cancels
//!   itself by its `user_data`), then each worker cancels what is left: its
//!   own eventfd read and timeout by token, the ops it submitted for threads
//!   outside the runtime (kept as weak references; their futures outlive the
//!   runtime and fail with `driver::shutting_down`, as on epoll) one by
//!   one, and anything else with `CANCEL_ANY` (5.19+). It reaps until
//!   nothing is in flight (2 s bound). If the kernel does not let go in
//!   time, the ring and the buffers are leaked, never freed under the
//!   kernel.
//!   `.ci/sanitize` runs thousands of in-flight reads through this under
//!   AddressSanitizer.
//! - **Descriptors are shared with their operations** (`SharedFd` in
//!   `fd.rs`, an `Arc` around the descriptor): every op holds a clone, and
//!   an abandoned op's clone lives in its cell until the final CQE. So an
//!   SQE still queued (SQEs are submitted in batches, and remote ones wait
//!   in another worker's queue) can never name a descriptor number that was
//!   closed and reused by someone else; the descriptor closes after the
//!   last op on it.
//! - **Known limits.** Before Linux 5.19, `ASYNC_CANCEL` with `CANCEL_ANY`
//!   is rejected. Every op shutdown knows of is cancelled by `user_data`
//!   instead (a test emulates this), so the only case left is an op future
//!   moved out of its task to a plain thread: before 5.19 shutdown waits out
//!   its 2 s bound for it and leaks the ring rather than risk freeing
//!   buffers in use.
//! - **Multi-shot backpressure**: a multi-shot op declares a queue limit
//!   (64 for accept). When a reap leaves that many results untaken, the ring
//!   cancels the op at once (submitting the cancel immediately); the future
//!   hands out what is queued, sees the `ECANCELED` final CQE of its own
//!   pause, and resubmits. Connections beyond that wait in the listen
//!   backlog, as with single-shot accepts (tested: 70 accepted out of 120
//!   while nobody polled, all 120 arriving once polled).
//! - **Unavailable io_uring** (ENOSYS, EPERM from seccomp or
//!   `kernel.io_uring_disabled`, EACCES, ENOMEM from the memlock limit,
//!   EOPNOTSUPP, EINVAL: `choice.rs`, `falls_back`):
//!   `Builder::build` probes first (`choice.rs`). With `IoDriver::Auto`
//!   (the default) the runtime runs on the epoll driver instead
//!   (`epoll.rs`, `epoll_op.rs`, `readiness.rs`, `fd.rs`) and keeps the
//!   explained setup error as the reason; with `IoDriver::IoUring` it
//!   returns that error, naming the cause and the fix.
//! - **Two drivers, one seam** (`worker_driver.rs`): a worker's driver is
//!   an enum over the ring and the epoll instance; the scheduler calls
//!   park, maintain, shutdown and unpark on it, and an op future picks its
//!   backend once, when first polled. Every `OpKind` describes its call
//!   once (`call.rs`); each backend returns a CQE-shaped result, so each
//!   kind's `complete` serves both.

#[cfg(not(ferrio_loom))]
mod call;
#[cfg(not(ferrio_loom))]
mod choice;
#[cfg(not(ferrio_loom))]
pub(crate) mod context;
#[cfg(not(ferrio_loom))]
mod epoll;
#[cfg(not(ferrio_loom))]
mod epoll_op;
pub(crate) mod epoll_set;
#[cfg(not(ferrio_loom))]
mod fd;
pub(crate) mod op_cell;
#[cfg(not(ferrio_loom))]
mod op_future;
pub(crate) mod parking;
#[cfg(not(ferrio_loom))]
mod plain_call;
#[cfg(not(ferrio_loom))]
pub(crate) mod pool;
#[cfg(not(ferrio_loom))]
mod pool_op;
pub(crate) mod readiness;
pub(crate) mod ready_loop;
pub(crate) mod remote;
#[cfg(not(ferrio_loom))]
mod ring;
#[cfg(not(ferrio_loom))]
mod setup;
#[cfg(all(feature = "sim", not(ferrio_loom)))]
pub(crate) mod sim_hook;
#[cfg(not(ferrio_loom))]
mod task_work;
#[cfg(not(ferrio_loom))]
mod uring_call;
#[cfg(not(ferrio_loom))]
mod user_data;
#[cfg(not(ferrio_loom))]
mod worker_driver;

#[cfg(not(ferrio_loom))]
pub(crate) use call::{Call, CURRENT_POSITION, RECV_FALLBACK_SIZE};
#[cfg(not(ferrio_loom))]
pub(crate) use choice::{resolve, IO_DRIVER_ENV};
#[cfg(not(ferrio_loom))]
pub use choice::{IoBackend, IoDriver, IoDriverInfo};
#[cfg(not(ferrio_loom))]
pub(crate) use fd::SharedFd;
#[cfg(not(ferrio_loom))]
pub(crate) use op_cell::Completion;
#[cfg(not(ferrio_loom))]
pub(crate) use op_future::{MultiKind, MultiOp, Op, OpKind};
#[cfg(not(ferrio_loom))]
pub(crate) use setup::SetupHook;
#[cfg(not(ferrio_loom))]
pub(crate) use worker_driver::{Driver, DriverShared};

/// The error of an operation the runtime's shutdown ended (or refused),
/// the same on both drivers.
/// Whether the thread polling runs the epoll driver, whose ops wait for
/// readiness themselves and never block in the kernel (false off the
/// workers, and on a ring: a ring's blocking call parks a kernel worker).
#[cfg(not(ferrio_loom))]
pub(crate) fn polls_readiness() -> bool {
    context::with_local(|d| matches!(d, Some(Driver::Epoll(_))))
}

/// `shutdown(fd, how)` (`libc::SHUT_*`): the plain system call, or, for
/// a simulated world's placeholder (feature `sim`; asked only when the
/// call fails with `ENOTSOCK`, so real sockets pay nothing), the world's.
/// The system call's return convention (`-1` and `errno`).
#[cfg(not(ferrio_loom))]
pub(crate) fn shutdown_socket(fd: std::os::fd::RawFd, how: i32) -> i32 {
    // SAFETY: plain syscall; no pointers.
    let r = unsafe { libc::shutdown(fd, how) };
    #[cfg(feature = "sim")]
    if r < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ENOTSOCK) {
        if let Some(world) = sim_hook::owner_of(fd) {
            let how = match how {
                libc::SHUT_RD => std::net::Shutdown::Read,
                libc::SHUT_WR => std::net::Shutdown::Write,
                _ => std::net::Shutdown::Both,
            };
            return match world.shutdown(fd, how) {
                Ok(()) => 0,
                Err(e) => {
                    // SAFETY: errno is this thread's.
                    unsafe { *libc::__errno_location() = e.raw_os_error().unwrap_or(libc::EINVAL) };
                    -1
                }
            };
        }
    }
    r
}

pub(crate) fn shutting_down() -> std::io::Error {
    std::io::Error::other("ferrio: the runtime is shutting down; its I/O operations are ended")
}
