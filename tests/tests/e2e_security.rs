//! TLS and SASL against a broker nobody here wrote: tansu (scripts/rig/tansu.py),
//! with stunnel4 terminating TLS in front of it (tansu advertises the stunnel
//! port) and tansu's own SCRAM (`--authentication`, users in its SQL storage).
//! librdkafka produces over the same security protocol; kasio-std and kasio-tokio
//! each read every record over SSL, SASL_PLAINTEXT (SCRAM-SHA-256 and -512) and
//! SASL_SSL. The failures: a wrong password and an unknown user (a fatal, typed
//! SASL error, one connection), an unknown CA, a certificate for another name and
//! an expired one (each its own `TlsErrorKind`, retried with backoff, no storm).
//! Connection attempts are counted by a counting TCP proxy between kasio and the
//! broker (and for TLS, checked against stunnel's own log).
//!
//! tansu 0.6 finishes a SCRAM exchange with a bad proof by sending `e=…` and then
//! serves the connection anyway (upstream fixed it later, "sasl_scram_enforcement"):
//! the client must stop on the `e=` itself, which the wrong-password cases check
//! (no record is read).

mod common;

use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::{consume, report, Driver};
use kasio_core::config::{Config, SaslMechanism};
use kasio_core::conn::{ConnError, TlsErrorKind};
use kasio_core::consumer::{ConsumerError, Event, RemoteError, TopicPartition};
use kasio_core::sasl::SaslErrorKind;
use kasio_sim::rig::{produce, ProduceSpec, Tansu};
use kasio_sim::tls::{temp_dir, write, TestCa};
use serde_json::json;

const PARTITIONS: u32 = 3;
const RECORDS: u64 = 3_000;
const BROKER: &str = "tansu";
const BROKER_TLS: &str = "tansu + stunnel";
/// How long a failing consumer runs while its connection attempts are counted.
const WINDOW: Duration = Duration::from_secs(3);

/// A TLS server certificate for 127.0.0.1 signed by a test CA, in files.
struct Certs {
    ca: TestCa,
    dir: PathBuf,
    ca_file: String,
    cert_file: String,
    key_file: String,
}

impl Certs {
    fn new(tag: &str) -> Certs {
        let ca = TestCa::new("kasio e2e CA");
        let dir = temp_dir(tag);
        let server = ca.leaf(&["127.0.0.1", "localhost"], false);
        Certs {
            ca_file: write(&dir, "ca.pem", &ca.cert_pem),
            cert_file: write(&dir, "server.pem", &server.cert),
            key_file: write(&dir, "server.key", &server.key),
            ca,
            dir,
        }
    }
}

/// tansu with `extra` tansu.py arguments and one topic of `PARTITIONS`
/// partitions, checked to speak `protocol` at its bootstrap address.
fn start_tansu(topic: &str, extra: &[&str], protocol: &str) -> Tansu {
    let tansu = Tansu::start_with(&[(topic, PARTITIONS)], extra);
    assert_eq!(
        tansu.0.info["security_protocol"],
        json!(protocol),
        "{}",
        tansu.0.info
    );
    tansu
}

/// librdkafka produces `RECORDS` records with these client properties.
fn produce_with(bootstrap: &str, topic: &str, props: &[(&str, &str)]) {
    let set: Vec<String> = props.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let set: Vec<&str> = set.iter().map(String::as_str).collect();
    let mut spec = ProduceSpec::new(topic, PARTITIONS, RECORDS);
    spec.extra = &set;
    let produced = produce(bootstrap, &spec);
    assert_eq!(produced.committed, RECORDS);
}

/// `driver` reads every record of `topic` with these properties; no error on the
/// way.
fn consume_all(driver: Driver, bootstrap: &str, topic: &str, props: &[(&str, &str)]) {
    let value_size = ProduceSpec::new(topic, PARTITIONS, RECORDS).value_size;
    let (checker, events) = consume(
        driver,
        bootstrap,
        topic,
        PARTITIONS as i32,
        RECORDS,
        value_size,
        props,
        |_| {},
    );
    checker.assert_complete(0, RECORDS, 0);
    let errors: Vec<&Event> = events
        .iter()
        .filter(|e| matches!(e, Event::Error(_) | Event::Fatal(_)))
        .collect();
    assert!(errors.is_empty(), "{}: errors: {errors:?}", driver.name());
}

