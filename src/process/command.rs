//! `Command`: std's builder and spawn, with pipes as ferrio streams and
//! `output`/`status` through the I/O driver.

use std::ffi::OsStr;
use std::future::Future;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

use crate::io::compat::FdStream;
use crate::io::SharedFd;
use crate::task::core::wait::At;

use super::{Child, ChildStderr, ChildStdin, ChildStdout, ExitStatus, Output, Stdio};

/// A process to start, configured as `std::process::Command`.
#[derive(Debug)]
pub struct Command {
    std: std::process::Command,
    kill_on_drop: bool,
    /// Which of stdin, stdout, stderr the caller set (`output` only
    /// changes the others).
    stdio_set: [bool; 3],
}

impl Command {
    /// Runs `program` (looked up in `PATH` when it has no slash).
    pub fn new(program: impl AsRef<OsStr>) -> Command {
        Command {
            std: std::process::Command::new(program),
            kill_on_drop: false,
            stdio_set: [false; 3],
        }
    }

    /// Runs `cmd` through `/bin/sh -c` (asyncio's
    /// `create_subprocess_shell`). The shell parses it: never pass
    /// untrusted input.
    pub fn shell(cmd: impl AsRef<OsStr>) -> Command {
        let mut c = Command::new("/bin/sh");
        c.arg("-c").arg(cmd);
        c
    }

    /// Adds an argument.
    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Command {
        self.std.arg(arg);
        self
    }

    /// Adds arguments.
    pub fn args<I, S>(&mut self, args: I) -> &mut Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.std.args(args);
        self
    }

    /// Sets an environment variable.
    pub fn env(&mut self, key: impl AsRef<OsStr>, val: impl AsRef<OsStr>) -> &mut Command {
        self.std.env(key, val);
        self
    }

    /// Removes an environment variable.
    pub fn env_remove(&mut self, key: impl AsRef<OsStr>) -> &mut Command {
        self.std.env_remove(key);
        self
    }

    /// Starts from an empty environment.
    pub fn env_clear(&mut self) -> &mut Command {
        self.std.env_clear();
        self
    }

    /// Sets the working directory.
    pub fn current_dir(&mut self, dir: impl AsRef<Path>) -> &mut Command {
        self.std.current_dir(dir);
        self
    }

    /// Standard input: `Stdio::piped()` gives [`Child::stdin`].
    pub fn stdin(&mut self, cfg: impl Into<Stdio>) -> &mut Command {
        self.std.stdin(cfg);
        self.stdio_set[0] = true;
        self
    }

    /// Standard output: `Stdio::piped()` gives [`Child::stdout`].
    pub fn stdout(&mut self, cfg: impl Into<Stdio>) -> &mut Command {
        self.std.stdout(cfg);
        self.stdio_set[1] = true;
        self
    }

    /// Standard error: `Stdio::piped()` gives [`Child::stderr`].
    pub fn stderr(&mut self, cfg: impl Into<Stdio>) -> &mut Command {
        self.std.stderr(cfg);
        self.stdio_set[2] = true;
        self
    }

    /// Kill the child (SIGKILL) if its `Child` is dropped before it
    /// exits. Off by default, as in tokio: the child runs on, and is
    /// reaped when it exits.
    pub fn kill_on_drop(&mut self, on: bool) -> &mut Command {
        self.kill_on_drop = on;
        self
    }

    /// Starts the process.
    ///
    /// A missing program or working directory is `NotFound`, and the
    /// message names which one (the kernel's error is the same for both).
    ///
    /// ```
    /// use ferrio::process::Command;
    /// ferrio::run(async {
    ///     let e = Command::new("true").current_dir("/no/such/dir").spawn().unwrap_err();
    ///     assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
    ///     assert!(e.to_string().contains("/no/such/dir"), "{e}");
    /// });
    /// ```
    pub fn spawn(&mut self) -> io::Result<Child> {
        crate::runtime::simulated::refuse_in_sim(
            "subprocesses (ferrio::process) do not run inside ferrio::sim",
        )?;
        let mut child = self.std.spawn().map_err(|e| self.explain_spawn_error(e))?;
        let pid = child.id() as libc::pid_t;
        // SAFETY: plain syscall; the result is checked. The child is not
        // reaped yet (only we may wait for it), so `pid` names it.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) } as RawFd;
        if fd < 0 {
            let e = io::Error::last_os_error();
            // Without a pidfd we cannot wait asynchronously: stop it, reap
            // it, and say why.
            let _ = child.kill();
            let _ = child.wait();
            return Err(io::Error::new(
                e.kind(),
                format!("ferrio::process: pidfd_open failed ({e}); Linux 5.3 or later is needed"),
            ));
        }
        // SAFETY: a fresh pidfd we own.
        let pidfd = unsafe { OwnedFd::from_raw_fd(fd) };
        set_cloexec(&pidfd);
        let stdin = child.stdin.take().map(|p| ChildStdin {
            inner: FdStream::pipe(p.into()),
        });
        let stdout = child.stdout.take().map(|p| ChildStdout::new(p.into()));
        let stderr = child.stderr.take().map(|p| ChildStderr::new(p.into()));
        // `std::process::Child` neither waits nor kills on drop.
        drop(child);
        Ok(Child {
            pid,
            pidfd: Some(SharedFd::new(pidfd)),
            status: None,
            kill_on_drop: self.kill_on_drop,
            stdin,
            stdout,
            stderr,
        })
    }

    /// Runs the process to completion and collects its output. As with
    /// std, stdout and stderr default to piped and stdin to null here;
    /// what the caller set explicitly is kept. These defaults hold for
    /// this call only: the `Command` is left as it was, so a later
    /// [`spawn`](Self::spawn) or [`status`](Self::status) inherits the
    /// streams the caller did not set.
    ///
    /// ```
    /// use ferrio::process::Command;
    /// ferrio::run(async {
    ///     let mut cmd = Command::new("true");
    ///     assert!(cmd.output().await.unwrap().status.success());
    ///     // Not piped: `output`'s defaults did not stick.
    ///     let mut child = cmd.spawn().unwrap();
    ///     assert!(child.stdout.is_none() && child.stderr.is_none());
    ///     child.wait().await.unwrap();
    /// });
    /// ```
    #[track_caller]
    pub fn output(&mut self) -> impl Future<Output = io::Result<Output>> + '_ {
        At::here(async move {
            let defaults = [Stdio::null as fn() -> Stdio, Stdio::piped, Stdio::piped];
            for (i, default) in defaults.iter().enumerate() {
                if !self.stdio_set[i] {
                    self.set_stdio(i, default());
                }
            }
            let spawned = self.spawn();
            // Put back what `spawn` and `status` use for streams the caller
            // did not set (std's default: inherit), before anything can fail
            // or be cancelled.
            for i in 0..3 {
                if !self.stdio_set[i] {
                    self.set_stdio(i, Stdio::inherit());
                }
            }
            spawned?.wait_with_output().await
        })
    }

    /// Sets stream `i` (0 stdin, 1 stdout, 2 stderr) on the std command
    /// without marking it as set by the caller.
    fn set_stdio(&mut self, i: usize, cfg: Stdio) {
        match i {
            0 => self.std.stdin(cfg),
            1 => self.std.stdout(cfg),
            _ => self.std.stderr(cfg),
        };
    }

    /// Runs the process to completion and returns its exit status.
    #[track_caller]
    pub fn status(&mut self) -> impl Future<Output = io::Result<ExitStatus>> + '_ {
        At::here(async move { self.spawn()?.wait().await })
    }
}

