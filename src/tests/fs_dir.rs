//! Directories, links, copies, permissions and the file calls added for
//! tokio parity (`set_len`, `seek`, `set_permissions`): results, errors
//! (missing paths, NUL bytes), cancellation, and the rule "on the ring
//! where the kernel has the opcode, on the blocking pool otherwise".

use std::collections::BTreeSet;
use std::io::{ErrorKind, SeekFrom};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use futures::{AsyncReadExt, StreamExt};

use super::common::{block_on_plain, no_op_in_flight, poll_once, rt, temp_dir, until};
use super::hooks::{baseline_opcodes_only, newer_opcodes_present, skip_unless_io_uring};
use ferrio::fs::{self, File, OpenOptions};
use ferrio::Handle;

#[test]
fn read_dir_lists_every_entry_with_its_type_in_batches() {
    let dir = temp_dir("fs-read-dir");
    rt(2).block_on(async {
        // More than two batches of 32.
        for i in 0..70 {
            fs::write(dir.join(format!("f{i:02}")), vec![b'x'; i])
                .await
                .unwrap();
        }
        fs::create_dir(dir.join("sub")).await.unwrap();
        fs::symlink("f00", dir.join("link")).await.unwrap();

        let mut entries = fs::read_dir(&dir).await.unwrap();
        let mut seen = BTreeSet::new();
        while let Some(e) = entries.next_entry().await.unwrap() {
            let name = e.file_name().into_string().unwrap();
            assert_eq!(e.path(), dir.join(&name));
            let t = e.file_type().await.unwrap();
            let meta = e.metadata().await.unwrap();
            assert_eq!(meta.ino(), e.ino(), "{name}");
            match name.as_str() {
                "sub" => assert!(t.is_dir() && meta.is_dir()),
                // Neither follows the link.
                "link" => assert!(t.is_symlink() && meta.is_symlink()),
                file => {
                    assert!(t.is_file() && meta.is_file());
                    let i: u64 = file[1..].parse().unwrap();
                    assert_eq!(meta.len(), i);
                }
            }
            assert!(seen.insert(name), "an entry came twice");
        }
        assert_eq!(seen.len(), 72);
        // The end stays the end.
        assert!(entries.next_entry().await.unwrap().is_none());

        // The same listing as a Stream.
        let streamed: Vec<_> = fs::read_dir(&dir).await.unwrap().collect().await;
        assert_eq!(streamed.len(), 72);
        assert!(streamed.iter().all(|e| e.is_ok()));

        // An empty directory.
        let mut empty = fs::read_dir(dir.join("sub")).await.unwrap();
        assert!(empty.next_entry().await.unwrap().is_none());

        fs::remove_dir_all(&dir).await.unwrap();
        assert!(!fs::try_exists(&dir).await.unwrap());
    });
}

#[test]
fn a_dropped_next_entry_loses_no_entry() {
    let dir = temp_dir("fs-read-dir-cancel");
    for i in 0..100 {
        std::fs::write(dir.join(format!("{i}")), b"").unwrap();
    }
    // A batch may finish on the pool before its first poll (the waker's
    // thread preempted by the pool thread it woke): then nothing was
    // pending that time, so the walk is repeated until a call was.
    let rt = rt(1);
    let mut dropped = 0;
    for _ in 0..50 {
        rt.block_on(async {
            let mut entries = fs::read_dir(&dir).await.unwrap();
            let mut seen = BTreeSet::new();
            loop {
                // Polled once, then dropped while a batch is read: the next
                // call takes up the same batch.
                let mut next = std::pin::pin!(entries.next_entry());
                match poll_once(next.as_mut()).await {
                    std::task::Poll::Ready(e) => match e.unwrap() {
                        Some(e) => assert!(seen.insert(e.file_name()), "twice"),
                        None => break,
                    },
                    std::task::Poll::Pending => {
                        dropped += 1;
                        // Let the batch (and the coop budget) move on.
                        ferrio::yield_now().await;
                    }
                }
            }
            assert_eq!(seen.len(), 100);
        });
        if dropped > 0 {
            break;
        }
    }
    assert!(dropped > 0, "no call was ever pending: nothing was tested");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn create_dir_all_creates_what_is_missing_and_accepts_what_exists() {
    let dir = temp_dir("fs-create-dir-all");
    rt(2).block_on(async {
        let deep = dir.join("a/b/c/d");
        fs::create_dir_all(&deep).await.unwrap();
        assert!(fs::metadata(&deep).await.unwrap().is_dir());
        // Again, and a prefix of it: nothing to do.
        fs::create_dir_all(&deep).await.unwrap();
        fs::create_dir_all(dir.join("a/b")).await.unwrap();
        fs::create_dir_all("").await.unwrap();
        // With a trailing slash and a `.` on the way.
        fs::create_dir_all(dir.join("x/./y/")).await.unwrap();
        assert!(fs::metadata(dir.join("x/y")).await.unwrap().is_dir());

        // A file in the way is an error, at the end or on the way.
        fs::write(dir.join("file"), b"".to_vec()).await.unwrap();
        let e = fs::create_dir_all(dir.join("file")).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::AlreadyExists, "{e}");
        let e = fs::create_dir_all(dir.join("file/below"))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotADirectory, "{e}");

        // Many tasks creating the same tree at once all succeed.
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let p = dir.join("race/p/q/r");
                ferrio::spawn(async move { fs::create_dir_all(p).await })
            })
            .collect();
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        assert!(fs::metadata(dir.join("race/p/q/r")).await.unwrap().is_dir());

        let e = fs::remove_dir(dir.join("a")).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::DirectoryNotEmpty, "{e}");
        fs::remove_dir_all(&dir).await.unwrap();
    });
}

