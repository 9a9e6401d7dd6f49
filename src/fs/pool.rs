//! The operations with no io_uring opcode (and the helpers they share):
//! each runs as one job on the runtime's blocking pool, reached through
//! its public face, [`Handle::run_in_executor`].

use crate::task::core::wait::At;
use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};

use crate::runtime::Handle;

/// Runs `f` on the blocking pool of the current runtime and returns its
/// result. Dropped, the job still runs to its end and its result is
/// dropped (a thread cannot be interrupted). Fails outside a runtime, and
/// when the runtime shuts down before the job ran.
pub(super) async fn on_pool<T, F>(f: F) -> io::Result<T>
where
    F: FnOnce() -> io::Result<T> + Send + 'static,
    T: Send + 'static,
{
    let Some(handle) = Handle::try_current() else {
        return Err(io::Error::other(
            "ferrio::fs: an operation was awaited outside a ferrio runtime; run it inside \
             Runtime::block_on, ferrio::run or a spawned task",
        ));
    };
    match handle.run_in_executor(f).await {
        Ok(result) => result,
        // A panic in a standard library call: the caller's, as in `spawn`.
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => Err(crate::driver::shutting_down()),
    }
}

/// `path` owned, for a job; `InvalidInput` when it holds a NUL byte (the
/// same check and message as the ring's operations).
pub(super) fn owned(path: &Path) -> io::Result<PathBuf> {
    super::c_path(path)?;
    Ok(path.to_path_buf())
}

/// Copies the contents and permission bits of the file `from` to `to`
/// (created or truncated); returns the bytes copied. As
/// `std::fs::copy`, which on Linux moves the bytes in the kernel
/// (`copy_file_range` in a loop, falling back to `sendfile` and then to
/// reads and writes where a file system refuses it), here on the blocking
/// pool: no io_uring opcode copies a range.
///
/// ```
/// ferrio::run(async {
///     let dir = std::env::temp_dir().join(format!("ferrio-copy-doc-{}", std::process::id()));
///     ferrio::fs::create_dir_all(&dir).await.unwrap();
///     ferrio::fs::write(dir.join("a"), vec![7u8; 100_000]).await.unwrap();
///     let n = ferrio::fs::copy(dir.join("a"), dir.join("b")).await.unwrap();
///     assert_eq!(n, 100_000);
///     assert_eq!(ferrio::fs::read(dir.join("b")).await.unwrap(), vec![7u8; 100_000]);
///     ferrio::fs::remove_dir_all(&dir).await.unwrap();
/// });
/// ```
#[track_caller]
pub fn copy(from: impl AsRef<Path>, to: impl AsRef<Path>) -> impl Future<Output = io::Result<u64>> {
    At::here(async move {
        let from = owned(from.as_ref())?;
        let to = owned(to.as_ref())?;
        on_pool(move || std::fs::copy(from, to)).await
    })
}

/// The absolute path of `path` with every symlink, `.` and `..` resolved
/// (`realpath`, on the blocking pool); `NotFound` when it does not exist.
///
/// ```
/// ferrio::run(async {
///     let p = ferrio::fs::canonicalize("/usr/../usr/./").await.unwrap();
///     assert_eq!(p, std::fs::canonicalize("/usr").unwrap());
/// });
/// ```
#[track_caller]
pub fn canonicalize(path: impl AsRef<Path>) -> impl Future<Output = io::Result<PathBuf>> {
    At::here(async move {
        let path = owned(path.as_ref())?;
        on_pool(move || std::fs::canonicalize(path)).await
    })
}

/// What the symbolic link at `path` points to, as stored (`readlink`, on
/// the blocking pool); `InvalidInput` when `path` is not a symlink.
#[track_caller]
pub fn read_link(path: impl AsRef<Path>) -> impl Future<Output = io::Result<PathBuf>> {
    At::here(async move {
        let path = owned(path.as_ref())?;
        on_pool(move || std::fs::read_link(path)).await
    })
}

/// Sets the permissions of the file at `path`, following symlinks
/// (`chmod`, on the blocking pool).
///
/// ```
/// use std::os::unix::fs::PermissionsExt;
/// ferrio::run(async {
///     let path = std::env::temp_dir().join(format!("ferrio-perm-doc-{}", std::process::id()));
///     ferrio::fs::write(&path, b"x".to_vec()).await.unwrap();
///     let mut perms = ferrio::fs::metadata(&path).await.unwrap().permissions();
///     perms.set_mode(0o600);
///     ferrio::fs::set_permissions(&path, perms).await.unwrap();
///     assert_eq!(ferrio::fs::metadata(&path).await.unwrap().mode(), 0o600);
///     ferrio::fs::remove_file(&path).await.unwrap();
/// });
/// ```
#[track_caller]
pub fn set_permissions(
    path: impl AsRef<Path>,
    perm: std::fs::Permissions,
) -> impl Future<Output = io::Result<()>> {
    At::here(async move {
        let path = owned(path.as_ref())?;
        on_pool(move || std::fs::set_permissions(path, perm)).await
    })
}

/// Removes a directory and everything in it, as
/// `std::fs::remove_dir_all` (which does not follow symlinks inside it),
/// on the blocking pool. The whole removal is one job: dropping the
/// future does not stop it.
#[track_caller]
pub fn remove_dir_all(path: impl AsRef<Path>) -> impl Future<Output = io::Result<()>> {
    At::here(async move {
        let path = owned(path.as_ref())?;
        on_pool(move || std::fs::remove_dir_all(path)).await
    })
}
