//! The simulator's backend seam (feature `sim`): the third way an op's
//! [`Call`] is carried out, next to the ring and epoll.
//!
//! **Why a trait object here, and the model in `sim/`.** The network model
//! (hosts, addresses, latency, partitions, the event hash) belongs to the
//! `sim` layer, above the runtime, and the driver must not name a layer
//! above it. So the driver only knows [`SimBackend`]: what a simulated
//! world answers for one attempt at a `Call`, and for the few socket calls
//! net/ makes as plain system calls (`socket`, `bind`, `listen`,
//! `getsockname`, `shutdown`...). `ferrio::sim` implements it and installs
//! it through the runtime's builder; the runtime then gives its worker a
//! [`Driver::Sim`](super::Driver) (an epoll instance to park on, plus the
//! backend), so the choice of backend is made where it is made for the
//! ring and epoll: once per op, when it first polls (`op_future.rs`'s
//! `target`), by the worker's driver variant. Outside a sim no path reads
//! anything new, and without the feature none of this is compiled.
//!
//! **Descriptors.** A simulated socket still needs a descriptor number
//! (`SharedFd`, `AsRawFd`): the backend makes an `eventfd`, an inert
//! placeholder no network ever sees, and keys its sockets by that number.
//! When a placeholder closes (`FdInner`'s drop calls [`closing`] first),
//! the backend hears of it while the number is still ours.
//!
//! **Polling.** [`SimBackend::poll_call`] is readiness-shaped: it either
//! completes the call now (taking bytes, a connection...) or registers the
//! waker and takes nothing, so an op future dropped between polls has
//! consumed nothing (cancellation is drop). The backend's completions are
//! CQE-shaped (`res` ≥ 0 or `-errno`), so each kind's `complete` serves it.
//! Each op has a token, under which its waker is kept; a dropped op takes
//! its waker back (`abandon`), so nothing of it stays behind.

use std::io;
use std::net::SocketAddr;
use std::os::fd::{OwnedFd, RawFd};
use std::sync::Arc;
use std::task::{Context, Poll};

use super::call::Call;
use super::op_cell::Completion;

/// What a simulated world answers (implemented by `ferrio::sim`).
pub(crate) trait SimBackend: Send + Sync + 'static {
    /// A token for a new op: its attempts register their waker under it
    /// (each new poll replaces the last one's).
    fn token(&self) -> u64;

    /// One attempt at `call` by the op of `token`: done now, or `Pending`
    /// with `cx`'s waker registered and nothing taken.
    fn poll_call(&self, call: Call<'_>, token: u64, cx: &mut Context<'_>) -> Poll<Completion>;

    /// The op of `token` was dropped while waiting: its waker goes.
    fn abandon(&self, call: Call<'_>, token: u64);

    /// The placeholder `fd` is about to close.
    fn closed(&self, fd: RawFd);

    /// A new socket (`SOCK_STREAM` or `SOCK_DGRAM`) on the current host.
    fn socket(&self, family: i32, ty: i32) -> io::Result<OwnedFd>;

    /// `bind(fd, addr)`.
    fn bind(&self, fd: RawFd, addr: SocketAddr) -> io::Result<()>;

    /// `listen(fd)`.
    fn listen(&self, fd: RawFd) -> io::Result<()>;

    /// `getsockname(fd)` (`local`) or `getpeername(fd)`.
    fn addr(&self, fd: RawFd, local: bool) -> io::Result<SocketAddr>;

    /// `shutdown(fd, how)`.
    fn shutdown(&self, fd: RawFd, how: std::net::Shutdown) -> io::Result<()>;

    /// A datagram socket's `connect` (no packet: sets its peer).
    fn connect_datagram(&self, fd: RawFd, addr: SocketAddr) -> io::Result<()>;

    /// A non-blocking `recv` (`MSG_PEEK` when `peek`): `WouldBlock` when
    /// nothing is there.
    fn try_recv(&self, fd: RawFd, buf: &mut [u8], peek: bool) -> io::Result<usize>;

    /// A non-blocking `recvfrom` (`MSG_PEEK` when `peek`).
    fn try_recv_from(
        &self,
        fd: RawFd,
        buf: &mut [u8],
        peek: bool,
    ) -> io::Result<(usize, SocketAddr)>;

    /// A non-blocking `send`.
    fn try_send(&self, fd: RawFd, buf: &[u8]) -> io::Result<usize>;

    /// Whether `fd` is one of the backend's placeholders.
    fn owns(&self, fd: RawFd) -> bool;

    /// Resolves `name` (`host:port`) among the world's hosts.
    fn resolve(&self, name: &str) -> io::Result<Vec<SocketAddr>>;
}

/// A worker's driver in a simulated runtime: an epoll instance to park on
/// (timers and wake-ups; no descriptor of a simulated socket is ever
/// registered with it), and the world's backend for every op.
pub(crate) struct SimDriver {
    pub(super) epoll: super::epoll::EpollDriver,
    pub(super) backend: Arc<dyn SimBackend>,
}

/// The simulated world of the runtime this thread runs in (a worker's
/// driver, or the runtime entered off the workers), if it is one.
pub(crate) fn backend() -> Option<Arc<dyn SimBackend>> {
    use super::worker_driver::Driver;
    let local = super::context::with_local(|d| match d {
        Some(Driver::Sim(s)) => Some(Some(s.backend.clone())),
        Some(_) => Some(None),
        None => None,
    });
    if let Some(local) = local {
        return local;
    }
    super::context::with_runtime(|r| r.and_then(|r| r.sim_backend()))
}

/// The simulated world owning the socket `fd`, if `fd` is a placeholder.
pub(crate) fn owner_of(fd: RawFd) -> Option<Arc<dyn SimBackend>> {
    backend().filter(|b| b.owns(fd))
}

/// A descriptor is about to close: a simulated world that made it as a
/// placeholder forgets the socket (its peer sees the close).
pub(super) fn closing(fd: RawFd) {
    super::context::with_local(|d| {
        if let Some(super::worker_driver::Driver::Sim(s)) = d {
            s.backend.closed(fd);
        }
    })
}
