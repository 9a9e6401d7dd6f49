//! Receives into the worker's provided-buffer pool (io_uring), or into a
//! buffer allocated for the attempt where there is no pool (epoll).

use std::fmt;
use std::io;
use std::ops::Deref;
use std::sync::Arc;

use super::ops::Read;
use super::SharedFd;
use crate::driver::op_cell::Recycle;
use crate::driver::pool::BufPool;
use crate::driver::{Call, Completion, Op, OpKind, RECV_FALLBACK_SIZE as FALLBACK_SIZE};

/// Bytes received into a buffer of the worker's pool (`read_pooled`).
///
/// The receive took the buffer only when the data arrived, so a
/// connection waiting for data holds no memory. Dropping the `RecvBuf`
/// gives the buffer back to the pool; copy out what you keep. Where the
/// pool was empty (or the kernel has no buffer rings, before 5.19, or the
/// runtime runs the epoll driver, which has no pool and frees the buffer
/// of an attempt that found nothing) the bytes are in an ordinary
/// allocation instead; nothing else changes.
pub struct RecvBuf {
    inner: Inner,
}

enum Inner {
    Pool {
        pool: Arc<BufPool>,
        bid: u16,
        len: usize,
    },
    Owned(Vec<u8>),
}

impl RecvBuf {
    fn owned(v: Vec<u8>) -> RecvBuf {
        RecvBuf {
            inner: Inner::Owned(v),
        }
    }

    /// True when the bytes sit in a pool buffer (false for the fallback
    /// allocation).
    pub fn is_pooled(&self) -> bool {
        matches!(self.inner, Inner::Pool { .. })
    }
}

impl Deref for RecvBuf {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match &self.inner {
            // SAFETY: this RecvBuf holds `bid` (its completion gave it,
            // and it is recycled only in our Drop); the kernel wrote `len`
            // bytes into it.
            Inner::Pool { pool, bid, len } => unsafe { pool.bytes(*bid, *len) },
            Inner::Owned(v) => v,
        }
    }
}

impl Drop for RecvBuf {
    fn drop(&mut self) {
        if let Inner::Pool { pool, bid, .. } = &self.inner {
            pool.recycle(*bid);
        }
    }
}

impl fmt::Debug for RecvBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecvBuf")
            .field("len", &self.len())
            .field("pooled", &self.is_pooled())
            .finish()
    }
}

/// A receive into a buffer the driver picks (`Call::RecvAny`): one from
/// the ring's pool, taken when data arrives, or a fresh buffer where there
/// is no pool.
pub(crate) struct RecvPooled {
    fd: SharedFd,
    pool: Option<Arc<BufPool>>,
    fallback: Vec<u8>,
}

impl OpKind for RecvPooled {
    type Output = io::Result<RecvBuf>;

    fn call(&mut self) -> Call<'_> {
        Call::RecvAny {
            fd: &self.fd,
            pool: &mut self.pool,
            fallback: &mut self.fallback,
        }
    }

    fn complete(mut self, result: io::Result<Completion>) -> io::Result<RecvBuf> {
        let c = result?;
        let bid = c.buffer_id();
        match (&self.pool, bid) {
            (Some(pool), Some(bid)) if c.res > 0 => Ok(RecvBuf {
                inner: Inner::Pool {
                    pool: pool.clone(),
                    bid,
                    len: c.res as usize,
                },
            }),
            (Some(pool), Some(bid)) => {
                // End of stream or an error that still took a buffer.
                pool.recycle(bid);
                crate::io::result_of(Ok(c)).map(|_| RecvBuf::owned(Vec::new()))
            }
            (Some(_), None) => crate::io::result_of(Ok(c)).map(|_| RecvBuf::owned(Vec::new())),
            (None, _) => {
                let n = crate::io::result_of(Ok(c))? as usize;
                // SAFETY: the kernel wrote `n` bytes at the start of the
                // fallback buffer's capacity.
                unsafe { self.fallback.set_len(n) };
                Ok(RecvBuf::owned(self.fallback))
            }
        }
    }
}

/// Receives once into the pool; empty at end of stream. When the pool is
/// momentarily empty (`ENOBUFS`), receives into a fresh buffer instead.
pub(crate) async fn recv_pooled(fd: &SharedFd) -> io::Result<RecvBuf> {
    match Op::new(RecvPooled::start(fd.clone())).await {
        Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
            let (res, buf) =
                Op::new(Read::recv(fd.clone(), Vec::with_capacity(FALLBACK_SIZE))).await;
            res.map(|_| RecvBuf::owned(buf))
        }
        other => other,
    }
}

impl RecvPooled {
    fn start(fd: SharedFd) -> RecvPooled {
        RecvPooled {
            fd,
            pool: None,
            fallback: Vec::new(),
        }
    }
}

/// The op future of one pooled receive (for poll-based callers).
pub(crate) fn recv_pooled_op(fd: &SharedFd) -> Op<RecvPooled> {
    Op::new(RecvPooled::start(fd.clone()))
}

pub(crate) fn is_enobufs(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::ENOBUFS)
}

/// A fallback receive for poll-based callers.
pub(crate) fn recv_plain_op(fd: &SharedFd) -> Op<Read<Vec<u8>>> {
    Op::new(Read::recv(fd.clone(), Vec::with_capacity(FALLBACK_SIZE)))
}

pub(crate) fn owned(v: Vec<u8>) -> RecvBuf {
    RecvBuf::owned(v)
}

impl RecvBuf {
    /// True when this holds an owned allocation worth reusing.
    pub(crate) fn capacity_hint(&self) -> bool {
        matches!(&self.inner, Inner::Owned(v) if v.capacity() > 0)
    }

    /// The owned allocation (empty for a pool buffer, which goes back).
    pub(crate) fn into_owned(mut self) -> Vec<u8> {
        match &mut self.inner {
            Inner::Owned(v) => std::mem::take(v),
            Inner::Pool { .. } => Vec::new(),
        }
    }
}
