//! Files on io_uring opcodes.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

use io_uring::{opcode, squeue, types};

use crate::driver::op::Completion;
use crate::driver::{Op, OpKind};
use crate::io::{result_of, IoBuf, IoBufMut};

/// A file (or any readable/writable descriptor, such as a pipe) whose
/// reads and writes go through io_uring.
///
/// Reads and writes take an owned buffer and give it back with the result:
/// `let (res, buf) = file.read(buf).await;`.
#[derive(Debug)]
pub struct File {
    fd: OwnedFd,
}

/// Use the file's current position (pipes, sockets, files opened for
/// appending).
const CURRENT_POSITION: u64 = u64::MAX;

impl File {
    /// Wraps a standard file (or pipe end converted into one).
    pub fn from_std(file: std::fs::File) -> File {
        File { fd: file.into() }
    }

    /// Gives the descriptor back as a standard file.
    pub fn into_std(self) -> std::fs::File {
        self.fd.into()
    }

    /// Reads into `buf` from the current position; returns how many bytes
    /// were read (0 at end of file). The bytes are `buf[..n]`.
    pub async fn read<B: IoBufMut>(&self, buf: B) -> (io::Result<usize>, B) {
        self.read_at(buf, CURRENT_POSITION).await
    }

    /// Reads into `buf` from byte `offset` of the file.
    pub async fn read_at<B: IoBufMut>(&self, buf: B, offset: u64) -> (io::Result<usize>, B) {
        Op::new(Read {
            fd: self.fd.as_raw_fd(),
            buf,
            offset,
        })
        .await
    }

    /// Writes the initialised bytes of `buf` at the current position;
    /// returns how many were written.
    pub async fn write<B: IoBuf>(&self, buf: B) -> (io::Result<usize>, B) {
        self.write_at(buf, CURRENT_POSITION).await
    }

    /// Writes the initialised bytes of `buf` at byte `offset`.
    pub async fn write_at<B: IoBuf>(&self, buf: B, offset: u64) -> (io::Result<usize>, B) {
        Op::new(Write {
            fd: self.fd.as_raw_fd(),
            buf,
            offset,
        })
        .await
    }
}

impl AsFd for File {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for File {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

struct Read<B> {
    fd: RawFd,
    buf: B,
    offset: u64,
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

struct Write<B> {
    fd: RawFd,
    buf: B,
    offset: u64,
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
