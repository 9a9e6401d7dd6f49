//! Unix signals as async streams (asyncio's `loop.add_signal_handler`).
//!
//! ```no_run
//! ferrio::run(async {
//!     let mut terminate = ferrio::signal::signal(libc::SIGTERM).unwrap();
//!     ferrio::spawn(async move {
//!         terminate.recv().await.unwrap();
//!         println!("SIGTERM: shutting down");
//!     });
//!     ferrio::signal::ctrl_c().await.unwrap();
//!     println!("Ctrl-C");
//! });
//! ```
//!
//! | asyncio | ferrio |
//! | --- | --- |
//! | `loop.add_signal_handler(sig, cb)` | `let mut s = signal(sig)?; spawn(async move { while s.recv().await.is_ok() { cb() } })` |
//! | `loop.remove_signal_handler(sig)` | drop every [`Signal`] of `sig` (ferrio's handler stays: deliveries are then caught and ignored) |
//!
//! # How it works, and what it changes in the process
//! The first [`Signal`] of a signal number installs a handler for it with
//! `sigaction` (`SA_RESTART | SA_SIGINFO`), and the handler stays for the
//! life of the process, as tokio's does: dropping the last listener
//! changes no disposition (so it never removes a handler installed after
//! ferrio's), and between two `ctrl_c()` calls a Ctrl-C is caught and
//! counted, not fatal. A handler that was installed before ferrio's is
//! **chained**: ferrio's handler calls it after its own work, with the
//! same arguments. A previous default or ignore disposition is not
//! called. The signal mask is never changed, so a signal is never held
//! back from a thread that does not expect it (a `signalfd` would need
//! the signal blocked in every thread of the process, including those
//! ferrio did not create).
//!
//! The handler does two async-signal-safe things: it bumps the signal's
//! delivery counter and writes one byte to a pipe. A reader task on each
//! runtime with a waiting `recv` reads the pipe through the worker's I/O
//! driver (a read on the ring, or a read after readiness on epoll) and
//! wakes every waiting `recv`: no thread per signal. When a runtime
//! shuts down, its waiting `recv`s fail, as its I/O does.
//! Each `Signal` compares the counter with the value it saw last, so
//! every listener of a signal sees each delivery; deliveries that arrive
//! between two `recv`s of one listener **coalesce** into one (as the
//! kernel coalesces a pending signal).
//!
//! SIGCHLD may be listened to like any signal; ferrio's own child
//! processes never need it (their exits are read from pidfds). SIGKILL
//! and SIGSTOP cannot be caught, and SIGSEGV, SIGBUS, SIGILL and SIGFPE
//! are refused: returning from their handler would re-run the faulting
//! instruction.

use std::future::Future;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::OnceLock;
use std::task::{Context, Poll, Waker};

use crate::loom::plain::Mutex;
use crate::task::core::wait::{self, At, WaitKind};
use crate::task::Task;

/// Signal numbers run from 1 to `SIGRTMAX` (64 on Linux).
const SIGNALS: usize = 65;

/// Deliveries of each signal since the process started.
static DELIVERIES: [AtomicU64; SIGNALS] = [const { AtomicU64::new(0) }; SIGNALS];

/// The write end of the wake-up pipe (-1 until it exists); read by the
/// handler, so it is an atomic and the pipe is never closed.
static PIPE_WRITE: AtomicI32 = AtomicI32::new(-1);

/// The read end of the wake-up pipe (created with the write end).
static PIPE_READ: OnceLock<OwnedFd> = OnceLock::new();

/// The signals whose handler is installed (it never leaves).
static INSTALLED: Mutex<[bool; SIGNALS]> = Mutex::new_const([false; SIGNALS]);

/// The handler each installation replaced, called after ferrio's (0: none,
/// or a default/ignore disposition), and whether it takes `siginfo`.
/// Written before ferrio's handler is installed; read by the handler.
static CHAINED: [AtomicUsize; SIGNALS] = [const { AtomicUsize::new(0) }; SIGNALS];
static CHAINED_SIGINFO: [AtomicBool; SIGNALS] = [const { AtomicBool::new(false) }; SIGNALS];

