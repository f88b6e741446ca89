//! SASL and TLS on kasio-sim's serve mode, checked with clients nobody here
//! wrote: librdkafka (confluent-kafka, scripts/rig/ref_consume.py) and the Java
//! client (kafka-clients, scripts/rig/group_consume_java.sh), and with kasio-std.
//!
//! - Every mechanism (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER): each
//!   peer authenticates and reads every record; PLAIN and SCRAM-SHA-512 run over
//!   SASL_SSL, the others over SASL_PLAINTEXT.
//! - A wrong password: each peer reports an authentication failure (kasio its
//!   typed error naming the mechanism).
//! - Mutual TLS: with a client certificate each peer reads every record (kasio
//!   also with an encrypted PKCS#8 key and `ssl.key.password`); kasio without
//!   one gets `TlsErrorKind::ClientCertificateRequired`; librdkafka also reads
//!   with the encrypted key.
//! - OAUTHBEARER sessions end at the token's `exp`: with 4 s tokens each peer
//!   re-authenticates (KIP-368) on its connections while it reads.
//!
//! Independent peers run in parallel threads (the Java client takes ~2 s to
//! start); every peer process runs under `output_within`'s deadline. The Java
//! peer is this checkout's scripts/rig/java/GroupConsumer.java
//! (`--exit-after-records`; see `kasio_sim::rig::java_peer_classes`); the rig
//! installs the Jackson jars kafka-clients' unsecured OAUTHBEARER login needs.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::time::{Duration as StdDuration, Instant as StdInstant, SystemTime, UNIX_EPOCH};

use kasio_core::config::{Config, SaslMechanism};
use kasio_core::conn::{ConnError, TlsErrorKind};
use kasio_core::consumer::{ConsumerError, Event, LocalError, RemoteError, TopicPartition};
use kasio_core::records::Compression;
use kasio_core::sasl::{OAuthBearerToken, SaslErrorKind};
use kasio_core::time::Duration;
use kasio_sim::rig::{java_peer_classes, output_within, python, repo_root};
use kasio_sim::sim::sasl_server::{unsecured_jwt, Mechanism, SaslSpec};
use kasio_sim::sim::serve::Served;
use kasio_sim::sim::{Cluster, ClusterSpec, SimRecord};
use kasio_sim::tls::{temp_dir, write, ServerTls, TestCa, TlsServed};
use kasio_sim::workload::{expected, Checker};
use serde_json::Value;

const TOPIC: &str = "secure";
const PARTITIONS: u32 = 2;
const RECORDS: u64 = 200;
const VALUE_SIZE: usize = 50;
const USER: &str = "alice";
const PASSWORD: &str = "alice-secret";

/// Two brokers, `TOPIC` with `RECORDS` workload records (each with its `seq`
/// header) round-robin over its partitions.
fn cluster(sasl: Option<SaslSpec>) -> Cluster {
    let mut spec = ClusterSpec::new(2).topic(TOPIC, PARTITIONS as i32, 2);
    spec.sasl = sasl;
    let mut c = Cluster::new(spec);
    produce(&mut c, 0..RECORDS);
    c
}

/// Produces workload records `seqs`, record `i` to partition `i % PARTITIONS`.
fn produce(c: &mut Cluster, seqs: std::ops::Range<u64>) {
    for p in 0..PARTITIONS {
        let recs: Vec<SimRecord> = seqs
            .clone()
            .filter(|i| i % u64::from(PARTITIONS) == u64::from(p))
            .map(|i| {
                let e = expected(i, VALUE_SIZE);
                let mut r = SimRecord::new(e.timestamp, e.key.as_deref(), e.value.as_deref());
                for (k, v) in &e.headers {
                    r = r.with_header(k, v.as_deref());
                }
                r
            })
            .collect();
        for chunk in recs.chunks(9) {
            c.produce(TOPIC, p as i32, chunk, Compression::None)
                .expect("produce");
        }
    }
}

/// A served cluster, plaintext or TLS (advertised as `localhost`, a name in the
/// server certificate).
enum Server {
    Plain(Served),
    Tls(TlsServed),
}

impl Server {
    fn start(sasl: Option<SaslSpec>, tls: Option<&ServerTls>) -> Server {
        match tls {
            None => Server::Plain(Served::serve(cluster(sasl)).expect("serve")),
            Some(tls) => {
                Server::Tls(TlsServed::serve(cluster(sasl), tls, "localhost").expect("serve"))
            }
        }
    }

