//! The sim's driver backend: each `driver::Call` on one of the world's
//! sockets becomes an operation of the model (`world.rs`), answered
//! CQE-shaped (`res` ≥ 0 or `-errno`), and the plain socket calls of
//! net/ (`socket`, `bind`, `listen`, `getsockname`...) are answered from
//! the same model (`driver/sim_hook.rs` is the seam: the driver knows only
//! the trait, this layer installs it in its runtime).
//!
//! A socket's descriptor is an `eventfd` (non-blocking, close-on-exec):
//! an inert placeholder no network sees, kept open for the socket's life
//! so that its number is the socket's. Nothing here opens a real socket.
//!
//! **Pointers.** A `Call`'s pointers point into memory its op kind owns,
//! valid for as long as the call is (`driver/call.rs`); the backend reads
//! and writes them only during `poll_call`, within the lengths the call
//! gives.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::task::{Context, Poll};

use super::net::NetInner;
use super::world::{Received, Waiter, CURRENT_HOST};
use crate::driver::sim_hook::SimBackend;
use crate::driver::{Call, Completion, RECV_FALLBACK_SIZE};

fn done(res: i32) -> Poll<Completion> {
    Poll::Ready(Completion { res, flags: 0 })
}

/// An inert placeholder descriptor.
fn placeholder() -> io::Result<OwnedFd> {
    // SAFETY: plain syscall; the result is checked.
    let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh descriptor we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Reads a socket address the kernel would read.
///
/// # Safety
/// `addr` points to `len` readable bytes (or is null).
unsafe fn read_addr(addr: *const libc::sockaddr, len: libc::socklen_t) -> Option<SocketAddr> {
    if addr.is_null() || (len as usize) < std::mem::size_of::<libc::sa_family_t>() {
        return None;
    }
    // SAFETY: the caller's promise: at least the family is readable.
    let family = unsafe { (*addr).sa_family } as i32;
    match family {
        libc::AF_INET if len as usize >= std::mem::size_of::<libc::sockaddr_in>() => {
            // SAFETY: long enough for a sockaddr_in; read unaligned.
            let sin = unsafe { std::ptr::read_unaligned(addr.cast::<libc::sockaddr_in>()) };
            Some(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes()),
                u16::from_be(sin.sin_port),
            )))
        }
        libc::AF_INET6 if len as usize >= std::mem::size_of::<libc::sockaddr_in6>() => {
            // SAFETY: long enough for a sockaddr_in6; read unaligned.
            let sin6 = unsafe { std::ptr::read_unaligned(addr.cast::<libc::sockaddr_in6>()) };
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

/// Writes `a` where the kernel would (accept, recvmsg).
///
/// # Safety
/// `addr` points to `*len` writable bytes and `len` is writable (or
/// either is null).
unsafe fn write_addr(a: SocketAddr, addr: *mut libc::sockaddr, len: *mut libc::socklen_t) {
    if addr.is_null() || len.is_null() {
        return;
    }
    // SAFETY: the caller's promise.
    let cap = unsafe { *len } as usize;
    // SAFETY: all-zero bytes are a valid sockaddr_storage.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let n = match a {
        SocketAddr::V4(v4) => {
            // SAFETY: storage is large and aligned enough for a sockaddr_in.
            let sin = unsafe { &mut *(&mut storage as *mut _ as *mut libc::sockaddr_in) };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_port = v4.port().to_be();
            sin.sin_addr.s_addr = u32::from_ne_bytes(v4.ip().octets());
            std::mem::size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(v6) => {
            // SAFETY: as above, for a sockaddr_in6.
            let sin6 = unsafe { &mut *(&mut storage as *mut _ as *mut libc::sockaddr_in6) };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_port = v6.port().to_be();
            sin6.sin6_addr.s6_addr = v6.ip().octets();
            std::mem::size_of::<libc::sockaddr_in6>()
        }
    };
    // SAFETY: `cap` writable bytes at `addr` (the caller's promise); we
    // copy at most that many, and the length out.
    unsafe {
        std::ptr::copy_nonoverlapping(
            (&storage as *const libc::sockaddr_storage).cast::<u8>(),
            addr.cast::<u8>(),
            n.min(cap),
        );
        *len = n as libc::socklen_t;
    }
}

fn no_host() -> io::Error {
    io::Error::other(
        "ferrio: sim: this task runs on no host; start it with Host::spawn \
         (or wrap the future in Host::scope) so its sockets have one",
    )
}

impl SimBackend for NetInner {
    fn token(&self) -> u64 {
        self.world.lock().token()
    }

    fn abandon(&self, call: Call<'_>, token: u64) {
        if let Some(fd) = call.sim_fd() {
            self.with_world(|w, _| w.abandon(fd, token));
        }
    }

    fn poll_call(&self, call: Call<'_>, token: u64, cx: &mut Context<'_>) -> Poll<Completion> {
        let fd = call.sim_fd();
        let res = self.attempt(call, token, cx);
        // Done: the op's waker (from an earlier attempt) goes.
        if let (Poll::Ready(_), Some(fd)) = (&res, fd) {
            self.with_world(|w, _| w.abandon(fd, token));
        }
        res
    }

    fn closed(&self, fd: RawFd) {
        self.with_world(|w, net| w.closed(net, fd));
    }

    fn socket(&self, family: i32, ty: i32) -> io::Result<OwnedFd> {
        if family != libc::AF_INET && family != libc::AF_INET6 {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "ferrio: not simulated: only IPv4/IPv6 sockets run on the sim's network",
            ));
        }
        let udp = match ty & !(libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK) {
            libc::SOCK_STREAM => false,
            libc::SOCK_DGRAM => true,
            _ => {
                return Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    "ferrio: not simulated: only stream and datagram sockets",
                ))
            }
        };
        let host = CURRENT_HOST.with(|c| c.get()).ok_or_else(no_host)?;
        let fd = placeholder()?;
        let raw = fd.as_raw_fd();
        self.with_world(|w, _| w.open(raw, host, udp));
        Ok(fd)
    }

    fn bind(&self, fd: RawFd, addr: SocketAddr) -> io::Result<()> {
        self.with_world(|w, net| w.bind(net, fd, addr))
    }

    fn listen(&self, fd: RawFd) -> io::Result<()> {
        self.with_world(|w, net| w.listen(net, fd))
    }

    fn addr(&self, fd: RawFd, local: bool) -> io::Result<SocketAddr> {
        let a = self.with_world(|w, _| {
            w.sock(fd)
                .map(|s| if local { s.local } else { s.peer_addr })
        });
        match a {
            None => Err(io::Error::other(
                "ferrio: sim: not a socket of this simulation",
            )),
            Some(Some(a)) => Ok(a),
            Some(None) if local => Ok(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0))),
            Some(None) => Err(io::Error::from_raw_os_error(libc::ENOTCONN)),
        }
    }

    fn shutdown(&self, fd: RawFd, how: std::net::Shutdown) -> io::Result<()> {
        self.with_world(|w, net| w.shutdown(net, fd, how))
    }

    fn connect_datagram(&self, fd: RawFd, addr: SocketAddr) -> io::Result<()> {
        self.with_world(|w, net| w.connect_datagram(net, fd, addr))
    }

    fn try_recv(&self, fd: RawFd, buf: &mut [u8], peek: bool) -> io::Result<usize> {
        match self.with_world(|w, _| w.recv(fd, buf, None, peek)) {
            Some(Ok((n, _, _))) => Ok(n),
            Some(Err(e)) => Err(io::Error::from_raw_os_error(e)),
            None => Err(io::Error::from_raw_os_error(libc::ENOTSOCK)),
        }
    }

    fn try_recv_from(
        &self,
        fd: RawFd,
        buf: &mut [u8],
        peek: bool,
    ) -> io::Result<(usize, SocketAddr)> {
        match self.with_world(|w, _| w.recv(fd, buf, None, peek)) {
            Some(Ok((n, Some(from), _))) => Ok((n, from)),
            Some(Ok((_, None, _))) => Err(io::Error::from_raw_os_error(libc::ENOTCONN)),
            Some(Err(e)) => Err(io::Error::from_raw_os_error(e)),
            None => Err(io::Error::from_raw_os_error(libc::ENOTSOCK)),
        }
    }

    fn try_send(&self, fd: RawFd, buf: &[u8]) -> io::Result<usize> {
        match self.with_world(|w, net| w.send(net, fd, buf, None)) {
            Some(n) if n >= 0 => Ok(n as usize),
            Some(e) => Err(io::Error::from_raw_os_error(-e)),
            None => Err(io::Error::from_raw_os_error(libc::ENOTSOCK)),
        }
    }

    fn owns(&self, fd: RawFd) -> bool {
        self.world.lock().sock(fd).is_some()
    }

    fn resolve(&self, name: &str) -> io::Result<Vec<SocketAddr>> {
        let (host, port) = name.rsplit_once(':').ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("ferrio: sim: {name:?} is not host:port"),
            )
        })?;
        let port: u16 = port.parse().map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("ferrio: sim: bad port in {name:?}"),
            )
        })?;
        if host == "localhost" {
            return Ok(vec![SocketAddr::from((Ipv4Addr::LOCALHOST, port))]);
        }
        match self.host_index(host) {
            Some(i) => Ok(vec![SocketAddr::new(super::world::host_ip(i).into(), port)]),
            None => Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("ferrio: sim: no host named {host:?}"),
            )),
        }
    }
}

