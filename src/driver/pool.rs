//! A provided-buffer ring (`IORING_REGISTER_PBUF_RING`, Linux 5.19+): one
//! pool of receive buffers per worker ring. A receive submitted with
//! `IOSQE_BUFFER_SELECT` takes a buffer from the pool only when data
//! arrives, so a connection waiting for data pins no memory; the buffer
//! goes back to the pool when the reader drops it.
//!
//! Protocol: the kernel consumes entries between its head and the tail we
//! publish. Every buffer id is in the ring at most once (it is either in
//! the ring, or lent out by one completion), and the ring has as many
//! entries as there are buffers, so writing at our tail never overwrites
//! an entry the kernel has not consumed. Returning a buffer writes its
//! entry at the tail, then publishes the tail with a release store (the
//! kernel reads it with an acquire load). Returns may come from any
//! thread: the tail is advanced under a mutex.

use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::io;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU16, Ordering};

use super::op_cell::Recycle;
use crate::loom::sync::Mutex;

/// The buffer group id of every ring's pool (groups are per ring).
pub(crate) const POOL_GROUP: u16 = 0;

/// `struct io_uring_buf`. The ring's tail is the `resv` field of entry 0
/// (`struct io_uring_buf_ring`), so entries are written field by field
/// through raw pointers and `resv` is only touched as the atomic tail.
#[repr(C)]
struct RingEntry {
    addr: u64,
    len: u32,
    bid: u16,
    resv: u16,
}

pub(crate) struct BufPool {
    ring: NonNull<RingEntry>,
    data: NonNull<u8>,
    entries: u16,
    buf_size: usize,
    tail: Mutex<u16>,
}

// SAFETY: the memory is owned by the pool; entries are written only under
// the `tail` mutex and buffers are read only by the holder of their id.
unsafe impl Send for BufPool {}
// SAFETY: as above.
unsafe impl Sync for BufPool {}

impl BufPool {
    fn ring_layout(entries: u16) -> Layout {
        // The kernel wants the ring page-aligned; the page may be larger
        // than 4 KiB (16 or 64 KiB on some arm64 and ppc64 kernels).
        // SAFETY: sysconf has no preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        let page = if page > 0 { page as usize } else { 4096 };
        let size = (entries as usize * std::mem::size_of::<RingEntry>()).max(page);
        Layout::from_size_align(size, page).expect("pool ring layout")
    }

    fn data_layout(entries: u16, buf_size: usize) -> Layout {
        Layout::from_size_align(entries as usize * buf_size, 64).expect("pool data layout")
    }

    /// Allocates `entries` (a power of two) buffers of `buf_size` bytes,
    /// all in the ring.
    pub(crate) fn new(entries: u16, buf_size: usize) -> io::Result<BufPool> {
        assert!(entries.is_power_of_two() && buf_size > 0 && buf_size <= u32::MAX as usize);
        // SAFETY: non-zero sizes; zeroed memory is a valid empty ring.
        let ring = unsafe { alloc_zeroed(Self::ring_layout(entries)) };
        let Some(ring) = NonNull::new(ring.cast::<RingEntry>()) else {
            return Err(io::Error::from(io::ErrorKind::OutOfMemory));
        };
        // SAFETY: as above.
        let data = unsafe { alloc_zeroed(Self::data_layout(entries, buf_size)) };
        let Some(data) = NonNull::new(data) else {
            // SAFETY: allocated just above with this layout.
            unsafe { dealloc(ring.as_ptr().cast(), Self::ring_layout(entries)) };
            return Err(io::Error::from(io::ErrorKind::OutOfMemory));
        };
        let pool = BufPool {
            ring,
            data,
            entries,
            buf_size,
            tail: Mutex::new(0),
        };
        for bid in 0..entries {
            pool.recycle(bid);
        }
        Ok(pool)
    }

    pub(crate) fn ring_addr(&self) -> u64 {
        self.ring.as_ptr() as u64
    }

    pub(crate) fn entries(&self) -> u16 {
        self.entries
    }

    fn buf_ptr(&self, bid: u16) -> *mut u8 {
        // In bounds: bid < entries, and the data block holds
        // entries * buf_size bytes.
        self.data
            .as_ptr()
            .wrapping_add(bid as usize * self.buf_size)
    }

    /// The first `len` bytes of buffer `bid`.
    ///
    /// # Safety
    /// The caller holds `bid` (a completion gave it and it was not
    /// recycled), and the kernel wrote `len` bytes into it.
    pub(crate) unsafe fn bytes(&self, bid: u16, len: usize) -> &[u8] {
        debug_assert!(bid < self.entries && len <= self.buf_size);
        // SAFETY: the caller's promise; the memory lives as long as self.
        unsafe { std::slice::from_raw_parts(self.buf_ptr(bid), len) }
    }
}

impl Recycle for BufPool {
    /// Puts buffer `bid` back in the ring.
    fn recycle(&self, bid: u16) {
        if bid >= self.entries {
            return;
        }
        let mut tail = self.tail.lock();
        let slot = (*tail & (self.entries - 1)) as usize;
        // SAFETY: `slot` < entries; the kernel does not read entries at or
        // past the published tail, and the entry there was consumed (see
        // the module docs), so we are its only user.
        unsafe {
            let e = self.ring.as_ptr().add(slot);
            std::ptr::addr_of_mut!((*e).addr).write(self.buf_ptr(bid) as u64);
            std::ptr::addr_of_mut!((*e).len).write(self.buf_size as u32);
            std::ptr::addr_of_mut!((*e).bid).write(bid);
        }
        *tail = tail.wrapping_add(1);
        // SAFETY: the tail is entry 0's `resv` u16, aligned for a u16, in
        // memory we own for the pool's lifetime, and only ever accessed
        // atomically (by us here, by the kernel with an acquire load).
        let shared_tail =
            unsafe { &*(std::ptr::addr_of!((*self.ring.as_ptr()).resv) as *const AtomicU16) };
        shared_tail.store(*tail, Ordering::Release);
    }
}

impl Drop for BufPool {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with these layouts. The pool is
        // dropped only once no ring can use it (the driver leaks it along
        // with a ring the kernel would not let go of).
        unsafe {
            dealloc(self.ring.as_ptr().cast(), Self::ring_layout(self.entries));
            dealloc(
                self.data.as_ptr(),
                Self::data_layout(self.entries, self.buf_size),
            );
        }
    }
}
