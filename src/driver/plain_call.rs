//! A [`Call`] as one plain system call, shaped as a CQE's result (`res` ≥
//! 0 or `-errno`): the epoll backend's way to run an op, on the worker
//! after readiness (socket calls are non-blocking, `MSG_DONTWAIT`) or on a
//! blocking-pool thread (files, paths).
//!
//! Two calls take more than one system call here: `connect` (issued once,
//! then asked whether it finished, [`ConnectStep`]) and the waits for a
//! readable or writable descriptor (a `poll` with no timeout; not ready
//! is `EAGAIN`, so the readiness loop waits for an event and asks again).

use std::io;
use std::os::fd::AsRawFd;

use super::call::{Call, RECV_FALLBACK_SIZE};
use super::op_cell::Completion;

/// The result of a plain system call, shaped as a CQE's.
pub(crate) fn completion_of(ret: i64) -> Completion {
    let res = if ret < 0 {
        -io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO)
    } else {
        ret.min(i32::MAX as i64) as i32
    };
    Completion { res, flags: 0 }
}

const WOULD_BLOCK: Completion = Completion {
    res: -libc::EAGAIN,
    flags: 0,
};

/// Where a non-blocking `connect` is (kept by the op's runner between
/// attempts).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) enum ConnectStep {
    /// Not issued yet.
    #[default]
    Start,
    /// Issued and in progress: each attempt asks whether it finished.
    InProgress,
    /// A Unix socket's `connect` answered `EAGAIN`: its listener's backlog
    /// is full. No readiness event reports room in a backlog, so the
    /// connect must move to a thread that may block, and waits there, in
    /// the kernel, as a blocking `connect` does.
    BacklogFull,
}

