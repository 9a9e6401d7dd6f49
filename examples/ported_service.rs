//! A small tokio-style service ported to ferrio: the code a tokio server is
//! made of, with `tokio::` paths turned into `ferrio::` ones (README,
//! "Coming from tokio").
//!
//! - `#[ferrio::main]` (was `#[tokio::main]`);
//! - TLS (rustls through futures-rustls on ferrio's `futures-io` streams);
//! - a worker pool fed by an `mpsc` channel, the receiver shared behind a
//!   `Lock` (tokio's `Arc<Mutex<Receiver>>`); each job carries a reply
//!   channel (tokio's `oneshot`: here an `mpsc::channel(1)`);
//! - the configuration in a `watch` channel, read per request and logged
//!   on change;
//! - connections and workers in `JoinSet`s, the accept loop a `select!`;
//! - graceful shutdown: SIGINT (Ctrl-C) cancels a `CancellationToken`;
//!   the listener closes, every connection finishes the request it is
//!   serving, says `bye` and closes its TLS session, the job queue closes,
//!   the workers drain it and end, `main` returns.
//!
//! The protocol is a line per request: `hello NAME`, `upper TEXT`,
//! `sum N N ...`, `sleep MS` (a slow job); one line back per request.
//!
//! ```sh
//! cargo run --release --example ported_service                 # serve on 127.0.0.1:8444 until Ctrl-C
//! cargo run --release --example ported_service -- --self-test   # or PORTED_SERVICE_SELF_TEST=1
//! ```
//!
//! The self-test starts the service on an ephemeral port, drives it from
//! TLS clients in the same process (requests from several connections at
//! once, a configuration change, a slow request in flight when SIGINT
//! arrives), and exits 0 only when every answer was right and the
//! shutdown was graceful. CI runs it.

use std::error::Error;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::io::BufReader;
use futures::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use futures_rustls::rustls::crypto::ring::default_provider;
use futures_rustls::rustls::pki_types::{CertificateDer, PrivatePkcs8KeyDer, ServerName};
use futures_rustls::rustls::{ClientConfig, RootCertStore, ServerConfig};
use futures_rustls::{TlsAcceptor, TlsConnector};

use ferrio::net::{TcpListener, TcpStream};
use ferrio::sync::{mpsc, watch, CancellationToken, Event, Lock};
use ferrio::task::JoinSet;

type BoxError = Box<dyn Error + Send + Sync>;

/// What can change while the service runs.
#[derive(Clone, Debug)]
struct Config {
    greeting: String,
    /// Longest request line accepted, in bytes.
    max_line: usize,
    version: u64,
}

/// A request for the worker pool, with where to send the answer.
struct Job {
    line: String,
    reply: mpsc::Sender<String>,
}

/// What the service shares between its tasks.
struct Service {
    config: watch::Receiver<Config>,
    shutdown: CancellationToken,
    served: AtomicUsize,
    /// Set when a worker starts a `sleep` job (the self-test's cue).
    slow_job_started: Event,
}

const WORKERS: usize = 4;

fn tls_configs() -> (Arc<ServerConfig>, Arc<ClientConfig>) {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_string()])
        .expect("a self-signed certificate");
    let cert: CertificateDer<'static> = certified.cert.der().clone();
    let key = PrivatePkcs8KeyDer::from(certified.signing_key.serialize_der());
    let server = ServerConfig::builder_with_provider(Arc::new(default_provider()))
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key.into())
        .expect("the certificate and its key");
    let mut roots = RootCertStore::empty();
    roots.add(cert).expect("a valid certificate");
    let client = ClientConfig::builder_with_provider(Arc::new(default_provider()))
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    (Arc::new(server), Arc::new(client))
}

/// One worker: takes jobs until the queue is closed and empty.
async fn worker(jobs: Arc<Lock<mpsc::Receiver<Job>>>, service: Arc<Service>) -> usize {
    let mut done = 0;
    loop {
        // The lock is held only while waiting for the next job.
        let Some(job) = jobs.lock().await.recv().await else {
            return done;
        };
        let answer = answer(&job.line, &service).await;
        // The connection may be gone; its answer is dropped then.
        let _ = job.reply.send(format!("{answer}\n")).await;
        done += 1;
    }
}

async fn answer(line: &str, service: &Service) -> String {
    let (verb, rest) = line.split_once(' ').unwrap_or((line, ""));
    match verb {
        "hello" => {
            let greeting = service.config.borrow().greeting.clone();
            format!("{greeting}, {rest}!")
        }
        "upper" => rest.to_uppercase(),
        "sum" => match rest
            .split_whitespace()
            .map(str::parse::<i64>)
            .sum::<Result<i64, _>>()
        {
            Ok(sum) => sum.to_string(),
            Err(e) => format!("error: {e}"),
        },
        "sleep" => match rest.parse::<u64>() {
            Ok(ms) => {
                service.slow_job_started.set();
                ferrio::sleep(Duration::from_millis(ms)).await;
                format!("slept {ms} ms")
            }
            Err(e) => format!("error: {e}"),
        },
        other => format!("error: unknown request {other:?}"),
    }
}

