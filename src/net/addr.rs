//! Socket addresses the kernel reads or fills, boxed so they stay put
//! while an operation is in flight.

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

pub(crate) struct Addr {
    storage: libc::sockaddr_storage,
    len: libc::socklen_t,
}

impl Addr {
    pub(crate) fn empty() -> Box<Addr> {
        Box::new(Addr {
            // SAFETY: all-zero bytes are a valid sockaddr_storage.
            storage: unsafe { zeroed() },
            len: size_of::<libc::sockaddr_storage>() as libc::socklen_t,
        })
    }

    /// For the kernel to read (connect, sendmsg).
    pub(crate) fn as_in(&self) -> (*const libc::sockaddr, libc::socklen_t) {
        (&self.storage as *const _ as *const libc::sockaddr, self.len)
    }

    /// For the kernel to fill (accept, recvmsg).
    pub(crate) fn as_out(&mut self) -> (*mut libc::sockaddr, *mut libc::socklen_t) {
        (
            &mut self.storage as *mut _ as *mut libc::sockaddr,
            &mut self.len,
        )
    }

    pub(crate) fn storage_ptr(&mut self) -> *mut libc::c_void {
        &mut self.storage as *mut _ as *mut libc::c_void
    }

    pub(crate) fn set_len(&mut self, len: libc::socklen_t) {
        self.len = len;
    }

    pub(crate) fn capacity() -> libc::socklen_t {
        size_of::<libc::sockaddr_storage>() as libc::socklen_t
    }

    pub(crate) fn from_std(addr: &SocketAddr) -> Box<Addr> {
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

    /// A Unix-domain address for `path`; a path too long for `sun_path` is
    /// `InvalidInput`.
    pub(crate) fn from_path(path: &Path) -> io::Result<Box<Addr>> {
        let mut a = Addr::empty();
        // SAFETY: sockaddr_storage is large and aligned enough for a
        // sockaddr_un.
        let sun = unsafe { &mut *(&mut a.storage as *mut _ as *mut libc::sockaddr_un) };
        let bytes = path.as_os_str().as_bytes();
        if bytes.len() >= sun.sun_path.len() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "ferrio::net: a Unix socket path must be shorter than {} bytes: {}",
                    sun.sun_path.len(),
                    path.display()
                ),
            ));
        }
        if bytes.contains(&0) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "ferrio::net: a Unix socket path cannot contain a NUL byte",
            ));
        }
        sun.sun_family = libc::AF_UNIX as libc::sa_family_t;
        for (dst, &src) in sun.sun_path.iter_mut().zip(bytes) {
            *dst = src as libc::c_char;
        }
        let path_offset = size_of::<libc::sa_family_t>();
        a.len = (path_offset + bytes.len() + 1) as libc::socklen_t;
        Ok(a)
    }

    /// A Unix-domain address as std's: a path, an abstract name, or
    /// unnamed (an unbound sender). Another family is `InvalidData`.
    pub(crate) fn to_unix(&self) -> io::Result<std::os::unix::net::SocketAddr> {
        use std::os::linux::net::SocketAddrExt;
        let path_offset = size_of::<libc::sa_family_t>();
        let len = (self.len as usize).min(size_of::<libc::sockaddr_un>());
        if len <= path_offset {
            // An unbound sender (or an unbound socket): std has no
            // constructor for an unnamed address, but reads one back from
            // an unbound socket.
            return unnamed_unix();
        }
        if self.storage.ss_family as i32 != libc::AF_UNIX {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "ferrio::net: expected a Unix-domain address",
            ));
        }
        // SAFETY: the family says it is a sockaddr_un, and
        // sockaddr_storage is large enough for one.
        let sun = unsafe { &*(&self.storage as *const _ as *const libc::sockaddr_un) };
        let path: Vec<u8> = sun.sun_path[..len - path_offset]
            .iter()
            .map(|&c| c as u8)
            .collect();
        match path.split_first() {
            Some((0, name)) => std::os::unix::net::SocketAddr::from_abstract_name(name),
            _ => {
                let end = path.iter().position(|&b| b == 0).unwrap_or(path.len());
                let path = std::ffi::OsStr::from_bytes(&path[..end]);
                std::os::unix::net::SocketAddr::from_pathname(path)
            }
        }
    }

    pub(crate) fn to_std(&self) -> Option<SocketAddr> {
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

/// An unnamed Unix-domain address (std's, read back once from an
/// unbound socket and kept).
fn unnamed_unix() -> io::Result<std::os::unix::net::SocketAddr> {
    static UNNAMED: std::sync::OnceLock<std::os::unix::net::SocketAddr> =
        std::sync::OnceLock::new();
    if let Some(a) = UNNAMED.get() {
        return Ok(a.clone());
    }
    let a = std::os::unix::net::UnixDatagram::unbound()?.local_addr()?;
    Ok(UNNAMED.get_or_init(|| a).clone())
}