    fn bootstrap(&self) -> String {
        match self {
            Server::Plain(s) => s.bootstrap.clone(),
            Server::Tls(s) => s.bootstrap.clone(),
        }
    }

    fn served(&self) -> &Served {
        match self {
            Server::Plain(s) => s,
            Server::Tls(s) => &s.served,
        }
    }
}

/// Certificates for one test: a CA for the brokers, one for clients.
struct Pki {
    server: ServerTls,
    ca_file: String,
    client_cert: String,
    client_key: String,
    /// cert + key in one PEM file (Java's PEM keystore).
    client_pem: String,
    dir: std::path::PathBuf,
}

impl Pki {
    fn new(tag: &str, mutual: bool) -> Pki {
        let ca = TestCa::new("kasio-sim test CA");
        let clients = TestCa::new("kasio-sim client CA");
        let dir = temp_dir(tag);
        let client = clients.leaf(&["kasio-client"], false);
        Pki {
            server: ServerTls {
                cert: ca.leaf(&["localhost", "127.0.0.1"], false),
                client_ca: mutual.then(|| clients.cert_pem.clone()),
            },
            ca_file: write(&dir, "ca.pem", &ca.cert_pem),
            client_cert: write(&dir, "client.pem", &client.cert),
            client_key: write(&dir, "client.key", &client.key),
            client_pem: write(
                &dir,
                "client-keystore.pem",
                &format!("{}{}", client.key, client.cert),
            ),
            dir,
        }
    }
}

/// How a peer connects: librdkafka-style properties (librdkafka and kasio take
/// the same names) and the Java client's.
#[derive(Clone, Default)]
struct Security {
    rdkafka: Vec<(String, String)>,
    java: Vec<(String, String)>,
    /// OAUTHBEARER: kasio gets tokens valid this long (seconds) through its
    /// token API, one at the start and one whenever it asks.
    kasio_token_lifetime: Option<u64>,
}

fn kv(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// An unsecured token for `USER`, valid about `lifetime_s` seconds from now:
/// `exp` is in whole seconds, so the lifetime kasio is told is the time left
/// until then, to the millisecond.
fn kasio_token(lifetime_s: u64) -> OAuthBearerToken {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_millis() as u64;
    let exp_s = now_ms / 1000 + lifetime_s;
    OAuthBearerToken::new(
        unsecured_jwt(USER, exp_s),
        Duration::from_millis(exp_s * 1000 - now_ms),
    )
    .with_principal(USER)
}

/// SASL with `mechanism` and `password` (over TLS when `pki` is given).
fn sasl_security(mechanism: Mechanism, password: &str, pki: Option<&Pki>) -> Security {
    let protocol = if pki.is_some() {
        "SASL_SSL"
    } else {
        "SASL_PLAINTEXT"
    };
    let name = mechanism.name();
    let mut s = Security {
        rdkafka: kv(&[("security.protocol", protocol), ("sasl.mechanism", name)]),
        java: kv(&[("security.protocol", protocol), ("sasl.mechanism", name)]),
        kasio_token_lifetime: None,
    };
    match mechanism {
        Mechanism::OAuthBearer => {
            s.rdkafka.extend(kv(&[
                ("enable.sasl.oauthbearer.unsecure.jwt", "true"),
                ("sasl.oauthbearer.config", "principal=alice"),
            ]));
            s.java.extend(kv(&[(
                "sasl.jaas.config",
                "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required \
                 unsecuredLoginStringClaim_sub=\"alice\";",
            )]));
            s.kasio_token_lifetime = Some(3600);
        }
        _ => {
            s.rdkafka
                .extend(kv(&[("sasl.username", USER), ("sasl.password", password)]));
            let module = if mechanism == Mechanism::Plain {
                "org.apache.kafka.common.security.plain.PlainLoginModule"
            } else {
                "org.apache.kafka.common.security.scram.ScramLoginModule"
            };
            s.java.push((
                "sasl.jaas.config".into(),
                format!("{module} required username=\"{USER}\" password=\"{password}\";"),
            ));
        }
    }
    if let Some(pki) = pki {
        add_tls(&mut s, pki, pki.server.client_ca.is_some());
    }
    s
}

/// Trust the test CA; with `client_cert`, present the client certificate.
fn add_tls(s: &mut Security, pki: &Pki, client_cert: bool) {
    s.rdkafka
        .push(("ssl.ca.location".into(), pki.ca_file.clone()));
    s.java.extend(kv(&[
        ("ssl.truststore.type", "PEM"),
        ("ssl.truststore.location", &pki.ca_file),
    ]));
    if client_cert {
        s.rdkafka.extend(kv(&[
            ("ssl.certificate.location", &pki.client_cert),
            ("ssl.key.location", &pki.client_key),
        ]));
        s.java.extend(kv(&[
            ("ssl.keystore.type", "PEM"),
            ("ssl.keystore.location", &pki.client_pem),
        ]));
    }
}

/// librdkafka reads the topic from the start to its end: the `seq`s read, or
/// the error it reported.
fn librdkafka(bootstrap: &str, s: &Security) -> Result<Vec<u64>, String> {
    librdkafka_until(bootstrap, s, 0)
}

/// [`librdkafka`], going on past the end until `want` records were read.
fn librdkafka_until(bootstrap: &str, s: &Security, want: u64) -> Result<Vec<u64>, String> {
    let mut cmd = Command::new(python());
    cmd.arg(repo_root().join("scripts/rig/ref_consume.py"))
        .args([
            "--bootstrap",
            bootstrap,
            "--topic",
            TOPIC,
            "--partitions",
            &PARTITIONS.to_string(),
            "--timeout-s",
            "30",
            "--min-records",
            &want.to_string(),
        ]);
    for (k, v) in &s.rdkafka {
        cmd.args(["--set", &format!("{k}={v}")]);
    }
    let out = output_within(&mut cmd, StdDuration::from_secs(60));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let v: Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("ref_consume.py said {stdout:?} ({e}); stderr: {stderr}"));
    match v.get("error") {
        Some(e) => Err(format!("{e} (stderr: {stderr})")),
        None => {
            assert!(out.status.success(), "{stdout} {stderr}");
            Ok(v["seqs"]
                .as_array()
                .expect("seqs")
                .iter()
                .map(|s| s.as_u64().expect("seq"))
                .collect())
        }
    }
}

