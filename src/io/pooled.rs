//! Receives into the worker's provided-buffer pool.

use std::fmt;
use std::io;
use std::ops::Deref;
use std::os::fd::AsRawFd;
use std::sync::Arc;

use io_uring::{opcode, squeue, types};

use super::ops::Read;
use super::SharedFd;
use crate::driver::op::{Completion, Recycle};
use crate::driver::pool::{BufPool, POOL_GROUP};
use crate::driver::{completion_of, How, Interest, Op, OpKind, UringShared};

/// Size of the buffer a receive allocates when the pool is empty or the
/// kernel has none.
const FALLBACK_SIZE: usize = 16 * 1024;

/// Bytes received into a buffer of the worker's pool (`read_pooled`).
///
/// The receive took the buffer only when the data arrived, so a
/// connection waiting for data holds no memory. Dropping the `RecvBuf`
/// gives the buffer back to the pool; copy out what you keep. Where the
/// pool was empty (or the kernel has no buffer rings, before 5.19) the
/// bytes are in an ordinary allocation instead; nothing else changes.
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

/// `IORING_OP_RECV` with `IOSQE_BUFFER_SELECT` from the ring's pool; a
/// plain receive into a fresh buffer where the ring has no pool.
pub(crate) struct RecvPooled {
    fd: SharedFd,
    pool: Option<Arc<BufPool>>,
    fallback: Vec<u8>,
}

impl OpKind for RecvPooled {
    type Output = io::Result<RecvBuf>;

    fn prepare(&mut self, ring: &Arc<UringShared>) -> Option<Arc<dyn Recycle>> {
        self.pool = ring.pool().cloned();
        if self.pool.is_none() {
            self.fallback = Vec::with_capacity(FALLBACK_SIZE);
        }
        self.pool.clone().map(|p| p as Arc<dyn Recycle>)
    }

    fn entry(&mut self) -> squeue::Entry {
        if self.pool.is_some() {
            opcode::Recv::new(types::Fd(self.fd.as_raw_fd()), std::ptr::null_mut(), 0)
                .buf_group(POOL_GROUP)
                .build()
                .flags(squeue::Flags::BUFFER_SELECT)
        } else {
            let len = self.fallback.capacity() as u32;
            opcode::Recv::new(
                types::Fd(self.fd.as_raw_fd()),
                self.fallback.as_mut_ptr(),
                len,
            )
            .build()
        }
    }

    fn how(&self) -> How<'_> {
        How::socket(&self.fd, Interest::Read)
    }

    /// No pool on epoll: a plain receive into a buffer allocated for the
    /// attempt and freed again on `EAGAIN`, so a connection waiting for
    /// data holds no buffer (as with the pool on io_uring). The readiness
    /// protocol makes attempts bound to fail rare.
    fn perform(&mut self) -> Completion {
        if self.fallback.capacity() == 0 {
            self.fallback = Vec::with_capacity(FALLBACK_SIZE);
        }
        let len = self.fallback.capacity();
        let ptr = self.fallback.as_mut_ptr().cast::<libc::c_void>();
        // SAFETY: `ptr` points to `len` writable bytes of our buffer.
        let ret = unsafe { libc::recv(self.fd.as_raw_fd(), ptr, len, libc::MSG_DONTWAIT) };
        let c = completion_of(ret as i64);
        if c.res == -libc::EAGAIN {
            self.fallback = Vec::new();
        }
        c
    }

    fn drained(&self, c: &Completion) -> bool {
        c.res > 0 && (c.res as usize) < self.fallback.capacity()
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
