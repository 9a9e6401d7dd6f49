// Over 500 lines: `File`, `OpenOptions`, `Metadata` and the path helpers are
// one concern, file operations (each op's kind and the `Call` it describes,
// which each driver translates); each part is short.
//! Files: open, read and write at offsets, `fsync`, `statx`, and the path
//! helpers (`unlinkat`, `renameat`, `mkdirat`). On io_uring each is a ring
//! opcode (`IORING_OP_OPENAT`, ...) and no thread is involved; on the epoll
//! driver, which cannot wait for a regular file, each runs as a plain
//! system call on the runtime's blocking pool (as `tokio::fs` does).
//!
//! ```
//! ferrio::run(async {
//!     let dir = std::env::temp_dir().join(format!("ferrio-fs-doc-{}", std::process::id()));
//!     ferrio::fs::create_dir(&dir).await.unwrap();
//!     let path = dir.join("hello.txt");
//!     ferrio::fs::write(&path, b"hello, io_uring".to_vec()).await.unwrap();
//!     assert_eq!(ferrio::fs::read(&path).await.unwrap(), b"hello, io_uring");
//!     assert_eq!(ferrio::fs::metadata(&path).await.unwrap().len(), 15);
//!     ferrio::fs::remove_file(&path).await.unwrap();
//!     ferrio::fs::remove_dir(&dir).await.unwrap();
//! });
//! ```

use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::{Duration, SystemTime};

use crate::driver::{Call, Completion, Op, OpKind};
use crate::io::compat::FdStream;
use crate::io::ops::{read_exact, read_to_end, write_all, Read, Write, WriteTo, CURRENT_POSITION};
use crate::io::traits::impl_futures_io;
use crate::io::{result_of, IoBuf, IoBufMut, SharedFd};

/// A file (or any readable/writable descriptor, such as a pipe) whose
/// reads and writes go through the worker's I/O driver (ring opcodes on
/// io_uring; the blocking pool on epoll, or readiness for a pipe).
///
/// Reads and writes take an owned buffer and give it back with the result:
/// `let (res, buf) = file.read_at(buf, 0).await;`. `File` also implements
/// the `futures-io` traits, reading and writing at the current position.
#[derive(Debug)]
pub struct File {
    inner: FdStream,
}

impl File {
    /// Opens a file for reading.
    pub async fn open(path: impl AsRef<Path>) -> io::Result<File> {
        OpenOptions::new().read(true).open(path).await
    }

    /// Opens a file for writing, creating it or truncating it.
    pub async fn create(path: impl AsRef<Path>) -> io::Result<File> {
        OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .await
    }

