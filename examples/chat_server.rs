//! A line-based chat server on asyncio-style Streams: every line a client
//! sends goes to every other client. Try it with two or more `nc`:
//!
//! ```sh
//! cargo run --release --example chat_server          # 127.0.0.1:7879
//! nc 127.0.0.1 7879
//! ```

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use ferrio::{StreamReader, StreamWriter};

type Clients = Arc<Mutex<HashMap<u64, Arc<StreamWriter>>>>;

fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:7879".into());
    ferrio::run(async move {
        let clients: Clients = Arc::default();
        let next_id = Arc::new(AtomicU64::new(1));
        let server = ferrio::start_server(
            move |reader, writer| {
                let id = next_id.fetch_add(1, Ordering::Relaxed);
                chat(id, reader, Arc::new(writer), clients.clone())
            },
            &addr,
        )
        .await?;
        println!("chat server on {} (connect with nc)", server.local_addr());
        server.serve_forever().await;
        Ok(())
    })
}

async fn chat(id: u64, mut reader: StreamReader, writer: Arc<StreamWriter>, clients: Clients) {
    let _ = writer.write(format!("welcome, you are user{id}\n").as_bytes());
    broadcast(&clients, id, format!("* user{id} joined\n").as_bytes());
    clients.lock().unwrap().insert(id, writer.clone());
    loop {
        match reader.readline().await {
            Ok(line) if line.is_empty() => break, // end of stream
            Ok(line) => {
                let mut msg = format!("user{id}: ").into_bytes();
                msg.extend_from_slice(&line);
                if !msg.ends_with(b"\n") {
                    msg.push(b'\n');
                }
                broadcast(&clients, id, &msg);
            }
            Err(e) if ferrio::LimitOverrunError::from_io(&e).is_some() => {
                let _ = writer.write(b"* line too long, dropped\n");
                let n = ferrio::LimitOverrunError::from_io(&e).unwrap().consumed;
                let _ = reader.readexactly(n).await;
            }
            Err(_) => break,
        }
        // Flow control: a client that stops reading only slows itself.
        if writer.drain().await.is_err() {
            break;
        }
    }
    clients.lock().unwrap().remove(&id);
    broadcast(&clients, id, format!("* user{id} left\n").as_bytes());
}

fn broadcast(clients: &Clients, from: u64, msg: &[u8]) {
    for (id, w) in clients.lock().unwrap().iter() {
        if *id != from {
            let _ = w.write(msg);
        }
    }
}
