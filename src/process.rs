//! Subprocesses (asyncio's `create_subprocess_exec` / `_shell` and
//! `communicate`).
//!
//! A [`Command`] is `std::process::Command` underneath (the `fork`/`exec`
//! is a plain syscall); the child's pipes become io_uring streams, and its
//! exit is observed through a pidfd polled on the worker's ring
//! (`IORING_OP_POLL_ADD`): no SIGCHLD handler, no helper thread per child.
//!
//! A [`Child`] dropped before it was waited for is reaped in the
//! background (by one shared reaper thread that polls the pidfds), so it
//! never stays a zombie; with [`Command::kill_on_drop`] it is killed
//! first.
//!
//! ```
//! use ferrio::process::{Command, Stdio};
//! ferrio::run(async {
//!     let out = Command::new("echo").arg("hello").stdout(Stdio::piped())
//!         .output().await.unwrap();
//!     assert!(out.status.success());
//!     assert_eq!(out.stdout, b"hello\n");
//! });
//! ```

use std::ffi::OsStr;
use std::future::poll_fn;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::pin::Pin;
use std::sync::{Mutex, OnceLock};
use std::task::{Context, Poll};

use io_uring::{opcode, squeue, types};

pub use std::process::{ExitStatus, Output, Stdio};

use crate::driver::op::Completion;
use crate::driver::{Op, OpKind};
use crate::io::compat::{impl_futures_io, FdStream};
use crate::io::ops::CURRENT_POSITION;
use crate::io::{result_of, IoBuf, IoBufMut, SharedFd};

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
    pub async fn output(&mut self) -> io::Result<Output> {
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
    pub async fn status(&mut self) -> io::Result<ExitStatus> {
        self.spawn()?.wait().await
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

/// A running (or finished) child process.
#[derive(Debug)]
pub struct Child {
    pid: libc::pid_t,
    /// None once reaped.
    pidfd: Option<SharedFd>,
    status: Option<ExitStatus>,
    kill_on_drop: bool,
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
    pub async fn kill(&mut self) -> io::Result<ExitStatus> {
        self.start_kill()?;
        self.wait().await
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
    /// reading stdin cannot wait forever). The pidfd is polled on
    /// io_uring; dropping this future leaves the child running.
    pub async fn wait(&mut self) -> io::Result<ExitStatus> {
        drop(self.stdin.take());
        loop {
            if let Some(s) = self.try_wait()? {
                return Ok(s);
            }
            let fd = self.pidfd.clone().expect("unreaped child has a pidfd");
            Op::new(PollIn { fd }).await?;
        }
    }

    /// Waits for the child while reading all of stdout and stderr
    /// concurrently (so a child filling one pipe cannot deadlock), after
    /// closing stdin.
    pub async fn wait_with_output(self) -> io::Result<Output> {
        self.communicate(Vec::new()).await
    }

    /// asyncio's `communicate`: writes `input` to stdin and closes it,
    /// reads stdout and stderr to the end, and waits for the exit, all
    /// concurrently. `input` needs a piped stdin unless it is empty. A
    /// child that exits without reading its input is not an error
    /// (`BrokenPipe` is ignored, as in asyncio).
    pub async fn communicate<B: IoBuf>(mut self, input: B) -> io::Result<Output> {
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
    }
}

async fn read_to_end<R: PipeRead>(pipe: Option<R>) -> io::Result<Vec<u8>> {
    let Some(mut pipe) = pipe else {
        return Ok(Vec::new());
    };
    let mut out = Vec::with_capacity(16 * 1024);
    if pipe.used_futures_io() {
        // The `AsyncRead`/`AsyncBufRead` side may hold bytes it read but
        // did not hand out, or a read it left in flight: reading the
        // descriptor directly would skip or reorder them. Read the rest
        // through it.
        let stream = pipe.stream_mut();
        loop {
            let n = poll_fn(|cx| {
                stream.poll_fill_buf(cx).map_ok(|data| {
                    out.extend_from_slice(data);
                    data.len()
                })
            })
            .await?;
            if n == 0 {
                return Ok(out);
            }
            stream.consume(n);
        }
    }
    crate::io::ops::read_to_end(pipe.stream_mut().fd(), CURRENT_POSITION, out).await
}

trait PipeRead {
    fn stream_mut(&mut self) -> &mut FdStream;
    fn used_futures_io(&self) -> bool;
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

fn waitpid_nohang(pid: libc::pid_t) -> io::Result<Option<ExitStatus>> {
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

    fn entry(&mut self) -> squeue::Entry {
        opcode::PollAdd::new(types::Fd(self.fd.as_raw_fd()), libc::POLLIN as u32).build()
    }

    fn complete(self, result: io::Result<Completion>) -> io::Result<()> {
        result_of(result).map(drop)
    }
}

/// Children dropped unwaited: one thread polls their pidfds and reaps
/// each as it exits (started at the first such drop).
struct Reaper {
    pending: Mutex<Vec<(libc::pid_t, SharedFd)>>,
    wake: OwnedFd,
}

fn reap_later(pid: libc::pid_t, pidfd: SharedFd) {
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
            crate::loom::lock(&r.pending).push((pid, pidfd));
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
                let mut pending = crate::loom::lock(&self.pending);
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

/// The child's standard input: owned-buffer writes and `AsyncWrite`.
/// Dropping it closes the pipe. After `AsyncWrite` writes, `flush` or
/// `close` it first: a write still in flight when it is dropped (or when
/// `wait` drops it) is cancelled.
#[derive(Debug)]
pub struct ChildStdin {
    inner: FdStream,
}

impl ChildStdin {
    /// Writes some of `buf`. A child that closed its stdin gives
    /// `BrokenPipe` (Rust programs ignore SIGPIPE from the start; a
    /// program that restored it would be killed instead, as with std).
    pub async fn write<B: IoBuf>(&self, buf: B) -> (io::Result<usize>, B) {
        self.inner.write(buf).await
    }

    /// Writes all of `buf`.
    pub async fn write_all<B: IoBuf>(&self, buf: B) -> (io::Result<()>, B) {
        self.inner.write_all(buf).await
    }
}

/// The child's standard output: owned-buffer reads, `AsyncRead` and
/// `AsyncBufRead`.
///
/// Cancellation: the `AsyncRead`/`AsyncBufRead` side is
/// cancellation-safe (a read dropped after its bytes arrived keeps them
/// for the next call, so `wait_for` in a loop loses nothing). The
/// owned-buffer [`read`](Self::read) and [`read_exact`](Self::read_exact)
/// are not, like every owned-buffer operation: the buffer goes to the
/// kernel, and bytes a dropped call already received are dropped with it.
/// Do not mix the two styles on one pipe: the owned calls do not see
/// bytes the `AsyncRead` side has buffered. [`Child::communicate`] and
/// [`Child::wait_with_output`] do, and collect them first.
#[derive(Debug)]
pub struct ChildStdout {
    inner: FdStream,
    /// The `futures-io` side was used: it may hold buffered bytes or a
    /// read in flight, which `communicate` must collect first.
    futures_io_used: bool,
}

/// The child's standard error: as [`ChildStdout`] (the same
/// cancellation rules).
#[derive(Debug)]
pub struct ChildStderr {
    inner: FdStream,
    /// See [`ChildStdout`].
    futures_io_used: bool,
}

macro_rules! pipe_reader {
    ($ty:ty) => {
        impl $ty {
            fn new(fd: OwnedFd) -> $ty {
                Self {
                    inner: FdStream::pipe(fd),
                    futures_io_used: false,
                }
            }

            /// Reads into `buf`; `Ok(0)` at end of stream. Not
            /// cancellation-safe (see the type's docs).
            pub async fn read<B: IoBufMut>(&self, buf: B) -> (io::Result<usize>, B) {
                self.inner.read(buf).await
            }

            /// Fills `buf` to its capacity; end of stream first is
            /// `UnexpectedEof`.
            pub async fn read_exact<B: IoBufMut>(&self, buf: B) -> (io::Result<()>, B) {
                self.inner.read_exact(buf).await
            }
        }

        impl AsFd for $ty {
            fn as_fd(&self) -> BorrowedFd<'_> {
                self.inner.fd().as_fd()
            }
        }

        impl PipeRead for $ty {
            fn stream_mut(&mut self) -> &mut FdStream {
                &mut self.inner
            }
            fn used_futures_io(&self) -> bool {
                self.futures_io_used
            }
        }

        impl futures_io::AsyncRead for $ty {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut [u8],
            ) -> Poll<io::Result<usize>> {
                let this = self.get_mut();
                this.futures_io_used = true;
                this.inner.poll_read(cx, buf)
            }
        }

        impl futures_io::AsyncBufRead for $ty {
            fn poll_fill_buf(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
            ) -> Poll<io::Result<&[u8]>> {
                let this = self.get_mut();
                this.futures_io_used = true;
                this.inner.poll_fill_buf(cx)
            }

            fn consume(self: Pin<&mut Self>, amt: usize) {
                self.get_mut().inner.consume(amt)
            }
        }
    };
}

pipe_reader!(ChildStdout);
pipe_reader!(ChildStderr);
impl_futures_io!(ChildStdin, inner, write);

impl AsFd for ChildStdin {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.fd().as_fd()
    }
}
