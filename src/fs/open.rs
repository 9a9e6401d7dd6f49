//! `OpenOptions`: how to open a file, and the open itself
//! (`IORING_OP_OPENAT` on io_uring, `openat` on the blocking pool on
//! epoll).

use std::ffi::CString;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::path::Path;

use super::{c_path, File};
use crate::driver::{Call, Completion, Op, OpKind};
use crate::io::result_of;

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
        Ok(File::from_owned(fd))
    }
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