/// The Java client (a group member) reads until it has `RECORDS` records: the
/// distinct (partition, offset) pairs it read, or what it printed on failure.
fn java(bootstrap: &str, s: &Security, group: &str) -> Result<BTreeSet<(u64, u64)>, String> {
    java_until(bootstrap, s, group, RECORDS)
}

/// [`java`] until `want` records.
fn java_until(
    bootstrap: &str,
    s: &Security,
    group: &str,
    want: u64,
) -> Result<BTreeSet<(u64, u64)>, String> {
    let classes = java_peer_classes();
    let mut cmd = Command::new(repo_root().join("scripts/rig/group_consume_java.sh"));
    cmd.env("RIG_JAVA_CLASSES", classes).args([
        "--bootstrap",
        bootstrap,
        "--group",
        group,
        "--topic",
        TOPIC,
        "--exit-after-records",
        &want.to_string(),
    ]);
    for (k, v) in &s.java {
        cmd.args(["--set", &format!("{k}={v}")]);
    }
    let out = output_within(&mut cmd, StdDuration::from_secs(60));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        return Err(format!("exit {:?}: {stdout}\nstderr: {stderr}", out.status));
    }
    let mut read = BTreeSet::new();
    for line in stdout.lines() {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{line:?}: {e}"));
        if v["ev"] == "record" {
            assert_eq!(v["topic"], TOPIC);
            read.insert((
                v["partition"].as_u64().expect("partition"),
                v["offset"].as_u64().expect("offset"),
            ));
        }
    }
    Ok(read)
}

/// kasio-std reads every partition from the start until `RECORDS` records, or
/// the first authentication or TLS error (or any fatal one).
#[allow(clippy::result_large_err)] // the error is matched on at once
fn kasio(bootstrap: &str, s: &Security) -> Result<Checker, ConsumerError> {
    kasio_until(bootstrap, s, RECORDS)
}

