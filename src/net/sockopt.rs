//! Socket options as plain `setsockopt`/`getsockopt` calls, for the
//! options std does not offer (or not on an unconnected socket).
//!
//! On a simulated socket (feature `sim`) the model keeps no options:
//! setting one is accepted and changes nothing, reading one is refused
//! (`ferrio: not simulated: ...`), and `SO_ERROR` is always clear.

use std::io;
use std::mem::size_of;
use std::os::fd::RawFd;
use std::time::Duration;

/// Sets an `int` option.
pub(super) fn set_int(fd: RawFd, level: i32, name: i32, value: i32) -> io::Result<()> {
    // SAFETY: the value pointer and length describe a live local `int`.
    let r = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&value as *const i32).cast(),
            size_of::<i32>() as libc::socklen_t,
        )
    };
    let r = if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    };
    super::sim::or_model(fd, r, || Ok(()))
}

/// Reads an `int` option.
pub(super) fn get_int(fd: RawFd, level: i32, name: i32) -> io::Result<i32> {
    super::sim::or_model(fd, get_int_plain(fd, level, name), || {
        super::sim::refused("reading a socket option")
    })
}

fn get_int_plain(fd: RawFd, level: i32, name: i32) -> io::Result<i32> {
    let mut value: i32 = 0;
    let mut len = size_of::<i32>() as libc::socklen_t;
    // SAFETY: the value pointer and length describe a live local `int`.
    let r = unsafe { libc::getsockopt(fd, level, name, (&mut value as *mut i32).cast(), &mut len) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(value)
}

/// Sets a boolean option.
pub(super) fn set_bool(fd: RawFd, level: i32, name: i32, on: bool) -> io::Result<()> {
    set_int(fd, level, name, on as i32)
}

/// Reads a boolean option.
pub(super) fn get_bool(fd: RawFd, level: i32, name: i32) -> io::Result<bool> {
    get_int(fd, level, name).map(|v| v != 0)
}

/// Sets a buffer size (`SO_SNDBUF`/`SO_RCVBUF`); above `i32::MAX` is
/// `InvalidInput`. (Linux doubles the value for its bookkeeping: reading
/// it back gives the doubled size.)
pub(super) fn set_size(fd: RawFd, name: i32, size: u32) -> io::Result<()> {
    let size = i32::try_from(size).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "ferrio::net: a socket buffer size must fit in an i32",
        )
    })?;
    set_int(fd, libc::SOL_SOCKET, name, size)
}

/// Reads a buffer size.
pub(super) fn get_size(fd: RawFd, name: i32) -> io::Result<u32> {
    get_int(fd, libc::SOL_SOCKET, name).map(|v| v.max(0) as u32)
}

/// `SO_LINGER`: `Some(d)` makes `close` wait up to `d` (whole seconds,
/// rounded down; `Some(ZERO)` resets the connection on close), `None` is
/// the default (close returns at once, the kernel sends what is queued).
pub(super) fn set_linger(fd: RawFd, linger: Option<Duration>) -> io::Result<()> {
    let l = libc::linger {
        l_onoff: linger.is_some() as i32,
        l_linger: linger.map_or(0, |d| d.as_secs().min(i32::MAX as u64) as i32),
    };
    // SAFETY: the value pointer and length describe a live local `linger`.
    let r = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&l as *const libc::linger).cast(),
            size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    let r = if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    };
    super::sim::or_model(fd, r, || super::sim::refused("SO_LINGER"))
}

/// Reads `SO_LINGER` (see [`set_linger`]).
pub(super) fn linger(fd: RawFd) -> io::Result<Option<Duration>> {
    let mut l = libc::linger {
        l_onoff: 0,
        l_linger: 0,
    };
    let mut len = size_of::<libc::linger>() as libc::socklen_t;
    // SAFETY: the value pointer and length describe a live local `linger`.
    let r = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&mut l as *mut libc::linger).cast(),
            &mut len,
        )
    };
    if r < 0 {
        return super::sim::or_model(fd, Err(io::Error::last_os_error()), || {
            super::sim::refused("SO_LINGER")
        });
    }
    Ok((l.l_onoff != 0).then(|| Duration::from_secs(l.l_linger.max(0) as u64)))
}

/// `SO_ERROR`: the socket's pending error, cleared by reading it.
pub(super) fn take_error(fd: RawFd) -> io::Result<Option<io::Error>> {
    let e = get_int_plain(fd, libc::SOL_SOCKET, libc::SO_ERROR);
    let e = super::sim::or_model(fd, e, || Ok(0))?;
    Ok((e != 0).then(|| io::Error::from_raw_os_error(e)))
}