/// The `recv`s waiting for a delivery, and the reader tasks that wake them.
static WAITING: Mutex<Waiting> = Mutex::new_const(Waiting::new());

struct Waiting {
    /// Each waiting listener's key and waker.
    wakers: Vec<(u64, Waker)>,
    /// The pipe's reader task on each runtime with a waiting listener
    /// (keyed by the runtime's address). Readers share the pipe: whichever
    /// reads a byte wakes every waiter.
    readers: Vec<(usize, Task<()>)>,
}

impl Waiting {
    const fn new() -> Waiting {
        Waiting {
            wakers: Vec::new(),
            readers: Vec::new(),
        }
    }

    /// Unregisters the listener `key` (if it waits).
    fn forget(&mut self, key: u64) {
        self.wakers.retain(|(k, _)| *k != key);
    }
}

/// A listener for one signal; [`recv`](Signal::recv) waits for the next
/// delivery.
#[derive(Debug)]
pub struct Signal {
    signum: i32,
    /// The delivery count this listener has seen.
    seen: u64,
    /// Names this listener's waker among the waiting ones.
    key: u64,
}

/// Keys of listeners (unique per process).
static NEXT_KEY: AtomicU64 = AtomicU64::new(1);

/// Listens for the signal `signum` (a `libc::SIG*` constant) from now on.
///
/// # Errors
/// `InvalidInput` for a number that is not a signal, for SIGKILL and
/// SIGSTOP (which cannot be caught) and for SIGSEGV, SIGBUS, SIGILL and
/// SIGFPE (see the module docs); the OS error when the pipe or the
/// handler cannot be set up.
pub fn signal(signum: i32) -> io::Result<Signal> {
    let forbidden = [
        libc::SIGKILL,
        libc::SIGSTOP,
        libc::SIGSEGV,
        libc::SIGBUS,
        libc::SIGILL,
        libc::SIGFPE,
    ];
    if signum <= 0 || signum as usize >= SIGNALS || forbidden.contains(&signum) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("ferrio::signal: cannot listen for signal {signum}"),
        ));
    }
    wake_up_pipe()?;
    let i = signum as usize;
    {
        let mut installed = INSTALLED.lock();
        if !installed[i] {
            install(signum)?;
            installed[i] = true;
        }
    }
    Ok(Signal {
        signum,
        seen: DELIVERIES[i].load(SeqCst),
        key: NEXT_KEY.fetch_add(1, SeqCst),
    })
}

/// Waits for Ctrl-C (SIGINT). From the first call on, SIGINT no longer
/// ends the process (ferrio's handler stays installed, as tokio's does):
/// a Ctrl-C while nobody waits is caught and counted, and the next
/// `ctrl_c()` waits for the next one. A program that wants a second
/// Ctrl-C to kill it exits itself.
///
/// ```no_run
/// ferrio::run(async {
///     ferrio::signal::ctrl_c().await.unwrap();
///     println!("bye");
/// });
/// ```
///
/// # Errors
/// As [`signal`].
#[track_caller]
pub fn ctrl_c() -> impl Future<Output = io::Result<()>> {
    At::here(async { signal(libc::SIGINT)?.recv().await })
}

impl Signal {
    /// The signal number.
    pub fn signum(&self) -> i32 {
        self.signum
    }

    /// Waits for the next delivery of the signal since this listener was
    /// created or last received one. Several deliveries in between
    /// count as one. Dropping the future leaves nothing registered.
    ///
    /// # Errors
    /// When the runtime is shutting down (nothing is left to read the
    /// deliveries), as I/O fails then.
    ///
    /// # Panics
    /// When polled outside a ferrio runtime.
    pub fn recv(&mut self) -> Recv<'_> {
        Recv { signal: self }
    }

    /// Whether a waker of this listener is registered (tests).
    #[cfg(test)]
    pub(crate) fn is_waiting(&self) -> bool {
        WAITING.lock().wakers.iter().any(|(k, _)| *k == self.key)
    }
}