impl NetInner {
    /// One attempt at `call` (see `SimBackend::poll_call`).
    fn attempt(&self, call: Call<'_>, token: u64, cx: &mut Context<'_>) -> Poll<Completion> {
        let waker = Waiter {
            token,
            waker: cx.waker(),
        };
        let pending = |a: Option<i32>| match a {
            Some(res) => done(res),
            None => Poll::Pending,
        };
        match call {
            Call::Nop => done(0),
            Call::Connect { fd, addr, addr_len } => {
                // SAFETY: the call's address (`driver/call.rs`).
                let Some(to) = (unsafe { read_addr(addr, addr_len) }) else {
                    return done(-libc::EAFNOSUPPORT);
                };
                let fd = fd.as_raw_fd();
                match self.with_world(|w, net| {
                    w.sock(fd).is_some().then(|| w.connect(net, fd, to, waker))
                }) {
                    None => done(-libc::ENOTSOCK),
                    Some(a) => pending(a),
                }
            }
            Call::Accept { fd, addr, addr_len } => {
                let fd = fd.as_raw_fd();
                let mut new_fd = None;
                let r = self.with_world(|w, _| {
                    w.accept(
                        fd,
                        &mut || {
                            let p = placeholder()?;
                            let n = p.as_raw_fd();
                            new_fd = Some(p);
                            Ok(n)
                        },
                        waker,
                    )
                });
                match r {
                    None if self.owns(fd) => Poll::Pending,
                    None => done(-libc::ENOTSOCK),
                    Some(Err(e)) => done(-e),
                    Some(Ok((n, peer))) => {
                        // The model keeps the number; the op owns it now.
                        std::mem::forget(new_fd.take().expect("made"));
                        // SAFETY: the call's address out (`driver/call.rs`).
                        unsafe { write_addr(peer, addr, addr_len) };
                        done(n)
                    }
                }
            }
            Call::AcceptMany { fd } => {
                let mut len: libc::socklen_t = 0;
                let call = Call::Accept {
                    fd,
                    addr: std::ptr::null_mut(),
                    addr_len: &mut len,
                };
                self.attempt(call, token, cx)
            }
            Call::Recv { fd, buf, len, .. } => {
                // SAFETY: `len` writable bytes at `buf` (`driver/call.rs`).
                let out = unsafe { std::slice::from_raw_parts_mut(buf, len) };
                self.recv(fd.as_raw_fd(), out, waker)
                    .map(|r| r.map_or_else(|e| -e, |(n, _, _)| n as i32))
                    .map_or(Poll::Pending, done)
            }
            Call::Read { fd, buf, len, .. } if self.owns(fd.as_raw_fd()) => {
                // SAFETY: as for `Recv`.
                let out = unsafe { std::slice::from_raw_parts_mut(buf, len) };
                self.recv(fd.as_raw_fd(), out, waker)
                    .map(|r| r.map_or_else(|e| -e, |(n, _, _)| n as i32))
                    .map_or(Poll::Pending, done)
            }
            Call::RecvAny { fd, fallback, .. } => {
                if fallback.capacity() == 0 {
                    *fallback = Vec::with_capacity(RECV_FALLBACK_SIZE);
                }
                let cap = fallback.capacity();
                // SAFETY: the spare capacity is writable; the kind reads
                // only the `res` bytes the completion reports.
                let out = unsafe { std::slice::from_raw_parts_mut(fallback.as_mut_ptr(), cap) };
                match self.recv(fd.as_raw_fd(), out, waker) {
                    Some(r) => done(r.map_or_else(|e| -e, |(n, _, _)| n as i32)),
                    None => {
                        *fallback = Vec::new();
                        Poll::Pending
                    }
                }
            }
            Call::Send { fd, buf, len, .. } => {
                // SAFETY: `len` readable bytes at `buf` (`driver/call.rs`).
                let data = unsafe { std::slice::from_raw_parts(buf, len) };
                let fd = fd.as_raw_fd();
                done(
                    self.with_world(|w, net| w.send(net, fd, data, None))
                        .unwrap_or(-libc::ENOTSOCK),
                )
            }
            Call::Write { fd, buf, len, .. } if self.owns(fd.as_raw_fd()) => {
                // SAFETY: as for `Send`.
                let data = unsafe { std::slice::from_raw_parts(buf, len) };
                let fd = fd.as_raw_fd();
                done(
                    self.with_world(|w, net| w.send(net, fd, data, None))
                        .unwrap_or(-libc::ENOTSOCK),
                )
            }
            Call::SendMsg { fd, msg } => {
                // SAFETY: the header the kind filled in (`driver/call.rs`),
                // its iovecs and name live while the call does.
                let (to, data) = unsafe {
                    let m = &*msg;
                    let to = read_addr(m.msg_name as *const libc::sockaddr, m.msg_namelen);
                    let mut data = Vec::new();
                    for i in 0..m.msg_iovlen {
                        let v = &*m.msg_iov.add(i);
                        data.extend_from_slice(std::slice::from_raw_parts(
                            v.iov_base as *const u8,
                            v.iov_len,
                        ));
                    }
                    (to, data)
                };
                let fd = fd.as_raw_fd();
                done(
                    self.with_world(|w, net| w.send(net, fd, &data, to))
                        .unwrap_or(-libc::ENOTSOCK),
                )
            }
            Call::RecvMsg { fd, msg } => {
                // SAFETY: as for `SendMsg`; the iovecs are writable.
                let m = unsafe { &mut *msg };
                let mut scratch = vec![
                    0u8;
                    (0..m.msg_iovlen)
                        .map(|i| {
                            // SAFETY: as above.
                            unsafe { (*m.msg_iov.add(i)).iov_len }
                        })
                        .sum()
                ];
                let Some(r) = self.recv(fd.as_raw_fd(), &mut scratch, waker) else {
                    return Poll::Pending;
                };
                let (n, from, truncated) = match r {
                    Ok(r) => r,
                    Err(e) => return done(-e),
                };
                let mut at = 0;
                for i in 0..m.msg_iovlen {
                    // SAFETY: as above: each iovec is `iov_len` writable bytes.
                    unsafe {
                        let v = &*m.msg_iov.add(i);
                        let k = v.iov_len.min(n - at);
                        std::ptr::copy_nonoverlapping(scratch[at..].as_ptr(), v.iov_base.cast(), k);
                        at += k;
                    }
                }
                if let Some(from) = from {
                    // SAFETY: the header's name buffer and its length.
                    unsafe {
                        write_addr(from, m.msg_name.cast(), &mut m.msg_namelen);
                    }
                }
                m.msg_flags = if truncated { libc::MSG_TRUNC } else { 0 };
                done(n as i32)
            }
            Call::PollReadable { fd } | Call::PollWritable { fd } if self.owns(fd.as_raw_fd()) => {
                let write = matches!(call, Call::PollWritable { .. });
                let fd = fd.as_raw_fd();
                pending(self.with_world(|w, _| w.poll_ready(fd, write, waker)))
            }
            // Everything else (files, pipes, splices) is not simulated; the
            // layers that start such work refuse it first.
            _ => done(-libc::EOPNOTSUPP),
        }
    }

    fn recv(&self, fd: RawFd, out: &mut [u8], waker: Waiter<'_>) -> Option<Received> {
        if !self.owns(fd) {
            return Some(Err(libc::ENOTSOCK));
        }
        self.with_world(|w, _| w.recv(fd, out, Some(waker), false))
    }
}