#[test]
fn ssl_through_stunnel_both_drivers() {
    let certs = Certs::new("e2e-ssl");
    let topic = "sec-ssl";
    let tansu = start_tansu(
        topic,
        &["--tls-cert", &certs.cert_file, "--tls-key", &certs.key_file],
        "SSL",
    );
    let bootstrap = tansu.bootstrap();
    let ssl = [
        ("security.protocol", "SSL"),
        ("ssl.ca.location", certs.ca_file.as_str()),
    ];
    produce_with(&bootstrap, topic, &ssl);
    for driver in Driver::ALL {
        consume_all(driver, &bootstrap, topic, &ssl);
    }
    // The CA as PEM text, and the broker's name instead of its address.
    let by_name = bootstrap.replace("127.0.0.1", "localhost");
    let pem = [
        ("security.protocol", "SSL"),
        ("ssl.ca.pem", certs.ca.cert_pem.as_str()),
    ];
    for driver in Driver::ALL {
        consume_all(driver, &by_name, topic, &pem);
    }
    for driver in Driver::ALL {
        report(driver, "security/ssl", BROKER_TLS, RECORDS);
    }
}

const ALICE: &str = "alice:alice-secret:SCRAM-SHA-256";
const BOB: &str = "bob:bob-secret:SCRAM-SHA-512";

fn sasl<'a>(protocol: &'a str, mechanism: &'a str, user: &'a str) -> Vec<(&'a str, &'a str)> {
    let password = match user {
        "alice" => "alice-secret",
        "bob" => "bob-secret",
        _ => unreachable!(),
    };
    vec![
        ("security.protocol", protocol),
        ("sasl.mechanism", mechanism),
        ("sasl.username", user),
        ("sasl.password", password),
    ]
}

#[test]
fn sasl_plaintext_scram_sha_256_and_512_both_drivers() {
    let topic = "sec-scram";
    let tansu = start_tansu(
        topic,
        &["--scram-user", ALICE, "--scram-user", BOB],
        "SASL_PLAINTEXT",
    );
    let bootstrap = tansu.bootstrap();
    produce_with(
        &bootstrap,
        topic,
        &sasl("SASL_PLAINTEXT", "SCRAM-SHA-256", "alice"),
    );
    for driver in Driver::ALL {
        consume_all(
            driver,
            &bootstrap,
            topic,
            &sasl("SASL_PLAINTEXT", "SCRAM-SHA-256", "alice"),
        );
        // SCRAM-SHA-512, the credentials in a JAAS entry (as Java clients give them).
        consume_all(
            driver,
            &bootstrap,
            topic,
            &[
                ("security.protocol", "SASL_PLAINTEXT"),
                ("sasl.mechanism", "SCRAM-SHA-512"),
                (
                    "sasl.jaas.config",
                    "org.apache.kafka.common.security.scram.ScramLoginModule required \
                     username=\"bob\" password=\"bob-secret\";",
                ),
            ],
        );
    }
    for driver in Driver::ALL {
        report(driver, "security/sasl-scram-256", BROKER, RECORDS);
        report(driver, "security/sasl-scram-512", BROKER, RECORDS);
    }
}

#[test]
fn sasl_ssl_scram_through_stunnel_both_drivers() {
    let certs = Certs::new("e2e-sasl-ssl");
    let topic = "sec-sasl-ssl";
    let tansu = start_tansu(
        topic,
        &[
            "--scram-user",
            ALICE,
            "--scram-user",
            BOB,
            "--tls-cert",
            &certs.cert_file,
            "--tls-key",
            &certs.key_file,
        ],
        "SASL_SSL",
    );
    let bootstrap = tansu.bootstrap();
    let ca = ("ssl.ca.location", certs.ca_file.as_str());
    let [mut alice, mut bob] = [
        sasl("SASL_SSL", "SCRAM-SHA-256", "alice"),
        sasl("SASL_SSL", "SCRAM-SHA-512", "bob"),
    ];
    alice.push(ca);
    bob.push(ca);
    produce_with(&bootstrap, topic, &bob);
    for driver in Driver::ALL {
        consume_all(driver, &bootstrap, topic, &alice);
        consume_all(driver, &bootstrap, topic, &bob);
    }
    for driver in Driver::ALL {
        report(driver, "security/sasl-ssl", BROKER_TLS, RECORDS);
    }
}

