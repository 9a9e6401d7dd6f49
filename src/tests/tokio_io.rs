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
