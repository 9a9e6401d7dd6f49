//! The reaper: waits for children whose `Child` was dropped while they ran,
//! so none is left a zombie.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::OnceLock;

use crate::loom::plain::Mutex;

use super::child::waitpid_nohang;
use crate::io::SharedFd;

/// Children dropped unwaited: one thread polls their pidfds and reaps
/// each as it exits (started at the first such drop).
struct Reaper {
    pending: Mutex<Vec<(libc::pid_t, SharedFd)>>,
    wake: OwnedFd,
}

pub(super) fn reap_later(pid: libc::pid_t, pidfd: SharedFd) {
    if let Ok(Some(_)) = waitpid_nohang(pid) {
        return;
    }
    static REAPER: OnceLock<Option<&'static Reaper>> = OnceLock::new();
    let reaper = REAPER.get_or_init(|| {
        // SAFETY: plain syscall; the result is checked.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
        if fd < 0 {
            return None;
        }
        let reaper: &'static Reaper = Box::leak(Box::new(Reaper {
            pending: Mutex::new(Vec::new()),
            // SAFETY: a fresh eventfd we own.
            wake: unsafe { OwnedFd::from_raw_fd(fd) },
        }));
        std::thread::Builder::new()
            .name("ferrio-reaper".into())
            .spawn(move || reaper.run())
            .ok()
            .map(|_| reaper)
    });
    match reaper {
        Some(r) => {
            r.pending.lock().push((pid, pidfd));
            let one: u64 = 1;
            // SAFETY: writes 8 bytes from a valid u64 to our eventfd.
            unsafe { libc::write(r.wake.as_raw_fd(), (&one as *const u64).cast(), 8) };
        }
        None => {
            // No reaper thread could start (the process is out of
            // threads): blocking a worker until the child exits would be
            // worse than the zombie, so say so and leave it.
            eprintln!(
                "ferrio::process: could not start the reaper thread; child {pid} will stay a \
                 zombie until this process waits for it or exits"
            );
        }
    }
}

impl Reaper {
    fn run(&self) {
        loop {
            let mut fds = vec![libc::pollfd {
                fd: self.wake.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            }];
            {
                let mut pending = self.pending.lock();
                pending.retain(|(pid, _)| !matches!(waitpid_nohang(*pid), Ok(Some(_)) | Err(_)));
                fds.extend(pending.iter().map(|(_, fd)| libc::pollfd {
                    fd: fd.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                }));
            }
            // SAFETY: `fds` is a valid array of pollfd for the call.
            unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, -1) };
            if fds[0].revents != 0 {
                let mut v: u64 = 0;
                // SAFETY: reads 8 bytes into a valid u64.
                unsafe { libc::read(self.wake.as_raw_fd(), (&mut v as *mut u64).cast(), 8) };
            }
        }
    }
}
