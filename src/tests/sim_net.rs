//! The unchanged `ferrio::net` types on a simulated world's network
//! (feature `sim`): TCP through the model's latency, partitions, closes
//! and resets; name lookups among the hosts; UDP with seeded loss; host
//! crashes; the event hash of the new path.

use std::io::ErrorKind;
use std::net::{Shutdown, SocketAddr};
use std::time::Duration;

use ferrio::net::{TcpListener, TcpSocket, TcpStream, UdpSocket};
use ferrio::sim::{Host, Net, Sim};

fn exact(ms: u64) -> Sim {
    Sim::new(1).latency(Duration::from_millis(ms), Duration::ZERO)
}

/// An echo server on `host`:`port`, as the host's task: echoes every
/// connection until its end of stream.
fn echo(host: &Host, port: u16) -> ferrio::Task<()> {
    let listener = host
        .scope(async move { TcpListener::bind(("0.0.0.0", port)) })
        .now_or_never()
        .unwrap();
    let h = host.clone();
    host.spawn(async move {
        loop {
            let Ok((conn, _)) = listener.accept().await else {
                return;
            };
            drop(h.spawn(async move {
                loop {
                    let (n, buf) = conn.read(Vec::with_capacity(64)).await;
                    match n {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            if conn.write_all(buf[..n].to_vec()).await.0.is_err() {
                                return;
                            }
                        }
                    }
                }
            }));
        }
    })
}

/// Polls a future that is ready at once.
trait NowOrNever: std::future::Future + Sized {
    fn now_or_never(self) -> Self::Output {
        let mut f = std::pin::pin!(self);
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        match f.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(v) => v,
            std::task::Poll::Pending => panic!("not ready at once"),
        }
    }
}
impl<F: std::future::Future> NowOrNever for F {}

#[test]
fn tcp_round_trip_on_the_unchanged_types_takes_its_latencies() {
    let report = exact(10).run(|net: Net| async move {
        let server = net.host("server");
        let client = net.host("client");
        let _echo = echo(&server, 80);
        client
            .spawn(async move {
                let start = ferrio::time::now();
                let s = TcpStream::connect("server:80").await.unwrap();
                let connected = ferrio::time::now() - start;
                assert_eq!(s.peer_addr().unwrap(), "10.0.0.1:80".parse().unwrap());
                let local = s.local_addr().unwrap();
                assert_eq!(local.ip().to_string(), "10.0.0.2");
                s.write_all(b"ping".to_vec()).await.0.unwrap();
                let (n, buf) = s.read_exact(Vec::with_capacity(4)).await;
                n.unwrap();
                assert_eq!(buf, b"ping");
                (connected, ferrio::time::now() - start)
            })
            .await
            .unwrap()
    });
    // SYN + SYN-ACK, then ping + pong: 10 ms each way.
    assert_eq!(
        report.output,
        (Duration::from_millis(20), Duration::from_millis(40))
    );
}

#[test]
fn accept_gives_the_peer_and_a_close_is_the_peers_end_of_stream() {
    let report = exact(5).run(|net: Net| async move {
        let server = net.host("server");
        let client = net.host("client");
        let listener = server
            .scope(async { TcpListener::bind("server:7") })
            .await
            .unwrap();
        assert_eq!(
            listener.local_addr().unwrap(),
            "10.0.0.1:7".parse::<SocketAddr>().unwrap()
        );
        let c = client.spawn(async {
            let s = TcpStream::connect(("10.0.0.1".parse::<std::net::IpAddr>().unwrap(), 7))
                .await
                .unwrap();
            s.write_all(&b"bye"[..]).await.0.unwrap();
            let addr = s.local_addr().unwrap();
            drop(s);
            addr
        });
        let (conn, peer) = listener.accept().await.unwrap();
        let from = c.await.unwrap();
        assert_eq!(peer, from);
        assert_eq!(conn.peer_addr().unwrap(), from);
        let (n, buf) = conn.read(Vec::with_capacity(16)).await;
        assert_eq!(&buf[..n.unwrap()], b"bye");
        let (n, _) = conn.read(Vec::with_capacity(16)).await;
        n.unwrap()
    });
    assert_eq!(report.output, 0);
}

