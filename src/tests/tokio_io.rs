//! tokio's I/O traits on ferrio's streams (feature `tokio-io`): a
//! tokio-util codec over a ferrio `TcpStream`, with no tokio runtime in
//! the process.
#![cfg(feature = "tokio-io")]

use futures::{SinkExt, StreamExt};
use tokio_util::codec::{Framed, LinesCodec};

use ferrio::net::{TcpListener, TcpStream};

use super::common::rt;

#[test]
fn lines_codec_carries_10_000_lines_each_way() {
    const LINES: usize = 10_000;
    let rt = rt(2);
    rt.block_on(async {
        assert!(
            tokio::runtime::Handle::try_current().is_err(),
            "no tokio runtime here"
        );
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        // The server answers each line with its upper-case form.
        let server = ferrio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let mut framed = Framed::new(stream, LinesCodec::new());
            let mut seen = 0;
            while let Some(line) = framed.next().await {
                framed.send(line.unwrap().to_uppercase()).await.unwrap();
                seen += 1;
            }
            seen
        });
        let stream = TcpStream::connect(addr).await.unwrap();
        let (mut sink, mut lines) = Framed::new(stream, LinesCodec::new()).split();
        let writer = ferrio::spawn(async move {
            for i in 0..LINES {
                sink.feed(format!("line {i}")).await.unwrap();
            }
            sink.flush().await.unwrap();
            sink
        });
        for i in 0..LINES {
            assert_eq!(lines.next().await.unwrap().unwrap(), format!("LINE {i}"));
        }
        let mut sink = writer.await.unwrap();
        sink.close().await.unwrap();
        drop(lines);
        assert_eq!(server.await.unwrap(), LINES);
    });
}

#[test]
fn tokio_seek_on_a_file_moves_in_step_with_its_reads_and_writes() {
    use std::io::SeekFrom;
    use std::pin::Pin;
    use tokio::io::{AsyncReadExt, AsyncSeek, AsyncSeekExt, AsyncWriteExt};
    let dir = super::common::temp_dir("tokio-seek");
    let path = dir.join("digits");
    std::fs::write(&path, b"0123456789").unwrap();
    rt(1).block_on(async {
        let mut f = ferrio::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .await
            .unwrap();
        let mut head = [0u8; 3];
        AsyncReadExt::read_exact(&mut f, &mut head).await.unwrap();
        // The read ahead is given back: the position is after "012".
        assert_eq!(AsyncSeekExt::stream_position(&mut f).await.unwrap(), 3);
        AsyncWriteExt::write_all(&mut f, b"ab").await.unwrap();
        assert_eq!(
            AsyncSeekExt::seek(&mut f, SeekFrom::End(-2)).await.unwrap(),
            8
        );
        let mut tail = Vec::new();
        AsyncReadExt::read_to_end(&mut f, &mut tail).await.unwrap();
        assert_eq!(tail, b"89");
        assert_eq!(AsyncSeekExt::rewind(&mut f).await.unwrap(), 0);
        let mut all = Vec::new();
        AsyncReadExt::read_to_end(&mut f, &mut all).await.unwrap();
        assert_eq!(all, b"012ab56789");
        // A second start_seek before the first completes is refused.
        Pin::new(&mut f).start_seek(SeekFrom::Start(1)).unwrap();
        let e = Pin::new(&mut f).start_seek(SeekFrom::Start(2)).unwrap_err();
        assert!(e.to_string().contains("poll_complete"), "{e}");
        let pos = std::future::poll_fn(|cx| Pin::new(&mut f).poll_complete(cx)).await;
        assert_eq!(pos.unwrap(), 1);
    });
    std::fs::remove_dir_all(&dir).unwrap();
}
