//! The path operations that have io_uring opcodes (`statx`, `unlinkat`,
//! `renameat`, `mkdirat`, `linkat`, `symlinkat`) and those built on
//! files (`read`, `write`, `read_to_string`); each op's kind and the
//! `Call` it describes.

use crate::task::core::wait::At;
use std::ffi::CString;
use std::future::Future;
use std::io;
use std::path::Path;

use super::metadata::Statx;
use super::{c_path, File, Metadata};
use crate::driver::{Call, Completion, Op, OpKind};
use crate::io::ops::read_to_end;
use crate::io::{result_of, IoBuf};

/// A path operation with no result but success (`unlinkat`, `renameat`,
/// `mkdirat`, `linkat`, `symlinkat`).
enum PathOp {
    Unlink { path: CString, dir: bool },
    Rename { from: CString, to: CString },
    MkDir { path: CString, mode: u32 },
    HardLink { from: CString, to: CString },
    Symlink { target: CString, link: CString },
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
            PathOp::HardLink { from, to } => Call::HardLink {
                from: from.as_ptr(),
                to: to.as_ptr(),
            },
            PathOp::Symlink { target, link } => Call::Symlink {
                target: target.as_ptr(),
                link: link.as_ptr(),
            },
        }
    }

    fn complete(self, result: io::Result<Completion>) -> io::Result<()> {
        result_of(result).map(drop)
    }
}

/// Metadata of the file at `path`, following symlinks (`statx`).
#[track_caller]
pub fn metadata(path: impl AsRef<Path>) -> impl Future<Output = io::Result<Metadata>> {
    At::here(async move {
        let path = c_path(path.as_ref())?;
        Op::new(Statx::new(None, path, 0)).await
    })
}

/// Metadata of `path` itself, not following a final symlink.
#[track_caller]
pub fn symlink_metadata(path: impl AsRef<Path>) -> impl Future<Output = io::Result<Metadata>> {
    At::here(async move {
        let path = c_path(path.as_ref())?;
        Op::new(Statx::new(None, path, libc::AT_SYMLINK_NOFOLLOW)).await
    })
}

/// Whether `path` exists (following symlinks: a dangling link does not);
/// an error other than `NotFound` (a permission denied on the way) is an
/// error, as `std::fs::exists` and tokio's `try_exists` report it.
///
/// ```
/// ferrio::run(async {
///     assert!(ferrio::fs::try_exists("/").await.unwrap());
///     assert!(!ferrio::fs::try_exists("/ferrio/not/here").await.unwrap());
/// });
/// ```
#[track_caller]
pub fn try_exists(path: impl AsRef<Path>) -> impl Future<Output = io::Result<bool>> {
    At::here(async move {
        match metadata(path).await {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    })
}

/// The whole file at `path`.
#[track_caller]
pub fn read(path: impl AsRef<Path>) -> impl Future<Output = io::Result<Vec<u8>>> {
    At::here(async move {
        let file = File::open(path).await?;
        let size_hint = file.metadata().await.map(|m| m.len() as usize).unwrap_or(0);
        // One byte more than the size, so the read that sees the end needs no
        // reallocation.
        let buf = Vec::with_capacity(size_hint.max(64) + 1);
        read_to_end(file.fd(), 0, buf).await
    })
}

/// The whole file at `path` as a string; `InvalidData` if it is not
/// UTF-8.
///
/// ```
/// ferrio::run(async {
///     let path = std::env::temp_dir().join(format!("ferrio-rts-doc-{}", std::process::id()));
///     ferrio::fs::write(&path, "héllo".as_bytes().to_vec()).await.unwrap();
///     assert_eq!(ferrio::fs::read_to_string(&path).await.unwrap(), "héllo");
///     ferrio::fs::remove_file(&path).await.unwrap();
/// });
/// ```
#[track_caller]
pub fn read_to_string(path: impl AsRef<Path>) -> impl Future<Output = io::Result<String>> {
    At::here(async move {
        let path = path.as_ref();
        let bytes = read(path).await?;
        String::from_utf8(bytes).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "ferrio::fs::read_to_string: {} is not UTF-8: {}",
                    path.display(),
                    e.utf8_error()
                ),
            )
        })
    })
}

/// Writes `contents` to `path`, creating or truncating it.
#[track_caller]
pub fn write<B: IoBuf>(
    path: impl AsRef<Path>,
    contents: B,
) -> impl Future<Output = io::Result<()>> {
    At::here(async move {
        let file = File::create(path).await?;
        file.write_all_at(contents, 0).await.0
    })
}

/// Removes a file.
#[track_caller]
pub fn remove_file(path: impl AsRef<Path>) -> impl Future<Output = io::Result<()>> {
    At::here(async move {
        let path = c_path(path.as_ref())?;
        Op::new(PathOp::Unlink { path, dir: false }).await
    })
}

/// Removes an empty directory.
#[track_caller]
pub fn remove_dir(path: impl AsRef<Path>) -> impl Future<Output = io::Result<()>> {
    At::here(async move {
        let path = c_path(path.as_ref())?;
        Op::new(PathOp::Unlink { path, dir: true }).await
    })
}