    /// Wraps a standard file (or pipe end converted into one).
    pub fn from_std(file: std::fs::File) -> File {
        File {
            inner: FdStream::pipe(file.into()),
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

    fn fd(&self) -> &SharedFd {
        self.inner.fd()
    }

    /// Reads into `buf` from the current position; returns how many bytes
    /// were read (0 at end of file). The bytes are `buf[..n]`.
    pub async fn read<B: IoBufMut>(&self, buf: B) -> (io::Result<usize>, B) {
        self.read_at(buf, CURRENT_POSITION).await
    }

    /// Reads into `buf` from byte `offset` of the file.
    pub async fn read_at<B: IoBufMut>(&self, buf: B, offset: u64) -> (io::Result<usize>, B) {
        Op::new(Read::new(self.fd().clone(), buf, offset)).await
    }

    /// Fills `buf` to its capacity from byte `offset`; the end of the file
    /// first is `UnexpectedEof` (the bytes read stay in `buf`).
    pub async fn read_exact_at<B: IoBufMut>(&self, buf: B, offset: u64) -> (io::Result<()>, B) {
        read_exact(self.fd(), buf, offset).await
    }

    /// Writes the initialised bytes of `buf` at the current position;
    /// returns how many were written.
    pub async fn write<B: IoBuf>(&self, buf: B) -> (io::Result<usize>, B) {
        self.write_at(buf, CURRENT_POSITION).await
    }

    /// Writes the initialised bytes of `buf` at byte `offset`.
    pub async fn write_at<B: IoBuf>(&self, buf: B, offset: u64) -> (io::Result<usize>, B) {
        Op::new(Write::new(self.fd().clone(), buf, WriteTo::Offset(offset))).await
    }

    /// Writes all of `buf` at byte `offset` (short writes are continued).
    pub async fn write_all_at<B: IoBuf>(&self, buf: B, offset: u64) -> (io::Result<()>, B) {
        write_all(self.fd(), buf, WriteTo::Offset(offset)).await
    }

    /// Writes all of `buf` at the current position.
    pub async fn write_all<B: IoBuf>(&self, buf: B) -> (io::Result<()>, B) {
        write_all(self.fd(), buf, WriteTo::Offset(CURRENT_POSITION)).await
    }

    /// Flushes data and metadata to the device (`fsync`).
    pub async fn sync_all(&self) -> io::Result<()> {
        Op::new(Fsync {
            fd: self.fd().clone(),
            data_only: false,
        })
        .await
    }

    /// Flushes data, and only the metadata needed to read it (`fdatasync`).
    pub async fn sync_data(&self) -> io::Result<()> {
        Op::new(Fsync {
            fd: self.fd().clone(),
            data_only: true,
        })
        .await
    }

    /// The file's metadata (`statx` on the descriptor).
    pub async fn metadata(&self) -> io::Result<Metadata> {
        let path = CString::default();
        Op::new(Statx::new(
            Some(self.fd().clone()),
            path,
            libc::AT_EMPTY_PATH,
        ))
        .await
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
///     f.seek(std::io::SeekFrom::Start(0)).await.unwrap();
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

/// How to open a file, as `std::fs::OpenOptions`; the open itself is an
/// `IORING_OP_OPENAT` on io_uring, an `openat` on the blocking pool on
/// epoll.
///
/// ```
/// use ferrio::fs::OpenOptions;
/// ferrio::run(async {
///     let path = std::env::temp_dir().join(format!("ferrio-oo-doc-{}", std::process::id()));
///     let f = OpenOptions::new().write(true).create_new(true).open(&path).await.unwrap();
///     f.write_all_at(b"abc".to_vec(), 0).await.0.unwrap();
///     let again = OpenOptions::new().write(true).create_new(true).open(&path).await;
///     assert_eq!(again.unwrap_err().kind(), std::io::ErrorKind::AlreadyExists);
///     ferrio::fs::remove_file(&path).await.unwrap();
/// });
/// ```
#[derive(Clone, Debug)]
pub struct OpenOptions {
    read: bool,
    write: bool,
    append: bool,
    truncate: bool,
    create: bool,
    create_new: bool,
    mode: u32,
    custom_flags: i32,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions::new()
    }
}

impl OpenOptions {
    /// All options off; mode 0o666 (before the umask).
    pub fn new() -> OpenOptions {
        OpenOptions {
            read: false,
            write: false,
            append: false,
            truncate: false,
            create: false,
            create_new: false,
            mode: 0o666,
            custom_flags: 0,
        }
    }

    /// Open for reading.
    pub fn read(&mut self, on: bool) -> &mut Self {
        self.read = on;
        self
    }

    /// Open for writing.
    pub fn write(&mut self, on: bool) -> &mut Self {
        self.write = on;
        self
    }

    /// Writes at the current position go to the end (`O_APPEND`).
    pub fn append(&mut self, on: bool) -> &mut Self {
        self.append = on;
        self
    }

    /// Truncate to 0 bytes (needs write).
    pub fn truncate(&mut self, on: bool) -> &mut Self {
        self.truncate = on;
        self
    }

    /// Create if missing (needs write or append).
    pub fn create(&mut self, on: bool) -> &mut Self {
        self.create = on;
        self
    }

    /// Create, failing with `AlreadyExists` if the file exists.
    pub fn create_new(&mut self, on: bool) -> &mut Self {
        self.create_new = on;
        self
    }

    /// Permission bits for a created file.
    pub fn mode(&mut self, mode: u32) -> &mut Self {
        self.mode = mode;
        self
    }

    /// Extra `open(2)` flags (`O_DIRECT`, `O_NOATIME`, ...).
    pub fn custom_flags(&mut self, flags: i32) -> &mut Self {
        self.custom_flags = flags;
        self
    }

    fn flags(&self) -> io::Result<i32> {
        let invalid = |what: &str| {
            Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("ferrio::fs::OpenOptions: {what}"),
            ))
        };
        let writes = self.write || self.append;
        let mut flags = match (self.read, writes) {
            (true, false) => libc::O_RDONLY,
            (false, true) => libc::O_WRONLY,
            (true, true) => libc::O_RDWR,
            (false, false) => return invalid("set read, write or append"),
        };
        if self.append {
            flags |= libc::O_APPEND;
        }
        if (self.truncate || self.create || self.create_new) && !writes {
            return invalid("truncate and create need write or append");
        }
        if self.truncate && self.append {
            return invalid("truncate and append exclude each other");
        }
        if self.truncate {
            flags |= libc::O_TRUNC;
        }
        if self.create_new {
            flags |= libc::O_CREAT | libc::O_EXCL;
        } else if self.create {
            flags |= libc::O_CREAT;
        }
        Ok(flags | libc::O_CLOEXEC | (self.custom_flags & !libc::O_ACCMODE))
    }

    /// Opens `path` with these options.
    pub async fn open(&self, path: impl AsRef<Path>) -> io::Result<File> {
        let flags = self.flags()?;
        let path = c_path(path.as_ref())?;
        let fd = Op::new(OpenAt {
            path,
            flags,
            mode: self.mode,
        })
        .await?;
        Ok(File {
            inner: FdStream::pipe(fd),
        })
    }
}

fn c_path(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "ferrio::fs: a path cannot contain a NUL byte: {}",
                path.display()
            ),
        )
    })
}

