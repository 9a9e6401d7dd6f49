//! UDP: `UdpSocket`.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs as StdToSocketAddrs};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use super::{clear_nonblocking, resolve_blocking, Addr};
use crate::driver::{Call, Completion, Op, OpKind};
use crate::io::ops::{Read, Write, WriteTo};
use crate::io::{result_of, IoBuf, IoBufMut, SharedFd};

/// A UDP socket. Datagrams go through the worker's I/O driver:
/// `send`/`recv` on a connected socket, `send_to`/`recv_from`
/// (`sendmsg`/`recvmsg`) on any.
///
/// A datagram larger than the buffer is truncated, as with `recv(2)`.
///
/// ```
/// ferrio::run(async {
///     let a = ferrio::net::UdpSocket::bind("127.0.0.1:0").unwrap();
///     let b = ferrio::net::UdpSocket::bind("127.0.0.1:0").unwrap();
///     let (n, _) = a.send_to(b"ping".to_vec(), b.local_addr().unwrap()).await;
///     assert_eq!(n.unwrap(), 4);
///     let (res, buf) = b.recv_from(Vec::with_capacity(64)).await;
///     let (n, from) = res.unwrap();
///     assert_eq!(&buf[..n], b"ping");
///     assert_eq!(from, a.local_addr().unwrap());
/// });
/// ```
#[derive(Debug)]
pub struct UdpSocket {
    fd: SharedFd,
}

impl UdpSocket {
    /// Binds a socket (plain syscall). Resolves with std's blocking
    /// resolver: a host name may block the calling thread (resolve it
    /// first with [`lookup_host`](super::lookup_host)).
    pub fn bind(addr: impl StdToSocketAddrs) -> io::Result<UdpSocket> {
        UdpSocket::from_std(std::net::UdpSocket::bind(
            resolve_blocking(addr)?.as_slice(),
        )?)
    }

    /// Wraps a standard socket (made blocking, as io_uring waits itself;
    /// the epoll driver sets `O_NONBLOCK` at the first operation and clears
    /// it again when the socket leaves ferrio).
    pub fn from_std(socket: std::net::UdpSocket) -> io::Result<UdpSocket> {
        let fd: OwnedFd = socket.into();
        clear_nonblocking(&fd)?;
        Ok(UdpSocket {
            fd: SharedFd::new(fd),
        })
    }

    fn as_std<R>(&self, f: impl FnOnce(&std::net::UdpSocket) -> R) -> R {
        // SAFETY: a borrowed view of our own fd, never closed here.
        let s = std::mem::ManuallyDrop::new(unsafe {
            std::net::UdpSocket::from_raw_fd(self.fd.as_raw_fd())
        });
        f(&s)
    }

    /// Sets the default peer for `send`/`recv` and filters what arrives
    /// (a UDP connect sends nothing, so it is a plain syscall). A host name
    /// is resolved by std's blocking resolver (see [`UdpSocket::bind`]).
    pub fn connect(&self, addr: impl StdToSocketAddrs) -> io::Result<()> {
        let addrs = resolve_blocking(addr)?;
        self.as_std(|s| s.connect(addrs.as_slice()))
    }

    /// The bound address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.as_std(|s| s.local_addr())
    }

    /// The connected peer.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.as_std(|s| s.peer_addr())
    }

    /// Allows sending to broadcast addresses.
    pub fn set_broadcast(&self, on: bool) -> io::Result<()> {
        self.as_std(|s| s.set_broadcast(on))
    }

    /// Sends one datagram to the connected peer.
    pub async fn send<B: IoBuf>(&self, buf: B) -> (io::Result<usize>, B) {
        Op::new(Write::new(self.fd.clone(), buf, WriteTo::Socket)).await
    }

    /// Receives one datagram from the connected peer.
    pub async fn recv<B: IoBufMut>(&self, buf: B) -> (io::Result<usize>, B) {
        Op::new(Read::recv_datagram(self.fd.clone(), buf)).await
    }

    /// Sends one datagram to `addr` (`sendmsg`).
    pub async fn send_to<B: IoBuf>(
        &self,
        buf: B,
        addr: impl super::ToSocketAddrs,
    ) -> (io::Result<usize>, B) {
        let target = match super::resolve(&addr).await {
            Ok(a) => a[0],
            Err(e) => return (Err(e), buf),
        };
        let op = Msg::new(
            self.fd.clone(),
            SendOnly(buf),
            Addr::from_std(&target),
            false,
        );
        let (res, buf, _) = Op::new(op).await;
        (res, buf.0)
    }

    /// Receives one datagram and the address it came from (`recvmsg`).
    pub async fn recv_from<B: IoBufMut>(&self, buf: B) -> (io::Result<(usize, SocketAddr)>, B) {
        let op = Msg::new(self.fd.clone(), buf, Addr::empty(), true);
        let (res, buf, addr) = Op::new(op).await;
        let res = res.and_then(|n| {
            addr.to_std()
                .map(|a| (n, a))
                .ok_or_else(|| io::Error::other("ferrio::net: recvmsg returned no IP address"))
        });
        (res, buf)
    }
}

impl AsFd for UdpSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for UdpSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
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
        }
    }
}

impl<B: IoBufMut> Msg<B> {
    fn fill(&mut self) {
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