#[test]
fn split_halves_and_shutdown_work_on_the_simulated_network() {
    use futures::{AsyncReadExt, AsyncWriteExt};
    let report = exact(1).run(|net: Net| async move {
        let _echo = echo(&net.host("server"), 9);
        net.host("client")
            .spawn(async {
                let s = TcpStream::connect("server:9").await.unwrap();
                let (mut r, mut w) = s.into_split();
                AsyncWriteExt::write_all(&mut w, b"half").await.unwrap();
                w.close().await.unwrap();
                let mut got = Vec::new();
                r.read_to_end(&mut got).await.unwrap();
                got
            })
            .await
            .unwrap()
    });
    assert_eq!(report.output, b"half");
}

#[test]
fn shutdown_write_ends_the_peers_stream_and_writes_then_fail() {
    let report = exact(1).run(|net: Net| async move {
        let server = net.host("server");
        let listener = server
            .scope(async { TcpListener::bind("0.0.0.0:1") })
            .await
            .unwrap();
        let c = net.host("client").spawn(async {
            let s = TcpStream::connect("server:1").await.unwrap();
            s.shutdown(Shutdown::Write).unwrap();
            let e = s.write_all(&b"x"[..]).await.0.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::BrokenPipe);
            s
        });
        let (conn, _) = listener.accept().await.unwrap();
        let (n, _) = conn.read(Vec::with_capacity(4)).await;
        drop(c.await.unwrap());
        n.unwrap()
    });
    assert_eq!(report.output, 0);
}

#[test]
fn connecting_where_nobody_listens_is_refused_after_a_round_trip() {
    let report = exact(3).run(|net: Net| async move {
        let _server = net.host("server");
        net.host("client")
            .spawn(async {
                let start = ferrio::time::now();
                let e = TcpStream::connect("server:81").await.unwrap_err();
                assert_eq!(e.kind(), ErrorKind::ConnectionRefused);
                let took = ferrio::time::now() - start;
                let e = TcpStream::connect("nobody:81").await.unwrap_err();
                assert_eq!(e.kind(), ErrorKind::NotFound);
                took
            })
            .await
            .unwrap()
    });
    assert_eq!(report.output, Duration::from_millis(6));
}

#[test]
fn a_port_in_use_is_refused_and_free_again_once_closed() {
    let report = exact(1).run(|net: Net| async move {
        net.host("server")
            .scope(async {
                let a = TcpListener::bind("0.0.0.0:80").unwrap();
                let e = TcpListener::bind("0.0.0.0:80").unwrap_err();
                assert_eq!(e.kind(), ErrorKind::AddrInUse);
                drop(a);
                TcpListener::bind("0.0.0.0:80").is_ok()
            })
            .await
    });
    assert!(report.output);
}

#[test]
fn a_task_on_no_host_gets_a_clear_error() {
    let report = exact(1)
        .run(|_net: Net| async { TcpListener::bind("0.0.0.0:80").unwrap_err().to_string() });
    assert!(
        report.output.contains("runs on no host"),
        "{}",
        report.output
    );
}

#[test]
fn lookup_host_resolves_the_worlds_hosts() {
    let report = exact(1).run(|net: Net| async move {
        let _a = net.host("alpha");
        let b = net.host("beta");
        let addrs: Vec<SocketAddr> = ferrio::net::lookup_host("beta:443")
            .await
            .unwrap()
            .collect();
        assert_eq!(addrs, vec![SocketAddr::new(b.ip(), 443)]);
        let e = ferrio::net::lookup_host("gamma:1").await.err().unwrap();
        assert_eq!(e.kind(), ErrorKind::NotFound);
        b.ip().to_string()
    });
    assert_eq!(report.output, "10.0.0.2");
}