struct OpenAt {
    path: CString,
    flags: i32,
    mode: u32,
}

impl OpKind for OpenAt {
    type Output = io::Result<OwnedFd>;

    fn call(&mut self) -> Call<'_> {
        Call::Open {
            path: self.path.as_ptr(),
            flags: self.flags,
            mode: self.mode,
        }
    }

    fn complete(self, result: io::Result<Completion>) -> Self::Output {
        let fd = result_of(result)? as RawFd;
        // SAFETY: the kernel opened this descriptor for us.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
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

/// What `statx` reports about a file.
#[derive(Clone, Copy)]
pub struct Metadata {
    stx: libc::statx,
}

impl std::fmt::Debug for Metadata {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metadata")
            .field("len", &self.len())
            .field("is_dir", &self.is_dir())
            .field("mode", &format_args!("{:o}", self.mode()))
            .finish_non_exhaustive()
    }
}

impl Metadata {
    /// Size in bytes.
    pub fn len(&self) -> u64 {
        self.stx.stx_size
    }

    /// Whether the size is 0.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn file_type(&self) -> u32 {
        u32::from(self.stx.stx_mode) & libc::S_IFMT
    }

    /// A regular file.
    pub fn is_file(&self) -> bool {
        self.file_type() == libc::S_IFREG
    }

    /// A directory.
    pub fn is_dir(&self) -> bool {
        self.file_type() == libc::S_IFDIR
    }

    /// A symbolic link (only seen by `symlink_metadata`).
    pub fn is_symlink(&self) -> bool {
        self.file_type() == libc::S_IFLNK
    }

    /// Permission bits (and set-id / sticky bits).
    pub fn mode(&self) -> u32 {
        u32::from(self.stx.stx_mode) & 0o7777
    }

    /// Inode number.
    pub fn ino(&self) -> u64 {
        self.stx.stx_ino
    }

    /// Hard links.
    pub fn nlink(&self) -> u32 {
        self.stx.stx_nlink
    }

    /// Last modification time.
    pub fn modified(&self) -> SystemTime {
        let t = self.stx.stx_mtime;
        let since = Duration::new(t.tv_sec.unsigned_abs(), t.tv_nsec);
        if t.tv_sec >= 0 {
            SystemTime::UNIX_EPOCH + since
        } else {
            SystemTime::UNIX_EPOCH - since
        }
    }
}

struct Statx {
    /// The file itself (with `AT_EMPTY_PATH`), or `None` for a path
    /// relative to the working directory.
    dirfd: Option<SharedFd>,
    path: CString,
    flags: i32,
    buf: Box<libc::statx>,
}

