//! What an operation does, described once for every backend: the system
//! call and its arguments ([`Call`]).
//!
//! An op kind (`OpKind`, in net/, fs/, io/, process/) owns its
//! resources and describes its call over them; it names no backend. Each
//! backend translates the description: the io_uring driver into an SQE
//! (`uring_call.rs`), the epoll driver into a plain non-blocking system
//! call after readiness, or a job on the blocking pool (`epoll_op.rs`
//! over `plain_call.rs`). A new backend is one more translation of the
//! same enum. Every backend returns a CQE-shaped [`Completion`] (`res` ≥ 0
//! or `-errno`), so each kind's `complete` serves all of them.
//!
//! **Pointers.** Every pointer in a `Call` points into memory owned by the
//! kind that does not move when the kind moves (heap buffers, boxes,
//! `CString`s) and stays valid while the kind lives: a backend may hand
//! them to the kernel and let the kind move meanwhile (the op's future
//! keeps the kind, and an abandoned op's cell keeps it until the final
//! completion). Lengths are the bytes behind the pointer.

use std::ffi::c_char;
use std::sync::Arc;

use super::fd::SharedFd;
use super::op_cell::Completion;
use super::pool::BufPool;
use crate::task::core::wait::WaitKind;

/// A file offset meaning "the descriptor's current position" (pipes,
/// sockets, appending files).
pub(crate) const CURRENT_POSITION: u64 = u64::MAX;

/// The buffer a receive that lets the backend choose ([`Call::RecvAny`])
/// allocates when there is no pool to take one from.
pub(crate) const RECV_FALLBACK_SIZE: usize = 16 * 1024;

