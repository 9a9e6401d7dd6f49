//! net/'s side of a simulated world (feature `sim`): the calls net/ makes
//! as plain system calls (`socket`, `bind`, `listen`, `getsockname`,
//! `getpeername`, a datagram `connect`, name lookups) go to the world's
//! model when the runtime runs one (`driver/sim_hook.rs`); every op goes
//! there through the worker's driver, so the types themselves do not
//! change. Without the feature every function here is a constant `None`.

use std::io;
use std::net::SocketAddr;
use std::os::fd::RawFd;

/// The world the runtime on this thread simulates, if any.
#[cfg(all(feature = "sim", not(ferrio_loom)))]
pub(super) use crate::driver::sim_hook::backend as world;

/// The world that made the placeholder `fd`, if any.
#[cfg(all(feature = "sim", not(ferrio_loom)))]
pub(super) use crate::driver::sim_hook::owner_of as owner;

/// No world without the feature.
#[cfg(not(all(feature = "sim", not(ferrio_loom))))]
pub(super) fn world() -> Option<std::convert::Infallible> {
    None
}

/// `getsockname` (`local`) or `getpeername` of a simulated socket;
/// `None` for a real one.
pub(super) fn addr(fd: RawFd, local: bool) -> Option<io::Result<SocketAddr>> {
    #[cfg(all(feature = "sim", not(ferrio_loom)))]
    if let Some(w) = owner(fd) {
        return Some(w.addr(fd, local));
    }
    let _ = (fd, local);
    None
}

/// A name (`host:port`) resolved among a simulated world's hosts; `None`
/// outside a world.
pub(super) fn resolve(name: &str) -> Option<io::Result<Vec<SocketAddr>>> {
    #[cfg(all(feature = "sim", not(ferrio_loom)))]
    if let Some(w) = world() {
        return Some(w.resolve(name));
    }
    let _ = name;
    None
}

/// `r`, the result of a plain call on `fd`; where it failed because `fd`
/// is no socket and `fd` is a simulated world's placeholder, `model()`.
/// The world is asked only on that error, so a real socket pays nothing.
pub(super) fn or_model<T>(
    fd: RawFd,
    r: io::Result<T>,
    model: impl FnOnce() -> io::Result<T>,
) -> io::Result<T> {
    #[cfg(all(feature = "sim", not(ferrio_loom)))]
    if let Err(e) = &r {
        if e.raw_os_error() == Some(libc::ENOTSOCK) && owner(fd).is_some() {
            return model();
        }
    }
    let _ = (fd, model);
    r
}

/// `getsockname`/`getpeername` from the model (for [`or_model`]).
pub(super) fn model_addr(fd: RawFd, local: bool) -> io::Result<SocketAddr> {
    addr(fd, local).unwrap_or_else(|| Err(io::Error::from_raw_os_error(libc::ENOTSOCK)))
}

/// A call the model keeps no state for (for [`or_model`]).
pub(super) fn refused<T>(what: &str) -> io::Result<T> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        format!("ferrio: not simulated: {what} on a simulated socket"),
    ))
}

/// A call the model does not answer (an option it keeps no state for,
/// a conversion to a std socket), on a simulated socket: refused.
pub(super) fn refuse_option(fd: RawFd, what: &str) -> io::Result<()> {
    #[cfg(all(feature = "sim", not(ferrio_loom)))]
    if owner(fd).is_some() {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            format!("ferrio: not simulated: {what} on a simulated socket"),
        ));
    }
    let _ = (fd, what);
    Ok(())
}