impl Statx {
    fn new(dirfd: Option<SharedFd>, path: CString, flags: i32) -> Statx {
        Statx {
            dirfd,
            path,
            flags,
            // SAFETY: an all-zero statx is valid plain data.
            buf: Box::new(unsafe { std::mem::zeroed() }),
        }
    }
}

impl OpKind for Statx {
    type Output = io::Result<Metadata>;

    fn call(&mut self) -> Call<'_> {
        Call::Statx {
            dir: self.dirfd.as_ref(),
            path: self.path.as_ptr(),
            flags: self.flags,
            buf: &mut *self.buf,
        }
    }

    fn complete(self, result: io::Result<Completion>) -> Self::Output {
        result_of(result)?;
        Ok(Metadata { stx: *self.buf })
    }
}

/// A path operation with no result but success (`unlinkat`, `renameat`,
/// `mkdirat`).
enum PathOp {
    Unlink { path: CString, dir: bool },
    Rename { from: CString, to: CString },
    MkDir { path: CString, mode: u32 },
}

impl OpKind for PathOp {
    type Output = io::Result<()>;

    fn call(&mut self) -> Call<'_> {
        match self {
            PathOp::Unlink { path, dir } => Call::Unlink {
                path: path.as_ptr(),
                dir: *dir,
            },
            PathOp::Rename { from, to } => Call::Rename {
                from: from.as_ptr(),
                to: to.as_ptr(),
            },
            PathOp::MkDir { path, mode } => Call::MkDir {
                path: path.as_ptr(),
                mode: *mode,
            },
        }
    }

    fn complete(self, result: io::Result<Completion>) -> io::Result<()> {
        result_of(result).map(drop)
    }
}

/// Metadata of the file at `path`, following symlinks (`statx`).
pub async fn metadata(path: impl AsRef<Path>) -> io::Result<Metadata> {
    let path = c_path(path.as_ref())?;
    Op::new(Statx::new(None, path, 0)).await
}

/// Metadata of `path` itself, not following a final symlink.
pub async fn symlink_metadata(path: impl AsRef<Path>) -> io::Result<Metadata> {
    let path = c_path(path.as_ref())?;
    Op::new(Statx::new(None, path, libc::AT_SYMLINK_NOFOLLOW)).await
}

/// The whole file at `path`.
pub async fn read(path: impl AsRef<Path>) -> io::Result<Vec<u8>> {
    let file = File::open(path).await?;
    let size_hint = file.metadata().await.map(|m| m.len() as usize).unwrap_or(0);
    // One byte more than the size, so the read that sees the end needs no
    // reallocation.
    let buf = Vec::with_capacity(size_hint.max(64) + 1);
    read_to_end(file.fd(), 0, buf).await
}

/// Writes `contents` to `path`, creating or truncating it.
pub async fn write<B: IoBuf>(path: impl AsRef<Path>, contents: B) -> io::Result<()> {
    let file = File::create(path).await?;
    file.write_all_at(contents, 0).await.0
}

/// Removes a file.
pub async fn remove_file(path: impl AsRef<Path>) -> io::Result<()> {
    let path = c_path(path.as_ref())?;
    Op::new(PathOp::Unlink { path, dir: false }).await
}

/// Removes an empty directory.
pub async fn remove_dir(path: impl AsRef<Path>) -> io::Result<()> {
    let path = c_path(path.as_ref())?;
    Op::new(PathOp::Unlink { path, dir: true }).await
}

/// Renames `from` to `to`, replacing `to` if it exists.
pub async fn rename(from: impl AsRef<Path>, to: impl AsRef<Path>) -> io::Result<()> {
    let from = c_path(from.as_ref())?;
    let to = c_path(to.as_ref())?;
    Op::new(PathOp::Rename { from, to }).await
}

/// Creates a directory (mode 0o777 before the umask).
pub async fn create_dir(path: impl AsRef<Path>) -> io::Result<()> {
    let path = c_path(path.as_ref())?;
    Op::new(PathOp::MkDir { path, mode: 0o777 }).await
}
