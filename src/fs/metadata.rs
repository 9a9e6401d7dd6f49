//! `Metadata`, what `statx` reports about a file, and the `statx` op
//! behind `metadata`, `symlink_metadata`, `File::metadata` and
//! `DirEntry::metadata`.

use std::ffi::CString;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, SystemTime};

use crate::driver::{Call, Completion, OpKind};
use crate::io::{result_of, SharedFd};

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

    /// The permissions (`std::fs::Permissions`, as `std` and tokio give
    /// them; [`set_permissions`](super::set_permissions) takes them).
    pub fn permissions(&self) -> std::fs::Permissions {
        std::fs::Permissions::from_mode(self.mode())
    }

    /// Owner's user id.
    pub fn uid(&self) -> u32 {
        self.stx.stx_uid
    }

    /// Owner's group id.
    pub fn gid(&self) -> u32 {
        self.stx.stx_gid
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

pub(super) struct Statx {
    /// The file itself (with `AT_EMPTY_PATH`), or `None` for a path
    /// relative to the working directory.
    dirfd: Option<SharedFd>,
    path: CString,
    flags: i32,
    buf: Box<libc::statx>,
}

impl Statx {
    pub(super) fn new(dirfd: Option<SharedFd>, path: CString, flags: i32) -> Statx {
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