/// [`kasio`] until `want` records.
#[allow(clippy::result_large_err)] // the error is matched on at once
fn kasio_until(bootstrap: &str, s: &Security, want: u64) -> Result<Checker, ConsumerError> {
    let mut pairs: Vec<(&str, &str)> = vec![
        ("bootstrap.servers", bootstrap),
        ("auto.offset.reset", "earliest"),
        ("reconnect.backoff.ms", "200"),
        ("reconnect.backoff.max.ms", "1000"),
    ];
    // librdkafka's own token maker is librdkafka's; kasio gets the token itself.
    const RDKAFKA_ONLY: [&str; 2] = [
        "enable.sasl.oauthbearer.unsecure.jwt",
        "sasl.oauthbearer.config",
    ];
    pairs.extend(
        s.rdkafka
            .iter()
            .filter(|(k, _)| !RDKAFKA_ONLY.contains(&k.as_str()))
            .map(|(k, v)| (k.as_str(), v.as_str())),
    );
    let config = Config::from_pairs(pairs).expect("config");
    let mut consumer = kasio_std::Consumer::with_seed(config, 11);
    if let Some(lifetime) = s.kasio_token_lifetime {
        consumer
            .set_oauthbearer_token(kasio_token(lifetime))
            .expect("a valid token");
    }
    consumer
        .core_mut()
        .assign((0..PARTITIONS as i32).map(|p| TopicPartition::new(TOPIC, p)))
        .unwrap();
    let mut checker = Checker::new(VALUE_SIZE);
    let deadline = StdInstant::now() + StdDuration::from_secs(30);
    while checker.distinct() < want {
        assert!(
            StdInstant::now() < deadline,
            "kasio-std stuck after {} records",
            checker.distinct()
        );
        for (tp, r) in consumer.poll(StdDuration::from_millis(100)).iter() {
            checker.check(tp, r);
        }
        while let Some(event) = consumer.next_event() {
            match event {
                Event::OAuthBearerTokenRequired => {
                    let lifetime = s.kasio_token_lifetime.expect("OAUTHBEARER");
                    consumer
                        .set_oauthbearer_token(kasio_token(lifetime))
                        .expect("a valid token");
                }
                Event::Fatal(e) => return Err(e),
                Event::Error(
                    e @ (ConsumerError::Authentication(_)
                    | ConsumerError::Remote(RemoteError::Connection {
                        error: ConnError::Tls(_),
                        ..
                    })),
                ) => return Err(e),
                _ => {}
            }
        }
    }
    Ok(checker)
}

fn assert_every_record(peer: &str, what: &str, seqs: Vec<u64>) {
    assert_eq!(
        seqs,
        (0..RECORDS).collect::<Vec<u64>>(),
        "{peer} ({what}): every record once"
    );
}

fn assert_java_read_all(what: &str, read: BTreeSet<(u64, u64)>) {
    assert_java_read(what, read, RECORDS);
}

fn assert_java_read(what: &str, read: BTreeSet<(u64, u64)>, records: u64) {
    let per = records / u64::from(PARTITIONS);
    let want: BTreeSet<(u64, u64)> = (0..u64::from(PARTITIONS))
        .flat_map(|p| (0..per).map(move |o| (p, o)))
        .collect();
    assert_eq!(read, want, "Java ({what}): every offset of every partition");
}

fn kasio_read_all(what: &str, result: Result<Checker, ConsumerError>) {
    let checker = result.unwrap_or_else(|e| panic!("kasio-std ({what}): {e}"));
    checker.assert_complete(0, RECORDS, 0);
}

/// One mechanism: librdkafka, Java and kasio-std, in parallel, each read every
/// record from a served cluster that requires it.
fn every_peer_reads(mechanism: Mechanism, tls: bool) {
    let pki = tls.then(|| Pki::new(mechanism.name(), false));
    let sasl = SaslSpec::new().user(USER, PASSWORD);
    let server = Server::start(Some(sasl), pki.as_ref().map(|p| &p.server));
    let bootstrap = server.bootstrap();
    let sec = sasl_security(mechanism, PASSWORD, pki.as_ref());
    let what = format!(
        "{} over {}",
        mechanism.name(),
        if tls { "SASL_SSL" } else { "SASL_PLAINTEXT" }
    );
    std::thread::scope(|scope| {
        let j = scope.spawn(|| java(&bootstrap, &sec, &format!("g-{}", mechanism.name())));
        let r = scope.spawn(|| librdkafka(&bootstrap, &sec));
        kasio_read_all(&what, kasio(&bootstrap, &sec));
        let seqs = r
            .join()
            .expect("librdkafka thread")
            .unwrap_or_else(|e| panic!("librdkafka ({what}): {e}"));
        assert_every_record("librdkafka", &what, seqs);
        let read = j
            .join()
            .expect("java thread")
            .unwrap_or_else(|e| panic!("Java ({what}): {e}"));
        assert_java_read_all(&what, read);
    });
    // Every client authenticated before anything else: no request reached a
    // broker before its connection was authenticated.
    assert_eq!(server.served().take_violations(), Vec::<String>::new());
}

