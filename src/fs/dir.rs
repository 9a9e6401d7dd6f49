//! `read_dir`, `ReadDir` and `DirEntry`: directory listing on the
//! blocking pool (no io_uring opcode reads a directory), a batch of
//! entries per job, kept in the `ReadDir` between calls so a dropped
//! `next_entry` loses none.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::fmt;
use std::fs::FileType;
use std::future::Future;
use std::io;
use std::os::unix::fs::DirEntryExt;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll};

use super::pool::{on_pool, owned};
use super::Metadata;
use crate::runtime::Handle;
use crate::task::core::wait::{self, At, WaitKind};
use crate::task::Task;

/// Entries read per job on the blocking pool (tokio reads 32 too).
const BATCH: usize = 32;

/// The entries of the directory at `path` (tokio's `read_dir`), without
/// `.` and `..`, in the order the file system gives them.
///
/// ```
/// ferrio::run(async {
///     let dir = std::env::temp_dir().join(format!("ferrio-rd-doc-{}", std::process::id()));
///     ferrio::fs::create_dir_all(dir.join("sub")).await.unwrap();
///     ferrio::fs::write(dir.join("file"), b"x".to_vec()).await.unwrap();
///     let mut names = Vec::new();
///     let mut entries = ferrio::fs::read_dir(&dir).await.unwrap();
///     while let Some(entry) = entries.next_entry().await.unwrap() {
///         let is_dir = entry.file_type().await.unwrap().is_dir();
///         names.push((entry.file_name().into_string().unwrap(), is_dir));
///     }
///     names.sort();
///     assert_eq!(names, [("file".to_string(), false), ("sub".to_string(), true)]);
///     ferrio::fs::remove_dir_all(&dir).await.unwrap();
/// });
/// ```
#[track_caller]
pub fn read_dir(path: impl AsRef<Path>) -> impl Future<Output = io::Result<ReadDir>> {
    At::here(async move {
        let path = owned(path.as_ref())?;
        let dir = on_pool(move || std::fs::read_dir(path)).await?;
        Ok(ReadDir {
            entries: VecDeque::new(),
            dir: Some(dir),
            batch: None,
        })
    })
}

/// A directory being listed; see [`read_dir`]. Also a
/// `futures_core::Stream` of `io::Result<DirEntry>`.
pub struct ReadDir {
    /// Entries read and not yet handed out.
    entries: VecDeque<io::Result<DirEntry>>,
    /// The directory, between batches; `None` while a batch is read, and
    /// once it is at its end.
    dir: Option<std::fs::ReadDir>,
    /// The batch being read on the blocking pool.
    batch: Option<Task<Batch>>,
}

/// One job's entries and the directory to go on with (`None`: its end).
type Batch = (Option<std::fs::ReadDir>, VecDeque<io::Result<DirEntry>>);

impl fmt::Debug for ReadDir {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadDir")
            .field("buffered", &self.entries.len())
            .field("reading", &self.batch.is_some())
            .field("at_end", &(self.dir.is_none() && self.batch.is_none()))
            .finish()
    }
}