#[test]
fn links_copies_paths_and_permissions() {
    let dir = temp_dir("fs-links");
    rt(2).block_on(async {
        let a = dir.join("a");
        fs::write(&a, b"contents".to_vec()).await.unwrap();

        fs::hard_link(&a, dir.join("hard")).await.unwrap();
        let (ma, mh) = (
            fs::metadata(&a).await.unwrap(),
            fs::metadata(dir.join("hard")).await.unwrap(),
        );
        assert_eq!((ma.ino(), ma.nlink()), (mh.ino(), 2));
        let e = fs::hard_link(&a, dir.join("hard")).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::AlreadyExists);

        fs::symlink("a", dir.join("soft")).await.unwrap();
        assert_eq!(
            fs::read_link(dir.join("soft")).await.unwrap(),
            Path::new("a")
        );
        assert!(fs::symlink_metadata(dir.join("soft"))
            .await
            .unwrap()
            .is_symlink());
        assert!(fs::metadata(dir.join("soft")).await.unwrap().is_file());
        let e = fs::symlink("a", dir.join("soft")).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::AlreadyExists);
        let e = fs::read_link(&a).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "not a link: {e}");

        // A dangling link exists as a link, not as a file.
        fs::symlink("nowhere", dir.join("dangling")).await.unwrap();
        assert!(!fs::try_exists(dir.join("dangling")).await.unwrap());
        assert!(fs::symlink_metadata(dir.join("dangling")).await.is_ok());

        // Canonical paths resolve links, `.` and `..`.
        let odd = dir.join("./soft/../soft");
        assert_eq!(
            fs::canonicalize(&dir.join("soft")).await.unwrap(),
            std::fs::canonicalize(&a).unwrap()
        );
        assert_eq!(
            fs::canonicalize(dir.join("..").join(dir.file_name().unwrap()))
                .await
                .unwrap(),
            std::fs::canonicalize(&dir).unwrap()
        );
        assert_eq!(
            fs::canonicalize(&odd).await.unwrap_err().kind(),
            ErrorKind::NotADirectory
        );

        // Permissions: set, read back, copied with the contents.
        let mut perms = fs::metadata(&a).await.unwrap().permissions();
        perms.set_mode(0o640);
        fs::set_permissions(&a, perms).await.unwrap();
        assert_eq!(fs::metadata(&a).await.unwrap().mode(), 0o640);
        let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        fs::write(&a, big.clone()).await.unwrap();
        assert_eq!(fs::copy(&a, dir.join("copy")).await.unwrap(), 3_000_000);
        assert!(fs::read(dir.join("copy")).await.unwrap() == big);
        assert_eq!(fs::metadata(dir.join("copy")).await.unwrap().mode(), 0o640);
        // Copying onto an existing file truncates it.
        fs::write(dir.join("short"), b"abc".to_vec()).await.unwrap();
        assert_eq!(
            fs::copy(dir.join("short"), dir.join("copy")).await.unwrap(),
            3
        );
        assert_eq!(fs::read(dir.join("copy")).await.unwrap(), b"abc");

        assert_eq!(fs::read_to_string(dir.join("short")).await.unwrap(), "abc");
        fs::write(dir.join("latin1"), vec![b'a', 0xE9])
            .await
            .unwrap();
        let e = fs::read_to_string(dir.join("latin1")).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidData);
        assert!(e.to_string().contains("not UTF-8"), "{e}");

        fs::remove_dir_all(&dir).await.unwrap();
    });
}