/// Serves one TLS connection: a line in, a line out, until the peer
/// closes or the service shuts down (after the request in hand).
async fn connection(
    stream: TcpStream,
    acceptor: TlsAcceptor,
    service: Arc<Service>,
    jobs: mpsc::Sender<Job>,
) -> io::Result<()> {
    let tls = acceptor.accept(stream).await?;
    let (reader, mut writer) = tls.split();
    let mut reader = BufReader::new(reader);
    let (reply_tx, mut reply_rx) = mpsc::channel(1);
    let mut line = String::new();
    loop {
        line.clear();
        let read = ferrio::select! {
            read = reader.read_line(&mut line) => read?,
            _ = service.shutdown.cancelled() => {
                writer.write_all(b"bye\n").await?;
                break;
            }
        };
        if read == 0 {
            break;
        }
        let request = line.trim_end();
        let max_line = service.config.borrow().max_line;
        let reply = if request.len() > max_line {
            format!("error: request longer than {max_line} bytes\n")
        } else {
            let job = Job {
                line: request.to_string(),
                reply: reply_tx.clone(),
            };
            if jobs.send(job).await.is_err() {
                break;
            }
            match reply_rx.recv().await {
                Some(reply) => reply,
                None => break,
            }
        };
        writer.write_all(reply.as_bytes()).await?;
        writer.flush().await?;
        service.served.fetch_add(1, Ordering::Relaxed);
    }
    // close_notify, then the socket closes.
    writer.close().await
}

/// Runs the service on `listener` until `service.shutdown` is cancelled;
/// returns how many requests were served.
async fn serve(
    listener: TcpListener,
    tls: Arc<ServerConfig>,
    service: Arc<Service>,
) -> Result<usize, BoxError> {
    let acceptor = TlsAcceptor::from(tls);
    let (jobs, queue) = mpsc::channel(64);
    let queue = Arc::new(Lock::new(queue));
    let mut workers = JoinSet::new();
    for _ in 0..WORKERS {
        workers.spawn(worker(queue.clone(), service.clone()));
    }
    let mut connections = JoinSet::new();
    loop {
        ferrio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = accepted?;
                let (acceptor, service, jobs) = (acceptor.clone(), service.clone(), jobs.clone());
                connections.spawn(async move {
                    if let Err(e) = connection(stream, acceptor, service, jobs).await {
                        eprintln!("{peer}: {e}");
                    }
                });
            }
            Some(ended) = connections.join_next(), if !connections.is_empty() => {
                joined(ended)?;
            }
            _ = service.shutdown.cancelled() => break,
        }
    }
    // Graceful: no new connections; the open ones finish their request in
    // hand (up to 10 s), then the queue closes and the workers drain it.
    drop(listener);
    let drained = ferrio::wait_for(
        async {
            while let Some(ended) = connections.join_next().await {
                joined(ended)?;
            }
            Ok::<_, BoxError>(())
        },
        Duration::from_secs(10),
    )
    .await;
    match drained {
        Ok(result) => result?,
        Err(_) => {
            eprintln!("{} connections did not finish in time", connections.len());
            connections.shutdown().await;
        }
    }
    // The last sender: the workers end once the queue is empty.
    drop(jobs);
    let per_worker = workers.join_all().await;
    println!("workers answered {per_worker:?}");
    Ok(per_worker.iter().sum())
}

/// Logs every configuration change until the sender goes away.
async fn log_config(mut config: watch::Receiver<Config>) {
    while config.changed().await.is_ok() {
        let c = config.borrow_and_update().clone();
        println!(
            "config v{}: greeting {:?}, max_line {}",
            c.version, c.greeting, c.max_line
        );
    }
}

/// A TLS client connection of the self-test.
struct Client {
    lines: BufReader<futures_rustls::client::TlsStream<TcpStream>>,
}

impl Client {
    async fn connect(addr: SocketAddr, tls: Arc<ClientConfig>) -> io::Result<Client> {
        let stream = TcpStream::connect(addr).await?;
        let name = ServerName::try_from("localhost").expect("a DNS name");
        let tls = TlsConnector::from(tls).connect(name, stream).await?;
        Ok(Client {
            lines: BufReader::new(tls),
        })
    }

    async fn send(&mut self, request: &str) -> io::Result<()> {
        let tls = self.lines.get_mut();
        tls.write_all(format!("{request}\n").as_bytes()).await?;
        tls.flush().await
    }

    async fn line(&mut self) -> io::Result<String> {
        let mut line = String::new();
        self.lines.read_line(&mut line).await?;
        Ok(line.trim_end().to_string())
    }

    async fn call(&mut self, request: &str) -> io::Result<String> {
        self.send(request).await?;
        self.line().await
    }
}

