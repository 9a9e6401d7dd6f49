//! The io_uring backend's translation of a [`Call`] into an SQE: the only
//! place that names an opcode for an op kind (the ring's own SQEs, its
//! eventfd read, park timeout and cancels, are built in `ring.rs`). The
//! SQE points where the call points (see `call.rs`, "Pointers").

use std::os::fd::AsRawFd;
use std::sync::Arc;

use io_uring::{opcode, squeue, types};

use super::call::{Call, RECV_FALLBACK_SIZE};
use super::op_cell::Recycle;
use super::pool::POOL_GROUP;
use super::ring::UringShared;

/// Clamps a length to what an SQE can carry; a shorter transfer is
/// reported as such and the caller goes on.
fn sqe_len(len: usize) -> u32 {
    len.min(u32::MAX as usize) as u32
}

/// The SQE of `call` on `ring` (its `user_data` is set by the caller),
/// and where provided buffers of completions nobody takes go back, if the
/// call takes them from the ring's pool.
pub(crate) fn sqe(call: Call<'_>, ring: &UringShared) -> (squeue::Entry, Option<Arc<dyn Recycle>>) {
    let fd_of = |fd: &super::fd::SharedFd| types::Fd(fd.as_raw_fd());
    let cwd = types::Fd(libc::AT_FDCWD);
    let entry = match call {
        Call::Nop => opcode::Nop::new().build(),
        Call::Read {
            fd,
            buf,
            len,
            offset,
        } => opcode::Read::new(fd_of(fd), buf, sqe_len(len))
            .offset(offset)
            .build(),
        Call::Recv { fd, buf, len, .. } => opcode::Recv::new(fd_of(fd), buf, sqe_len(len)).build(),
        Call::RecvAny { fd, pool, fallback } => {
            *pool = ring.pool().cloned();
            if let Some(p) = pool {
                let recycler: Arc<dyn Recycle> = p.clone();
                let entry = opcode::Recv::new(fd_of(fd), std::ptr::null_mut(), 0)
                    .buf_group(POOL_GROUP)
                    .build()
                    .flags(squeue::Flags::BUFFER_SELECT);
                return (entry, Some(recycler));
            }
            if fallback.capacity() == 0 {
                *fallback = Vec::with_capacity(RECV_FALLBACK_SIZE);
            }
            let len = sqe_len(fallback.capacity());
            opcode::Recv::new(fd_of(fd), fallback.as_mut_ptr(), len).build()
        }
        Call::Write {
            fd,
            buf,
            len,
            offset,
        } => opcode::Write::new(fd_of(fd), buf, sqe_len(len))
            .offset(offset)
            .build(),
        Call::Send {
            fd,
            buf,
            len,
            whole,
        } => {
            let all = if whole { libc::MSG_WAITALL } else { 0 };
            opcode::Send::new(fd_of(fd), buf, sqe_len(len))
                .flags(libc::MSG_NOSIGNAL | all)
                .build()
        }
        Call::RecvMsg { fd, msg } => opcode::RecvMsg::new(fd_of(fd), msg).build(),
        Call::SendMsg { fd, msg } => opcode::SendMsg::new(fd_of(fd), msg)
            .flags(libc::MSG_NOSIGNAL as u32)
            .build(),
        Call::Accept { fd, addr, addr_len } => opcode::Accept::new(fd_of(fd), addr, addr_len)
            .flags(libc::SOCK_CLOEXEC)
            .build(),
        Call::AcceptMany { fd } => opcode::AcceptMulti::new(fd_of(fd))
            .flags(libc::SOCK_CLOEXEC)
            .build(),
        Call::Connect { fd, addr, addr_len } => {
            opcode::Connect::new(fd_of(fd), addr, addr_len).build()
        }
        Call::PollReadable { fd } => opcode::PollAdd::new(fd_of(fd), libc::POLLIN as u32).build(),
        Call::Open { path, flags, mode } => opcode::OpenAt::new(cwd, path)
            .flags(flags)
            .mode(mode)
            .build(),
        Call::Fsync { fd, data_only } => {
            let flags = if data_only {
                types::FsyncFlags::DATASYNC
            } else {
                types::FsyncFlags::empty()
            };
            opcode::Fsync::new(fd_of(fd)).flags(flags).build()
        }
        Call::Statx {
            dir,
            path,
            flags,
            buf,
        } => {
            let dir = dir.map_or(cwd, fd_of);
            opcode::Statx::new(dir, path, buf.cast::<types::statx>())
                .flags(flags)
                .mask(libc::STATX_BASIC_STATS)
                .build()
        }
        Call::Unlink { path, dir } => opcode::UnlinkAt::new(cwd, path)
            .flags(if dir { libc::AT_REMOVEDIR } else { 0 })
            .build(),
        Call::Rename { from, to } => opcode::RenameAt::new(cwd, from, cwd, to).build(),
        Call::MkDir { path, mode } => opcode::MkDirAt::new(cwd, path).mode(mode).build(),
        Call::PollWritable { fd } => opcode::PollAdd::new(fd_of(fd), libc::POLLOUT as u32).build(),
        Call::Symlink { target, link } => opcode::SymlinkAt::new(cwd, target, link).build(),
        Call::HardLink { from, to } => opcode::LinkAt::new(cwd, from, cwd, to).build(),
        Call::Truncate { fd, len } => opcode::Ftruncate::new(fd_of(fd), len).build(),
        // Offsets -1: each end's current position (required for the pipe).
        Call::Splice {
            fd_in, fd_out, len, ..
        } => opcode::Splice::new(fd_of(fd_in), -1, fd_of(fd_out), -1, sqe_len(len))
            .flags(libc::SPLICE_F_NONBLOCK | libc::SPLICE_F_MOVE)
            .build(),
    };
    (entry, None)
}

/// The opcode of `call` when it is newer than the kernels ferrio runs on
/// (Linux 5.11 has every other one): the ring's probe decides whether it
/// goes on the ring or to the blocking pool (`op_future.rs`). A call
/// added with an opcode from after 5.11 is named here.
pub(crate) fn newer_opcode(call: &Call<'_>) -> Option<u8> {
    match call {
        // 5.15.
        Call::MkDir { .. } => Some(opcode::MkDirAt::CODE),
        Call::Symlink { .. } => Some(opcode::SymlinkAt::CODE),
        Call::HardLink { .. } => Some(opcode::LinkAt::CODE),
        // 6.9.
        Call::Truncate { .. } => Some(opcode::Ftruncate::CODE),
        _ => None,
    }
}