#[test]
fn a_tcp_socket_binds_and_listens_on_the_model() {
    let report = exact(2).run(|net: Net| async move {
        let server = net.host("server");
        let listener = server
            .scope(async {
                let s = TcpSocket::new_v4().unwrap();
                s.set_reuseaddr(true).unwrap();
                s.bind("0.0.0.0:8080".parse().unwrap()).unwrap();
                assert_eq!(s.local_addr().unwrap().port(), 8080);
                s.listen(16).unwrap()
            })
            .await;
        let c = net.host("client").spawn(async {
            let s = TcpSocket::new_v4().unwrap();
            s.connect("10.0.0.1:8080".parse().unwrap()).await.unwrap()
        });
        let (_conn, peer) = listener.accept().await.unwrap();
        let s = c.await.unwrap();
        assert!(s.nodelay().unwrap());
        let e = s.ttl().unwrap_err();
        assert!(e.to_string().starts_with("ferrio: not simulated: "), "{e}");
        peer.port()
    });
    // The client's first ephemeral port.
    assert_eq!(report.output, 49152);
}

#[test]
fn a_partition_holds_segments_until_the_repair_and_loses_syns() {
    let report = exact(1).run(|net: Net| async move {
        let server = net.host("server");
        let client = net.host("client");
        let _echo = echo(&server, 7);
        let s = client
            .spawn(async { TcpStream::connect("server:7").await.unwrap() })
            .await
            .unwrap();
        net.partition(&client, &server);
        let start = ferrio::time::now();
        s.write_all(&b"held"[..]).await.0.unwrap();
        let lost = client.spawn(async {
            ferrio::time::wait_for(TcpStream::connect("server:7"), Duration::from_secs(1)).await
        });
        assert!(
            lost.await.unwrap().is_err(),
            "the SYN is lost: the timeout fires"
        );
        let repairer = {
            let net = net.clone();
            let (c, s2) = (client.clone(), server.clone());
            ferrio::spawn(async move {
                ferrio::time::sleep(Duration::from_secs(5)).await;
                net.repair(&c, &s2);
            })
        };
        let (n, buf) = s.read(Vec::with_capacity(8)).await;
        repairer.await.unwrap();
        assert_eq!(&buf[..n.unwrap()], b"held");
        ferrio::time::now() - start
    });
    // The lost connect's 1 s, the repair 5 s later, then there and back.
    assert_eq!(report.output, Duration::from_millis(6002));
}

#[test]
fn a_reset_fails_both_ends() {
    let report = exact(1).run(|net: Net| async move {
        let server = net.host("server");
        let client = net.host("client");
        let listener = server
            .scope(async { TcpListener::bind("0.0.0.0:5") })
            .await
            .unwrap();
        let s = client
            .spawn(async { TcpStream::connect("server:5").await.unwrap() })
            .await
            .unwrap();
        let (conn, _) = listener.accept().await.unwrap();
        assert_eq!(net.reset(&client, &server), 2);
        let (r, _) = s.read(Vec::with_capacity(4)).await;
        let (r2, _) = conn.read(Vec::with_capacity(4)).await;
        (r.unwrap_err().kind(), r2.unwrap_err().kind())
    });
    assert_eq!(
        report.output,
        (ErrorKind::ConnectionReset, ErrorKind::ConnectionReset)
    );
}

#[test]
fn a_seeded_reset_chance_resets_some_connections() {
    let report = Sim::new(5).reset_chance(0.5).run(|net: Net| async move {
        let _echo = echo(&net.host("server"), 7);
        net.host("client")
            .spawn(async {
                let mut resets = 0;
                for _ in 0..20 {
                    let s = TcpStream::connect("server:7").await.unwrap();
                    match s.write_all(&b"x"[..]).await.0 {
                        Err(e) if e.kind() == ErrorKind::ConnectionReset => resets += 1,
                        r => r.unwrap(),
                    }
                }
                resets
            })
            .await
            .unwrap()
    });
    assert!(
        report.output > 0 && report.output < 20,
        "{} resets",
        report.output
    );
}