impl ReadDir {
    /// The next entry; `None` at the end of the directory. An error (the
    /// directory vanished, an I/O error) does not end the listing: later
    /// calls go on where the file system can.
    ///
    /// Cancel-safe: dropping the future loses no entry (a batch being
    /// read is kept here for the next call).
    #[track_caller]
    pub fn next_entry(&mut self) -> impl Future<Output = io::Result<Option<DirEntry>>> + '_ {
        At::waiting_on(WaitKind::File, async move {
            std::future::poll_fn(|cx| self.poll_next_entry(cx)).await
        })
    }

    /// Polls for the next entry (see [`next_entry`](ReadDir::next_entry)).
    #[track_caller]
    pub fn poll_next_entry(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Option<DirEntry>>> {
        wait::pending(self.poll_entry(cx), WaitKind::File, -1i64 as u64)
    }

    fn poll_entry(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Option<DirEntry>>> {
        if !crate::coop::poll_proceed(cx) {
            return Poll::Pending;
        }
        loop {
            if let Some(entry) = self.entries.pop_front() {
                return Poll::Ready(entry.map(Some));
            }
            if let Some(batch) = &mut self.batch {
                let done = std::task::ready!(Pin::new(batch).poll(cx));
                self.batch = None;
                match done {
                    Ok((dir, entries)) => {
                        self.dir = dir;
                        self.entries = entries;
                        continue;
                    }
                    Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                    // Cancelled by the runtime's shutdown: the directory
                    // went with the job.
                    Err(_) => return Poll::Ready(Err(crate::driver::shutting_down())),
                }
            }
            let Some(dir) = self.dir.take() else {
                return Poll::Ready(Ok(None));
            };
            let Some(handle) = Handle::try_current() else {
                self.dir = Some(dir);
                return Poll::Ready(Err(io::Error::other(
                    "ferrio::fs::ReadDir: polled outside a ferrio runtime; run it inside \
                     Runtime::block_on, ferrio::run or a spawned task",
                )));
            };
            self.batch = Some(handle.run_in_executor(move || read_batch(dir)));
        }
    }
}

/// Reads up to [`BATCH`] entries (stopping after an error, as tokio does,
/// so it is handed out in order), with each entry's type: usually known
/// from the listing itself, else an `lstat` here on the pool.
fn read_batch(mut dir: std::fs::ReadDir) -> Batch {
    let mut entries = VecDeque::with_capacity(BATCH);
    for _ in 0..BATCH {
        match dir.next() {
            None => return (None, entries),
            Some(Ok(e)) => entries.push_back(Ok(DirEntry {
                path: e.path(),
                file_name: e.file_name(),
                ino: e.ino(),
                file_type: e.file_type().ok(),
            })),
            Some(Err(e)) => {
                entries.push_back(Err(e));
                break;
            }
        }
    }
    (Some(dir), entries)
}

impl futures_core::Stream for ReadDir {
    type Item = io::Result<DirEntry>;

    #[track_caller]
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut()
            .poll_next_entry(cx)
            .map(|entry| entry.transpose())
    }
}

/// One entry of a [`ReadDir`].
pub struct DirEntry {
    path: PathBuf,
    file_name: OsString,
    ino: u64,
    /// Known when the entry was read (`None`: the look-up failed, and
    /// `file_type` tries again).
    file_type: Option<FileType>,
}

impl fmt::Debug for DirEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("DirEntry").field(&self.path).finish()
    }
}

impl DirEntry {
    /// The entry's full path: the directory given to [`read_dir`] joined
    /// with [`file_name`](DirEntry::file_name).
    pub fn path(&self) -> PathBuf {
        self.path.clone()
    }

    /// The entry's name in its directory.
    pub fn file_name(&self) -> OsString {
        self.file_name.clone()
    }

    /// The entry's inode number, as the listing gave it.
    pub fn ino(&self) -> u64 {
        self.ino
    }

    /// The entry's type, not following a symlink (`std::fs::FileType`, as
    /// tokio gives it). Known from the listing on most file systems (no
    /// system call); otherwise an `lstat` on the blocking pool.
    #[track_caller]
    pub fn file_type(&self) -> impl Future<Output = io::Result<FileType>> + '_ {
        At::here(async move {
            if let Some(t) = self.file_type {
                return Ok(t);
            }
            let path = self.path.clone();
            on_pool(move || std::fs::symlink_metadata(path).map(|m| m.file_type())).await
        })
    }

    /// The entry's metadata, not following a symlink (as
    /// `std::fs::DirEntry::metadata`): a `statx` on the ring.
    #[track_caller]
    pub fn metadata(&self) -> impl Future<Output = io::Result<Metadata>> + '_ {
        At::here(async move { super::symlink_metadata(&self.path).await })
    }
}
