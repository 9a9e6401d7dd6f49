//! `File`: positional reads and writes, the `futures-io` (and tokio-io)
//! traits at the descriptor's position, seeking, `fsync`, `statx`,
//! `ftruncate` and `fchmod` on an open file; each op's kind and the
//! `Call` it describes.

use crate::task::core::wait::{At, WaitKind};
use std::ffi::CString;
use std::future::Future;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::metadata::Statx;
use super::{Metadata, OpenOptions};
use crate::driver::{Call, Completion, Op, OpKind};
use crate::io::compat::FdStream;
use crate::io::ops::{read_exact, write_all, Read, Write, WriteTo, CURRENT_POSITION};
use crate::io::traits::impl_futures_io;
use crate::io::{result_of, IoBuf, IoBufMut, SharedFd};

/// A file (or any readable/writable descriptor, such as a pipe) whose
/// reads and writes go through the worker's I/O driver (ring opcodes on
/// io_uring; the blocking pool on epoll, or readiness for a pipe).
///
/// Reads and writes take an owned buffer and give it back with the result:
/// `let (res, buf) = file.read_at(buf, 0).await;`. `File` also implements
/// the `futures-io` traits, reading and writing at the current position.
///
/// The position the `futures-io` traits (and [`read`](File::read) /
/// [`write`](File::write)) use is the descriptor's own: [`seek`](File::seek)
/// moves it (`futures-io`'s `AsyncSeek`, and tokio's under the feature
/// `tokio-io`), in step with the bytes the traits read ahead or write
/// behind. The `_at` calls take an offset and leave the position alone.
#[derive(Debug)]
pub struct File {
    inner: FdStream,
    /// The seek tokio's `AsyncSeek::start_seek` started, until its
    /// `poll_complete` finishes it.
    #[cfg(feature = "tokio-io")]
    tokio_seek: Option<io::SeekFrom>,
}

impl File {
    /// The `futures-io` state (`io::copy` splices past it).
    pub(crate) fn io(&mut self) -> &mut FdStream {
        &mut self.inner
    }

    /// Opens a file for reading.
    #[track_caller]
    pub fn open(path: impl AsRef<Path>) -> impl Future<Output = io::Result<File>> {
        At::waiting_on(WaitKind::File, async move {
            OpenOptions::new().read(true).open(path).await
        })
    }

    /// Opens a file for writing, creating it or truncating it.
    #[track_caller]
    pub fn create(path: impl AsRef<Path>) -> impl Future<Output = io::Result<File>> {
        At::waiting_on(WaitKind::File, async move {
            OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .open(path)
                .await
        })
    }

    /// Wraps a standard file (or pipe end converted into one).
    pub fn from_std(file: std::fs::File) -> File {
        File::from_owned(file.into())
    }

    pub(super) fn from_owned(fd: OwnedFd) -> File {
        File {
            inner: FdStream::pipe(fd),
            #[cfg(feature = "tokio-io")]
            tokio_seek: None,
        }
    }

    /// Gives the descriptor back as a standard file (a duplicate if an
    /// operation of a dropped future still holds it). A read the
    /// `AsyncRead` side has in flight is cancelled and its outcome
    /// awaited; if bytes were read and not yet consumed this fails with
    /// `InvalidData` rather than drop them:
    /// [`into_std_parts`](File::into_std_parts) hands them over.
    pub fn into_std(self) -> io::Result<std::fs::File> {
        self.inner.into_fd("File").map(Into::into)
    }

    /// Gives the descriptor back as a standard file together with the
    /// bytes the `AsyncRead` side read from it and did not hand out yet.
    pub fn into_std_parts(self) -> io::Result<(std::fs::File, Vec<u8>)> {
        let (fd, received) = self.inner.into_fd_and_received()?;
        Ok((fd.into(), received))
    }

    fn raw(&self) -> RawFd {
        self.inner.fd().as_raw_fd()
    }

    pub(super) fn fd(&self) -> &SharedFd {
        self.inner.fd()
    }