/// A TCP proxy that counts the connections it accepts: the connection attempts
/// of the client in front of it.
struct CountingProxy {
    port: u16,
    accepted: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl CountingProxy {
    fn start(backend: &str) -> CountingProxy {
        let backend: SocketAddr = backend.parse().expect("host:port");
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("address").port();
        let accepted = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (count, stopped) = (accepted.clone(), stop.clone());
        thread::spawn(move || {
            for client in listener.incoming() {
                if stopped.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                count.fetch_add(1, Ordering::SeqCst);
                thread::spawn(move || pipe(client, backend));
            }
        });
        CountingProxy {
            port,
            accepted,
            stop,
        }
    }

    fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn count(&self) -> u64 {
        self.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for CountingProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port)); // wakes the accept loop
    }
}

/// Copies both ways between `client` and a new connection to `backend`.
fn pipe(client: TcpStream, backend: SocketAddr) {
    let Ok(server) = TcpStream::connect(backend) else {
        return;
    };
    let (Ok(mut c), Ok(mut s)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    let up = thread::spawn(move || {
        let _ = io::copy(&mut c, &mut s);
        let _ = s.shutdown(Shutdown::Write);
    });
    let (mut c, mut s) = (client, server);
    let _ = io::copy(&mut s, &mut c);
    let _ = c.shutdown(Shutdown::Write);
    let _ = up.join();
}

/// What a consumer did in `WINDOW`: records read, errors reported (with
/// whether they were fatal).
struct Outcome {
    records: u64,
    errors: Vec<(bool, ConsumerError)>,
}

/// Runs `driver` on `bootstrap` with `props` for `WINDOW`, every partition of
/// `topic` assigned, and goes on polling after a fatal error (no connection may
/// follow it).
fn run_for_window(driver: Driver, bootstrap: &str, topic: &str, props: &[(&str, &str)]) -> Outcome {
    let mut pairs = vec![
        ("bootstrap.servers", bootstrap),
        ("auto.offset.reset", "earliest"),
        ("reconnect.backoff.ms", "200"),
        ("reconnect.backoff.max.ms", "1000"),
    ];
    pairs.extend_from_slice(props);
    let config = Config::from_pairs(pairs).expect("config");
    let assignment: Vec<TopicPartition> = (0..PARTITIONS as i32)
        .map(|p| TopicPartition::new(topic, p))
        .collect();
    let mut out = Outcome {
        records: 0,
        errors: Vec::new(),
    };
    match driver {
        Driver::Std => {
            let mut consumer = kasio_std::Consumer::with_seed(config, 5);
            consumer.core_mut().assign(assignment).unwrap();
            let end = Instant::now() + WINDOW;
            while Instant::now() < end {
                out.records += consumer.poll(Duration::from_millis(100)).iter().count() as u64;
                while let Some(event) = consumer.next_event() {
                    match event {
                        Event::Error(e) => out.errors.push((false, e)),
                        Event::Fatal(e) => out.errors.push((true, e)),
                        _ => {}
                    }
                }
            }
            consumer.close(Duration::from_secs(2));
        }
        Driver::Tokio => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async {
                use kasio_tokio::{Error, Item};
                let consumer = kasio_tokio::Consumer::with_seed(config, 5);
                consumer.assign(assignment).unwrap();
                let end = tokio::time::Instant::now() + WINDOW;
                while let Ok(item) = tokio::time::timeout_at(end, consumer.recv()).await {
                    match item {
                        Ok(Item::Records(rs)) => out.records += rs.iter().count() as u64,
                        Ok(Item::Error(e)) => out.errors.push((false, e)),
                        Ok(_) => {}
                        Err(Error::Fatal(e)) => out.errors.push((true, *e)),
                        Err(e) => {
                            // Nothing more comes: wait out the window all the same.
                            panic_unless_closed(&e);
                            tokio::time::sleep_until(end).await;
                            break;
                        }
                    }
                }
                let _ = consumer.close(Duration::from_secs(2)).await;
            });
        }
    }
    out
}

