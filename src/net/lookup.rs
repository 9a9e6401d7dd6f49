//! Name resolution off the workers: [`lookup_host`] and the
//! [`ToSocketAddrs`] that every async call taking an address accepts.
//!
//! `getaddrinfo` blocks (DNS, `/etc/hosts`, NSS modules), so a worker
//! that called it would stall every task queued behind it. The async calls
//! ([`TcpStream::connect`](super::TcpStream::connect),
//! [`UdpSocket::send_to`](super::UdpSocket::send_to),
//! [`open_connection`](crate::open_connection),
//! [`start_server`](crate::start_server)) take a literal address at once,
//! and hand anything else to the blocking pool (asyncio's
//! `loop.getaddrinfo`, which runs in the default executor).

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

/// What an async ferrio call accepts as an address: socket addresses and
/// `(ip, port)` pairs (used as they are), and `"host:port"` strings and
/// `(host, port)` pairs (parsed if they are literal, else looked up on
/// the blocking pool). Sealed: it is implemented here for those types.
pub trait ToSocketAddrs: sealed::ToTarget {}

/// Where a resolution stands.
pub(crate) enum Target {
    /// Literal addresses: nothing to look up.
    Ready(Vec<SocketAddr>),
    /// A `host:port` to look up off the workers.
    Lookup(String),
}

pub(crate) mod sealed {
    /// The conversion behind [`ToSocketAddrs`](super::ToSocketAddrs).
    pub trait ToTarget {
        #[doc(hidden)]
        #[allow(private_interfaces)]
        fn to_target(&self) -> std::io::Result<super::Target>;
    }
}

use sealed::ToTarget;

macro_rules! ready_addrs {
    ($($ty:ty),*) => {$(
        impl ToTarget for $ty {
            #[allow(private_interfaces)]
            fn to_target(&self) -> io::Result<Target> {
                Ok(Target::Ready(std::net::ToSocketAddrs::to_socket_addrs(self)?.collect()))
            }
        }
        impl ToSocketAddrs for $ty {}
    )*};
}

ready_addrs!(
    SocketAddr,
    SocketAddrV4,
    SocketAddrV6,
    (IpAddr, u16),
    (Ipv4Addr, u16),
    (Ipv6Addr, u16)
);

impl ToTarget for [SocketAddr] {
    #[allow(private_interfaces)]
    fn to_target(&self) -> io::Result<Target> {
        Ok(Target::Ready(self.to_vec()))
    }
}
impl ToSocketAddrs for [SocketAddr] {}

impl ToTarget for str {
    #[allow(private_interfaces)]
    fn to_target(&self) -> io::Result<Target> {
        match self.parse::<SocketAddr>() {
            Ok(addr) => Ok(Target::Ready(vec![addr])),
            Err(_) => Ok(Target::Lookup(self.to_owned())),
        }
    }
}
impl ToSocketAddrs for str {}

impl ToTarget for String {
    #[allow(private_interfaces)]
    fn to_target(&self) -> io::Result<Target> {
        self.as_str().to_target()
    }
}
impl ToSocketAddrs for String {}

impl ToTarget for (&str, u16) {
    #[allow(private_interfaces)]
    fn to_target(&self) -> io::Result<Target> {
        let (host, port) = *self;
        match host.parse::<IpAddr>() {
            Ok(ip) => Ok(Target::Ready(vec![SocketAddr::new(ip, port)])),
            Err(_) => Ok(Target::Lookup(format!("{host}:{port}"))),
        }
    }
}
impl ToSocketAddrs for (&str, u16) {}

impl ToTarget for (String, u16) {
    #[allow(private_interfaces)]
    fn to_target(&self) -> io::Result<Target> {
        (self.0.as_str(), self.1).to_target()
    }
}
impl ToSocketAddrs for (String, u16) {}

impl<T: ToTarget + ?Sized> ToTarget for &T {
    #[allow(private_interfaces)]
    fn to_target(&self) -> io::Result<Target> {
        (**self).to_target()
    }
}
impl<T: ToSocketAddrs + ?Sized> ToSocketAddrs for &T {}

/// Resolves `host` (asyncio's `loop.getaddrinfo`): a literal address at
/// once, a name on the runtime's blocking pool, so no worker waits for
/// DNS. Inside a `ferrio::sim` world, a name is one of the world's hosts
/// (`"server:80"` gives that host's address; `localhost`, the current
/// host's), and nothing is asked of a real resolver.
///
/// ```
/// ferrio::run(async {
///     let addrs: Vec<_> = ferrio::net::lookup_host("localhost:80").await.unwrap().collect();
///     assert!(addrs.iter().all(|a| a.port() == 80 && a.ip().is_loopback()));
/// });
/// ```
///
/// # Errors
/// The resolver's error (an unknown host), `InvalidInput` when the name
/// resolves to no address, and an error saying so when the runtime shuts
/// down during the lookup.
///
/// # Panics
/// A name (not a literal) outside a ferrio runtime.
pub async fn lookup_host(
    host: impl ToSocketAddrs,
) -> io::Result<impl Iterator<Item = SocketAddr> + Send + 'static> {
    Ok(resolve(&host).await?.into_iter())
}

/// Resolves to at least one address; see [`lookup_host`].
pub(crate) async fn resolve<A: ToSocketAddrs + ?Sized>(addr: &A) -> io::Result<Vec<SocketAddr>> {
    let addrs = match addr.to_target()? {
        Target::Ready(addrs) => addrs,
        Target::Lookup(name) if super::sim::world().is_some() => {
            super::sim::resolve(&name).expect("in a world")?
        }
        Target::Lookup(name) => {
            let looked_up = crate::to_thread(move || {
                #[cfg(test)]
                note_lookup_thread();
                std::net::ToSocketAddrs::to_socket_addrs(&name).map(|a| a.collect::<Vec<_>>())
            });
            match looked_up.await {
                Ok(result) => result?,
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                Err(_) => {
                    return Err(io::Error::other(
                        "ferrio: the runtime shut down during a name lookup",
                    ))
                }
            }
        }
    };
    if addrs.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "ferrio::net: the address resolved to nothing",
        ));
    }
    Ok(addrs)
}

/// The thread of the last name lookup (for tests).
#[cfg(test)]
pub(crate) static LAST_LOOKUP_THREAD: crate::loom::plain::Mutex<Option<String>> =
    crate::loom::plain::Mutex::new_const(None);

#[cfg(test)]
fn note_lookup_thread() {
    *LAST_LOOKUP_THREAD.lock() = std::thread::current().name().map(str::to_owned);
}