#[test]
fn file_set_len_seek_and_set_permissions() {
    let dir = temp_dir("fs-file-calls");
    rt(1).block_on(async {
        let path = dir.join("f");
        let mut f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .open(&path)
            .await
            .unwrap();
        f.write_all_at(b"0123456789".to_vec(), 0).await.0.unwrap();
        assert_eq!(f.seek(SeekFrom::Start(8)).await.unwrap(), 8);
        f.set_len(4).await.unwrap();
        assert_eq!(f.metadata().await.unwrap().len(), 4);
        // The position does not move with the length.
        assert_eq!(f.seek(SeekFrom::Current(0)).await.unwrap(), 8);
        f.set_len(6).await.unwrap();
        assert_eq!(fs::read(&path).await.unwrap(), b"0123\0\0");
        assert_eq!(f.seek(SeekFrom::End(-2)).await.unwrap(), 4);
        assert_eq!(f.seek(SeekFrom::Current(-3)).await.unwrap(), 1);
        let mut rest = Vec::new();
        f.read_to_end(&mut rest).await.unwrap();
        assert_eq!(rest, b"123\0\0");
        let e = f.seek(SeekFrom::Current(-100)).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        let e = f.set_len(u64::MAX).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        assert!(
            e.to_string().starts_with("ferrio::fs::File::set_len"),
            "{e}"
        );

        f.set_permissions(std::fs::Permissions::from_mode(0o604))
            .await
            .unwrap();
        assert_eq!(f.metadata().await.unwrap().mode(), 0o604);
        assert_eq!(fs::metadata(&path).await.unwrap().uid(), unsafe_uid());

        // A read-only file cannot be truncated.
        let ro = File::open(&path).await.unwrap();
        assert!(ro.set_len(0).await.is_err());
        drop((f, ro));
        fs::remove_dir_all(&dir).await.unwrap();
    });
}

fn unsafe_uid() -> u32 {
    // SAFETY: getuid has no preconditions.
    unsafe { libc::getuid() }
}

#[test]
fn missing_paths_are_not_found_and_nul_bytes_are_refused() {
    let dir = temp_dir("fs-errors");
    rt(1).block_on(async {
        let missing = dir.join("missing");
        let below = dir.join("missing/below");
        let not_found = [
            ("read_dir", fs::read_dir(&missing).await.map(drop)),
            ("remove_dir", fs::remove_dir(&missing).await),
            ("remove_dir_all", fs::remove_dir_all(&missing).await),
            ("copy", fs::copy(&missing, dir.join("to")).await.map(drop)),
            ("canonicalize", fs::canonicalize(&missing).await.map(drop)),
            ("read_link", fs::read_link(&missing).await.map(drop)),
            (
                "set_permissions",
                fs::set_permissions(&missing, std::fs::Permissions::from_mode(0o600)).await,
            ),
            ("hard_link", fs::hard_link(&missing, dir.join("l")).await),
            ("symlink", fs::symlink("x", &below).await),
            ("create_dir", fs::create_dir(&below).await),
            (
                "symlink_metadata",
                fs::symlink_metadata(&missing).await.map(drop),
            ),
            (
                "read_to_string",
                fs::read_to_string(&missing).await.map(drop),
            ),
        ];
        for (what, r) in not_found {
            assert_eq!(r.unwrap_err().kind(), ErrorKind::NotFound, "{what}");
        }
        assert!(!fs::try_exists(&missing).await.unwrap());

        let bad = Path::new("bad\0path");
        let refused = [
            ("read_dir", fs::read_dir(bad).await.map(drop)),
            ("create_dir_all", fs::create_dir_all(bad).await),
            ("remove_dir_all", fs::remove_dir_all(bad).await),
            ("copy", fs::copy(bad, "x").await.map(drop)),
            ("copy to", fs::copy("x", bad).await.map(drop)),
            ("canonicalize", fs::canonicalize(bad).await.map(drop)),
            ("read_link", fs::read_link(bad).await.map(drop)),
            (
                "set_permissions",
                fs::set_permissions(bad, std::fs::Permissions::from_mode(0o600)).await,
            ),
            ("hard_link", fs::hard_link(bad, "x").await),
            ("symlink", fs::symlink("x", bad).await),
            ("try_exists", fs::try_exists(bad).await.map(drop)),
            ("read_to_string", fs::read_to_string(bad).await.map(drop)),
        ];
        for (what, r) in refused {
            let e = r.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidInput, "{what}");
            assert!(
                e.to_string()
                    .starts_with("ferrio::fs: a path cannot contain a NUL byte"),
                "{what}: {e}"
            );
        }
    });
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn blocking_pool_calls_outside_a_runtime_fail_cleanly() {
    let e = block_on_plain(fs::canonicalize("/")).unwrap_err();
    assert!(e.to_string().contains("outside a ferrio runtime"), "{e}");
    let e = block_on_plain(fs::read_dir("/")).unwrap_err();
    assert!(e.to_string().contains("outside a ferrio runtime"), "{e}");
}