/// The future of [`Signal::recv`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct Recv<'a> {
    signal: &'a mut Signal,
}

impl Future for Recv<'_> {
    type Output = io::Result<()>;

    #[track_caller]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let signal = &mut *self.get_mut().signal;
        let key = signal.key;
        let handle = crate::runtime::Handle::try_current().unwrap_or_else(|| {
            panic!("ferrio::signal::Signal::recv polled outside a ferrio runtime")
        });
        let shut_down = || {
            Poll::Ready(Err(io::Error::other(
                "ferrio: the runtime is shutting down; no signal can be received",
            )))
        };
        let runtime = crate::loom::sync::Arc::as_ptr(&handle.shared) as usize;
        let needs_reader = {
            // Register first, then look: a delivery after the look wakes
            // us (a reader wakes every registered waker).
            let mut waiting = WAITING.lock();
            match waiting.wakers.iter_mut().find(|(k, _)| *k == key) {
                Some((_, w)) if w.will_wake(cx.waker()) => {}
                Some((_, w)) => *w = cx.waker().clone(),
                None => waiting.wakers.push((key, cx.waker().clone())),
            }
            let now = DELIVERIES[signal.signum as usize].load(SeqCst);
            if now != signal.seen {
                signal.seen = now;
                waiting.forget(key);
                return Poll::Ready(Ok(()));
            }
            // A runtime that shut down dropped its reader, which woke
            // every waiter: its own end here, as its I/O fails.
            if handle.is_shutdown() {
                waiting.forget(key);
                return shut_down();
            }
            waiting.readers.retain(|(_, reader)| !reader.is_done());
            !waiting.readers.iter().any(|(r, _)| *r == runtime)
        };
        if needs_reader {
            // Spawned without the lock held: a refused spawn drops the
            // reader here, and its drop takes the lock to wake waiters.
            let reader = handle.spawn(Reader::new());
            if reader.is_done() {
                WAITING.lock().forget(key);
                if handle.is_shutdown() {
                    return shut_down();
                }
                // The reader ended at once: it could not duplicate the
                // pipe's descriptor (out of descriptors).
                return Poll::Ready(Err(io::Error::other(
                    "ferrio: cannot start reading signal deliveries",
                )));
            }
            WAITING.lock().readers.push((runtime, reader));
        }
        wait::record(WaitKind::Signal, signal.signum as u64);
        Poll::Pending
    }
}

impl Drop for Recv<'_> {
    fn drop(&mut self) {
        WAITING.lock().forget(self.signal.key);
    }
}

/// The handler: async-signal-safe (an atomic add, a `write`, and the
/// chained handler's call), and it keeps `errno` as the interrupted code
/// left it.
extern "C" fn on_signal(
    signum: libc::c_int,
    info: *mut libc::siginfo_t,
    context: *mut libc::c_void,
) {
    // SAFETY: `__errno_location` is the calling thread's errno slot.
    let errno = unsafe { *libc::__errno_location() };
    if let Some(count) = DELIVERIES.get(signum as usize) {
        count.fetch_add(1, SeqCst);
    }
    let fd = PIPE_WRITE.load(SeqCst);
    if fd >= 0 {
        let byte = signum as u8;
        // SAFETY: one byte from a live local to the pipe, which is never
        // closed; a full pipe (EAGAIN) loses nothing, as the counter is
        // the truth and the reader has bytes to wake on.
        unsafe { libc::write(fd, (&byte as *const u8).cast(), 1) };
    }
    // SAFETY: as above.
    unsafe { *libc::__errno_location() = errno };
    let chained = CHAINED
        .get(signum as usize)
        .map_or(0, |handler| handler.load(SeqCst));
    if chained != 0 {
        if CHAINED_SIGINFO[signum as usize].load(SeqCst) {
            type Action = extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void);
            // SAFETY: the address of the handler the kernel held for this
            // signal before ours, installed with `SA_SIGINFO`, so of this
            // shape; called with the arguments we were given.
            let action: Action = unsafe { std::mem::transmute::<usize, Action>(chained) };
            action(signum, info, context);
        } else {
            type Handler = extern "C" fn(libc::c_int);
            // SAFETY: as above, a handler installed without `SA_SIGINFO`.
            let handler: Handler = unsafe { std::mem::transmute::<usize, Handler>(chained) };
            handler(signum);
        }
    }
}