    /// Reads into `buf` from the current position; returns how many bytes
    /// were read (0 at end of file). The bytes are `buf[..n]`.
    #[track_caller]
    pub fn read<B: IoBufMut>(&self, buf: B) -> impl Future<Output = (io::Result<usize>, B)> + '_ {
        At::waiting_on(WaitKind::File, async move {
            self.read_at(buf, CURRENT_POSITION).await
        })
    }

    /// Reads into `buf` from byte `offset` of the file.
    #[track_caller]
    pub fn read_at<B: IoBufMut>(
        &self,
        buf: B,
        offset: u64,
    ) -> impl Future<Output = (io::Result<usize>, B)> + '_ {
        At::waiting_on(WaitKind::File, async move {
            Op::new(Read::new(self.fd().clone(), buf, offset)).await
        })
    }

    /// Fills `buf` to its capacity from byte `offset`; the end of the file
    /// first is `UnexpectedEof` (the bytes read stay in `buf`).
    #[track_caller]
    pub fn read_exact_at<B: IoBufMut>(
        &self,
        buf: B,
        offset: u64,
    ) -> impl Future<Output = (io::Result<()>, B)> + '_ {
        At::here(async move { read_exact(self.fd(), buf, offset).await })
    }

    /// Writes the initialised bytes of `buf` at the current position;
    /// returns how many were written.
    #[track_caller]
    pub fn write<B: IoBuf>(&self, buf: B) -> impl Future<Output = (io::Result<usize>, B)> + '_ {
        At::waiting_on(WaitKind::File, async move {
            self.write_at(buf, CURRENT_POSITION).await
        })
    }

    /// Writes the initialised bytes of `buf` at byte `offset`.
    #[track_caller]
    pub fn write_at<B: IoBuf>(
        &self,
        buf: B,
        offset: u64,
    ) -> impl Future<Output = (io::Result<usize>, B)> + '_ {
        At::waiting_on(WaitKind::File, async move {
            Op::new(Write::new(self.fd().clone(), buf, WriteTo::Offset(offset))).await
        })
    }

    /// Writes all of `buf` at byte `offset` (short writes are continued).
    #[track_caller]
    pub fn write_all_at<B: IoBuf>(
        &self,
        buf: B,
        offset: u64,
    ) -> impl Future<Output = (io::Result<()>, B)> + '_ {
        At::here(async move { write_all(self.fd(), buf, WriteTo::Offset(offset)).await })
    }

    /// Writes all of `buf` at the current position.
    #[track_caller]
    pub fn write_all<B: IoBuf>(&self, buf: B) -> impl Future<Output = (io::Result<()>, B)> + '_ {
        At::waiting_on(WaitKind::File, async move {
            write_all(self.fd(), buf, WriteTo::Offset(CURRENT_POSITION)).await
        })
    }

    /// Flushes data and metadata to the device (`fsync`).
    #[track_caller]
    pub fn sync_all(&self) -> impl Future<Output = io::Result<()>> + '_ {
        At::waiting_on(WaitKind::File, async move {
            Op::new(Fsync {
                fd: self.fd().clone(),
                data_only: false,
            })
            .await
        })
    }

    /// Flushes data, and only the metadata needed to read it (`fdatasync`).
    #[track_caller]
    pub fn sync_data(&self) -> impl Future<Output = io::Result<()>> + '_ {
        At::waiting_on(WaitKind::File, async move {
            Op::new(Fsync {
                fd: self.fd().clone(),
                data_only: true,
            })
            .await
        })
    }

    /// The file's metadata (`statx` on the descriptor).
    #[track_caller]
    pub fn metadata(&self) -> impl Future<Output = io::Result<Metadata>> + '_ {
        At::here(async move {
            let path = CString::default();
            Op::new(Statx::new(
                Some(self.fd().clone()),
                path,
                libc::AT_EMPTY_PATH,
            ))
            .await
        })
    }

    /// Truncates or extends the file to `size` bytes (`ftruncate`: an
    /// opcode on io_uring from Linux 6.9, the blocking pool before). The
    /// position does not move; an extension reads as zeros. Bytes the
    /// `futures-io` side still holds to write are not flushed first:
    /// flush them before.
    ///
    /// ```
    /// ferrio::run(async {
    ///     let path = std::env::temp_dir().join(format!("ferrio-setlen-doc-{}", std::process::id()));
    ///     let f = ferrio::fs::File::create(&path).await.unwrap();
    ///     f.write_all_at(b"0123456789".to_vec(), 0).await.0.unwrap();
    ///     f.set_len(4).await.unwrap();
    ///     assert_eq!(ferrio::fs::read(&path).await.unwrap(), b"0123");
    ///     f.set_len(6).await.unwrap();
    ///     assert_eq!(ferrio::fs::read(&path).await.unwrap(), b"0123\0\0");
    ///     ferrio::fs::remove_file(&path).await.unwrap();
    /// });
    /// ```
    #[track_caller]
    pub fn set_len(&self, size: u64) -> impl Future<Output = io::Result<()>> + '_ {
        At::here(async move {
            if i64::try_from(size).is_err() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "ferrio::fs::File::set_len: {size} bytes is past the largest file offset"
                    ),
                ));
            }
            Op::new(Truncate {
                fd: self.fd().clone(),
                len: size,
            })
            .await
        })
    }

    /// Sets the file's permissions (`fchmod`, on the blocking pool: no
    /// io_uring opcode changes a mode).
    #[track_caller]
    pub fn set_permissions(
        &self,
        perm: std::fs::Permissions,
    ) -> impl Future<Output = io::Result<()>> + '_ {
        At::here(async move {
            let fd = self.fd().clone();
            super::pool::on_pool(move || {
                // SAFETY: a plain system call on a descriptor `fd` keeps open.
                let r = unsafe { libc::fchmod(fd.as_raw_fd(), perm.mode() as libc::mode_t) };
                if r < 0 {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            })
            .await
        })
    }

    /// Moves the position (`lseek`), as `std::io::Seek::seek` and tokio's
    /// `AsyncSeekExt::seek` do, in step with the `futures-io` side (see
    /// the `AsyncSeek` impl); returns the new position from the start.
    /// Dropped before it completes, the position has not moved.
    ///
    /// ```
    /// use std::io::SeekFrom;
    /// use futures::AsyncReadExt;
    /// ferrio::run(async {
    ///     let path = std::env::temp_dir().join(format!("ferrio-fseek-doc-{}", std::process::id()));
    ///     ferrio::fs::write(&path, b"0123456789".to_vec()).await.unwrap();
    ///     let mut f = ferrio::fs::File::open(&path).await.unwrap();
    ///     assert_eq!(f.seek(SeekFrom::End(-3)).await.unwrap(), 7);
    ///     let mut tail = String::new();
    ///     f.read_to_string(&mut tail).await.unwrap();
    ///     assert_eq!(tail, "789");
    ///     ferrio::fs::remove_file(&path).await.unwrap();
    /// });
    /// ```
    #[track_caller]
    pub fn seek(&mut self, pos: io::SeekFrom) -> impl Future<Output = io::Result<u64>> + '_ {
        At::here(async move { std::future::poll_fn(|cx| self.inner.poll_seek(cx, pos)).await })
    }
}

