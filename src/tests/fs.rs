//! Files on io_uring: open options, positional I/O, sync, statx and the
//! path helpers.

use std::io::ErrorKind;

use futures::{AsyncReadExt, AsyncWriteExt};

use super::common::{rt, temp_path};
use ferrio::fs::{self, File, OpenOptions};

#[test]
fn files_round_trip_through_every_call() {
    let dir = temp_path("fs");
    rt(2).block_on(async {
        fs::create_dir(&dir).await.unwrap();
        assert!(fs::metadata(&dir).await.unwrap().is_dir());
        let path = dir.join("data.bin");
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7) as u8).collect();
        fs::write(&path, data.clone()).await.unwrap();
        let meta = fs::metadata(&path).await.unwrap();
        assert!(meta.is_file());
        assert_eq!(meta.len(), data.len() as u64);
        assert!(fs::read(&path).await.unwrap() == data);

        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .await
            .unwrap();
        f.write_all_at(b"HELLO".to_vec(), 1_000).await.0.unwrap();
        f.sync_data().await.unwrap();
        f.sync_all().await.unwrap();
        let (r, buf) = f.read_exact_at(Vec::with_capacity(7), 999).await;
        r.unwrap();
        assert_eq!(
            &buf[..],
            &[data[999], b'H', b'E', b'L', b'L', b'O', data[1005]]
        );
        let (r, buf) = f
            .read_exact_at(Vec::with_capacity(10), data.len() as u64 - 4)
            .await;
        assert_eq!(r.unwrap_err().kind(), ErrorKind::UnexpectedEof);
        assert_eq!(buf.len(), 4);
        assert_eq!(f.metadata().await.unwrap().len(), data.len() as u64);

        // Append mode and the futures-io traits at the current position.
        let mut log = OpenOptions::new()
            .append(true)
            .create(true)
            .open(dir.join("log"))
            .await
            .unwrap();
        AsyncWriteExt::write_all(&mut log, b"one\n").await.unwrap();
        AsyncWriteExt::write_all(&mut log, b"two\n").await.unwrap();
        log.flush().await.unwrap();
        let mut text = String::new();
        File::open(dir.join("log"))
            .await
            .unwrap()
            .read_to_string(&mut text)
            .await
            .unwrap();
        assert_eq!(text, "one\ntwo\n");

        fs::rename(&path, dir.join("moved.bin")).await.unwrap();
        assert_eq!(
            fs::metadata(&path).await.unwrap_err().kind(),
            ErrorKind::NotFound
        );
        fs::remove_file(dir.join("moved.bin")).await.unwrap();
        fs::remove_file(dir.join("log")).await.unwrap();
        fs::remove_dir(&dir).await.unwrap();
        assert_eq!(
            fs::metadata(&dir).await.unwrap_err().kind(),
            ErrorKind::NotFound
        );
    });
}

#[test]
fn bad_open_input_is_a_clear_error() {
    ferrio::run(async {
        let e = File::open("/definitely/not/here").await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound);
        let e = OpenOptions::new().open("/tmp").await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        let e = OpenOptions::new()
            .read(true)
            .create(true)
            .open("/tmp/x")
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        let e = File::open("bad\0path").await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        let e = fs::create_dir("/proc/ferrio-cannot").await.unwrap_err();
        assert!(e.raw_os_error().is_some(), "{e}");
    });
}

#[test]
fn a_write_after_a_read_through_the_traits_lands_where_the_read_stopped() {
    use futures::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
    let dir = std::env::temp_dir().join(format!("ferrio-fs-pos-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("digits");
    std::fs::write(&path, b"0123456789").unwrap();
    super::common::rt(1).block_on(async {
        let mut f = ferrio::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .await
            .unwrap();
        let mut head = [0u8; 4];
        f.read_exact(&mut head).await.unwrap();
        assert_eq!(&head, b"0123");
        AsyncWriteExt::write_all(&mut f, b"XY").await.unwrap();
        f.flush().await.unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"0123XY6789");
        // Reads go on from after the write; seeks count from the caller's
        // position.
        let mut next = [0u8; 2];
        f.read_exact(&mut next).await.unwrap();
        assert_eq!(&next, b"67");
        assert_eq!(
            AsyncSeekExt::seek(&mut f, std::io::SeekFrom::Current(-4))
                .await
                .unwrap(),
            4
        );
        f.read_exact(&mut next).await.unwrap();
        assert_eq!(&next, b"XY");
        assert_eq!(
            AsyncSeekExt::seek(&mut f, std::io::SeekFrom::End(-1))
                .await
                .unwrap(),
            9
        );
        let mut rest = Vec::new();
        f.read_to_end(&mut rest).await.unwrap();
        assert_eq!(rest, b"9");
    });
    std::fs::remove_dir_all(&dir).unwrap();
}