fn panic_unless_closed(e: &kasio_tokio::Error) {
    assert!(
        matches!(e, kasio_tokio::Error::Closed),
        "unexpected recv error: {e:?}"
    );
}

/// One failing consumer: a label, its driver, the address it connects to
/// (through its own counting proxy) and its properties.
struct Case {
    label: String,
    driver: Driver,
    backend: String,
    props: Vec<(String, String)>,
}

/// What a [`Case`] did, and how many connections it opened.
struct CaseResult {
    label: String,
    driver: Driver,
    outcome: Outcome,
    attempts: u64,
}

/// Runs every case at once, each with its own consumer and counting proxy.
fn run_cases(topic: &str, cases: Vec<Case>) -> Vec<CaseResult> {
    let handles: Vec<_> = cases
        .into_iter()
        .map(|case| {
            let topic = topic.to_string();
            thread::spawn(move || {
                let proxy = CountingProxy::start(&case.backend);
                let props: Vec<(&str, &str)> = case
                    .props
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                let outcome = run_for_window(case.driver, &proxy.address(), &topic, &props);
                // Let the last attempts reach the proxy's count.
                thread::sleep(Duration::from_millis(100));
                CaseResult {
                    label: case.label,
                    driver: case.driver,
                    outcome,
                    attempts: proxy.count(),
                }
            })
        })
        .collect();
    handles
        .into_iter()
        .map(|h| h.join().expect("case thread"))
        .collect()
}