/// Every mechanism, the four side by side: PLAIN and SCRAM-SHA-512 over
/// SASL_SSL, SCRAM-SHA-256 and OAUTHBEARER over SASL_PLAINTEXT.
#[test]
fn every_mechanism_authenticates_librdkafka_java_and_kasio() {
    std::thread::scope(|scope| {
        let runs = [
            (Mechanism::Plain, true),
            (Mechanism::ScramSha256, false),
            (Mechanism::ScramSha512, true),
            (Mechanism::OAuthBearer, false),
        ]
        .map(|(m, tls)| (m, scope.spawn(move || every_peer_reads(m, tls))));
        let failed: Vec<&str> = runs
            .into_iter()
            .filter_map(|(m, h)| h.join().is_err().then_some(m.name()))
            .collect();
        assert!(failed.is_empty(), "failed (see above): {failed:?}");
    });
    kasio_sim::rig::report(
        "sim/serve-sasl",
        "kasio-sim (serve)",
        &["kasio-std"],
        RECORDS * Mechanism::ALL.len() as u64,
    );
}

/// OAUTHBEARER sessions end at the token's `exp` (SaslAuthenticate
/// `session_lifetime_ms`), after which the brokers close a connection that sends
/// anything but a re-authentication (KIP-368). With 4 s tokens and records
/// arriving for 7 s, kasio-std (new tokens through its token API), librdkafka
/// (`lifeSeconds` of its unsecured tokens) and the Java client (its unsecured
/// login handler refreshing the token) re-authenticate on their connections and
/// read every record; each on its own cluster, so that each one's
/// re-authentications are counted.
#[test]
fn oauthbearer_sessions_expire_and_every_peer_reauthenticates() {
    const LIFETIME_S: u64 = 4;
    const MORE: u64 = 140;
    let start = || {
        let sasl = SaslSpec::new().mechanisms(&[Mechanism::OAuthBearer]);
        Server::start(Some(sasl), None)
    };
    let (for_kasio, for_java, for_rdkafka) = (start(), start(), start());
    let mut sec = sasl_security(Mechanism::OAuthBearer, "", None);
    sec.kasio_token_lifetime = Some(LIFETIME_S);
    let jaas = format!(
        "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required \
         unsecuredLoginStringClaim_sub=\"alice\" unsecuredLoginLifetimeSeconds=\"{LIFETIME_S}\";"
    );
    sec.java = kv(&[
        ("security.protocol", "SASL_PLAINTEXT"),
        ("sasl.mechanism", "OAUTHBEARER"),
        ("sasl.jaas.config", &jaas),
        // Refresh at 80 % of the lifetime, however short.
        ("sasl.login.refresh.min.period.seconds", "0"),
        ("sasl.login.refresh.buffer.seconds", "0"),
    ]);
    sec.rdkafka = kv(&[
        ("security.protocol", "SASL_PLAINTEXT"),
        ("sasl.mechanism", "OAUTHBEARER"),
        ("enable.sasl.oauthbearer.unsecure.jwt", "true"),
        (
            "sasl.oauthbearer.config",
            &format!("principal=alice lifeSeconds={LIFETIME_S}"),
        ),
    ]);
    let want = RECORDS + MORE;
    let (kb, jb, rb) = (
        for_kasio.bootstrap(),
        for_java.bootstrap(),
        for_rdkafka.bootstrap(),
    );
    std::thread::scope(|scope| {
        let servers = [&for_kasio, &for_java, &for_rdkafka];
        scope.spawn(move || {
            for round in 0..(MORE / 20) {
                std::thread::sleep(StdDuration::from_millis(1000));
                let seqs = RECORDS + round * 20..RECORDS + (round + 1) * 20;
                for s in servers {
                    s.served().with_cluster(|c| produce(c, seqs.clone()));
                }
            }
        });
        let j = scope.spawn(|| java_until(&jb, &sec, "g-reauth", want));
        let r = scope.spawn(|| librdkafka_until(&rb, &sec, want));
        let checker = kasio_until(&kb, &sec, want)
            .unwrap_or_else(|e| panic!("kasio-std, re-authenticating: {e}"));
        checker.assert_complete(0, want, 0);
        let read = j
            .join()
            .expect("java thread")
            .unwrap_or_else(|e| panic!("Java, re-authenticating: {e}"));
        assert_java_read("re-authenticating", read, want);
        let seqs = r
            .join()
            .expect("librdkafka thread")
            .unwrap_or_else(|e| panic!("librdkafka, re-authenticating: {e}"));
        assert_eq!(seqs, (0..want).collect::<Vec<u64>>(), "librdkafka");
    });
    for (peer, server) in [
        ("kasio-std", &for_kasio),
        ("Java", &for_java),
        ("librdkafka", &for_rdkafka),
    ] {
        assert_eq!(
            server.served().take_violations(),
            Vec::<String>::new(),
            "{peer}: a request after its session expired"
        );
        let n = server.served().with_cluster(|c| c.sasl_reauthentications());
        assert!(
            n >= 1,
            "{peer}: {n} re-authentications in 7 s of 4 s sessions"
        );
    }
}