/// Renames `from` to `to`, replacing `to` if it exists.
#[track_caller]
pub fn rename(
    from: impl AsRef<Path>,
    to: impl AsRef<Path>,
) -> impl Future<Output = io::Result<()>> {
    At::here(async move {
        let from = c_path(from.as_ref())?;
        let to = c_path(to.as_ref())?;
        Op::new(PathOp::Rename { from, to }).await
    })
}

/// Creates a directory (mode 0o777 before the umask).
#[track_caller]
pub fn create_dir(path: impl AsRef<Path>) -> impl Future<Output = io::Result<()>> {
    At::here(async move {
        let path = c_path(path.as_ref())?;
        Op::new(PathOp::MkDir { path, mode: 0o777 }).await
    })
}

/// Creates a directory and every missing parent, as
/// `std::fs::create_dir_all`: a directory that exists already (or that
/// another task creates meanwhile) is no error; anything else in the way
/// is. One `mkdirat` per directory, on the ring.
///
/// ```
/// ferrio::run(async {
///     let top = std::env::temp_dir().join(format!("ferrio-cda-doc-{}", std::process::id()));
///     let deep = top.join("a/b/c");
///     ferrio::fs::create_dir_all(&deep).await.unwrap();
///     ferrio::fs::create_dir_all(&deep).await.unwrap(); // already there: fine
///     assert!(ferrio::fs::metadata(&deep).await.unwrap().is_dir());
///     ferrio::fs::remove_dir_all(&top).await.unwrap();
/// });
/// ```
#[track_caller]
pub fn create_dir_all(path: impl AsRef<Path>) -> impl Future<Output = io::Result<()>> {
    At::here(async move {
        let path = path.as_ref();
        c_path(path)?;
        if path.as_os_str().is_empty() {
            return Ok(());
        }
        // Up from `path` until a directory is created or found; the ones that
        // were missing on the way are then created downwards.
        let mut missing = Vec::new();
        let mut at = path;
        loop {
            match create_dir(at).await {
                Ok(()) => break,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    missing.push(at);
                    match at.parent() {
                        Some(parent) if !parent.as_os_str().is_empty() => at = parent,
                        _ => return Err(e),
                    }
                }
                Err(_) if is_dir(at).await => break,
                Err(e) => return Err(e),
            }
        }
        for dir in missing.into_iter().rev() {
            match create_dir(dir).await {
                Ok(()) => {}
                Err(_) if is_dir(dir).await => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    })
}

async fn is_dir(path: &Path) -> bool {
    metadata(path).await.is_ok_and(|m| m.is_dir())
}

/// Makes `link` a new name (a hard link) of the file at `original`
/// (`linkat`; a symlink at `original` is linked itself, not followed).
///
/// ```
/// ferrio::run(async {
///     let dir = std::env::temp_dir().join(format!("ferrio-hl-doc-{}", std::process::id()));
///     ferrio::fs::create_dir_all(&dir).await.unwrap();
///     ferrio::fs::write(dir.join("a"), b"shared".to_vec()).await.unwrap();
///     ferrio::fs::hard_link(dir.join("a"), dir.join("b")).await.unwrap();
///     assert_eq!(ferrio::fs::metadata(dir.join("a")).await.unwrap().nlink(), 2);
///     assert_eq!(ferrio::fs::read(dir.join("b")).await.unwrap(), b"shared");
///     ferrio::fs::remove_dir_all(&dir).await.unwrap();
/// });
/// ```
#[track_caller]
pub fn hard_link(
    original: impl AsRef<Path>,
    link: impl AsRef<Path>,
) -> impl Future<Output = io::Result<()>> {
    At::here(async move {
        let from = c_path(original.as_ref())?;
        let to = c_path(link.as_ref())?;
        Op::new(PathOp::HardLink { from, to }).await
    })
}

/// Creates a symbolic link at `link` pointing to `original` (`symlinkat`;
/// tokio's `tokio::fs::symlink`, `std::os::unix::fs::symlink`).
/// `original` is stored as given: it need not exist, and a relative one is
/// resolved from the link's directory.
///
/// ```
/// ferrio::run(async {
///     let dir = std::env::temp_dir().join(format!("ferrio-sl-doc-{}", std::process::id()));
///     ferrio::fs::create_dir_all(&dir).await.unwrap();
///     ferrio::fs::write(dir.join("target"), b"x".to_vec()).await.unwrap();
///     ferrio::fs::symlink("target", dir.join("link")).await.unwrap();
///     assert!(ferrio::fs::symlink_metadata(dir.join("link")).await.unwrap().is_symlink());
///     assert_eq!(ferrio::fs::read_link(dir.join("link")).await.unwrap(), std::path::Path::new("target"));
///     assert_eq!(ferrio::fs::read(dir.join("link")).await.unwrap(), b"x");
///     ferrio::fs::remove_dir_all(&dir).await.unwrap();
/// });
/// ```
#[track_caller]
pub fn symlink(
    original: impl AsRef<Path>,
    link: impl AsRef<Path>,
) -> impl Future<Output = io::Result<()>> {
    At::here(async move {
        let target = c_path(original.as_ref())?;
        let link = c_path(link.as_ref())?;
        Op::new(PathOp::Symlink { target, link }).await
    })
}
