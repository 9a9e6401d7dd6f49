//! Making a stuck worker's thread post its io_uring completions.
//!
//! On a ring set up without DEFER_TASKRUN, the kernel posts a request's
//! completion by task work of the thread that submitted it, and with
//! COOP_TASKRUN it does not interrupt that thread to do so: the work runs
//! at the thread's next entry into or exit from the kernel. A worker
//! spinning in user code gets there at its next timer interrupt; one
//! asleep in a system call (`std::thread::sleep`, a contended std
//! `Mutex`) only when the call ends. So the watchdog, seeing task work
//! pending on a stuck worker's ring (`IORING_SQ_TASKRUN`), sends that
//! thread `SIGURG` (as Go's scheduler does to preempt): the signal ends
//! the sleep, the task work runs on the way back, and the interrupted
//! call resumes (the handler is installed with `SA_RESTART`; calls that
//! never restart, such as `nanosleep` and `poll`, return `EINTR`, which
//! `std::thread::sleep` and careful callers retry).
//!
//! The handler does nothing. It is installed once, the first time it is
//! needed, and only over the default disposition (SIGURG is ignored by
//! default): a program that handles SIGURG itself keeps its handler, and
//! its stuck workers' completions then wait for the timer tick or the end
//! of the blocking call.

use std::sync::OnceLock;

extern "C" fn ignore(_: libc::c_int) {}

fn handler_address() -> libc::sighandler_t {
    ignore as extern "C" fn(libc::c_int) as *const () as libc::sighandler_t
}

/// Installs the handler where SIGURG has its default disposition; false
/// when someone else handles it.
fn install() -> bool {
    // SAFETY: a zeroed sigaction is a valid value to be filled in.
    let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: reads the current disposition into `old`.
    if unsafe { libc::sigaction(libc::SIGURG, std::ptr::null(), &mut old) } != 0 {
        return false;
    }
    if old.sa_sigaction != libc::SIG_DFL && old.sa_sigaction != libc::SIG_IGN {
        return old.sa_sigaction == handler_address();
    }
    // SAFETY: as above.
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = handler_address();
    action.sa_flags = libc::SA_RESTART;
    // SAFETY: `action` is initialised, its mask empty, its handler a
    // function that does nothing (async-signal-safe).
    unsafe {
        libc::sigemptyset(&mut action.sa_mask);
        libc::sigaction(libc::SIGURG, &action, std::ptr::null_mut()) == 0
    }
}

/// Interrupts thread `thread` of this process so it runs its task work.
pub(crate) fn interrupt(thread: i32) {
    static INSTALLED: OnceLock<bool> = OnceLock::new();
    if thread <= 0 || !*INSTALLED.get_or_init(install) {
        return;
    }
    // SAFETY: tgkill with our own pid; a thread that exited meanwhile
    // makes it fail with ESRCH, which is harmless (thread ids are only
    // reused after the worker's thread is gone, and the worker's driver,
    // through which we got here, lives until its thread exits).
    unsafe {
        libc::syscall(libc::SYS_tgkill, libc::getpid(), thread, libc::SIGURG);
    }
}