/// A wrong password: every peer reports an authentication failure; kasio's
/// error is typed and names the mechanism; the brokers' message reaches it.
#[test]
fn a_wrong_password_is_an_authentication_failure_for_every_peer() {
    let sasl = SaslSpec::new().user(USER, PASSWORD);
    let server = Server::start(Some(sasl), None);
    let bootstrap = server.bootstrap();
    std::thread::scope(|scope| {
        let mut handles = Vec::new();
        for (mechanism, core_mech, message) in [
            (
                Mechanism::Plain,
                SaslMechanism::Plain,
                "Invalid username or password",
            ),
            (
                Mechanism::ScramSha256,
                SaslMechanism::ScramSha256,
                "invalid credentials with SASL mechanism SCRAM-SHA-256",
            ),
            (
                Mechanism::ScramSha512,
                SaslMechanism::ScramSha512,
                "invalid credentials with SASL mechanism SCRAM-SHA-512",
            ),
        ] {
            let sec = sasl_security(mechanism, "not-the-password", None);
            let bootstrap = &bootstrap;
            let name = mechanism.name();
            // Java only for one mechanism (its start-up is the slow part).
            if mechanism == Mechanism::ScramSha256 {
                let sec = sec.clone();
                handles.push(scope.spawn(move || {
                    let e =
                        java(bootstrap, &sec, "g-wrong").expect_err("Java with a wrong password");
                    assert!(
                        e.contains("SaslAuthenticationException") && e.contains(message),
                        "Java {name}: {e}"
                    );
                }));
            }
            let rsec = sec.clone();
            handles.push(scope.spawn(move || {
                let e = librdkafka(bootstrap, &rsec).expect_err("librdkafka with a wrong password");
                assert!(
                    e.contains("SASL authentication error") && e.contains(message),
                    "librdkafka {name}: {e}"
                );
            }));
            match kasio(bootstrap, &sec) {
                Err(ConsumerError::Authentication(a)) => {
                    assert_eq!(a.error.mechanism, core_mech);
                    assert!(a.is_fatal(), "{a}");
                    match &a.error.kind {
                        SaslErrorKind::AuthenticationFailed { message: Some(m) } => {
                            assert!(m.contains(message), "kasio {name}: {m}")
                        }
                        other => panic!("kasio {name}: {other:?}"),
                    }
                    let text = a.to_string();
                    assert!(
                        text.contains(name) && text.contains("authentication failed"),
                        "{text}"
                    );
                }
                other => panic!("kasio {name}: {:?}", other.map(|c| c.distinct())),
            }
        }
        for h in handles {
            h.join().expect("peer thread");
        }
    });
}