/// Runs the calls that have opcodes newer than 5.11; returns how many ops
/// they put on the rings.
async fn newer_opcode_calls(dir: &Path) -> u64 {
    let handle = Handle::current();
    let f = OpenOptions::new()
        .write(true)
        .open(dir.join("f"))
        .await
        .unwrap();
    let before = handle.metrics().ops_submitted;
    fs::create_dir(dir.join("d")).await.unwrap();
    fs::hard_link(dir.join("f"), dir.join("d/hard"))
        .await
        .unwrap();
    fs::symlink("../f", dir.join("d/soft")).await.unwrap();
    f.set_len(3).await.unwrap();
    let on_rings = handle.metrics().ops_submitted - before;
    assert_eq!(fs::read(dir.join("d/soft")).await.unwrap(), b"abc");
    assert_eq!(fs::metadata(dir.join("f")).await.unwrap().nlink(), 2);
    fs::remove_dir_all(dir.join("d")).await.unwrap();
    on_rings
}

#[test]
fn calls_run_on_the_ring_where_the_kernel_has_the_opcode_else_on_the_pool() {
    let dir = temp_dir("fs-opcodes");
    let rt = rt(1);
    let handle = rt.handle();
    let run = |dir: std::path::PathBuf| {
        std::fs::write(dir.join("f"), b"abcdef").unwrap();
        rt.block_on(rt.spawn(async move { newer_opcode_calls(&dir).await }))
            .unwrap()
    };
    // As on Linux 5.11: mkdirat, linkat, symlinkat and ftruncate are
    // missing, and the calls go to the blocking pool, with the same results.
    baseline_opcodes_only(&handle, true);
    let on_rings = run(dir.clone());
    if !skip_unless_io_uring(&handle, "the opcode probe") {
        assert_eq!(
            on_rings, 0,
            "a call needing a missing opcode reached a ring"
        );
        // This kernel's own opcodes: each call the probe found one for is
        // on the ring.
        baseline_opcodes_only(&handle, false);
        let present = newer_opcodes_present(&handle);
        assert_eq!(run(dir.clone()), present as u64);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn fs_futures_dropped_after_one_poll_leave_no_op_in_flight() {
    let dir = temp_dir("fs-cancel");
    std::fs::write(dir.join("f"), b"abc").unwrap();
    let rt = rt(1);
    rt.block_on(rt.spawn({
        let dir = dir.clone();
        async move {
            let handle = Handle::current();
            let f = File::open(dir.join("f")).await.unwrap();
            macro_rules! poll_then_drop {
                ($what:expr, $fut:expr) => {{
                    let mut fut = std::pin::pin!($fut);
                    let _ = poll_once(fut.as_mut()).await;
                }
                no_op_in_flight(&handle, $what).await;};
            }
            poll_then_drop!("create_dir_all", fs::create_dir_all(dir.join("x/y/z")));
            poll_then_drop!("hard_link", fs::hard_link(dir.join("f"), dir.join("h")));
            poll_then_drop!("symlink", fs::symlink("f", dir.join("s")));
            poll_then_drop!("try_exists", fs::try_exists(dir.join("f")));
            poll_then_drop!("read_to_string", fs::read_to_string(dir.join("f")));
            poll_then_drop!("read_dir", fs::read_dir(&dir));
            poll_then_drop!("copy", fs::copy(dir.join("f"), dir.join("c")));
            poll_then_drop!("set_len", f.set_len(3));
            poll_then_drop!("metadata", f.metadata());
            assert_eq!(fs::read_to_string(dir.join("f")).await.unwrap(), "abc");
            // A dropped copy finishes on the blocking pool all the same.
            until("the dropped copy to finish", || {
                std::fs::read(dir.join("c")).is_ok_and(|b| b == b"abc")
            })
            .await;
        }
    }))
    .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}