/// One operation, backend-neutral (see the module docs).
pub(crate) enum Call<'a> {
    /// Nothing: a round trip through the driver.
    Nop,
    /// `read`/`pread` into `len` bytes at `buf`; `offset` may be
    /// [`CURRENT_POSITION`].
    Read {
        fd: &'a SharedFd,
        buf: *mut u8,
        len: usize,
        offset: u64,
    },
    /// `recv` on a socket. `datagram`: one datagram per call, so a short
    /// one does not mean the socket is drained.
    Recv {
        fd: &'a SharedFd,
        buf: *mut u8,
        len: usize,
        datagram: bool,
    },
    /// `recv` on a socket into a buffer the backend chooses: one taken from
    /// the backend's buffer pool when data arrives (the backend stores the
    /// pool in `pool`, and the completion names the buffer), or else
    /// `fallback`, which the backend allocates ([`RECV_FALLBACK_SIZE`]) if
    /// it has no capacity. A backend may free `fallback` again while the
    /// socket has nothing to read.
    RecvAny {
        fd: &'a SharedFd,
        pool: &'a mut Option<Arc<BufPool>>,
        fallback: &'a mut Vec<u8>,
    },
    /// `write`/`pwrite` of `len` bytes at `buf`; `offset` may be
    /// [`CURRENT_POSITION`].
    Write {
        fd: &'a SharedFd,
        buf: *const u8,
        len: usize,
        offset: u64,
    },
    /// `send` with `MSG_NOSIGNAL` (a closed peer is an error, never a
    /// SIGPIPE). `whole`: complete only once every byte is sent, where the
    /// backend can wait for that (`MSG_WAITALL`); elsewhere a short send is
    /// reported as usual.
    Send {
        fd: &'a SharedFd,
        buf: *const u8,
        len: usize,
        whole: bool,
    },
    /// `recvmsg` into the message header at `msg` (its name, iovec and
    /// buffers filled in by the kind).
    RecvMsg {
        fd: &'a SharedFd,
        msg: *mut libc::msghdr,
    },
    /// `sendmsg` with `MSG_NOSIGNAL` of the header at `msg`.
    SendMsg {
        fd: &'a SharedFd,
        msg: *mut libc::msghdr,
    },
    /// `accept4` with `SOCK_CLOEXEC`; the peer's address into `addr`
    /// (capacity and length at `addr_len`). Yields a descriptor.
    Accept {
        fd: &'a SharedFd,
        addr: *mut libc::sockaddr,
        addr_len: *mut libc::socklen_t,
    },
    /// Accepts connection after connection (no addresses), one result per
    /// connection; a backend without that accepts one per call. Yields
    /// descriptors.
    AcceptMany { fd: &'a SharedFd },
    /// `connect` to the address at `addr`.
    Connect {
        fd: &'a SharedFd,
        addr: *const libc::sockaddr,
        addr_len: libc::socklen_t,
    },
    /// Completes once `fd` is readable (a pidfd: its process exited); the
    /// result is the poll mask.
    PollReadable { fd: &'a SharedFd },
    /// `openat(AT_FDCWD, path, flags, mode)`. Yields a descriptor.
    Open {
        path: *const c_char,
        flags: i32,
        mode: u32,
    },
    /// `fsync`, or `fdatasync` when `data_only`.
    Fsync { fd: &'a SharedFd, data_only: bool },
    /// `statx` of `path` relative to `dir` (the working directory when
    /// `None`), basic stats, into `buf`.
    Statx {
        dir: Option<&'a SharedFd>,
        path: *const c_char,
        flags: i32,
        buf: *mut libc::statx,
    },
    /// `unlinkat(AT_FDCWD, path)`, `AT_REMOVEDIR` when `dir`.
    Unlink { path: *const c_char, dir: bool },
    /// `renameat(AT_FDCWD, from, AT_FDCWD, to)`.
    Rename {
        from: *const c_char,
        to: *const c_char,
    },
    /// `mkdirat(AT_FDCWD, path, mode)`.
    MkDir { path: *const c_char, mode: u32 },
    /// Completes once `fd` is writable; the result is the poll mask (as
    /// [`Call::PollReadable`], for `POLLOUT`).
    PollWritable { fd: &'a SharedFd },
    /// `symlinkat(target, AT_FDCWD, link)`: a symbolic link at `link`
    /// pointing to `target`.
    Symlink {
        target: *const c_char,
        link: *const c_char,
    },
    /// `linkat(AT_FDCWD, from, AT_FDCWD, to, 0)`: a hard link `to` of the
    /// file at `from`.
    HardLink {
        from: *const c_char,
        to: *const c_char,
    },
    /// `ftruncate(fd, len)`.
    Truncate { fd: &'a SharedFd, len: u64 },
    /// `splice` of up to `len` bytes from `fd_in` to `fd_out`, one of them
    /// a pipe, each at its current position, with `SPLICE_F_NONBLOCK`
    /// (the pipe never blocks) and `SPLICE_F_MOVE`. `wait_out`: the end a
    /// readiness-based backend waits on is `fd_out` (a pipe's data going
    /// out to a socket), else `fd_in` (a socket's data coming into an
    /// empty pipe): the caller keeps the pipe end ready.
    Splice {
        fd_in: &'a SharedFd,
        fd_out: &'a SharedFd,
        len: usize,
        wait_out: bool,
    },
}

impl Call<'_> {
    /// What a task waiting on this call waits on, for a task dump.
    pub(crate) fn wait(&self) -> Option<(WaitKind, u64)> {
        use std::os::fd::AsRawFd;
        let fd = |fd: &SharedFd| fd.as_raw_fd() as i64 as u64;
        let none = -1i64 as u64;
        Some(match self {
            Call::Nop => return None,
            Call::Read { fd: f, offset, .. } if *offset == CURRENT_POSITION => {
                (WaitKind::Read, fd(f))
            }
            Call::Write { fd: f, offset, .. } if *offset == CURRENT_POSITION => {
                (WaitKind::Write, fd(f))
            }
            Call::Read { fd: f, .. } | Call::Write { fd: f, .. } => (WaitKind::File, fd(f)),
            Call::Recv { fd: f, .. }
            | Call::RecvAny { fd: f, .. }
            | Call::RecvMsg { fd: f, .. } => (WaitKind::Read, fd(f)),
            Call::Send { fd: f, .. } | Call::SendMsg { fd: f, .. } => (WaitKind::Write, fd(f)),
            Call::Accept { fd: f, .. } | Call::AcceptMany { fd: f } => (WaitKind::Accept, fd(f)),
            Call::Connect { fd: f, .. } => (WaitKind::Connect, fd(f)),
            Call::Splice {
                fd_out,
                wait_out: true,
                ..
            } => (WaitKind::Write, fd(fd_out)),
            Call::Splice { fd_in, .. } => (WaitKind::Read, fd(fd_in)),
            Call::PollReadable { fd: f } | Call::PollWritable { fd: f } => (WaitKind::Ready, fd(f)),
            Call::Fsync { fd: f, .. } | Call::Truncate { fd: f, .. } => (WaitKind::File, fd(f)),
            Call::Statx { dir: Some(f), .. } => (WaitKind::File, fd(f)),
            Call::Open { .. }
            | Call::Statx { .. }
            | Call::Unlink { .. }
            | Call::Rename { .. }
            | Call::MkDir { .. }
            | Call::Symlink { .. }
            | Call::HardLink { .. } => (WaitKind::File, none),
        })
    }

    /// The socket a simulated world's op waits on (`sim_hook.rs`).
    #[cfg(feature = "sim")]
    pub(crate) fn sim_fd(&self) -> Option<std::os::fd::RawFd> {
        use std::os::fd::AsRawFd;
        match self {
            Call::Read { fd, .. }
            | Call::Recv { fd, .. }
            | Call::RecvAny { fd, .. }
            | Call::Write { fd, .. }
            | Call::Send { fd, .. }
            | Call::RecvMsg { fd, .. }
            | Call::SendMsg { fd, .. }
            | Call::Accept { fd, .. }
            | Call::AcceptMany { fd }
            | Call::Connect { fd, .. }
            | Call::PollReadable { fd }
            | Call::PollWritable { fd } => Some(fd.as_raw_fd()),
            _ => None,
        }
    }

    /// The call's results are new file descriptors: one nobody takes (the
    /// op's future was dropped) must be closed.
    pub(crate) fn yields_fd(&self) -> bool {
        matches!(
            self,
            Call::Accept { .. } | Call::AcceptMany { .. } | Call::Open { .. }
        )
    }

    /// `c`, this call's result, shows the descriptor drained in the call's
    /// direction: a stream read shorter than its buffer, a write shorter
    /// than its data. A readiness-based backend then waits for an edge
    /// instead of making a call bound to answer `EAGAIN`.
    pub(crate) fn drained_by(&self, c: &Completion) -> bool {
        let short_of = |len: usize| c.res >= 0 && (c.res as usize) < len;
        match self {
            Call::Read { len, .. } => c.res > 0 && short_of(*len),
            Call::Recv { len, datagram, .. } => !datagram && c.res > 0 && short_of(*len),
            Call::RecvAny { fallback, .. } => c.res > 0 && short_of(fallback.capacity()),
            Call::Write { len, .. } | Call::Send { len, .. } => short_of(*len),
            _ => false,
        }
    }
}