/// Mutual TLS: the brokers require a client certificate signed by the client
/// CA. With one, every peer reads (kasio-std also with the key encrypted,
/// PKCS#8 PBES2, and `ssl.key.password`); without one, kasio fails with
/// `ClientCertificateRequired`.
#[test]
fn mutual_tls_needs_a_client_certificate_for_every_peer() {
    let pki = Pki::new("mtls", true);
    let server = Server::start(None, Some(&pki.server));
    let bootstrap = server.bootstrap();
    let mut with_cert = Security {
        rdkafka: kv(&[("security.protocol", "SSL")]),
        java: kv(&[("security.protocol", "SSL")]),
        kasio_token_lifetime: None,
    };
    add_tls(&mut with_cert, &pki, true);
    let mut without_cert = Security {
        rdkafka: kv(&[("security.protocol", "SSL")]),
        java: kv(&[("security.protocol", "SSL")]),
        kasio_token_lifetime: None,
    };
    add_tls(&mut without_cert, &pki, false);
    let (encrypted, password) = encrypt_key(&pki.dir, &pki.client_key);
    let encrypted_key = |password: &str| {
        let mut s = Security {
            rdkafka: kv(&[("security.protocol", "SSL")]),
            ..Default::default()
        };
        s.rdkafka.extend(kv(&[
            ("ssl.ca.location", &pki.ca_file),
            ("ssl.certificate.location", &pki.client_cert),
            ("ssl.key.location", &encrypted),
            ("ssl.key.password", password),
        ]));
        s
    };
    let what = "mutual TLS";
    std::thread::scope(|scope| {
        let j = scope.spawn(|| java(&bootstrap, &with_cert, "g-mtls"));
        let r = scope.spawn(|| librdkafka(&bootstrap, &with_cert));
        let r_enc = scope.spawn(|| librdkafka(&bootstrap, &encrypted_key(&password)));
        kasio_read_all(what, kasio(&bootstrap, &with_cert));
        kasio_read_all(
            "mutual TLS, encrypted PKCS#8 key",
            kasio(&bootstrap, &encrypted_key(&password)),
        );
        // A wrong key password is a configuration error, before any connection.
        match kasio(&bootstrap, &encrypted_key("wrong")) {
            Err(ConsumerError::Local(LocalError::Tls(e))) => {
                assert_eq!(e.kind, TlsErrorKind::Config, "{e}");
                assert!(e.message.contains("ssl.key.password"), "{e}");
            }
            other => panic!("wrong key password: {:?}", other.map(|c| c.distinct())),
        }
        // No client certificate: a clear TLS error.
        match kasio(&bootstrap, &without_cert) {
            Err(ConsumerError::Remote(RemoteError::Connection {
                error: ConnError::Tls(e),
                ..
            })) => {
                assert_eq!(e.kind, TlsErrorKind::ClientCertificateRequired, "{e}");
                assert!(e.to_string().contains("client certificate"), "{e}");
            }
            other => panic!("no client certificate: {:?}", other.map(|c| c.distinct())),
        }
        let seqs = r
            .join()
            .expect("thread")
            .unwrap_or_else(|e| panic!("librdkafka: {e}"));
        assert_every_record("librdkafka", what, seqs);
        let seqs = r_enc
            .join()
            .expect("thread")
            .unwrap_or_else(|e| panic!("librdkafka, encrypted key: {e}"));
        assert_every_record("librdkafka", "mutual TLS, encrypted key", seqs);
        let read = j
            .join()
            .expect("thread")
            .unwrap_or_else(|e| panic!("Java: {e}"));
        assert_java_read_all(what, read);
    });
    kasio_sim::rig::report(
        "sim/serve-mtls",
        "kasio-sim (serve)",
        &["kasio-std"],
        RECORDS,
    );
}

/// Encrypts the PKCS#8 key in `key_file` (PBES2: PBKDF2-SHA256 + AES-256-CBC)
/// into `dir/client-encrypted.key`; returns its path and the password.
fn encrypt_key(dir: &Path, key_file: &str) -> (String, String) {
    use pkcs8::der::pem::LineEnding;
    use pkcs8::der::Decode as _;
    let password = "key-password-42".to_string();
    let pem = std::fs::read_to_string(key_file).expect("key");
    let (label, der) = pkcs8::der::pem::decode_vec(pem.as_bytes()).expect("PEM");
    assert_eq!(label, "PRIVATE KEY");
    let info = pkcs8::PrivateKeyInfo::from_der(&der).expect("PKCS#8");
    let params =
        pkcs8::pkcs5::pbes2::Parameters::pbkdf2_sha256_aes256cbc(10_000, b"kasio-salt", &[7; 16])
            .expect("params");
    let doc = info
        .encrypt_with_params(params, password.as_bytes())
        .expect("encrypt");
    let text = doc
        .to_pem("ENCRYPTED PRIVATE KEY", LineEnding::LF)
        .expect("PEM");
    (write(dir, "client-encrypted.key", &text), password)
}