#[test]
fn a_crashed_host_loses_its_tasks_and_listeners_and_its_peers_see_resets() {
    let report = exact(1).run(|net: Net| async move {
        let server = net.host("server");
        let client = net.host("client");
        let _echo = echo(&server, 7);
        let s = client
            .spawn(async { TcpStream::connect("server:7").await.unwrap() })
            .await
            .unwrap();
        s.write_all(&b"a"[..]).await.0.unwrap();
        let (n, _) = s.read(Vec::with_capacity(4)).await;
        assert_eq!(n.unwrap(), 1);
        let waiting = server.spawn(std::future::pending::<()>());
        server.crash();
        assert!(waiting.await.unwrap_err().is_cancelled());
        let (r, _) = s.read(Vec::with_capacity(4)).await;
        assert_eq!(r.unwrap_err().kind(), ErrorKind::ConnectionReset);
        // Down: a SYN gets no answer.
        let down = client
            .spawn(async {
                ferrio::time::wait_for(TcpStream::connect("server:7"), Duration::from_secs(1)).await
            })
            .await
            .unwrap();
        assert!(down.is_err());
        server.restart();
        // Back, with nothing listening.
        let e = client
            .spawn(async { TcpStream::connect("server:7").await.unwrap_err() })
            .await
            .unwrap();
        assert_eq!(e.kind(), ErrorKind::ConnectionRefused);
        // Its program started again, it serves again.
        let _echo = echo(&server, 7);
        client
            .spawn(async {
                let s = TcpStream::connect("server:7").await.unwrap();
                s.write_all(&b"again"[..]).await.0.unwrap();
                let (n, buf) = s.read(Vec::with_capacity(8)).await;
                buf[..n.unwrap()].to_vec()
            })
            .await
            .unwrap()
    });
    assert_eq!(report.output, b"again");
}

#[test]
fn udp_datagrams_cross_the_model_and_connect_filters() {
    let report = exact(2).run(|net: Net| async move {
        let a = net.host("a");
        let b = net.host("b");
        let sb = b
            .scope(async { UdpSocket::bind("0.0.0.0:53") })
            .await
            .unwrap();
        a.spawn(async move {
            let s = UdpSocket::bind("0.0.0.0:0").unwrap();
            let start = ferrio::time::now();
            let (n, _) = s.send_to(&b"query"[..], "b:53").await;
            assert_eq!(n.unwrap(), 5);
            let (r, buf) = sb.recv_from(Vec::with_capacity(3)).await;
            let (n, from) = r.unwrap();
            assert_eq!(&buf[..n], b"que", "truncated to the buffer");
            assert_eq!(from, s.local_addr().unwrap());
            let took = ferrio::time::now() - start;
            // Connected: send/recv to and from the peer only.
            s.connect("b:53").unwrap();
            assert_eq!(s.peer_addr().unwrap().to_string(), "10.0.0.2:53");
            sb.send_to(&b"answer"[..], from).await.0.unwrap();
            let (n, buf) = s.recv(Vec::with_capacity(16)).await;
            assert_eq!(&buf[..n.unwrap()], b"answer");
            took
        })
        .await
        .unwrap()
    });
    assert_eq!(report.output, Duration::from_millis(2));
}

#[test]
fn udp_loss_drops_some_datagrams_by_the_seed() {
    let world = |seed| {
        Sim::new(seed).udp_loss(0.3).run(|net: Net| async move {
            let a = net.host("a");
            let b = net.host("b");
            let sb = b
                .scope(async { UdpSocket::bind("0.0.0.0:9") })
                .await
                .unwrap();
            a.spawn(async {
                let s = UdpSocket::bind("0.0.0.0:0").unwrap();
                for i in 0..100u8 {
                    s.send_to(vec![i], "b:9").await.0.unwrap();
                }
            })
            .await
            .unwrap();
            let mut got = 0;
            while ferrio::time::wait_for(sb.recv(Vec::with_capacity(1)), Duration::from_secs(1))
                .await
                .is_ok()
            {
                got += 1;
            }
            got
        })
    };
    let one = world(11);
    assert!(
        one.output > 40 && one.output < 100,
        "{} arrived",
        one.output
    );
    assert_eq!(one, world(11));
}

