//! TLS on both drivers: a served cluster behind an in-process TLS terminator
//! (kasio_sim::tls), certificates made per test with rcgen.

use std::net::SocketAddr;
use std::time::{Duration, Instant as StdInstant};

use kasio_core::config::Config;
use kasio_core::conn::{ConnError, TlsError, TlsErrorKind};
use kasio_core::consumer::{ConsumerError, Event, RemoteError, TopicPartition};
use kasio_core::records::Compression;
use kasio_sim::sim::cluster::ClusterSpec;
use kasio_sim::sim::record::SimRecord;
use kasio_sim::sim::serve::Served;
use kasio_sim::tls::{temp_dir, write, Pem, TestCa, TlsProxy};

const RECORDS: usize = 50;

/// One broker with `RECORDS` records in `t`/0, behind a TLS proxy that the
/// metadata advertises as `host`.
struct Rig {
    _served: Served,
    proxy: TlsProxy,
    host: &'static str,
}

impl Rig {
    fn start(host: &'static str, server: &Pem, client_ca: Option<&str>) -> Rig {
        let served = Served::start(ClusterSpec::new(1).topic("t", 1, 1)).expect("serve");
        let backend: SocketAddr = served.bootstrap.parse().expect("one broker");
        let proxy = TlsProxy::start(backend, server, client_ca);
        served.with_cluster(|c| {
            let records: Vec<SimRecord> = (0..RECORDS)
                .map(|i| {
                    SimRecord::new(
                        1_700_000_000_000 + i as i64,
                        None,
                        Some(format!("v{i}").as_bytes()),
                    )
                })
                .collect();
            c.produce("t", 0, &records, Compression::None)
                .expect("produce");
            for id in c.broker_ids() {
                c.set_address(id, host, proxy.port);
            }
        });
        Rig {
            _served: served,
            proxy,
            host,
        }
    }

    fn bootstrap(&self) -> String {
        format!("{}:{}", self.host, self.proxy.port)
    }
}

fn config(rig: &Rig, extra: &[(&str, &str)]) -> Config {
    let bootstrap = rig.bootstrap();
    let mut pairs = vec![
        ("bootstrap.servers", bootstrap.as_str()),
        ("security.protocol", "SSL"),
        ("auto.offset.reset", "earliest"),
        ("reconnect.backoff.ms", "200"),
        ("reconnect.backoff.max.ms", "1000"),
    ];
    pairs.extend_from_slice(extra);
    Config::from_pairs(pairs).expect("config")
}

fn tls_error(e: &ConsumerError) -> Option<TlsError> {
    match e {
        ConsumerError::Remote(RemoteError::Connection {
            error: ConnError::Tls(t),
            ..
        }) => Some(t.clone()),
        _ => None,
    }
}

/// Reads with kasio-std until `RECORDS` records or the first TLS error.
fn read_std(config: Config) -> Result<Vec<String>, TlsError> {
    let mut consumer = kasio_std::Consumer::with_seed(config, 7);
    consumer
        .core_mut()
        .assign([TopicPartition::new("t", 0)])
        .unwrap();
    let deadline = StdInstant::now() + Duration::from_secs(20);
    let mut values = Vec::new();
    while values.len() < RECORDS {
        assert!(
            StdInstant::now() < deadline,
            "stuck after {} records",
            values.len()
        );
        for (_, r) in consumer.poll(Duration::from_millis(100)).iter() {
            values.push(String::from_utf8(r.value.clone().unwrap().to_vec()).unwrap());
        }
        while let Some(event) = consumer.next_event() {
            if let Event::Error(e) | Event::Fatal(e) = &event {
                if let Some(t) = tls_error(e) {
                    return Err(t);
                }
            }
        }
    }
    Ok(values)
}

/// Reads with kasio-tokio until `RECORDS` records or the first TLS error.
fn read_tokio(config: Config) -> Result<Vec<String>, TlsError> {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async move {
        let consumer = kasio_tokio::Consumer::with_seed(config, 7);
        consumer.assign([TopicPartition::new("t", 0)]).unwrap();
        let mut values = Vec::new();
        let read = async {
            while values.len() < RECORDS {
                match consumer.recv().await {
                    Ok(kasio_tokio::Item::Records(rs)) => {
                        for (_, r) in rs.iter() {
                            values.push(
                                String::from_utf8(r.value.clone().unwrap().to_vec()).unwrap(),
                            );
                        }
                    }
                    Ok(kasio_tokio::Item::Error(e)) => {
                        if let Some(t) = tls_error(&e) {
                            return Err(t);
                        }
                    }
                    Ok(_) => {}
                    Err(e) => panic!("{e:?}"),
                }
            }
            Ok(())
        };
        tokio::time::timeout(Duration::from_secs(20), read)
            .await
            .expect("stuck")?;
        Ok(values)
    })
}

