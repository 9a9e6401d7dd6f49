//! The epoll floor: a bare epoll echo server, no runtime, what the
//! runtimes' epoll path is measured against.
//!
//! One thread per CPU (`available_parallelism`), named `floor-epoll-N`,
//! each with its own epoll instance and its own `SO_REUSEPORT` listener
//! (the kernel spreads connections over the threads). Sockets are
//! non-blocking and registered once, edge-triggered, for both `EPOLLIN`
//! and `EPOLLOUT`; on any event a connection first flushes what it still
//! owes, then reads until `EAGAIN` into a 64 KiB buffer (or the size given to
//! `start`) and writes each
//! chunk straight back. A short write keeps the rest and stops reading
//! until the `EPOLLOUT` edge (backpressure, as a runtime's echo does by
//! awaiting its write). Each thread counts its `epoll_wait` calls.

use std::io;
use std::net::SocketAddr;
use std::os::fd::{IntoRawFd, RawFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Default read buffer per thread.
pub(crate) const BUF: usize = 64 * 1024;
/// `epoll_data` of a thread's listener.
const LISTENER: u64 = u64::MAX;

/// A running epoll floor server; its threads run until the process ends.
#[derive(Debug)]
pub(crate) struct FloorEpoll {
    addr: SocketAddr,
    waits: Vec<Arc<AtomicU64>>,
}

impl FloorEpoll {
    /// Starts `threads` threads (0: one per CPU) on a free loopback port,
    /// reading into a `buf`-byte buffer.
    pub(crate) fn start(threads: usize, buf: usize) -> FloorEpoll {
        let threads = if threads == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            threads
        };
        let listeners = super::reuseport_listeners(threads);
        let addr = listeners[0].local_addr().unwrap();
        let mut waits = Vec::new();
        for (i, l) in listeners.into_iter().enumerate() {
            let count = Arc::new(AtomicU64::new(0));
            waits.push(count.clone());
            std::thread::Builder::new()
                .name(format!("floor-epoll-{i}"))
                .spawn(move || {
                    if let Err(e) = run(l.into_raw_fd(), buf, &count) {
                        eprintln!("floor-epoll-{i}: {e}");
                    }
                })
                .unwrap();
        }
        FloorEpoll { addr, waits }
    }

    /// Where it listens.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `epoll_wait` calls so far, all threads.
    pub(crate) fn epoll_waits(&self) -> u64 {
        self.waits.iter().map(|w| w.load(Ordering::Relaxed)).sum()
    }
}

/// What a connection still owes its peer.
#[derive(Default)]
struct Conn {
    /// Bytes read but not yet written back; `sent` of them are written.
    owed: Vec<u8>,
    sent: usize,
}

fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn ctl(ep: RawFd, op: libc::c_int, fd: RawFd, events: u32, data: u64) -> io::Result<()> {
    let mut ev = libc::epoll_event { events, u64: data };
    // SAFETY: `ev` is a valid epoll_event for the duration of the call.
    cvt(unsafe { libc::epoll_ctl(ep, op, fd, &mut ev) }).map(drop)
}

/// One thread's loop: accept on `listener`, echo on every connection.
fn run(listener: RawFd, buf: usize, waits: &AtomicU64) -> io::Result<()> {
    // SAFETY: creates a new descriptor; no pointers involved.
    let ep = cvt(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
    ctl(
        ep,
        libc::EPOLL_CTL_ADD,
        listener,
        libc::EPOLLIN as u32,
        LISTENER,
    )?;
    let mut conns: Vec<Option<Conn>> = Vec::new();
    let mut buf = vec![0u8; buf];
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 256];
    let mut n_waits = 0u64;
    loop {
        // SAFETY: `events` has room for `events.len()` entries.
        let n = unsafe { libc::epoll_wait(ep, events.as_mut_ptr(), events.len() as i32, -1) };
        n_waits += 1;
        waits.store(n_waits, Ordering::Relaxed);
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        for ev in &events[..n as usize] {
            let data = ev.u64;
            if data == LISTENER {
                accept_all(ep, listener, &mut conns)?;
                continue;
            }
            let fd = data as RawFd;
            let Some(conn) = conns[fd as usize].as_mut() else {
                continue;
            };
            if !serve(fd, conn, &mut buf) {
                conns[fd as usize] = None;
                // SAFETY: `fd` is this thread's connection, closed once;
                // closing it also removes it from the epoll set.
                unsafe { libc::close(fd) };
            }
        }
    }
}