impl_futures_io!(File, inner, read);
impl_futures_io!(File, inner, write);

/// Seeks as `std::fs::File` does, in step with the `futures-io` reads and
/// writes: the write in flight finishes first, and bytes read ahead and
/// not yet handed out are given back, so the position is the one the
/// caller has read or written up to.
///
/// ```
/// use futures::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
/// ferrio::run(async {
///     let path = std::env::temp_dir().join(format!("ferrio-seek-doc-{}", std::process::id()));
///     std::fs::write(&path, b"0123456789").unwrap();
///     let mut f = ferrio::fs::OpenOptions::new().read(true).write(true).open(&path).await.unwrap();
///     let mut head = [0u8; 4];
///     f.read_exact(&mut head).await.unwrap();
///     AsyncWriteExt::write_all(&mut f, b"XY").await.unwrap(); // at offset 4
///     AsyncSeekExt::seek(&mut f, std::io::SeekFrom::Start(0)).await.unwrap();
///     let mut all = Vec::new();
///     f.read_to_end(&mut all).await.unwrap();
///     assert_eq!(all, b"0123XY6789");
///     std::fs::remove_file(&path).unwrap();
/// });
/// ```
impl futures_io::AsyncSeek for File {
    fn poll_seek(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        pos: io::SeekFrom,
    ) -> std::task::Poll<io::Result<u64>> {
        self.inner.poll_seek(cx, pos)
    }
}

/// tokio's `AsyncSeek` (feature `tokio-io`): the same seek as the
/// `futures-io` one. `poll_complete` with no seek started reports the
/// current position.
#[cfg(feature = "tokio-io")]
impl tokio::io::AsyncSeek for File {
    fn start_seek(mut self: std::pin::Pin<&mut Self>, position: io::SeekFrom) -> io::Result<()> {
        if self.tokio_seek.is_some() {
            return Err(io::Error::other(
                "ferrio::fs::File: a seek is in progress; call poll_complete before start_seek",
            ));
        }
        self.tokio_seek = Some(position);
        Ok(())
    }

    fn poll_complete(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<u64>> {
        let pos = self.tokio_seek.unwrap_or(io::SeekFrom::Current(0));
        let done = std::task::ready!(self.inner.poll_seek(cx, pos));
        self.tokio_seek = None;
        std::task::Poll::Ready(done)
    }
}

impl AsFd for File {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.fd().as_fd()
    }
}

impl AsRawFd for File {
    fn as_raw_fd(&self) -> RawFd {
        self.raw()
    }
}

struct Fsync {
    fd: SharedFd,
    data_only: bool,
}

impl OpKind for Fsync {
    type Output = io::Result<()>;

    fn call(&mut self) -> Call<'_> {
        Call::Fsync {
            fd: &self.fd,
            data_only: self.data_only,
        }
    }

    fn complete(self, result: io::Result<Completion>) -> io::Result<()> {
        result_of(result).map(drop)
    }
}

/// `ftruncate` of the file to `len` bytes.
struct Truncate {
    fd: SharedFd,
    len: u64,
}

impl OpKind for Truncate {
    type Output = io::Result<()>;

    fn call(&mut self) -> Call<'_> {
        Call::Truncate {
            fd: &self.fd,
            len: self.len,
        }
    }

    fn complete(self, result: io::Result<Completion>) -> io::Result<()> {
        result_of(result).map(drop)
    }
}