fn both(config: impl Fn() -> Config) -> [Result<Vec<String>, TlsError>; 2] {
    [read_std(config()), read_tokio(config())]
}

fn expect_records(results: [Result<Vec<String>, TlsError>; 2]) {
    let want: Vec<String> = (0..RECORDS).map(|i| format!("v{i}")).collect();
    for (driver, r) in ["kasio-std", "kasio-tokio"].iter().zip(results) {
        assert_eq!(
            r.as_ref().expect(driver),
            &want,
            "{driver}: every record once, in order"
        );
    }
}

fn expect_error(results: [Result<Vec<String>, TlsError>; 2], kind: TlsErrorKind) -> String {
    let mut message = String::new();
    for (driver, r) in ["kasio-std", "kasio-tokio"].iter().zip(results) {
        let e = r.expect_err(driver);
        assert_eq!(e.kind, kind, "{driver}: {e}");
        message = e.to_string();
    }
    message
}

#[test]
fn records_are_read_once_over_tls_by_name_and_by_ip_address() {
    let ca = TestCa::new("kasio test CA");
    let dir = temp_dir("ok");
    let ca_file = write(&dir, "ca.pem", &ca.cert_pem);
    let server = ca.leaf(&["localhost", "127.0.0.1"], false);
    for host in ["localhost", "127.0.0.1"] {
        let rig = Rig::start(host, &server, None);
        expect_records(both(|| config(&rig, &[("ssl.ca.location", &ca_file)])));
    }
    // The CA as PEM text instead of a file.
    let rig = Rig::start("localhost", &server, None);
    expect_records(both(|| config(&rig, &[("ssl.ca.pem", &ca.cert_pem)])));
}

#[test]
fn an_unknown_ca_a_wrong_name_and_an_expired_certificate_each_have_their_error() {
    let ca = TestCa::new("kasio test CA");
    let other = TestCa::new("someone else's CA");
    let dir = temp_dir("bad");
    let ca_file = write(&dir, "ca.pem", &ca.cert_pem);
    let ca_props = [("ssl.ca.location", ca_file.as_str())];

    let rig = Rig::start("localhost", &other.leaf(&["localhost"], false), None);
    let m = expect_error(
        both(|| config(&rig, &ca_props)),
        TlsErrorKind::UnknownIssuer,
    );
    assert!(m.contains("not trusted"), "{m}");

    let rig = Rig::start("localhost", &ca.leaf(&["broker.elsewhere"], false), None);
    let m = expect_error(both(|| config(&rig, &ca_props)), TlsErrorKind::NameMismatch);
    assert!(m.contains("not valid for that name"), "{m}");
    // Endpoint identification `none`: the chain is enough.
    expect_records(both(|| {
        config(
            &rig,
            &[
                ("ssl.ca.location", ca_file.as_str()),
                ("ssl.endpoint.identification.algorithm", "none"),
            ],
        )
    }));

    let rig = Rig::start("localhost", &ca.leaf(&["localhost"], true), None);
    let m = expect_error(both(|| config(&rig, &ca_props)), TlsErrorKind::Expired);
    assert!(m.contains("expired"), "{m}");

    // Verification off accepts even an unknown CA.
    let rig = Rig::start("localhost", &other.leaf(&["localhost"], false), None);
    expect_records(both(|| {
        config(&rig, &[("enable.ssl.certificate.verification", "false")])
    }));
}

