//! A TLS echo server and client on ferrio: rustls through futures-rustls,
//! on ferrio's `futures-io` streams (no tokio anywhere).
//!
//! ```sh
//! cargo run --release --example tls_echo                     # server + client in one process
//! cargo run --release --example tls_echo -- server 127.0.0.1:8443 /tmp/echo-cert.der
//! cargo run --release --example tls_echo -- client 127.0.0.1:8443 /tmp/echo-cert.der
//! ```
//!
//! The server makes a self-signed certificate for `localhost` and writes
//! it (DER) to the given path; the client trusts exactly that certificate.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use futures::{AsyncReadExt, AsyncWriteExt};
use futures_rustls::rustls::crypto::ring::default_provider;
use futures_rustls::rustls::pki_types::{CertificateDer, PrivatePkcs8KeyDer, ServerName};
use futures_rustls::rustls::{ClientConfig, RootCertStore, ServerConfig};
use futures_rustls::{TlsAcceptor, TlsConnector};

use ferrio::net::{TcpListener, TcpStream};

fn server_config() -> (Arc<ServerConfig>, CertificateDer<'static>) {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_string()])
        .expect("a self-signed certificate");
    let cert = certified.cert.der().clone();
    let key = PrivatePkcs8KeyDer::from(certified.signing_key.serialize_der());
    let config = ServerConfig::builder_with_provider(Arc::new(default_provider()))
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key.into())
        .expect("the certificate and its key");
    (Arc::new(config), cert)
}

fn client_config(cert: CertificateDer<'static>) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots.add(cert).expect("a valid certificate");
    let config = ClientConfig::builder_with_provider(Arc::new(default_provider()))
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    Arc::new(config)
}

/// Echoes every TLS connection until the peer closes. An accept error
/// does not end the server: one from a connection that died in the
/// backlog is skipped, any other (out of descriptors: `EMFILE`) waits
/// 10 ms, doubled on each error in a row up to 1 s, before accepting again.
async fn serve(listener: TcpListener, config: Arc<ServerConfig>) {
    let acceptor = TlsAcceptor::from(config);
    let mut backoff = Duration::from_millis(10);
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => {
                backoff = Duration::from_millis(10);
                accepted
            }
            Err(e) => {
                use io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
                if !matches!(
                    e.kind(),
                    ConnectionAborted | ConnectionRefused | ConnectionReset
                ) {
                    eprintln!("accept: {e}; next try in {backoff:?}");
                    ferrio::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                }
                continue;
            }
        };
        let acceptor = acceptor.clone();
        drop(ferrio::spawn(async move {
            let result: io::Result<()> = async {
                let mut tls = acceptor.accept(stream).await?;
                let mut buf = vec![0u8; 16 << 10];
                loop {
                    let n = tls.read(&mut buf).await?;
                    if n == 0 {
                        break;
                    }
                    tls.write_all(&buf[..n]).await?;
                    // Send it now: rustls may hold the tail of a record
                    // until flushed.
                    tls.flush().await?;
                }
                // Answer the client's close_notify with ours.
                tls.close().await
            }
            .await;
            if let Err(e) = result {
                eprintln!("{peer}: {e}");
            }
        }));
    }
}

/// Sends `message`, reads the echo, and closes with close_notify.
async fn client(addr: &str, config: Arc<ClientConfig>, message: &[u8]) -> io::Result<Vec<u8>> {
    let stream = TcpStream::connect(addr).await?;
    let name = ServerName::try_from("localhost").expect("a DNS name");
    let mut tls = TlsConnector::from(config).connect(name, stream).await?;
    tls.write_all(message).await?;
    tls.flush().await?;
    let mut echoed = vec![0u8; message.len()];
    tls.read_exact(&mut echoed).await?;
    tls.close().await?;
    Ok(echoed)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("server") => {
            let addr = args
                .get(1)
                .map_or("127.0.0.1:8443", String::as_str)
                .to_string();
            let cert_path = args
                .get(2)
                .map_or("echo-cert.der", String::as_str)
                .to_string();
            let (config, cert) = server_config();
            std::fs::write(&cert_path, cert.as_ref()).expect("write the certificate");
            ferrio::run(async move {
                let listener = TcpListener::bind(addr.as_str()).expect("bind");
                println!(
                    "tls echo server on {} (certificate in {cert_path})",
                    listener.local_addr().unwrap()
                );
                serve(listener, config).await;
            });
        }
        Some("client") => {
            let addr = args
                .get(1)
                .map_or("127.0.0.1:8443", String::as_str)
                .to_string();
            let cert_path = args.get(2).map_or("echo-cert.der", String::as_str);
            let cert =
                CertificateDer::from(std::fs::read(cert_path).expect("read the certificate"));
            let echoed = ferrio::run(client(&addr, client_config(cert), b"hello over TLS"))
                .expect("the round trip");
            println!("{}", String::from_utf8_lossy(&echoed));
        }
        _ => {
            // Both ends in one process.
            let (server, cert) = server_config();
            ferrio::run(async move {
                let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
                let addr = listener.local_addr().unwrap().to_string();
                drop(ferrio::spawn(serve(listener, server)));
                let message = b"hello over TLS".repeat(1000);
                let echoed = client(&addr, client_config(cert), &message)
                    .await
                    .expect("the round trip");
                assert_eq!(echoed, message);
                println!(
                    "tls echo: {} bytes there and back over {addr}",
                    echoed.len()
                );
            });
        }
    }
}
