//! `sendmsg`/`recvmsg` with an address, for the datagram sockets (UDP
//! and Unix): one op kind for both directions, its header, iovec and
//! address boxed so the kernel's pointers stay valid while it moves.

use std::io;

use super::Addr;
use crate::driver::{Call, Completion, Op, OpKind};
use crate::io::{result_of, IoBuf, IoBufMut, SharedFd};

/// Sends one datagram of `buf`'s bytes to `addr` (`sendmsg`).
pub(super) async fn send_to<B: IoBuf>(
    fd: &SharedFd,
    buf: B,
    addr: Box<Addr>,
) -> (io::Result<usize>, B) {
    let (res, buf, _) = Op::new(Msg::new(fd.clone(), SendOnly(buf), addr, false)).await;
    (res, buf.0)
}

/// Receives one datagram into `buf` and the address it came from
/// (`recvmsg`).
pub(super) async fn recv_from<B: IoBufMut>(
    fd: &SharedFd,
    buf: B,
) -> (io::Result<usize>, B, Box<Addr>) {
    Op::new(Msg::new(fd.clone(), buf, Addr::empty(), true)).await
}

/// The header of a `sendmsg`/`recvmsg`, boxed with the address and the
/// iovec it points to, so the kernel's pointers stay valid.
struct MsgParts {
    hdr: libc::msghdr,
    iov: libc::iovec,
    addr: Box<Addr>,
}

// SAFETY: the raw pointers in `hdr` and `iov` point into this box and the
// op's buffer, both owned by the op that moves with them; nothing is
// shared between threads through them.
unsafe impl Send for MsgParts {}

struct Msg<B> {
    fd: SharedFd,
    buf: B,
    parts: Box<MsgParts>,
    receive: bool,
    /// The header is filled in: once, as a successful `recvmsg` writes
    /// the sender's address length into it, and the epoll driver asks for
    /// the call again after it (to see whether it drained the socket).
    /// A failed attempt leaves the header as it was.
    filled: bool,
}

impl<B> Msg<B> {
    fn new(fd: SharedFd, buf: B, addr: Box<Addr>, receive: bool) -> Msg<B> {
        Msg {
            fd,
            buf,
            parts: Box::new(MsgParts {
                // SAFETY: an all-zero msghdr / iovec is valid (null
                // pointers, zero lengths).
                hdr: unsafe { std::mem::zeroed() },
                // SAFETY: as above, for the iovec.
                iov: unsafe { std::mem::zeroed() },
                addr,
            }),
            receive,
            filled: false,
        }
    }
}

impl<B: IoBufMut> Msg<B> {
    fn fill(&mut self) {
        if std::mem::replace(&mut self.filled, true) {
            return;
        }
        let p = &mut *self.parts;
        if self.receive {
            p.iov.iov_base = self.buf.stable_mut_ptr().cast();
            p.iov.iov_len = self.buf.bytes_total();
            p.hdr.msg_namelen = Addr::capacity();
        } else {
            p.iov.iov_base = self.buf.stable_ptr() as *mut libc::c_void;
            p.iov.iov_len = self.buf.bytes_init();
            p.hdr.msg_namelen = p.addr.as_in().1;
        }
        p.hdr.msg_name = p.addr.storage_ptr();
        p.hdr.msg_iov = &mut p.iov;
        p.hdr.msg_iovlen = 1;
    }
}

/// `IoBufMut` for send-only buffers, so one op type serves both
/// directions: a send never calls the mutable half.
struct SendOnly<B>(B);

// SAFETY: forwards to `B`'s IoBuf, which upholds the contract.
unsafe impl<B: IoBuf> IoBuf for SendOnly<B> {
    fn stable_ptr(&self) -> *const u8 {
        self.0.stable_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.0.bytes_init()
    }
}

// SAFETY: never used for writing: `Msg` with `receive == false` only
// reads through `stable_ptr`/`bytes_init`; `bytes_total` is 0 so nothing
// could be written anyway.
unsafe impl<B: IoBuf> IoBufMut for SendOnly<B> {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.0.stable_ptr() as *mut u8
    }
    fn bytes_total(&self) -> usize {
        0
    }
    unsafe fn set_init(&mut self, _n: usize) {}
}

impl<B: IoBufMut> OpKind for Msg<B> {
    type Output = (io::Result<usize>, B, Box<Addr>);

    fn call(&mut self) -> Call<'_> {
        self.fill();
        let msg = &mut self.parts.hdr as *mut libc::msghdr;
        if self.receive {
            Call::RecvMsg { fd: &self.fd, msg }
        } else {
            Call::SendMsg { fd: &self.fd, msg }
        }
    }

    fn complete(mut self, result: io::Result<Completion>) -> Self::Output {
        let res = result_of(result).map(|n| n as usize);
        if let Ok(n) = res {
            if self.receive {
                // SAFETY: the kernel wrote `n` bytes from the start.
                unsafe { self.buf.set_init(n) };
                let len = self.parts.hdr.msg_namelen;
                self.parts.addr.set_len(len);
            }
        }
        let parts = self.parts;
        (res, self.buf, parts.addr)
    }
}
