//! I/O operations and the buffers they own, on either driver.
//!
//! ferrio's I/O is completion-based: an operation owns its buffer while the
//! kernel works on it and gives it back with the result, as
//! `(io::Result<usize>, buf)`. A borrowed `&mut [u8]` cannot be used: if
//! the future were dropped mid-operation the kernel (or, on epoll, a
//! blocking-pool thread) would still write into it. Here, a dropped
//! operation's buffer stays alive (inside the operation) until the kernel
//! has finished with it.
//!
//! Readiness is the other style, for calls that copy synchronously:
//! wait until a descriptor is ready ([`Interest`], [`Ready`]), then make a
//! non-blocking call with a borrowed slice (`TcpStream::readable` and
//! `try_read`, `peek`, and [`unix::AsyncFd`] for any descriptor).
//!
//! [`copy`] and [`copy_bidirectional`] (tokio's) splice between ferrio
//! descriptors, so a proxy copies no byte through user space.

use std::io;
use std::ops::{Bound, RangeBounds};

use crate::driver::{Call, Completion, Op, OpKind};

pub(crate) mod compat;
pub(crate) mod copy;
pub(crate) mod ops;
mod pooled;
pub(crate) mod ready;
pub(crate) mod traits;
pub mod unix;

pub use copy::{copy, copy_bidirectional};
pub use pooled::RecvBuf;
pub use ready::{Interest, Ready};

/// A descriptor shared by its owner and every operation on it. It is
/// closed when the last of them lets go (an abandoned operation's cell
/// holds its clone until the final completion), so an SQE still waiting
/// to be submitted can never name a descriptor number that was closed and
/// reused.
pub(crate) use crate::driver::SharedFd;

pub(crate) use ops::result_of;

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
    /// Records that the first `n` bytes are now initialised (a `Vec`'s
    /// length grows to `n` if it was shorter).
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
        let n = n.min(self.capacity());
        if n > self.len() {
            // SAFETY: the first `n` bytes are written (the caller's
            // promise), and never past the capacity (clamped); the length
            // only grows, so bytes already in the Vec stay.
            unsafe { self.set_len(n) }
        }
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

/// A range of an owned buffer, itself an owned buffer: lets a write send
/// the rest of a buffer, or a read fill the tail of one, without copying.
///
/// As a read target (`IoBufMut`), a slice of a `Vec` covers its capacity
/// from `begin`, which must not be past the Vec's length (a slice that
/// would leave a gap of uninitialised bytes accepts nothing); a read of
/// `n` bytes grows the Vec's length to at least `begin + n`.
///
/// ```
/// use ferrio::io::Slice;
/// let s = Slice::new(b"hello world".to_vec(), 6..);
/// assert_eq!(s.as_bytes(), b"world");
/// assert_eq!(s.into_inner().len(), 11);
/// ```
#[derive(Debug)]
pub struct Slice<B> {
    buf: B,
    begin: usize,
    end: Option<usize>,
}

impl<B: IoBuf> Slice<B> {
    /// The bytes `range` of `buf` (an open end follows the buffer: its
    /// initialised length for writes, its capacity for reads).
    ///
    /// # Panics
    /// If the range starts past its end.
    pub fn new(buf: B, range: impl RangeBounds<usize>) -> Slice<B> {
        let begin = match range.start_bound() {
            Bound::Included(&b) => b,
            Bound::Excluded(&b) => b.saturating_add(1),
            Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            Bound::Included(&e) => Some(e.saturating_add(1)),
            Bound::Excluded(&e) => Some(e),
            Bound::Unbounded => None,
        };
        if let Some(e) = end {
            assert!(
                begin <= e,
                "ferrio::io::Slice: range {begin}..{e} is reversed"
            );
        }
        Slice { buf, begin, end }
    }

    /// Where the slice starts in the buffer.
    pub fn begin(&self) -> usize {
        self.begin
    }

    /// The initialised bytes of the slice.
    pub fn as_bytes(&self) -> &[u8] {
        let len = self.bytes_init();
        if len == 0 {
            return &[];
        }
        // SAFETY: `len` initialised bytes start at `stable_ptr` (IoBuf's
        // contract), borrowed for as long as `self`.
        unsafe { std::slice::from_raw_parts(self.stable_ptr(), len) }
    }

    /// The whole buffer back.
    pub fn into_inner(self) -> B {
        self.buf
    }
}

// SAFETY: a range of a buffer whose memory does not move, clamped to the
// initialised bytes.
unsafe impl<B: IoBuf> IoBuf for Slice<B> {
    fn stable_ptr(&self) -> *const u8 {
        // `wrapping_add`: the pointer is only dereferenced within
        // `bytes_init`, which is 0 when `begin` is past the data.
        self.buf.stable_ptr().wrapping_add(self.begin)
    }
    fn bytes_init(&self) -> usize {
        let init = self.buf.bytes_init();
        let end = self.end.map_or(init, |e| e.min(init));
        end.saturating_sub(self.begin)
    }
}

// SAFETY: as above, clamped to the writable capacity.
unsafe impl<B: IoBufMut> IoBufMut for Slice<B> {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.buf.stable_mut_ptr().wrapping_add(self.begin)
    }
    fn bytes_total(&self) -> usize {
        if self.begin > self.buf.bytes_init() {
            // Filling here would leave uninitialised bytes before `begin`.
            return 0;
        }
        let total = self.buf.bytes_total();
        let end = self.end.map_or(total, |e| e.min(total));
        end.saturating_sub(self.begin)
    }
    unsafe fn set_init(&mut self, n: usize) {
        if n == 0 {
            return;
        }
        // SAFETY: the kernel wrote `n` bytes at `begin`, and the bytes
        // before `begin` are initialised (`bytes_total` is 0 otherwise,
        // so no read could have written anything).
        unsafe { self.buf.set_init(self.begin + n) }
    }
}

struct Nop;

impl OpKind for Nop {
    type Output = io::Result<()>;
    fn call(&mut self) -> Call<'_> {
        Call::Nop
    }
    fn complete(self, result: io::Result<Completion>) -> io::Result<()> {
        result_of(result).map(drop)
    }
}

/// One round trip through the worker's I/O driver doing nothing: on
/// io_uring an `IORING_OP_NOP` through the ring, the per-operation
/// overhead of the driver; on epoll it completes at once.
///
/// ```
/// ferrio::run(async { ferrio::io::nop().await.unwrap() });
/// ```
pub async fn nop() -> io::Result<()> {
    Op::new(Nop).await
}