#[test]
fn a_read_dropped_before_its_data_loses_no_byte() {
    let report = exact(10).run(|net: Net| async move {
        let _echo = echo(&net.host("server"), 7);
        net.host("client")
            .spawn(async {
                let s = TcpStream::connect("server:7").await.unwrap();
                s.write_all(&b"late"[..]).await.0.unwrap();
                let early =
                    ferrio::time::wait_for(s.read(Vec::with_capacity(8)), Duration::from_millis(5))
                        .await;
                assert!(early.is_err());
                let (n, buf) = s.read(Vec::with_capacity(8)).await;
                buf[..n.unwrap()].to_vec()
            })
            .await
            .unwrap()
    });
    assert_eq!(report.output, b"late");
}

#[test]
fn streams_open_connection_and_start_server_run_on_the_model() {
    let report = exact(1).run(|net: Net| async move {
        let server = net.host("server");
        let srv = server
            .scope(ferrio::start_server(
                |mut r: ferrio::StreamReader, w: ferrio::StreamWriter| async move {
                    let line = r.readline().await.unwrap();
                    w.write(&line).unwrap();
                    w.drain().await.unwrap();
                },
                "0.0.0.0:25",
            ))
            .await
            .unwrap();
        let got = net
            .host("client")
            .spawn(async {
                let (mut r, w) = ferrio::open_connection("server:25").await.unwrap();
                w.write(b"hello\n").unwrap();
                w.drain().await.unwrap();
                r.readline().await.unwrap()
            })
            .await
            .unwrap();
        drop(srv);
        got
    });
    assert_eq!(report.output, b"hello\n");
}

fn busy_world(seed: u64) -> ferrio::sim::SimReport<Duration> {
    Sim::new(seed).udp_loss(0.2).run(|net: Net| async move {
        let server = net.host("server");
        let _echo = echo(&server, 7);
        let u = server
            .scope(async { UdpSocket::bind("0.0.0.0:9") })
            .await
            .unwrap();
        let mut clients = Vec::new();
        for i in 0..4 {
            let c = net.host(&format!("c{i}"));
            clients.push(c.spawn(async move {
                for _ in 0..5 {
                    let s = TcpStream::connect("server:7").await.unwrap();
                    s.write_all(&b"ping"[..]).await.0.unwrap();
                    let (n, _) = s.read_exact(Vec::with_capacity(4)).await;
                    n.unwrap();
                    let d = UdpSocket::bind("0.0.0.0:0").unwrap();
                    d.send_to(&b"x"[..], "server:9").await.0.unwrap();
                }
            }));
        }
        for c in clients {
            c.await.unwrap();
        }
        drop(u);
        ferrio::time::now() - ferrio::time::now()
    })
}

#[test]
fn the_same_seed_gives_the_same_net_events_and_another_seed_others() {
    let a = busy_world(3);
    let b = busy_world(3);
    assert_eq!((a.event_hash, a.events), (b.event_hash, b.events));
    assert_ne!(a.event_hash, busy_world(4).event_hash);
}

const CHILD_ENV: &str = "FERRIO_SIM_NET_TEST_CHILD";

#[test]
fn the_same_seed_gives_the_same_net_events_in_another_process() {
    if std::env::var_os(CHILD_ENV).is_some() {
        println!("HASH={}", busy_world(9).event_hash);
        return;
    }
    let here = busy_world(9).event_hash;
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "tests::sim_net::the_same_seed_gives_the_same_net_events_in_another_process",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let there: u64 = stdout
        .lines()
        .find_map(|l| l.split("HASH=").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("the child printed no hash: {stdout}"))
        .parse()
        .unwrap();
    assert_eq!(here, there);
}