fn owned(props: &[(&str, &str)]) -> Vec<(String, String)> {
    props
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn a_wrong_password_or_unknown_user_is_fatal_after_one_connection() {
    let topic = "sec-wrong";
    let tansu = start_tansu(topic, &["--scram-user", ALICE], "SASL_PLAINTEXT");
    let backend = tansu.bootstrap();
    let mut cases = Vec::new();
    for driver in Driver::ALL {
        for (label, user, password) in [
            ("wrong password", "alice", "not-alices-password"),
            ("unknown user", "mallory", "alice-secret"),
        ] {
            cases.push(Case {
                label: label.to_string(),
                driver,
                backend: backend.clone(),
                props: owned(&[
                    ("security.protocol", "SASL_PLAINTEXT"),
                    ("sasl.mechanism", "SCRAM-SHA-256"),
                    ("sasl.username", user),
                    ("sasl.password", password),
                ]),
            });
        }
    }
    for CaseResult {
        label,
        driver,
        outcome,
        attempts,
    } in run_cases(topic, cases)
    {
        let who = format!("{label}, {}", driver.name());
        assert_eq!(outcome.records, 0, "{who}: records read without a login");
        assert_eq!(
            outcome.errors.len(),
            1,
            "{who}: one error, then no more connections: {:?}",
            outcome.errors
        );
        let (fatal, error) = &outcome.errors[0];
        assert!(*fatal, "{who}: not fatal: {error}");
        let ConsumerError::Authentication(auth) = error else {
            panic!("{who}: not an authentication error: {error:?}");
        };
        assert!(auth.is_fatal(), "{who}: {auth}");
        assert_eq!(auth.error.mechanism, SaslMechanism::ScramSha256, "{who}");
        // tansu ends the exchange with `e=<reason>` in its server-final message.
        let SaslErrorKind::ServerError(reason) = &auth.error.kind else {
            panic!("{who}: {:?}", auth.error.kind);
        };
        let want = if label == "unknown user" {
            "unknown-user"
        } else {
            "invalid-proof"
        };
        assert_eq!(reason, want, "{who}: {auth}");
        let text = error.to_string();
        assert!(
            text.contains("SCRAM-SHA-256") && text.contains(want) && text.contains("broker"),
            "{who}: {text}"
        );
        assert!(
            (1..=2).contains(&attempts),
            "{who}: {attempts} connection attempts in {WINDOW:?}"
        );
        eprintln!("{who}: {attempts} connection(s), {text}");
    }
    for driver in Driver::ALL {
        report(driver, "security/sasl-failures", BROKER, 0);
    }
}

#[test]
fn an_unknown_ca_another_name_and_an_expired_certificate_each_have_their_error_and_no_storm() {
    let certs = Certs::new("e2e-tls-bad");
    let other = TestCa::new("someone else's CA");
    let topic = "sec-tls-bad";
    let mut tansu = start_tansu(
        topic,
        &["--tls-cert", &certs.cert_file, "--tls-key", &certs.key_file],
        "SSL",
    );
    let bad = [
        (
            "unknown CA",
            other.leaf(&["127.0.0.1", "localhost"], false),
            TlsErrorKind::UnknownIssuer,
            "not trusted",
        ),
        (
            "another name",
            certs.ca.leaf(&["broker.elsewhere"], false),
            TlsErrorKind::NameMismatch,
            "not valid for that name",
        ),
        (
            "expired",
            certs.ca.leaf(&["127.0.0.1", "localhost"], true),
            TlsErrorKind::Expired,
            "expired",
        ),
    ];
    let mut fronts = Vec::new();
    let mut cases = Vec::new();
    for (i, (label, pem, _, _)) in bad.iter().enumerate() {
        let cert = write(&certs.dir, &format!("bad{i}.pem"), &pem.cert);
        let key = write(&certs.dir, &format!("bad{i}.key"), &pem.key);
        let answer = tansu
            .0
            .command(json!({"cmd": "add_tls_front", "cert": cert, "key": key}));
        let address = answer["address"].as_str().expect("address").to_string();
        fronts.push(answer["front"].as_u64().expect("front"));
        for driver in Driver::ALL {
            cases.push(Case {
                label: label.to_string(),
                driver,
                backend: address.clone(),
                props: owned(&[
                    ("security.protocol", "SSL"),
                    ("ssl.ca.location", certs.ca_file.as_str()),
                ]),
            });
        }
    }
    let results = run_cases(topic, cases);
    for (i, (label, _, kind, phrase)) in bad.iter().enumerate() {
        let mut total = 0;
        for CaseResult {
            driver,
            outcome,
            attempts,
            ..
        } in results.iter().filter(|r| r.label == *label)
        {
            let who = format!("{label}, {}", driver.name());
            assert_eq!(outcome.records, 0, "{who}");
            assert!(
                outcome.errors.len() >= 2,
                "{who}: each failed attempt is reported: {:?}",
                outcome.errors
            );
            for (fatal, error) in &outcome.errors {
                assert!(!fatal, "{who}: a TLS failure is retried: {error}");
                let ConsumerError::Remote(RemoteError::Connection {
                    error: ConnError::Tls(tls),
                    ..
                }) = error
                else {
                    panic!("{who}: not a TLS error: {error:?}");
                };
                assert_eq!(tls.kind, *kind, "{who}: {tls}");
                let text = error.to_string();
                assert!(
                    text.contains(phrase) && text.contains("127.0.0.1") && text.contains("broker"),
                    "{who}: {text}"
                );
            }
            // Backoff 200 ms doubling to 1 s: about 5 attempts in 3 s; a storm would be
            // hundreds.
            assert!(
                (2..=12).contains(attempts),
                "{who}: {attempts} connection attempts in {WINDOW:?}"
            );
            eprintln!(
                "{who}: {attempts} attempts, {} errors, first: {}",
                outcome.errors.len(),
                outcome.errors[0].1
            );
            total += attempts;
        }
        // stunnel saw the same connections.
        let seen = tansu
            .0
            .command(json!({"cmd": "tls_accepted", "front": fronts[i]}))["accepted"]
            .as_u64()
            .expect("accepted");
        assert_eq!(seen, total, "{label}: stunnel's count vs the proxies'");
    }
    for driver in Driver::ALL {
        report(driver, "security/tls-failures", BROKER_TLS, 0);
    }
}