/// A task's outcome as a `BoxError`: `ferrio::TaskError` is `Send` but not
/// `Sync` (it holds the panic's payload), unlike tokio's `JoinError`, so `?`
/// cannot put it in a `Box<dyn Error + Send + Sync>` directly.
fn joined<T>(outcome: Result<T, ferrio::TaskError>) -> Result<T, BoxError> {
    outcome.map_err(|e| e.to_string().into())
}

fn check(what: &str, got: &str, want: &str) -> Result<(), BoxError> {
    if got == want {
        Ok(())
    } else {
        Err(format!("{what}: got {got:?}, want {want:?}").into())
    }
}

async fn self_test() -> Result<(), BoxError> {
    let (server_tls, client_tls) = tls_configs();
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let (service, config) = service_parts();
    // SIGINT is caught from here on (before anything can send it).
    let mut sigint = ferrio::signal::signal(libc::SIGINT)?;
    let on_signal = service.shutdown.clone();
    drop(ferrio::spawn(async move {
        if sigint.recv().await.is_ok() {
            on_signal.cancel();
        }
    }));
    let server = ferrio::spawn(serve(listener, server_tls, service.clone()));

    let mut first = Client::connect(addr, client_tls.clone()).await?;
    check(
        "hello",
        &first.call("hello ferrio").await?,
        "Hello, ferrio!",
    )?;
    check("upper", &first.call("upper tls").await?, "TLS")?;
    check("sum", &first.call("sum 1 2 39").await?, "42")?;
    check(
        "too long",
        &first.call(&"x".repeat(300)).await?,
        "error: request longer than 256 bytes",
    )?;

    // Reconfigure: the next request sees it.
    config.send_modify(|c| {
        c.greeting = "Howdy".to_string();
        c.version += 1;
    });
    check(
        "hello after reload",
        &first.call("hello ferrio").await?,
        "Howdy, ferrio!",
    )?;

    // Eight connections at once, 25 requests each.
    let clients = (0..8u64).map(|i| {
        let tls = client_tls.clone();
        async move {
            let mut client = Client::connect(addr, tls).await?;
            for j in 0..25u64 {
                check(
                    "sum",
                    &client.call(&format!("sum {i} {j}")).await?,
                    &(i + j).to_string(),
                )?;
            }
            // The client closes: close_notify, then EOF for the server.
            client.lines.get_mut().close().await?;
            Ok::<_, BoxError>(())
        }
    });
    for result in ferrio::gather(clients).await {
        result?;
    }

    // A slow request in flight when SIGINT comes: it is answered, then the
    // connection says bye and closes.
    first.send("sleep 200").await?;
    service.slow_job_started.wait().await;
    // SAFETY: kill(2) on our own pid with a valid signal number; SIGINT is
    // handled by ferrio's handler installed above.
    let rc = unsafe { libc::kill(libc::getpid(), libc::SIGINT) };
    if rc != 0 {
        return Err(io::Error::last_os_error().into());
    }
    check("slow request", &first.line().await?, "slept 200 ms")?;
    check("goodbye", &first.line().await?, "bye")?;
    let mut rest = Vec::new();
    first.lines.read_to_end(&mut rest).await?;
    check("after bye", &String::from_utf8_lossy(&rest), "")?;

    let answered = joined(server.await)??;
    let served = service.served.load(Ordering::Relaxed);
    // 6 on the first connection (the long line never reached a worker),
    // 200 on the others.
    check("answered by workers", &answered.to_string(), "205")?;
    check("served", &served.to_string(), "206")?;
    println!("ported_service self-test: {served} requests over TLS, a config reload, graceful shutdown on SIGINT: ok");
    Ok(())
}

fn service_parts() -> (Arc<Service>, watch::Sender<Config>) {
    let (config_tx, config_rx) = watch::channel(Config {
        greeting: "Hello".to_string(),
        max_line: 256,
        version: 1,
    });
    drop(ferrio::spawn(log_config(config_rx.clone())));
    let service = Arc::new(Service {
        config: config_rx,
        shutdown: CancellationToken::new(),
        served: AtomicUsize::new(0),
        slow_job_started: Event::new(),
    });
    (service, config_tx)
}

#[ferrio::main]
async fn main() -> Result<(), BoxError> {
    let testing = std::env::args().any(|a| a == "--self-test")
        || std::env::var_os("PORTED_SERVICE_SELF_TEST").is_some_and(|v| v != "0");
    if testing {
        return self_test().await;
    }
    let addr = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with("--"))
        .unwrap_or_else(|| "127.0.0.1:8444".to_string());
    let (server_tls, _) = tls_configs();
    let listener = TcpListener::bind(addr.as_str())?;
    println!(
        "ported service on {} (TLS, self-signed for localhost); Ctrl-C stops it",
        listener.local_addr()?
    );
    let (service, _config) = service_parts();
    let on_signal = service.shutdown.clone();
    drop(ferrio::spawn(async move {
        if ferrio::signal::ctrl_c().await.is_ok() {
            println!("Ctrl-C: shutting down");
            on_signal.cancel();
        }
    }));
    let answered = serve(listener, server_tls, service).await?;
    println!("{answered} requests answered; bye");
    Ok(())
}
