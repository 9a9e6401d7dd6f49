//! TCP on io_uring: `TcpListener` and `TcpStream` with completion-style,
//! owned-buffer I/O (`let (res, buf) = stream.read(buf).await`).
//!
//! Socket creation and `bind`/`listen` are plain syscalls; `accept`,
//! `connect` and the data path go through the worker's ring. An `accept`
//! dropped in flight closes the connection it may still produce, so no
//! descriptor leaks.

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6, ToSocketAddrs};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use io_uring::{opcode, squeue, types};

use crate::driver::op::Completion;
use crate::driver::{Op, OpKind};
use crate::io::{result_of, IoBuf, IoBufMut, Read};

/// Socket address storage the kernel reads or fills, boxed so it stays put.
struct Addr {
    storage: libc::sockaddr_storage,
    len: libc::socklen_t,
}

impl Addr {
    fn empty() -> Box<Addr> {
        Box::new(Addr {
            // SAFETY: all-zero bytes are a valid sockaddr_storage.
            storage: unsafe { zeroed() },
            len: size_of::<libc::sockaddr_storage>() as libc::socklen_t,
        })
    }

    fn from_std(addr: &SocketAddr) -> Box<Addr> {
        let mut a = Addr::empty();
        match addr {
            SocketAddr::V4(v4) => {
                // SAFETY: sockaddr_storage is large and aligned enough for
                // a sockaddr_in.
                let sin = unsafe { &mut *(&mut a.storage as *mut _ as *mut libc::sockaddr_in) };
                sin.sin_family = libc::AF_INET as libc::sa_family_t;
                sin.sin_port = v4.port().to_be();
                sin.sin_addr.s_addr = u32::from_ne_bytes(v4.ip().octets());
                a.len = size_of::<libc::sockaddr_in>() as libc::socklen_t;
            }
            SocketAddr::V6(v6) => {
                // SAFETY: as above, for a sockaddr_in6.
                let sin6 = unsafe { &mut *(&mut a.storage as *mut _ as *mut libc::sockaddr_in6) };
                sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
                sin6.sin6_port = v6.port().to_be();
                sin6.sin6_addr.s6_addr = v6.ip().octets();
                sin6.sin6_flowinfo = v6.flowinfo();
                sin6.sin6_scope_id = v6.scope_id();
                a.len = size_of::<libc::sockaddr_in6>() as libc::socklen_t;
            }
        }
        a
    }

    fn to_std(&self) -> Option<SocketAddr> {
        match self.storage.ss_family as i32 {
            libc::AF_INET => {
                // SAFETY: the family says it is a sockaddr_in.
                let sin = unsafe { &*(&self.storage as *const _ as *const libc::sockaddr_in) };
                Some(SocketAddr::V4(SocketAddrV4::new(
                    Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes()),
                    u16::from_be(sin.sin_port),
                )))
            }
            libc::AF_INET6 => {
                // SAFETY: the family says it is a sockaddr_in6.
                let sin6 = unsafe { &*(&self.storage as *const _ as *const libc::sockaddr_in6) };
                Some(SocketAddr::V6(SocketAddrV6::new(
                    Ipv6Addr::from(sin6.sin6_addr.s6_addr),
                    u16::from_be(sin6.sin6_port),
                    sin6.sin6_flowinfo,
                    sin6.sin6_scope_id,
                )))
            }
            _ => None,
        }
    }
}

fn resolve(addr: impl ToSocketAddrs) -> io::Result<Vec<SocketAddr>> {
    let addrs: Vec<SocketAddr> = addr.to_socket_addrs()?.collect();
    if addrs.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "ferrio::net: the address resolved to nothing",
        ));
    }
    Ok(addrs)
}

/// A TCP listening socket.
///
/// ```
/// ferrio::run(async {
///     let listener = ferrio::net::TcpListener::bind("127.0.0.1:0").unwrap();
///     let addr = listener.local_addr().unwrap();
///     let client = ferrio::spawn(async move {
///         let s = ferrio::net::TcpStream::connect(addr).await.unwrap();
///         s.write_all(b"ping".to_vec()).await.0.unwrap();
///     });
///     let (conn, _peer) = listener.accept().await.unwrap();
///     let (n, buf) = conn.read(Vec::with_capacity(16)).await;
///     assert_eq!(&buf[..n.unwrap()], b"ping");
///     client.await.unwrap();
/// });
/// ```
#[derive(Debug)]
pub struct TcpListener {
    fd: OwnedFd,
}

impl TcpListener {
    /// Binds and listens (plain syscalls; nothing to wait for).
    pub fn bind(addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
        let listener = std::net::TcpListener::bind(resolve(addr)?.as_slice())?;
        Ok(TcpListener {
            fd: listener.into(),
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.as_std(|l| l.local_addr())
    }

    fn as_std<R>(&self, f: impl FnOnce(&std::net::TcpListener) -> R) -> R {
        // SAFETY: a borrowed view of our own fd, never closed here.
        let l = std::mem::ManuallyDrop::new(unsafe {
            std::net::TcpListener::from_raw_fd(self.fd.as_raw_fd())
        });
        f(&l)
    }

    /// Waits for a connection.
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        Op::new(Accept {
            fd: self.fd.as_raw_fd(),
            addr: Addr::empty(),
        })
        .await
    }
}

struct Accept {
    fd: RawFd,
    addr: Box<Addr>,
}

impl OpKind for Accept {
    type Output = io::Result<(TcpStream, SocketAddr)>;
    const YIELDS_FD: bool = true;