/// Performs `call` once; `connect` is the connect's progress (unused by
/// other calls).
pub(crate) fn perform(call: Call<'_>, connect: &mut ConnectStep) -> Completion {
    // SAFETY: for every call below, the pointers and lengths come from
    // the `Call`, which guarantees they describe memory the op owns and that
    // stays valid for the call (`call.rs`, "Pointers"); descriptors are
    // held by the `SharedFd`s the call borrows.
    let ret = unsafe {
        match call {
            Call::Nop => 0,
            Call::Read {
                fd,
                buf,
                len,
                offset,
            } => {
                let (fd, buf) = (fd.as_raw_fd(), buf.cast());
                if offset == super::call::CURRENT_POSITION {
                    libc::read(fd, buf, len) as i64
                } else {
                    libc::pread(fd, buf, len, offset as libc::off_t) as i64
                }
            }
            Call::Recv { fd, buf, len, .. } => {
                libc::recv(fd.as_raw_fd(), buf.cast(), len, libc::MSG_DONTWAIT) as i64
            }
            Call::RecvAny { fd, fallback, .. } => {
                // No pool here: a buffer allocated for the attempt and freed
                // again on `EAGAIN`, so a connection waiting for data holds
                // none (as with a pool). Readiness makes such attempts rare.
                if fallback.capacity() == 0 {
                    *fallback = Vec::with_capacity(RECV_FALLBACK_SIZE);
                }
                let len = fallback.capacity();
                let ptr = fallback.as_mut_ptr().cast();
                let c =
                    completion_of(libc::recv(fd.as_raw_fd(), ptr, len, libc::MSG_DONTWAIT) as i64);
                if c.res == -libc::EAGAIN {
                    *fallback = Vec::new();
                }
                return c;
            }
            Call::Write {
                fd,
                buf,
                len,
                offset,
            } => {
                let (fd, buf) = (fd.as_raw_fd(), buf.cast());
                if offset == super::call::CURRENT_POSITION {
                    libc::write(fd, buf, len) as i64
                } else {
                    libc::pwrite(fd, buf, len, offset as libc::off_t) as i64
                }
            }
            Call::Send { fd, buf, len, .. } => libc::send(
                fd.as_raw_fd(),
                buf.cast(),
                len,
                libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT,
            ) as i64,
            Call::RecvMsg { fd, msg } => {
                libc::recvmsg(fd.as_raw_fd(), msg, libc::MSG_DONTWAIT) as i64
            }
            Call::SendMsg { fd, msg } => {
                libc::sendmsg(fd.as_raw_fd(), msg, libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT) as i64
            }
            Call::Accept { fd, addr, addr_len } => {
                libc::accept4(fd.as_raw_fd(), addr, addr_len, libc::SOCK_CLOEXEC) as i64
            }
            Call::AcceptMany { fd } => libc::accept4(
                fd.as_raw_fd(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                libc::SOCK_CLOEXEC,
            ) as i64,
            Call::Connect { fd, addr, addr_len } => {
                return connect_step(fd.as_raw_fd(), addr, addr_len, connect)
            }
            Call::PollReadable { fd } => return poll_now(fd.as_raw_fd(), libc::POLLIN),
            Call::Open { path, flags, mode } => {
                libc::openat(libc::AT_FDCWD, path, flags, mode as libc::c_uint) as i64
            }
            Call::Fsync { fd, data_only } => {
                if data_only {
                    libc::fdatasync(fd.as_raw_fd()) as i64
                } else {
                    libc::fsync(fd.as_raw_fd()) as i64
                }
            }
            Call::Statx {
                dir,
                path,
                flags,
                buf,
            } => {
                let dir = dir.map_or(libc::AT_FDCWD, |d| d.as_raw_fd());
                libc::statx(dir, path, flags, libc::STATX_BASIC_STATS, buf) as i64
            }
            Call::Unlink { path, dir } => {
                let flags = if dir { libc::AT_REMOVEDIR } else { 0 };
                libc::unlinkat(libc::AT_FDCWD, path, flags) as i64
            }
            Call::Rename { from, to } => {
                libc::renameat(libc::AT_FDCWD, from, libc::AT_FDCWD, to) as i64
            }
            Call::MkDir { path, mode } => {
                libc::mkdirat(libc::AT_FDCWD, path, mode as libc::mode_t) as i64
            }
            Call::PollWritable { fd } => return poll_now(fd.as_raw_fd(), libc::POLLOUT),
            Call::Symlink { target, link } => libc::symlinkat(target, libc::AT_FDCWD, link) as i64,
            Call::HardLink { from, to } => {
                libc::linkat(libc::AT_FDCWD, from, libc::AT_FDCWD, to, 0) as i64
            }
            Call::Truncate { fd, len } => match libc::off_t::try_from(len) {
                Ok(len) => libc::ftruncate(fd.as_raw_fd(), len) as i64,
                Err(_) => {
                    return Completion {
                        res: -libc::EINVAL,
                        flags: 0,
                    }
                }
            },
            Call::Splice {
                fd_in, fd_out, len, ..
            } => libc::splice(
                fd_in.as_raw_fd(),
                std::ptr::null_mut(),
                fd_out.as_raw_fd(),
                std::ptr::null_mut(),
                len,
                libc::SPLICE_F_NONBLOCK | libc::SPLICE_F_MOVE,
            ) as i64,
        }
    };
    completion_of(ret)
}

/// One step of a `connect`: issue it once (in progress: `EAGAIN`); after
/// that, ask whether it finished: the socket's pending error, or else
/// whether it has a peer (`ENOTCONN`: still connecting). With a full
/// backlog, a blocking connect.
///
/// # Safety
/// `addr`/`addr_len` describe a live socket address.
unsafe fn connect_step(
    fd: libc::c_int,
    addr: *const libc::sockaddr,
    addr_len: libc::socklen_t,
    step: &mut ConnectStep,
) -> Completion {
    match *step {
        ConnectStep::BacklogFull => {
            // SAFETY: the caller's promise about `addr`.
            return unsafe { connect_blocking(fd, addr, addr_len) };
        }
        ConnectStep::Start => {
            // SAFETY: the caller's promise about `addr`.
            let c = completion_of(unsafe { libc::connect(fd, addr, addr_len) } as i64);
            if c.res == -libc::EAGAIN {
                // Only a Unix socket answers EAGAIN (see `BacklogFull`).
                *step = ConnectStep::BacklogFull;
                return c;
            }
            if c.res == -libc::EINPROGRESS {
                *step = ConnectStep::InProgress;
                return WOULD_BLOCK;
            }
            return c;
        }
        ConnectStep::InProgress => {}
    }
    let mut err: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `err`/`len` are live locals of the sizes given.
    let ret = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_ERROR,
            (&mut err as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    if ret < 0 {
        return completion_of(-1);
    }
    if err != 0 {
        return Completion {
            res: -err,
            flags: 0,
        };
    }
    // SAFETY: zeroed storage is a valid sockaddr_storage.
    let mut peer: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut plen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: `peer`/`plen` describe a live local buffer.
    let ret = unsafe {
        libc::getpeername(
            fd,
            (&mut peer as *mut libc::sockaddr_storage).cast(),
            &mut plen,
        )
    };
    match completion_of(ret as i64) {
        Completion { res, .. } if res == -libc::ENOTCONN => WOULD_BLOCK,
        c => c,
    }
}

/// A blocking `connect` on a blocking-pool thread: `O_NONBLOCK` is
/// cleared for the call (an unconnected socket has no other operation that
/// could notice) and set again after it.
///
/// # Safety
/// `addr`/`addr_len` describe a live socket address.
unsafe fn connect_blocking(
    fd: libc::c_int,
    addr: *const libc::sockaddr,
    addr_len: libc::socklen_t,
) -> Completion {
    // SAFETY: fcntl and connect on a descriptor the op holds; the caller's
    // promise about `addr`.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags < 0 {
            return completion_of(-1);
        }
        if libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK) < 0 {
            return completion_of(-1);
        }
        let c = completion_of(libc::connect(fd, addr, addr_len) as i64);
        libc::fcntl(fd, libc::F_SETFL, flags);
        c
    }
}

/// A `poll` for `events` with no wait: not ready yet is `EAGAIN`; ready,
/// the poll mask.
fn poll_now(fd: libc::c_int, events: libc::c_short) -> Completion {
    let mut p = libc::pollfd {
        fd,
        events,
        revents: 0,
    };
    // SAFETY: one live pollfd.
    let ret = unsafe { libc::poll(&mut p, 1, 0) };
    match completion_of(ret as i64) {
        Completion { res: 0, .. } => WOULD_BLOCK,
        Completion { res, .. } if res > 0 => Completion {
            res: p.revents as i32,
            flags: 0,
        },
        c => c,
    }
}
