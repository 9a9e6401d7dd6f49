//! io_uring operations and the buffers they own.
//!
//! ferrio's I/O is completion-based: an operation owns its buffer while the
//! kernel works on it and gives it back with the result, as
//! `(io::Result<usize>, buf)`. A borrowed `&mut [u8]` cannot be used: if
//! the future were dropped mid-operation the kernel would still write into
//! it. Here, a dropped operation's buffer stays alive (inside the
//! operation) until the kernel has finished with it.

use std::io;

use std::os::fd::RawFd;

use io_uring::{opcode, squeue, types};

use crate::driver::op::Completion;
use crate::driver::{Op, OpKind};

/// A buffer the kernel may read from while an operation is in flight.
///
/// # Safety
/// `stable_ptr` must point to `bytes_init` initialised bytes that stay at
/// the same address when the buffer value is moved (heap memory).
pub unsafe trait IoBuf: Send + 'static {
    /// Start of the buffer.
    fn stable_ptr(&self) -> *const u8;
    /// How many bytes are initialised (what a write sends).
    fn bytes_init(&self) -> usize;
}

/// A buffer the kernel may write into while an operation is in flight.
///
/// # Safety
/// `stable_mut_ptr` must point to `bytes_total` writable bytes that stay
/// at the same address when the buffer value is moved (heap memory).
pub unsafe trait IoBufMut: IoBuf {
    /// Start of the buffer.
    fn stable_mut_ptr(&mut self) -> *mut u8;
    /// How many bytes the kernel may write.
    fn bytes_total(&self) -> usize;
    /// Records that the first `n` bytes are now initialised.
    ///
    /// # Safety
    /// The first `n` bytes must have been written.
    unsafe fn set_init(&mut self, n: usize);
}

// SAFETY: a Vec's heap buffer does not move when the Vec does.
unsafe impl IoBuf for Vec<u8> {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.len()
    }
}

// SAFETY: as above; reads fill the capacity from the start.
unsafe impl IoBufMut for Vec<u8> {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.as_mut_ptr()
    }
    fn bytes_total(&self) -> usize {
        self.capacity()
    }
    unsafe fn set_init(&mut self, n: usize) {
        // SAFETY: the kernel wrote `n` bytes from the start.
        unsafe { self.set_len(n) }
    }
}

// SAFETY: a boxed slice's heap memory does not move with the box.
unsafe impl IoBuf for Box<[u8]> {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.len()
    }
}

// SAFETY: as above; the whole slice is always initialised.
unsafe impl IoBufMut for Box<[u8]> {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.as_mut_ptr()
    }
    fn bytes_total(&self) -> usize {
        self.len()
    }
    unsafe fn set_init(&mut self, _n: usize) {}
}

// SAFETY: static data never moves or goes away.
unsafe impl IoBuf for &'static [u8] {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.len()
    }
}

pub(crate) fn result_of(c: io::Result<Completion>) -> io::Result<u32> {
    let c = c?;
    if c.res < 0 {
        Err(io::Error::from_raw_os_error(-c.res))
    } else {
        Ok(c.res as u32)
    }
}

struct Nop;

impl OpKind for Nop {
    type Output = io::Result<()>;
    fn entry(&mut self) -> squeue::Entry {
        opcode::Nop::new().build()
    }
    fn complete(self, result: io::Result<Completion>) -> io::Result<()> {
        result_of(result).map(drop)
    }
}

/// One round trip through the worker's io_uring ring doing nothing
/// (`IORING_OP_NOP`): the per-operation overhead of the driver.
///
/// ```
/// ferrio::run(async { ferrio::io::nop().await.unwrap() });
/// ```
pub async fn nop() -> io::Result<()> {
    Op::new(Nop).await
}

/// Read into an owned buffer (`offset` u64::MAX: current position).
pub(crate) struct Read<B> {
    fd: RawFd,
    buf: B,
    offset: u64,
}

impl<B> Read<B> {
    pub(crate) fn new(fd: RawFd, buf: B, offset: u64) -> Read<B> {
        Read { fd, buf, offset }
    }
}

impl<B: IoBufMut> OpKind for Read<B> {
    type Output = (io::Result<usize>, B);

    fn entry(&mut self) -> squeue::Entry {
        let len = self.buf.bytes_total().min(u32::MAX as usize) as u32;
        opcode::Read::new(types::Fd(self.fd), self.buf.stable_mut_ptr(), len)
            .offset(self.offset)
            .build()
    }

    fn complete(mut self, result: io::Result<Completion>) -> Self::Output {
        match result_of(result) {
            Ok(n) => {
                // SAFETY: the kernel wrote `n` bytes from the start.
                unsafe { self.buf.set_init(n as usize) };
                (Ok(n as usize), self.buf)
            }
            Err(e) => (Err(e), self.buf),
        }
    }
}

/// Write an owned buffer (`offset` u64::MAX: current position).
pub(crate) struct Write<B> {
    fd: RawFd,
    buf: B,
    offset: u64,
}

impl<B> Write<B> {
    pub(crate) fn new(fd: RawFd, buf: B, offset: u64) -> Write<B> {
        Write { fd, buf, offset }
    }
}

impl<B: IoBuf> OpKind for Write<B> {
    type Output = (io::Result<usize>, B);

    fn entry(&mut self) -> squeue::Entry {
        let len = self.buf.bytes_init().min(u32::MAX as usize) as u32;
        opcode::Write::new(types::Fd(self.fd), self.buf.stable_ptr(), len)
            .offset(self.offset)
            .build()
    }

    fn complete(self, result: io::Result<Completion>) -> Self::Output {
        (result_of(result).map(|n| n as usize), self.buf)
    }
}
