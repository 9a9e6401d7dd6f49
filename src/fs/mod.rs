//! Files and directories (tokio's `tokio::fs`). Each operation runs on the
//! ring where the kernel has an io_uring opcode for it, and on the
//! runtime's blocking pool otherwise:
//!
//! - **On the ring** (io_uring; no thread involved): opening, reading and
//!   writing at offsets, `fsync`, `statx` ([`metadata`], [`File::metadata`],
//!   [`try_exists`]), [`remove_file`], [`remove_dir`], [`rename`] (5.11),
//!   [`create_dir`], [`create_dir_all`] (one `mkdirat` per missing
//!   directory), [`hard_link`], [`symlink`] (5.15), [`File::set_len`]
//!   (6.9). The ring's probe tells which of the newer opcodes this kernel
//!   has; a call without one goes to the blocking pool instead.
//! - **On the blocking pool** (no opcode exists): [`read_dir`] (directory
//!   entries are read 32 at a time), [`copy`], [`canonicalize`],
//!   [`read_link`], [`set_permissions`], [`File::set_permissions`],
//!   [`remove_dir_all`].
//! - **On the epoll driver**, which cannot wait for a regular file,
//!   everything runs as a plain system call on the blocking pool (as
//!   `tokio::fs` does).
//!
//! A path with a NUL byte is refused with `InvalidInput` before anything
//! runs. Dropping an operation's future cancels it: a ring operation is
//! cancelled in the kernel (what it already did stays done); one on the
//! blocking pool finishes there and its result is dropped.
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

mod dir;
mod file;
mod metadata;
mod open;
mod ops;
mod pool;

pub use dir::{read_dir, DirEntry, ReadDir};
pub use file::File;
pub use metadata::Metadata;
pub use open::OpenOptions;
pub use ops::{
    create_dir, create_dir_all, hard_link, metadata, read, read_to_string, remove_dir, remove_file,
    rename, symlink, symlink_metadata, try_exists, write,
};
pub use pool::{canonicalize, copy, read_link, remove_dir_all, set_permissions};

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// `path` as the C string a system call takes; `InvalidInput` when it
/// holds a NUL byte, `Unsupported` inside a `ferrio::sim` world.
fn c_path(path: &Path) -> io::Result<CString> {
    // Every path operation starts here: inside a simulation, none runs.
    crate::runtime::simulated::refuse_in_sim("files (ferrio::fs) do not run inside ferrio::sim")?;
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