    fn entry(&mut self) -> squeue::Entry {
        opcode::Accept::new(
            types::Fd(self.fd),
            &mut self.addr.storage as *mut _ as *mut libc::sockaddr,
            &mut self.addr.len,
        )
        .flags(libc::SOCK_CLOEXEC)
        .build()
    }

    fn complete(self, result: io::Result<Completion>) -> Self::Output {
        let fd = result_of(result)? as RawFd;
        // SAFETY: the kernel gave us this new descriptor.
        let stream = TcpStream {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        };
        let peer = match self.addr.to_std() {
            Some(a) => a,
            None => stream.peer_addr()?,
        };
        Ok((stream, peer))
    }
}

/// A TCP connection.
#[derive(Debug)]
pub struct TcpStream {
    fd: OwnedFd,
}

impl TcpStream {
    /// Connects to the first address that accepts (the connect itself runs
    /// on io_uring).
    pub async fn connect(addr: impl ToSocketAddrs) -> io::Result<TcpStream> {
        let mut last = None;
        for a in resolve(addr)? {
            match Self::connect_one(a).await {
                Ok(s) => return Ok(s),
                Err(e) => last = Some(e),
            }
        }
        Err(last.expect("resolve returns at least one address"))
    }

    async fn connect_one(addr: SocketAddr) -> io::Result<TcpStream> {
        let family = if addr.is_ipv4() {
            libc::AF_INET
        } else {
            libc::AF_INET6
        };
        // SAFETY: plain syscall; the result is checked.
        let fd = unsafe { libc::socket(family, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a fresh descriptor we own.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Op::new(Connect {
            fd: fd.as_raw_fd(),
            addr: Addr::from_std(&addr),
        })
        .await?;
        Ok(TcpStream { fd })
    }

    fn as_std<R>(&self, f: impl FnOnce(&std::net::TcpStream) -> R) -> R {
        // SAFETY: a borrowed view of our own fd, never closed here.
        let s = std::mem::ManuallyDrop::new(unsafe {
            std::net::TcpStream::from_raw_fd(self.fd.as_raw_fd())
        });
        f(&s)
    }

    /// The remote address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.as_std(|s| s.peer_addr())
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.as_std(|s| s.local_addr())
    }

    /// Sets TCP_NODELAY.
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.as_std(|s| s.set_nodelay(nodelay))
    }

    /// Shuts down one or both directions.
    pub fn shutdown(&self, how: std::net::Shutdown) -> io::Result<()> {
        self.as_std(|s| s.shutdown(how))
    }

    /// Reads into `buf`; `Ok(0)` at end of stream. The bytes are `buf[..n]`.
    pub async fn read<B: IoBufMut>(&self, buf: B) -> (io::Result<usize>, B) {
        Op::new(Read::new(self.fd.as_raw_fd(), buf, u64::MAX)).await
    }

    /// Writes some of `buf`'s bytes; returns how many. Writing to a
    /// connection the peer closed is an error (`BrokenPipe` /
    /// `ConnectionReset`), never a SIGPIPE.
    pub async fn write<B: IoBuf>(&self, buf: B) -> (io::Result<usize>, B) {
        Op::new(SendOp {
            fd: self.fd.as_raw_fd(),
            buf,
        })
        .await
    }

    /// Writes all of `buf` (several writes if needed).
    pub async fn write_all(&self, buf: Vec<u8>) -> (io::Result<()>, Vec<u8>) {
        let mut sent = 0;
        let mut buf = buf;
        while sent < buf.len() {
            let rest = buf.split_off(sent);
            let (res, rest) = self.write(rest).await;
            buf.extend_from_slice(&rest);
            match res {
                Ok(0) => {
                    return (
                        Err(io::Error::new(
                            io::ErrorKind::WriteZero,
                            "peer stopped reading",
                        )),
                        buf,
                    )
                }
                Ok(n) => sent += n,
                Err(e) => return (Err(e), buf),
            }
        }
        (Ok(()), buf)
    }
}

impl AsFd for TcpStream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

struct Connect {
    fd: RawFd,
    addr: Box<Addr>,
}

impl OpKind for Connect {
    type Output = io::Result<()>;

    fn entry(&mut self) -> squeue::Entry {
        opcode::Connect::new(
            types::Fd(self.fd),
            &self.addr.storage as *const _ as *const libc::sockaddr,
            self.addr.len,
        )
        .build()
    }

    fn complete(self, result: io::Result<Completion>) -> io::Result<()> {
        result_of(result).map(drop)
    }
}

struct SendOp<B> {
    fd: RawFd,
    buf: B,
}

impl<B: IoBuf> OpKind for SendOp<B> {
    type Output = (io::Result<usize>, B);

    fn entry(&mut self) -> squeue::Entry {
        let len = self.buf.bytes_init().min(u32::MAX as usize) as u32;
        opcode::Send::new(types::Fd(self.fd), self.buf.stable_ptr(), len)
            .flags(libc::MSG_NOSIGNAL)
            .build()
    }

    fn complete(self, result: io::Result<Completion>) -> Self::Output {
        (result_of(result).map(|n| n as usize), self.buf)
    }
}