/// Installs `on_signal` for `signum`, after recording the handler it
/// replaces (if any) for chaining.
fn install(signum: i32) -> io::Result<()> {
    // SAFETY: zeroed `sigaction` structs are valid (no handler, empty
    // mask); reading the current action changes nothing.
    let mut previous: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    if unsafe { libc::sigaction(signum, std::ptr::null(), &mut previous) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let i = signum as usize;
    let handler = previous.sa_sigaction;
    if handler != libc::SIG_DFL && handler != libc::SIG_IGN {
        CHAINED_SIGINFO[i].store(previous.sa_flags & libc::SA_SIGINFO != 0, SeqCst);
        CHAINED[i].store(handler, SeqCst);
    }
    type Action = extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void);
    // SAFETY: as above; `sa_sigaction` is set to a handler of the
    // three-argument shape, as `SA_SIGINFO` is set. A handler installed
    // between our read and this call would not be chained: installing
    // handlers concurrently is a race in any program.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_signal as Action as usize;
        action.sa_flags = libc::SA_RESTART | libc::SA_SIGINFO;
        libc::sigemptyset(&mut action.sa_mask);
        if libc::sigaction(signum, &action, std::ptr::null_mut()) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Creates the wake-up pipe once.
fn wake_up_pipe() -> io::Result<()> {
    if PIPE_READ.get().is_some() {
        return Ok(());
    }
    let _installed = INSTALLED.lock();
    if PIPE_READ.get().is_some() {
        return Ok(());
    }
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // The handler must never block: the write end is non-blocking. The
    // read end is left to the reader task's driver (a ring read waits
    // itself; the epoll driver sets it non-blocking at its first read).
    // SAFETY: plain fcntl on our fresh descriptor.
    if unsafe { libc::fcntl(fds[1], libc::F_SETFL, libc::O_NONBLOCK) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both descriptors are fresh and ours. The write end is kept
    // open for the life of the process (the handler may use it at any
    // time), so it is never wrapped in an owner that would close it.
    let read = unsafe { OwnedFd::from_raw_fd(fds[0]) };
    let _ = PIPE_READ.set(read);
    PIPE_WRITE.store(fds[1], SeqCst);
    Ok(())
}

/// The reader task of one runtime: waits through its I/O driver for bytes
/// in the pipe and wakes every waiting `recv`. However it ends (the pipe
/// failed, or its runtime shut down and dropped it, polled or not) it
/// wakes them too: each then starts a reader on its own runtime, or fails
/// if that runtime is shutting down.
struct Reader(Pin<Box<dyn Future<Output = ()> + Send>>);

impl Reader {
    fn new() -> Reader {
        Reader(Box::pin(read_wake_ups()))
    }
}

impl Future for Reader {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.0.as_mut().poll(cx)
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        wake_all();
    }
}

async fn read_wake_ups() {
    let Some(read) = PIPE_READ.get().and_then(|fd| fd.try_clone().ok()) else {
        return;
    };
    let pipe = crate::io::compat::FdStream::pipe(read);
    let mut buf = Vec::with_capacity(64);
    loop {
        buf.clear();
        let (res, back) = pipe.read(buf).await;
        buf = back;
        match res {
            Ok(0) | Err(_) => return,
            Ok(_) => wake_all(),
        }
    }
}

fn wake_all() {
    let wakers = std::mem::take(&mut WAITING.lock().wakers);
    for (_, w) in wakers {
        w.wake();
    }
}
