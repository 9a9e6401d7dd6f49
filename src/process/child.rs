//! `Child`: waits on the child's pidfd through the I/O driver, `communicate`,
//! `kill`; the reaper takes over children dropped while running.

use std::future::Future;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::process::ExitStatusExt;

use crate::driver::{Call, Completion, Op, OpKind};
use crate::io::{result_of, IoBuf, SharedFd};
use crate::task::core::wait::{At, Leaf, WaitKind};

use super::pipes::read_to_end;
use super::reaper::reap_later;
use super::{ChildStderr, ChildStdin, ChildStdout, ExitStatus, Output};

/// A running (or finished) child process.
#[derive(Debug)]
pub struct Child {
    pub(super) pid: libc::pid_t,
    /// None once reaped.
    pub(super) pidfd: Option<SharedFd>,
    pub(super) status: Option<ExitStatus>,
    pub(super) kill_on_drop: bool,
    /// The child's stdin, if piped. Dropping it closes the pipe (the child
    /// sees end of file).
    pub stdin: Option<ChildStdin>,
    /// The child's stdout, if piped.
    pub stdout: Option<ChildStdout>,
    /// The child's stderr, if piped.
    pub stderr: Option<ChildStderr>,
}

impl Child {
    /// The process id (until it is reaped, it names this child).
    pub fn id(&self) -> u32 {
        self.pid as u32
    }

    /// Sends SIGKILL (through the pidfd, so never to a recycled pid). A
    /// child already reaped is left alone.
    pub fn start_kill(&mut self) -> io::Result<()> {
        self.signal(libc::SIGKILL)
    }

    /// Sends `signal` (through the pidfd).
    pub fn signal(&mut self, signal: i32) -> io::Result<()> {
        let Some(pidfd) = &self.pidfd else {
            return Ok(());
        };
        // SAFETY: plain syscall on our pidfd; null siginfo is allowed.
        let r = unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                pidfd.as_raw_fd(),
                signal,
                std::ptr::null::<libc::siginfo_t>(),
                0,
            )
        };
        if r < 0 {
            let e = io::Error::last_os_error();
            // ESRCH: it already exited (a zombie until we wait).
            if e.raw_os_error() != Some(libc::ESRCH) {
                return Err(e);
            }
        }
        Ok(())
    }

    /// Kills the child and waits for it.
    #[track_caller]
    pub fn kill(&mut self) -> impl Future<Output = io::Result<ExitStatus>> + '_ {
        At::here(async move {
            self.start_kill()?;
            self.wait().await
        })
    }

    /// The exit status if the child has exited (reaping it), without
    /// waiting.
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        if let Some(s) = self.status {
            return Ok(Some(s));
        }
        let Some(status) = waitpid_nohang(self.pid)? else {
            return Ok(None);
        };
        self.status = Some(status);
        self.pidfd = None;
        Ok(Some(status))
    }

    /// Waits for the child to exit (closing its stdin first, so a child
    /// reading stdin cannot wait forever). The pidfd is polled through the
    /// worker's I/O driver; dropping this future leaves the child running.
    #[track_caller]
    pub fn wait(&mut self) -> impl Future<Output = io::Result<ExitStatus>> + '_ {
        At::here(async move {
            drop(self.stdin.take());
            loop {
                if let Some(s) = self.try_wait()? {
                    return Ok(s);
                }
                let fd = self.pidfd.clone().expect("unreaped child has a pidfd");
                let pid = u64::from(self.id());
                let here = std::panic::Location::caller();
                Leaf::new(WaitKind::Process, pid, here, Op::new(PollIn { fd })).await?;
            }
        })
    }

    /// Waits for the child while reading all of stdout and stderr
    /// concurrently (so a child filling one pipe cannot deadlock), after
    /// closing stdin.
    #[track_caller]
    pub fn wait_with_output(self) -> impl Future<Output = io::Result<Output>> {
        At::here(async move { self.communicate(Vec::new()).await })
    }

    /// asyncio's `communicate`: writes `input` to stdin and closes it,
    /// reads stdout and stderr to the end, and waits for the exit, all
    /// concurrently. `input` needs a piped stdin unless it is empty. A
    /// child that exits without reading its input is not an error
    /// (`BrokenPipe` is ignored, as in asyncio).
    #[track_caller]
    pub fn communicate<B: IoBuf>(mut self, input: B) -> impl Future<Output = io::Result<Output>> {
        At::here(async move {
            let stdin = self.stdin.take();
            if stdin.is_none() && input.bytes_init() > 0 {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "ferrio::process: communicate got input but stdin is not piped",
                ));
            }
            let stdout = self.stdout.take();
            let stderr = self.stderr.take();
            let write_input = async move {
                if let Some(stdin) = stdin {
                    if input.bytes_init() > 0 {
                        match stdin.write_all(input).await.0 {
                            Err(e) if e.kind() != io::ErrorKind::BrokenPipe => return Err(e),
                            _ => {}
                        }
                    }
                }
                Ok(())
            };
            let (wrote, out, err) =
                crate::gather!(write_input, read_to_end(stdout), read_to_end(stderr)).await;
            let status = self.wait().await?;
            wrote?;
            Ok(Output {
                status,
                stdout: out?,
                stderr: err?,
            })
        })
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if self.kill_on_drop {
            let _ = self.start_kill();
        }
        if let Some(pidfd) = self.pidfd.take() {
            reap_later(self.pid, pidfd);
        }
    }
}

pub(super) fn waitpid_nohang(pid: libc::pid_t) -> io::Result<Option<ExitStatus>> {
    let mut status = 0;
    loop {
        // SAFETY: plain syscall with a valid out pointer.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if r == 0 {
            return Ok(None);
        }
        if r == pid {
            return Ok(Some(ExitStatus::from_raw(status)));
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// Waits until a descriptor is readable (a pidfd: the process exited).
struct PollIn {
    fd: SharedFd,
}

impl OpKind for PollIn {
    type Output = io::Result<()>;

    fn call(&mut self) -> Call<'_> {
        Call::PollReadable { fd: &self.fd }
    }

    fn complete(self, result: io::Result<Completion>) -> io::Result<()> {
        result_of(result).map(drop)
    }
}
