//! The connection under a reader/writer pair: a TCP or Unix stream.

use std::io;
use std::net::{Shutdown, SocketAddr};

use crate::net::{TcpStream, UnixStream};

/// The connection under a reader/writer pair.
#[derive(Debug)]
pub(super) enum Conn {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Conn {
    pub(super) async fn read_pooled(&self) -> io::Result<crate::io::RecvBuf> {
        match self {
            Conn::Tcp(s) => s.read_pooled().await,
            Conn::Unix(s) => s.read_pooled().await,
        }
    }

    pub(super) async fn write_all(&self, buf: Vec<u8>) -> (io::Result<()>, Vec<u8>) {
        match self {
            Conn::Tcp(s) => s.write_all(buf).await,
            Conn::Unix(s) => s.write_all(buf).await,
        }
    }

    pub(super) fn shutdown_write(&self) -> io::Result<()> {
        let r = match self {
            Conn::Tcp(s) => s.shutdown(Shutdown::Write),
            Conn::Unix(s) => s.shutdown(Shutdown::Write),
        };
        match r {
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(()),
            other => other,
        }
    }

    /// Shuts the connection down both ways now (queued bytes are lost).
    pub(super) fn abort(&self) {
        let _ = match self {
            Conn::Tcp(s) => s.shutdown(Shutdown::Both),
            Conn::Unix(s) => s.shutdown(Shutdown::Both),
        };
    }

    pub(super) fn peer_addr(&self) -> Option<SocketAddr> {
        match self {
            Conn::Tcp(s) => s.peer_addr().ok(),
            Conn::Unix(_) => None,
        }
    }
}