#[test]
fn an_accept_dropped_loses_no_connection_and_incoming_takes_them() {
    use futures::StreamExt;
    let report = exact(10).run(|net: Net| async move {
        let server = net.host("server");
        let listener = server
            .scope(async { TcpListener::bind("0.0.0.0:7") })
            .await
            .unwrap();
        // Dropped before the SYN arrives (10 ms).
        let early = ferrio::time::wait_for(listener.accept(), Duration::from_millis(5)).await;
        assert!(early.is_err());
        let clients = net.host("client").spawn(async {
            let a = TcpStream::connect("server:7").await.unwrap();
            let b = TcpStream::connect("server:7").await.unwrap();
            (a.local_addr().unwrap(), b.local_addr().unwrap())
        });
        let mut incoming = listener.incoming();
        let one = incoming.next().await.unwrap().unwrap();
        let two = incoming.next().await.unwrap().unwrap();
        let (a, b) = clients.await.unwrap();
        (one.peer_addr().unwrap(), two.peer_addr().unwrap()) == (a, b)
    });
    assert!(report.output);
}

#[test]
fn a_connect_given_up_resets_the_servers_end() {
    let report = exact(10).run(|net: Net| async move {
        let server = net.host("server");
        let listener = server
            .scope(async { TcpListener::bind("0.0.0.0:7") })
            .await
            .unwrap();
        // Gives up after the SYN arrived (10 ms), before the SYN-ACK (20 ms).
        let gave_up = net
            .host("client")
            .spawn(async {
                ferrio::time::wait_for(TcpStream::connect("server:7"), Duration::from_millis(15))
                    .await
                    .is_err()
            })
            .await
            .unwrap();
        assert!(gave_up);
        let (conn, _) = listener.accept().await.unwrap();
        let (r, _) = conn.read(Vec::with_capacity(4)).await;
        r.unwrap_err().kind()
    });
    assert_eq!(report.output, ErrorKind::ConnectionReset);
}

#[test]
fn a_datagram_receive_dropped_loses_no_datagram() {
    let report = exact(10).run(|net: Net| async move {
        let b = net.host("b");
        let sb = b
            .scope(async { UdpSocket::bind("0.0.0.0:9") })
            .await
            .unwrap();
        net.host("a")
            .spawn(async {
                let s = UdpSocket::bind("0.0.0.0:0").unwrap();
                s.send_to(&b"one"[..], "b:9").await.0.unwrap();
            })
            .await
            .unwrap();
        let early = ferrio::time::wait_for(
            sb.recv_from(Vec::with_capacity(8)),
            Duration::from_millis(5),
        )
        .await;
        assert!(early.is_err());
        let mut peeked = [0u8; 8];
        let (n, from) = sb.peek_from(&mut peeked).await.unwrap();
        assert_eq!(
            (&peeked[..n], from.ip().to_string().as_str()),
            (&b"one"[..], "10.0.0.2")
        );
        let (r, buf) = sb.recv_from(Vec::with_capacity(8)).await;
        buf[..r.unwrap().0].to_vec()
    });
    assert_eq!(report.output, b"one");
}

#[test]
fn a_reader_of_buffered_data_yields_to_other_tasks() {
    let report = exact(1).run(|net: Net| async move {
        let server = net.host("server");
        let listener = server
            .scope(async { TcpListener::bind("0.0.0.0:7") })
            .await
            .unwrap();
        let c = net
            .host("client")
            .spawn(async {
                let s = TcpStream::connect("server:7").await.unwrap();
                s.write_all(vec![7u8; 100_000]).await.0.unwrap();
                s
            })
            .await
            .unwrap();
        let (conn, _) = listener.accept().await.unwrap();
        // Let every byte arrive.
        ferrio::time::sleep(Duration::from_millis(10)).await;
        let flag = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let f = flag.clone();
        let other =
            ferrio::spawn(async move { f.store(true, std::sync::atomic::Ordering::SeqCst) });
        let mut seen_other = false;
        let mut total = 0;
        while total < 100_000 {
            let (n, _) = conn.read(Vec::with_capacity(10)).await;
            total += n.unwrap();
            seen_other |= flag.load(std::sync::atomic::Ordering::SeqCst);
        }
        other.await.unwrap();
        drop(c);
        seen_other
    });
    assert!(
        report.output,
        "10 000 ready reads never let the other task run"
    );
}