#[test]
fn mutual_tls_works_with_a_client_certificate_and_fails_clearly_without() {
    let ca = TestCa::new("kasio test CA");
    let clients = TestCa::new("client CA");
    let dir = temp_dir("mtls");
    let ca_file = write(&dir, "ca.pem", &ca.cert_pem);
    let client = clients.leaf(&["kasio-client"], false);
    let cert_file = write(&dir, "client.pem", &client.cert);
    let key_file = write(&dir, "client.key", &client.key);
    let rig = Rig::start(
        "localhost",
        &ca.leaf(&["localhost"], false),
        Some(&clients.cert_pem),
    );
    expect_records(both(|| {
        config(
            &rig,
            &[
                ("ssl.ca.location", ca_file.as_str()),
                ("ssl.certificate.location", cert_file.as_str()),
                ("ssl.key.location", key_file.as_str()),
            ],
        )
    }));
    // The same as PEM text.
    expect_records(both(|| {
        config(
            &rig,
            &[
                ("ssl.ca.location", ca_file.as_str()),
                ("ssl.certificate.pem", client.cert.as_str()),
                ("ssl.key.pem", client.key.as_str()),
            ],
        )
    }));
    let m = expect_error(
        both(|| config(&rig, &[("ssl.ca.location", ca_file.as_str())])),
        TlsErrorKind::ClientCertificateRequired,
    );
    assert!(m.contains("client certificate"), "{m}");
    // The key never shows in Debug output.
    let c = config(
        &rig,
        &[
            ("ssl.ca.location", ca_file.as_str()),
            ("ssl.key.pem", client.key.as_str()),
            ("ssl.certificate.pem", client.cert.as_str()),
        ],
    );
    assert!(
        !format!("{c:?}").contains("PRIVATE KEY"),
        "the key leaked into Debug"
    );
}

#[test]
fn a_failing_handshake_is_retried_with_backoff_not_in_a_storm() {
    let ca = TestCa::new("kasio test CA");
    let other = TestCa::new("someone else's CA");
    let dir = temp_dir("storm");
    let ca_file = write(&dir, "ca.pem", &ca.cert_pem);
    let rig = Rig::start("localhost", &other.leaf(&["localhost"], false), None);
    let cfg = || config(&rig, &[("ssl.ca.location", ca_file.as_str())]);
    // kasio-std for 3 s.
    let mut consumer = kasio_std::Consumer::with_seed(cfg(), 3);
    consumer
        .core_mut()
        .assign([TopicPartition::new("t", 0)])
        .unwrap();
    let start = StdInstant::now();
    let mut errors = 0;
    while start.elapsed() < Duration::from_secs(3) {
        assert!(consumer.poll(Duration::from_millis(100)).is_empty());
        while let Some(e) = consumer.next_event() {
            if let Event::Error(e) = e {
                errors += tls_error(&e).is_some() as u32;
            }
        }
    }
    drop(consumer);
    let std_attempts = rig
        .proxy
        .accepted
        .swap(0, std::sync::atomic::Ordering::Relaxed);
    // kasio-tokio for 3 s.
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let consumer = kasio_tokio::Consumer::with_seed(cfg(), 3);
        consumer.assign([TopicPartition::new("t", 0)]).unwrap();
        let _ = tokio::time::timeout(Duration::from_secs(3), async {
            loop {
                let _ = consumer.recv().await;
            }
        })
        .await;
    });
    let tokio_attempts = rig
        .proxy
        .accepted
        .load(std::sync::atomic::Ordering::Relaxed);
    // Backoff 200 ms doubling to 1 s: about 5 attempts in 3 s; a storm would be hundreds.
    for (driver, n) in [("kasio-std", std_attempts), ("kasio-tokio", tokio_attempts)] {
        assert!((2..=12).contains(&n), "{driver}: {n} attempts in 3 s");
    }
    assert!(errors >= 2, "each failure is reported: {errors}");
}

#[test]
fn a_keystore_gets_convert_to_pem_and_no_connection() {
    let ca = TestCa::new("kasio test CA");
    let rig = Rig::start("localhost", &ca.leaf(&["localhost"], false), None);
    let dir = temp_dir("ks");
    let p12 = write(&dir, "client.p12", "not really");
    for props in [
        vec![("ssl.keystore.location", p12.as_str())],
        vec![
            ("ssl.certificate.location", p12.as_str()),
            ("ssl.key.location", p12.as_str()),
        ],
    ] {
        let mut consumer = kasio_std::Consumer::with_seed(config(&rig, &props), 1);
        consumer
            .core_mut()
            .assign([TopicPartition::new("t", 0)])
            .unwrap();
        let _ = consumer.poll(Duration::from_millis(200));
        match consumer.next_event() {
            Some(Event::Fatal(ConsumerError::Local(kasio_core::consumer::LocalError::Tls(e)))) => {
                assert_eq!(e.kind, TlsErrorKind::Config);
                assert!(e.message.contains("convert it to PEM"), "{e}");
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(
        rig.proxy
            .accepted
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );
}
