//! Files on io_uring opcodes.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

use crate::driver::Op;
use crate::io::{IoBuf, IoBufMut, Read, Write};

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
        Op::new(Read::new(self.fd.as_raw_fd(), buf, offset)).await
    }

    /// Writes the initialised bytes of `buf` at the current position;
    /// returns how many were written.
    pub async fn write<B: IoBuf>(&self, buf: B) -> (io::Result<usize>, B) {
        self.write_at(buf, CURRENT_POSITION).await
    }

    /// Writes the initialised bytes of `buf` at byte `offset`.
    pub async fn write_at<B: IoBuf>(&self, buf: B, offset: u64) -> (io::Result<usize>, B) {
        Op::new(Write::new(self.fd.as_raw_fd(), buf, offset)).await
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