#[test]
fn readiness_and_try_calls_answer_from_the_model() {
    let report = exact(2).run(|net: Net| async move {
        let server = net.host("server");
        let listener = server
            .scope(async { TcpListener::bind("0.0.0.0:7") })
            .await
            .unwrap();
        let c = net
            .host("client")
            .spawn(async {
                let s = TcpStream::connect("server:7").await.unwrap();
                s.writable().await.unwrap();
                assert_eq!(s.try_write(b"peek").unwrap(), 4);
                s
            })
            .await
            .unwrap();
        let (conn, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(
            conn.try_read(&mut buf).unwrap_err().kind(),
            ErrorKind::WouldBlock
        );
        conn.readable().await.unwrap();
        let n = conn.peek(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"peek");
        let n = conn.try_read(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"peek");
        let e = c.into_std().unwrap_err();
        assert!(e.to_string().starts_with("ferrio: not simulated: "), "{e}");
        n
    });
    assert_eq!(report.output, 4);
}

#[test]
fn a_world_leaves_no_descriptor_behind() {
    let open = || std::fs::read_dir("/proc/self/fd").unwrap().count();
    let run = || {
        exact(1).run(|net: Net| async move {
            let _echo = echo(&net.host("server"), 7);
            // The sim's own listener too, with its accept waiting.
            let mut old = net.host("server").bind(8).unwrap();
            let _old = ferrio::spawn(async move { old.accept().await.map(drop) });
            net.host("client")
                .spawn(async {
                    let s = TcpStream::connect("server:7").await.unwrap();
                    s.write_all(&b"x"[..]).await.0.unwrap();
                    s
                })
                .await
                .unwrap()
        })
    };
    // A stream kept past the end of its world is closed by its owner.
    drop(run());
    let before = open();
    for _ in 0..20 {
        drop(run());
    }
    let after = open();
    // Other tests run in parallel and open descriptors of their own: a
    // leak here would be 20 runtimes' worth (each has several).
    assert!(after < before + 20, "{before} open before, {after} after");
}

#[test]
fn a_dropped_op_leaves_no_waker_in_the_model() {
    use std::os::fd::AsRawFd;
    let report = exact(10).run(|net: Net| async move {
        let server = net.host("server");
        let listener = server
            .scope(async { TcpListener::bind("0.0.0.0:7") })
            .await
            .unwrap();
        let lfd = listener.as_raw_fd();
        let early = ferrio::time::wait_for(listener.accept(), Duration::from_millis(1)).await;
        assert!(early.is_err());
        let after_accept = super::hooks::sim_waiters(&net, lfd);
        let c = net
            .host("client")
            .spawn(async { TcpStream::connect("server:7").await.unwrap() })
            .await
            .unwrap();
        let (conn, _) = listener.accept().await.unwrap();
        let cfd = conn.as_raw_fd();
        // Two polls of one read (the timer's wake-up between them), then
        // dropped: no waker left.
        let early =
            ferrio::time::wait_for(conn.read(Vec::with_capacity(4)), Duration::from_millis(1))
                .await;
        assert!(early.is_err());
        let after_read = super::hooks::sim_waiters(&net, cfd);
        // A read that completes leaves none either.
        c.write_all(&b"x"[..]).await.0.unwrap();
        conn.read(Vec::with_capacity(4)).await.0.unwrap();
        (
            after_accept,
            after_read,
            super::hooks::sim_waiters(&net, cfd),
        )
    });
    assert_eq!(report.output, (0, 0, 0));
}
