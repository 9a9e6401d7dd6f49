//! rustls on ferrio's streams: futures-rustls over the `futures-io`
//! traits (ferrio's own; no tokio), with a certificate made in the test.

use std::sync::Arc;

use futures::{AsyncReadExt, AsyncWriteExt};
use futures_rustls::rustls::crypto::ring::default_provider;
use futures_rustls::rustls::pki_types::{PrivatePkcs8KeyDer, ServerName};
use futures_rustls::rustls::{ClientConfig, RootCertStore, ServerConfig};
use futures_rustls::{TlsAcceptor, TlsConnector};

use ferrio::net::{TcpListener, TcpStream};

use super::common::rt;

#[test]
fn tls_echo_of_1_mib_each_way_ends_with_close_notify() {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let cert = certified.cert.der().clone();
    let key = PrivatePkcs8KeyDer::from(certified.signing_key.serialize_der());
    let server_config = ServerConfig::builder_with_provider(Arc::new(default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key.into())
        .unwrap();
    let mut roots = RootCertStore::empty();
    roots.add(cert).unwrap();
    let client_config = ClientConfig::builder_with_provider(Arc::new(default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let payload: Vec<u8> = (0..1u32 << 20).map(|i| (i % 251) as u8).collect();
    let rt = rt(2);
    rt.block_on(async move {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let acceptor = TlsAcceptor::from(Arc::new(server_config));
        let server = ferrio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let mut tls = acceptor.accept(stream).await.unwrap();
            // Echo until the client's close_notify: a clean end reads 0
            // (a TCP close without it would be an UnexpectedEof error).
            let mut buf = vec![0u8; 32 << 10];
            let mut echoed = 0;
            loop {
                let n = tls.read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                tls.write_all(&buf[..n]).await.unwrap();
                // rustls may hold the tail of a record until flushed (a
                // ferrio write waits while the previous one is in flight).
                tls.flush().await.unwrap();
                echoed += n;
            }
            tls.close().await.unwrap();
            echoed
        });
        let stream = TcpStream::connect(addr).await.unwrap();
        let name = ServerName::try_from("localhost").unwrap();
        let tls = TlsConnector::from(Arc::new(client_config))
            .connect(name, stream)
            .await
            .unwrap();
        let (mut reader, mut writer) = tls.split();
        let sent = payload.clone();
        let write_side = ferrio::spawn(async move {
            writer.write_all(&sent).await.unwrap();
            writer.flush().await.unwrap();
            writer
        });
        let mut back = vec![0u8; payload.len()];
        reader.read_exact(&mut back).await.unwrap();
        assert!(back == payload, "the echo differs");
        let writer = write_side.await.unwrap();
        let mut tls = reader.reunite(writer).unwrap();
        tls.close().await.unwrap();
        // The server's close_notify: a clean 0.
        let mut rest = Vec::new();
        assert_eq!(tls.read_to_end(&mut rest).await.unwrap(), 0);
        assert_eq!(server.await.unwrap(), payload.len());
    });
}