/// Accepts until `EAGAIN`; each connection gets `TCP_NODELAY` and an
/// edge-triggered registration for both directions.
fn accept_all(ep: RawFd, listener: RawFd, conns: &mut Vec<Option<Conn>>) -> io::Result<()> {
    loop {
        // SAFETY: null address pointers: the peer address is not wanted.
        let fd = unsafe {
            libc::accept4(
                listener,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            )
        };
        if fd < 0 {
            let e = io::Error::last_os_error();
            return match e.raw_os_error() {
                Some(libc::EAGAIN) => Ok(()),
                Some(libc::EINTR | libc::ECONNABORTED | libc::EMFILE | libc::ENFILE) => continue,
                _ => Err(e),
            };
        }
        set_nodelay(fd);
        if conns.len() <= fd as usize {
            conns.resize_with(fd as usize + 1, || None);
        }
        conns[fd as usize] = Some(Conn::default());
        let interest = (libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP | libc::EPOLLET) as u32;
        ctl(ep, libc::EPOLL_CTL_ADD, fd, interest, fd as u64)?;
    }
}

/// `TCP_NODELAY` on `fd`, as the runtimes' echo servers set it.
pub(crate) fn set_nodelay(fd: RawFd) {
    let one: libc::c_int = 1;
    // SAFETY: `one` outlives the call; a failure only costs latency.
    unsafe {
        libc::setsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_NODELAY,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
}

/// Outcome of writing what a connection owes.
enum Flush {
    Done,
    Blocked,
    Dead,
}

/// Writes `conn.owed[conn.sent..]` until done, `EAGAIN` or an error.
fn flush(fd: RawFd, conn: &mut Conn) -> Flush {
    while conn.sent < conn.owed.len() {
        let rest = &conn.owed[conn.sent..];
        // SAFETY: `rest` is valid for `rest.len()` bytes.
        let n = unsafe { libc::send(fd, rest.as_ptr().cast(), rest.len(), libc::MSG_NOSIGNAL) };
        if n < 0 {
            match io::Error::last_os_error().raw_os_error() {
                Some(libc::EAGAIN) => return Flush::Blocked,
                Some(libc::EINTR) => continue,
                _ => return Flush::Dead,
            }
        }
        conn.sent += n as usize;
    }
    conn.owed.clear();
    conn.sent = 0;
    Flush::Done
}

/// Handles one readiness edge on `fd`: flush, then read until `EAGAIN`,
/// writing each chunk back. False when the connection is finished.
fn serve(fd: RawFd, conn: &mut Conn, buf: &mut [u8]) -> bool {
    match flush(fd, conn) {
        Flush::Done => {}
        Flush::Blocked => return true,
        Flush::Dead => return false,
    }
    loop {
        // SAFETY: `buf` is valid for writes of `buf.len()` bytes.
        let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n == 0 {
            return false;
        }
        if n < 0 {
            return match io::Error::last_os_error().raw_os_error() {
                Some(libc::EAGAIN) => true,
                Some(libc::EINTR) => continue,
                _ => false,
            };
        }
        let chunk = &buf[..n as usize];
        // Write straight from the read buffer; only a short write copies.
        let mut sent = 0;
        while sent < chunk.len() {
            let rest = &chunk[sent..];
            // SAFETY: `rest` is valid for `rest.len()` bytes.
            let w = unsafe { libc::send(fd, rest.as_ptr().cast(), rest.len(), libc::MSG_NOSIGNAL) };
            if w < 0 {
                match io::Error::last_os_error().raw_os_error() {
                    Some(libc::EAGAIN) => {
                        conn.owed.extend_from_slice(rest);
                        // Wait for the EPOLLOUT edge; the unread input
                        // stays in the socket (it is re-read then).
                        return true;
                    }
                    Some(libc::EINTR) => continue,
                    _ => return false,
                }
            }
            sent += w as usize;
        }
    }
}
