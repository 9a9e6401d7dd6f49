//! A tiny HTTP/1.1 server answering every request with "Hello, world!"
//! (keep-alive, pipelining-safe). For curl and wrk:
//!
//! ```sh
//! cargo run --release --example http_hello          # 127.0.0.1:8080
//! curl -i http://127.0.0.1:8080/
//! wrk -t2 -c64 -d5s http://127.0.0.1:8080/
//! ```

const RESPONSE: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, world!";

fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8080".into());
    ferrio::run(async move {
        let listener = ferrio::net::TcpListener::bind(&addr)?;
        println!("http_hello listening on http://{}/", listener.local_addr()?);
        loop {
            let Ok((conn, _)) = listener.accept().await else {
                ferrio::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            };
            let _ = conn.set_nodelay(true);
            drop(ferrio::spawn(serve(conn)));
        }
    })
}

/// Reads requests (headers only: this server ignores bodies) and answers
/// each complete one; responses to pipelined requests go out together.
async fn serve(conn: ferrio::net::TcpStream) {
    let mut pending: Vec<u8> = Vec::new();
    let mut buf = Vec::with_capacity(8192);
    let mut out = Vec::with_capacity(1024);
    loop {
        buf.clear();
        let (res, b) = conn.read(buf).await;
        buf = b;
        match res {
            Ok(0) | Err(_) => return,
            Ok(_) => pending.extend_from_slice(&buf),
        }
        out.clear();
        while let Some(end) = find(&pending, b"\r\n\r\n") {
            pending.drain(..end + 4);
            out.extend_from_slice(RESPONSE);
        }
        if pending.len() > 64 * 1024 {
            return; // headers too large: drop the connection
        }
        if !out.is_empty() {
            let (res, o) = conn.write_all(out).await;
            out = o;
            if res.is_err() {
                return;
            }
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
