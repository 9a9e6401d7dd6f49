//! UDP: `UdpSocket`.

use crate::task::core::wait::At;
use std::future::Future;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use super::{clear_nonblocking, resolve_blocking, Addr};
use crate::driver::Op;
use crate::io::ops::{Read, Write, WriteTo};
use crate::io::ready::{io_loop, ready};
use crate::io::{Interest, IoBuf, IoBufMut, Ready, SharedFd};

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
    ///
    /// Inside a `ferrio::sim` world this binds on the world's network (a
    /// host name, the host's address or `0.0.0.0` on the host the task
    /// runs on), where datagrams take the world's latency and may be lost
    /// (`ferrio::sim::Sim::udp_loss`).
    pub fn bind(addr: impl super::ToSocketAddrs) -> io::Result<UdpSocket> {
        let addrs = resolve_blocking(&addr)?;
        #[cfg(all(feature = "sim", not(ferrio_loom)))]
        if let Some(world) = super::sim::world() {
            let family = if addrs[0].is_ipv4() {
                libc::AF_INET
            } else {
                libc::AF_INET6
            };
            let fd = world.socket(family, libc::SOCK_DGRAM)?;
            world.bind(fd.as_raw_fd(), addrs[0])?;
            return Ok(UdpSocket {
                fd: SharedFd::new(fd),
            });
        }
        UdpSocket::from_std(std::net::UdpSocket::bind(addrs.as_slice())?)
    }

    /// Wraps a standard socket (made blocking, as io_uring waits itself;
    /// the epoll driver sets `O_NONBLOCK` at the first operation and clears
    /// it again when the socket leaves ferrio).
    pub fn from_std(socket: std::net::UdpSocket) -> io::Result<UdpSocket> {
        super::not_simulated()?;
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
    pub fn connect(&self, addr: impl super::ToSocketAddrs) -> io::Result<()> {
        let addrs = resolve_blocking(&addr)?;
        #[cfg(all(feature = "sim", not(ferrio_loom)))]
        if let Some(world) = super::sim::owner(self.fd.as_raw_fd()) {
            return world.connect_datagram(self.fd.as_raw_fd(), addrs[0]);
        }
        self.as_std(|s| s.connect(addrs.as_slice()))
    }

    /// The bound address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        let fd = self.fd.as_raw_fd();
        super::sim::or_model(fd, self.as_std(|s| s.local_addr()), || {
            super::sim::model_addr(fd, true)
        })
    }

    /// The connected peer.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        let fd = self.fd.as_raw_fd();
        super::sim::or_model(fd, self.as_std(|s| s.peer_addr()), || {
            super::sim::model_addr(fd, false)
        })
    }

    /// Allows sending to broadcast addresses (`SO_BROADCAST`).
    pub fn set_broadcast(&self, on: bool) -> io::Result<()> {
        self.as_std(|s| s.set_broadcast(on))
    }

    /// Whether `SO_BROADCAST` is set.
    pub fn broadcast(&self) -> io::Result<bool> {
        self.as_std(|s| s.broadcast())
    }

    /// Sets the time-to-live of the datagrams sent (`IP_TTL`).
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.as_std(|s| s.set_ttl(ttl))
    }

    /// `IP_TTL`.
    pub fn ttl(&self) -> io::Result<u32> {
        self.as_std(|s| s.ttl())
    }

    /// Whether multicast datagrams this socket sends loop back to this
    /// host's members (`IP_MULTICAST_LOOP`, on by default).
    pub fn set_multicast_loop_v4(&self, on: bool) -> io::Result<()> {
        self.as_std(|s| s.set_multicast_loop_v4(on))
    }

    /// `IP_MULTICAST_LOOP`.
    pub fn multicast_loop_v4(&self) -> io::Result<bool> {
        self.as_std(|s| s.multicast_loop_v4())
    }

    /// The time-to-live of multicast datagrams sent (`IP_MULTICAST_TTL`,
    /// 1 by default: they stay on the local network).
    pub fn set_multicast_ttl_v4(&self, ttl: u32) -> io::Result<()> {
        self.as_std(|s| s.set_multicast_ttl_v4(ttl))
    }

    /// `IP_MULTICAST_TTL`.
    pub fn multicast_ttl_v4(&self) -> io::Result<u32> {
        self.as_std(|s| s.multicast_ttl_v4())
    }

    /// `IPV6_MULTICAST_LOOP` (see
    /// [`set_multicast_loop_v4`](UdpSocket::set_multicast_loop_v4)).
    pub fn set_multicast_loop_v6(&self, on: bool) -> io::Result<()> {
        self.as_std(|s| s.set_multicast_loop_v6(on))
    }

    /// `IPV6_MULTICAST_LOOP`.
    pub fn multicast_loop_v6(&self) -> io::Result<bool> {
        self.as_std(|s| s.multicast_loop_v6())
    }

    /// Joins the IPv4 multicast group `multiaddr` on the interface whose
    /// address is `interface` (`Ipv4Addr::UNSPECIFIED`: the kernel picks
    /// one by route; a host without a route for it answers `ENODEV`).
    ///
    /// ```
    /// use std::net::Ipv4Addr;
    /// ferrio::run(async {
    ///     let socket = ferrio::net::UdpSocket::bind("0.0.0.0:0").unwrap();
    ///     let group = Ipv4Addr::new(239, 255, 0, 7);
    ///     match socket.join_multicast_v4(group, Ipv4Addr::LOCALHOST) {
    ///         Ok(()) => socket.leave_multicast_v4(group, Ipv4Addr::LOCALHOST).unwrap(),
    ///         // A host that refuses multicast on the loopback.
    ///         Err(e) => eprintln!("no multicast here: {e}"),
    ///     }
    /// });
    /// ```
    pub fn join_multicast_v4(&self, multiaddr: Ipv4Addr, interface: Ipv4Addr) -> io::Result<()> {
        self.as_std(|s| s.join_multicast_v4(&multiaddr, &interface))
    }

    /// Joins the IPv6 multicast group `multiaddr` on the interface of
    /// index `interface` (0: the kernel picks one).
    pub fn join_multicast_v6(&self, multiaddr: &Ipv6Addr, interface: u32) -> io::Result<()> {
        self.as_std(|s| s.join_multicast_v6(multiaddr, interface))
    }

    /// Leaves a group joined with
    /// [`join_multicast_v4`](UdpSocket::join_multicast_v4) (a group not
    /// joined is `EADDRNOTAVAIL`).
    pub fn leave_multicast_v4(&self, multiaddr: Ipv4Addr, interface: Ipv4Addr) -> io::Result<()> {
        self.as_std(|s| s.leave_multicast_v4(&multiaddr, &interface))
    }

    /// Leaves a group joined with
    /// [`join_multicast_v6`](UdpSocket::join_multicast_v6).
    pub fn leave_multicast_v6(&self, multiaddr: &Ipv6Addr, interface: u32) -> io::Result<()> {
        self.as_std(|s| s.leave_multicast_v6(multiaddr, interface))
    }

    /// The socket's pending error (`SO_ERROR`; an ICMP error a connected
    /// socket received), cleared by reading it.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.as_std(|s| s.take_error())
    }

    /// Waits until a datagram can be received (tokio's `readable`; see
    /// [`TcpStream::readable`](super::TcpStream::readable)).
    #[track_caller]
    pub fn readable(&self) -> impl Future<Output = io::Result<()>> + '_ {
        At::here(async move { ready(&self.fd, Interest::READABLE).await.map(drop) })
    }

    /// Waits until a datagram can be sent.
    #[track_caller]
    pub fn writable(&self) -> impl Future<Output = io::Result<()>> + '_ {
        At::here(async move { ready(&self.fd, Interest::WRITABLE).await.map(drop) })
    }

    /// Waits until the socket is ready for one of `interest`'s directions.
    #[track_caller]
    pub fn ready(&self, interest: Interest) -> impl Future<Output = io::Result<Ready>> + '_ {
        At::here(async move { ready(&self.fd, interest).await })
    }

    /// Receives the next datagram into `buf` without taking it from the
    /// queue (`MSG_PEEK`), and the address it came from (tokio's
    /// `peek_from`): the next receive gets it again. A borrowed slice, as
    /// the call copies at once: the future waits for readiness, and
    /// dropping it takes nothing. A datagram longer than `buf` is
    /// truncated in the copy only.
    ///
    /// ```
    /// ferrio::run(async {
    ///     let a = ferrio::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    ///     let b = ferrio::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    ///     a.send_to(b"once".to_vec(), b.local_addr().unwrap()).await.0.unwrap();
    ///     let mut peeked = [0u8; 16];
    ///     let (n, from) = b.peek_from(&mut peeked).await.unwrap();
    ///     assert_eq!((&peeked[..n], from), (&b"once"[..], a.local_addr().unwrap()));
    ///     // Still queued:
    ///     let (res, buf) = b.recv_from(Vec::with_capacity(16)).await;
    ///     assert_eq!(res.unwrap().0, 4);
    ///     assert_eq!(buf, b"once");
    /// });
    /// ```
    #[track_caller]
    pub fn peek_from<'a>(
        &'a self,
        buf: &'a mut [u8],
    ) -> impl Future<Output = io::Result<(usize, SocketAddr)>> + 'a {
        At::here(
            async move { io_loop(&self.fd, Interest::READABLE, || self.try_peek_from(buf)).await },
        )
    }

    /// One non-blocking [`peek_from`](UdpSocket::peek_from):
    /// `WouldBlock` when no datagram is queued.
    pub fn try_peek_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        let mut addr = Addr::empty();
        let (ptr, len) = addr.as_out();
        // SAFETY: `buf` is a live writable slice of the length given;
        // `ptr`/`len` describe the live boxed address storage.
        let ret = unsafe {
            libc::recvfrom(
                self.fd.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                libc::MSG_PEEK | libc::MSG_DONTWAIT,
                ptr,
                len,
            )
        };
        // A simulated world's placeholder is no socket: the world answers
        // (asked only on that error).
        #[cfg(all(feature = "sim", not(ferrio_loom)))]
        if ret < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::ENOTSOCK) {
            if let Some(world) = super::sim::owner(self.fd.as_raw_fd()) {
                return world.try_recv_from(self.fd.as_raw_fd(), buf, true);
            }
        }
        let n = crate::io::ready::count_of(ret)?;
        let from = addr
            .to_std()
            .ok_or_else(|| io::Error::other("ferrio::net: recvfrom returned no IP address"))?;
        Ok((n, from))
    }

    /// Sends one datagram to the connected peer.
    #[track_caller]
    pub fn send<B: IoBuf>(&self, buf: B) -> impl Future<Output = (io::Result<usize>, B)> + '_ {
        At::here(async move { Op::new(Write::new(self.fd.clone(), buf, WriteTo::Socket)).await })
    }

    /// Receives one datagram from the connected peer.
    #[track_caller]
    pub fn recv<B: IoBufMut>(&self, buf: B) -> impl Future<Output = (io::Result<usize>, B)> + '_ {
        At::here(async move { Op::new(Read::recv_datagram(self.fd.clone(), buf)).await })
    }

    /// Sends one datagram to `addr` (`sendmsg`).
    #[track_caller]
    pub fn send_to<'a, B: IoBuf>(
        &'a self,
        buf: B,
        addr: impl super::ToSocketAddrs + 'a,
    ) -> impl Future<Output = (io::Result<usize>, B)> + 'a {
        At::here(async move {
            let target = match super::resolve(&addr).await {
                Ok(a) => a[0],
                Err(e) => return (Err(e), buf),
            };
            super::msg::send_to(&self.fd, buf, Addr::from_std(&target)).await
        })
    }

    /// Receives one datagram and the address it came from (`recvmsg`).
    #[track_caller]
    pub fn recv_from<B: IoBufMut>(
        &self,
        buf: B,
    ) -> impl Future<Output = (io::Result<(usize, SocketAddr)>, B)> + '_ {
        At::here(async move {
            let (res, buf, addr) = super::msg::recv_from(&self.fd, buf).await;
            let res = res.and_then(|n| {
                addr.to_std()
                    .map(|a| (n, a))
                    .ok_or_else(|| io::Error::other("ferrio::net: recvmsg returned no IP address"))
            });
            (res, buf)
        })
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