impl Command {
    /// Names what `spawn` could not find or use. `fork`/`exec` report a
    /// missing working directory and a missing program with the same
    /// errno, so the directory is checked after the fact (this only picks
    /// the message; the error kind is the kernel's).
    fn explain_spawn_error(&self, e: io::Error) -> io::Error {
        let kind = e.kind();
        let path_error = matches!(
            e.raw_os_error(),
            Some(libc::ENOENT | libc::ENOTDIR | libc::EACCES | libc::ELOOP | libc::ENAMETOOLONG)
        );
        if !path_error {
            return e;
        }
        let program = self.std.get_program();
        let dir = self.std.get_current_dir();
        if let Some(dir) = dir {
            if !is_usable_dir(dir) {
                return io::Error::new(
                    kind,
                    format!(
                        "ferrio::process: cannot use working directory {dir:?} to run \
                         {program:?}: {e}"
                    ),
                );
            }
        }
        let has_slash = program.as_encoded_bytes().contains(&b'/');
        let message = match (has_slash, dir) {
            (false, _) => {
                format!("ferrio::process: cannot run program {program:?} (searched in PATH): {e}")
            }
            (true, Some(dir)) if !Path::new(program).is_absolute() => format!(
                "ferrio::process: cannot run program {program:?} (relative to working \
                 directory {dir:?}): {e}"
            ),
            (true, _) => format!("ferrio::process: cannot run program {program:?}: {e}"),
        };
        io::Error::new(kind, message)
    }
}

/// True if `dir` is a directory the process may enter.
fn is_usable_dir(dir: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    if !std::fs::metadata(dir).is_ok_and(|m| m.is_dir()) {
        return false;
    }
    let Ok(c) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: plain syscall with a valid NUL-terminated path.
    unsafe { libc::access(c.as_ptr(), libc::X_OK) == 0 }
}

fn set_cloexec(fd: &OwnedFd) {
    // SAFETY: plain fcntl on our own descriptor. pidfd_open sets
    // O_CLOEXEC already on current kernels; this makes sure.
    unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) };
}
