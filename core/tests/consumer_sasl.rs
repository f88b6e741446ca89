//! SASL through the consumer: scripted brokers answer SaslHandshake and
//! SaslAuthenticate (PLAIN, SCRAM-SHA-256/512 checked against a SCRAM server written
//! here from RFC 5802 with the RustCrypto crates directly, OAUTHBEARER), fail them
//! in every way a broker can, and renew sessions (KIP-368).

mod support;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256, Sha512};

use kasio_core::config::{Config, SaslMechanism};
use kasio_core::conn::ConnId;
use kasio_core::consumer::{
    AuthenticationError, ConnCommand, Consumer, ConsumerError, Event, Timer, UsageError,
};
use kasio_core::protocol::messages::{
    FetchRequest, MetadataRequest, SaslAuthenticateRequest, SaslAuthenticateResponse,
    SaslHandshakeRequest, SaslHandshakeResponse,
};
use kasio_core::protocol::{ApiKey, ErrorCode};
use kasio_core::sasl::oauthbearer::TokenError;
use kasio_core::sasl::scram::{ScramClient, MAX_ITERATIONS, MIN_ITERATIONS};
use kasio_core::sasl::{OAuthBearerToken, SaslError, SaslErrorKind};
use kasio_core::time::{Duration, Instant};
use support::*;

const PASSWORD: &str = "hunter2-secret";
const TOKEN: &str = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl";

fn sasl_config(mechanism: &'static str) -> Vec<(&'static str, &'static str)> {
    let mut pairs = vec![
        ("security.protocol", "SASL_PLAINTEXT"),
        ("sasl.mechanism", mechanism),
    ];
    if mechanism != "OAUTHBEARER" {
        pairs.push(("sasl.username", "alice"));
        pairs.push(("sasl.password", PASSWORD));
    }
    pairs
}

fn connects(h: &Harness) -> usize {
    h.commands
        .iter()
        .filter(|c| matches!(c, ConnCommand::Connect { .. }))
        .count()
}

fn auth_errors(events: &[Event]) -> Vec<(bool, AuthenticationError)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Fatal(ConsumerError::Authentication(a)) => Some((true, a.clone())),
            Event::Error(ConsumerError::Authentication(a)) => Some((false, a.clone())),
            _ => None,
        })
        .collect()
}

/// The only authentication error among `events`, with whether it was fatal.
fn one_auth_error(events: &[Event]) -> (bool, SaslError) {
    let errors = auth_errors(events);
    assert_eq!(errors.len(), 1, "{events:#?}");
    let (fatal, e) = errors.into_iter().next().unwrap();
    (fatal, e.error)
}

fn authenticate_response(auth_bytes: &[u8], session_lifetime_ms: i64) -> SaslAuthenticateResponse {
    SaslAuthenticateResponse {
        error_code: 0,
        error_message: None,
        auth_bytes: bytes::Bytes::copy_from_slice(auth_bytes),
        session_lifetime_ms,
    }
}

fn failed_response(code: ErrorCode, message: &str) -> SaslAuthenticateResponse {
    SaslAuthenticateResponse {
        error_code: code.code(),
        error_message: Some(message.into()),
        ..Default::default()
    }
}

/// Answers the SaslHandshake next in line on one of `broker`'s connections, after
/// checking it names `mechanism`.
fn answer_handshake(h: &mut Harness, broker: i32, mechanism: &str) -> ConnId {
    let req = h.expect_api::<SaslHandshakeRequest>(broker);
    assert_eq!(req.version, 1);
    assert_eq!(req.body.mechanism, mechanism);
    h.respond(
        &req,
        &SaslHandshakeResponse {
            error_code: 0,
            mechanisms: vec![mechanism.into()],
        },
    );
    req.conn
}

/// PLAIN on the newest connection to `broker`: handshake, then the one
/// SaslAuthenticate, answered with `lifetime_ms` of session.
fn plain_auth(h: &mut Harness, broker: i32, lifetime_ms: i64) -> ConnId {
    answer_handshake(h, broker, "PLAIN");
    let req = h.expect_api::<SaslAuthenticateRequest>(broker);
    assert_eq!(req.version, 2);
    assert_eq!(
        &req.body.auth_bytes[..],
        format!("\0alice\0{PASSWORD}").as_bytes()
    );
    h.respond(&req, &authenticate_response(b"", lifetime_ms));
    req.conn
}

// ----- a SCRAM server, from RFC 5802, for the tests ----------------------------------

trait Algo {
    const NAME: &'static str;
    fn hmac(key: &[u8], data: &[u8]) -> Vec<u8>;
    fn h(data: &[u8]) -> Vec<u8>;
    fn hi(password: &[u8], salt: &[u8], i: u32) -> Vec<u8>;
}

struct S256;
struct S512;

impl Algo for S256 {
    const NAME: &'static str = "SCRAM-SHA-256";
    fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
        let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(key).unwrap();
        m.update(data);
        m.finalize().into_bytes().to_vec()
    }
    fn h(data: &[u8]) -> Vec<u8> {
        Sha256::digest(data).to_vec()
    }
    fn hi(password: &[u8], salt: &[u8], i: u32) -> Vec<u8> {
        let mut out = [0u8; 32];
        pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, i, &mut out);
        out.to_vec()
    }
}

impl Algo for S512 {
    const NAME: &'static str = "SCRAM-SHA-512";
    fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
        let mut m = <Hmac<Sha512> as KeyInit>::new_from_slice(key).unwrap();
        m.update(data);
        m.finalize().into_bytes().to_vec()
    }
    fn h(data: &[u8]) -> Vec<u8> {
        Sha512::digest(data).to_vec()
    }
    fn hi(password: &[u8], salt: &[u8], i: u32) -> Vec<u8> {
        let mut out = [0u8; 64];
        pbkdf2::pbkdf2_hmac::<Sha512>(password, salt, i, &mut out);
        out.to_vec()
    }
}

/// What the server keeps for a user (RFC 5802 §3) and one exchange's state.
struct ScramServer<A: Algo> {
    salt: Vec<u8>,
    iterations: u32,
    stored_key: Vec<u8>,
    server_key: Vec<u8>,
    server_nonce: String,
    auth_prefix: String,
    nonce: String,
    _algo: std::marker::PhantomData<A>,
}

impl<A: Algo> ScramServer<A> {
    fn new(password: &str, iterations: u32) -> Self {
        let salt = b"kasio-test-salt!".to_vec();
        let salted = A::hi(password.as_bytes(), &salt, iterations);
        let client_key = A::hmac(&salted, b"Client Key");
        Self {
            stored_key: A::h(&client_key),
            server_key: A::hmac(&salted, b"Server Key"),
            salt,
            iterations,
            server_nonce: "S3rv3rN0nce".into(),
            auth_prefix: String::new(),
            nonce: String::new(),
            _algo: std::marker::PhantomData,
        }
    }

    /// Digests client-first (`n,,n=user,r=nonce`); returns server-first.
    fn server_first(&mut self, client_first: &[u8]) -> String {
        let text = std::str::from_utf8(client_first).unwrap();
        let bare = text.strip_prefix("n,,").expect("gs2 header n,,");
        let mut attrs = bare.split(',');
        assert_eq!(attrs.next(), Some("n=alice"));
        let nonce = attrs.next().unwrap().strip_prefix("r=").unwrap();
        assert_eq!(nonce.len(), 32, "32-character client nonce");
        self.nonce = format!("{nonce}{}", self.server_nonce);
        self.server_first_with(
            bare,
            &format!(
                "r={},s={},i={}",
                self.nonce,
                STANDARD.encode(&self.salt),
                self.iterations
            ),
        )
    }

    fn server_first_with(&mut self, client_first_bare: &str, server_first: &str) -> String {
        self.auth_prefix = format!("{client_first_bare},{server_first}");
        server_first.into()
    }

    /// Checks client-final's proof; returns `v=<server signature>`.
    fn server_final(&self, client_final: &[u8]) -> Result<String, &'static str> {
        let text = std::str::from_utf8(client_final).unwrap();
        let (without_proof, proof) = text.rsplit_once(",p=").ok_or("no proof")?;
        assert_eq!(without_proof, format!("c=biws,r={}", self.nonce));
        let auth_message = format!("{},{without_proof}", self.auth_prefix);
        let signature = A::hmac(&self.stored_key, auth_message.as_bytes());
        let proof = STANDARD.decode(proof).map_err(|_| "proof not base64")?;
        let client_key: Vec<u8> = proof.iter().zip(&signature).map(|(a, b)| a ^ b).collect();
        if A::h(&client_key) != self.stored_key {
            return Err("invalid proof");
        }
        let server_signature = A::hmac(&self.server_key, auth_message.as_bytes());
        Ok(format!("v={}", STANDARD.encode(server_signature)))
    }
}

/// A SCRAM exchange on `broker` against `server`, with `lifetime_ms` of session.
fn scram_auth<A: Algo>(
    h: &mut Harness,
    broker: i32,
    server: &mut ScramServer<A>,
    lifetime_ms: i64,
) {
    answer_handshake(h, broker, A::NAME);
    let first = h.expect_api::<SaslAuthenticateRequest>(broker);
    let server_first = server.server_first(&first.body.auth_bytes);
    h.respond(&first, &authenticate_response(server_first.as_bytes(), 0));
    let fin = h.expect_api::<SaslAuthenticateRequest>(broker);
    let server_final = server
        .server_final(&fin.body.auth_bytes)
        .expect("a valid proof");
    h.respond(
        &fin,
        &authenticate_response(server_final.as_bytes(), lifetime_ms),
    );
}

/// A consumer assigned partition 0, its bootstrap connection accepted and
/// negotiated: the SaslHandshake is next.
fn bootstrap(extra: &[(&str, &str)]) -> Harness {
    let mut h = Harness::new(extra, 1, 1);
    h.c.assign([tp(0)]).unwrap();
    h.drain();
    h.connect_and_negotiate(-1, &Versions::all());
    h
}

/// A consumer that only wants topic `t`'s metadata (so its bootstrap connection
/// idles once that is answered), that connection negotiated: the SaslHandshake is
/// next.
fn bootstrap_idle(extra: &[(&str, &str)]) -> Harness {
    let mut h = Harness::new(extra, 1, 1);
    h.c.want_metadata("t");
    h.drain();
    h.connect_and_negotiate(-1, &Versions::all());
    h
}

// ----- the mechanisms ------------------------------------------------------------------

#[test]
fn plain_authenticates_before_any_other_request() {
    let mut h = bootstrap(&sasl_config("PLAIN"));
    // Nothing but SASL goes out before authentication.
    assert_eq!(h.take_trace(), ["ApiVersions v4", "SaslHandshake v1"]);
    plain_auth(&mut h, -1, 0);
    h.answer_metadata(-1);
    h.accept(1);
    h.negotiate(1, &Versions::all());
    plain_auth(&mut h, 1, 0);
    h.answer_list_offsets(1, 0);
    h.expect::<FetchRequest>(1);
    assert_eq!(
        h.take_trace(),
        [
            "SaslAuthenticate v2",
            "Metadata v12",
            "ApiVersions v4",
            "SaslHandshake v1",
            "SaslAuthenticate v2",
            "ListOffsets v10",
            "Fetch v17 full epoch=0"
        ]
    );
    assert!(auth_errors(&h.events).is_empty());
    // No session lifetime from the broker: no renewal.
    assert!(!h
        .c
        .timers()
        .any(|(t, _)| matches!(t, Timer::Reauthenticate(_))));
}

#[test]
fn requests_queued_during_authentication_wait_for_it() {
    let mut h = bootstrap(&sasl_config("PLAIN"));
    answer_handshake(&mut h, -1, "PLAIN");
    // The application asks for more while the exchange runs: it waits.
    h.c.want_metadata("other");
    h.drain();
    let auth = h.expect_api::<SaslAuthenticateRequest>(-1);
    h.expect_nothing(-1);
    h.respond(&auth, &authenticate_response(b"", 0));
    let md = h.expect::<MetadataRequest>(-1);
    let topics: Vec<_> = md
        .body
        .topics
        .unwrap()
        .into_iter()
        .filter_map(|t| t.name)
        .collect();
    assert_eq!(topics, ["other", "t"]);
}

#[test]
fn scram_sha_256_and_512_authenticate_against_a_scram_server() {
    let mut h = bootstrap(&sasl_config("SCRAM-SHA-256"));
    let mut server = ScramServer::<S256>::new(PASSWORD, 4096);
    scram_auth(&mut h, -1, &mut server, 0);
    h.answer_metadata(-1);
    assert!(auth_errors(&h.events).is_empty(), "{:#?}", h.events);

    let mut h = bootstrap(&sasl_config("SCRAM-SHA-512"));
    let mut server = ScramServer::<S512>::new(PASSWORD, 8192);
    scram_auth(&mut h, -1, &mut server, 0);
    h.answer_metadata(-1);
    assert!(auth_errors(&h.events).is_empty(), "{:#?}", h.events);
}

#[test]
fn scram_with_the_password_from_a_jaas_entry() {
    let mut h = bootstrap(&[
        ("security.protocol", "SASL_SSL"),
        ("sasl.mechanism", "SCRAM-SHA-512"),
        (
            "sasl.jaas.config",
            "org.apache.kafka.common.security.scram.ScramLoginModule required \
             username=\"alice\" password=\"hunter2-secret\";",
        ),
    ]);
    let mut server = ScramServer::<S512>::new(PASSWORD, 4096);
    scram_auth(&mut h, -1, &mut server, 0);
    h.answer_metadata(-1);
}

#[test]
fn a_wrong_password_fails_the_servers_check() {
    // The server knows another password: the proof does not verify.
    let mut h = bootstrap(&sasl_config("SCRAM-SHA-256"));
    let mut server = ScramServer::<S256>::new("another password", 4096);
    answer_handshake(&mut h, -1, "SCRAM-SHA-256");
    let first = h.expect_api::<SaslAuthenticateRequest>(-1);
    let server_first = server.server_first(&first.body.auth_bytes);
    h.respond(&first, &authenticate_response(server_first.as_bytes(), 0));
    let fin = h.expect_api::<SaslAuthenticateRequest>(-1);
    assert_eq!(
        server.server_final(&fin.body.auth_bytes),
        Err("invalid proof")
    );
}

#[test]
fn rfc_7677_test_vector() {
    let mut c = ScramClient::new(
        SaslMechanism::ScramSha256,
        "user",
        "pencil",
        "rOprNGfwEbeRWgbNEkqO",
    )
    .unwrap();
    assert_eq!(c.client_first(), b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
    let server_first =
        b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
    let client_final = c.handle_server_first(server_first).unwrap();
    assert_eq!(
        String::from_utf8(client_final).unwrap(),
        "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
         p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
    );
    assert!(!c.is_done());
    c.handle_server_final(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
        .unwrap();
    assert!(c.is_done());

    // The same exchange with a forged signature (the first byte off) fails.
    let mut c = ScramClient::new(
        SaslMechanism::ScramSha256,
        "user",
        "pencil",
        "rOprNGfwEbeRWgbNEkqO",
    )
    .unwrap();
    c.handle_server_first(server_first).unwrap();
    assert_eq!(
        c.handle_server_final(b"v=7rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="),
        Err(SaslErrorKind::ServerSignatureMismatch)
    );
    assert!(!c.is_done());
}

#[test]
fn sha_512_round_trip_and_escaped_user_names() {
    // Our client against the test's server, without the consumer around it.
    let mut server = ScramServer::<S512>::new("pa,ss=word", 4096);
    let mut c = ScramClient::new(
        SaslMechanism::ScramSha512,
        "alice",
        "pa,ss=word",
        &"n".repeat(32),
    )
    .unwrap();
    let server_first = server.server_first(&c.client_first());
    let client_final = c.handle_server_first(server_first.as_bytes()).unwrap();
    let server_final = server.server_final(&client_final).unwrap();
    c.handle_server_final(server_final.as_bytes()).unwrap();
    assert!(c.is_done());
    // saslname escaping of the user name.
    let c = ScramClient::new(SaslMechanism::ScramSha256, "a,b=c", "p", "xyz").unwrap();
    assert_eq!(c.client_first(), b"n,,n=a=2Cb=3Dc,r=xyz");
}

// ----- SCRAM verification failures: fatal -----------------------------------------------

/// How a scripted server answers client-final (with its state and the message).
type ServerFinalFn<'a> = &'a dyn Fn(&ScramServer<S256>, &[u8]) -> String;

/// A SCRAM-SHA-256 consumer whose broker answers client-first with `server_first`
/// (given the client nonce) and, if the client goes on, client-final with
/// `server_final`. Returns the harness after the exchange.
fn scram_scenario(
    server_first: impl Fn(&str) -> String,
    server_final: Option<ServerFinalFn<'_>>,
) -> Harness {
    let mut h = bootstrap(&sasl_config("SCRAM-SHA-256"));
    let mut server = ScramServer::<S256>::new(PASSWORD, 4096);
    answer_handshake(&mut h, -1, "SCRAM-SHA-256");
    let first = h.expect_api::<SaslAuthenticateRequest>(-1);
    let text = std::str::from_utf8(&first.body.auth_bytes)
        .unwrap()
        .to_string();
    let bare = text.strip_prefix("n,,").unwrap().to_string();
    let nonce = bare.split(",r=").nth(1).unwrap().to_string();
    server.nonce = format!("{nonce}{}", server.server_nonce);
    let sf = server.server_first_with(&bare, &server_first(&nonce));
    h.respond(&first, &authenticate_response(sf.as_bytes(), 0));
    if let Some(server_final) = server_final {
        let fin = h.expect_api::<SaslAuthenticateRequest>(-1);
        let answer = server_final(&server, &fin.body.auth_bytes);
        h.respond(&fin, &authenticate_response(answer.as_bytes(), 60_000));
    }
    h
}

fn salt() -> String {
    STANDARD.encode(b"kasio-test-salt!")
}

/// The consumer reported `kind` as fatal, closed the connection and opens no other
/// for a simulated minute.
fn assert_fatal_and_quiet(h: &mut Harness, kind: SaslErrorKind) {
    let (fatal, error) = one_auth_error(&h.events);
    assert!(fatal);
    assert_eq!(error.kind, kind);
    assert_eq!(error.mechanism, h.c.config().sasl_mechanism);
    assert!(h.conns_to(-1).is_empty(), "the connection is closed");
    let before = connects(h);
    h.run_for(Duration::from_secs(60));
    assert_eq!(connects(h), before, "no reconnect after a fatal failure");
    assert_eq!(auth_errors(&h.events).len(), 1);
}

#[test]
fn a_forged_server_signature_is_fatal() {
    let mut h = scram_scenario(
        |nonce| format!("r={nonce}S3rv3rN0nce,s={},i=4096", salt()),
        Some(&|server, client_final| {
            let real = server.server_final(client_final).unwrap();
            // Flip one byte of the signature.
            let mut sig = STANDARD.decode(&real[2..]).unwrap();
            sig[0] ^= 1;
            format!("v={}", STANDARD.encode(sig))
        }),
    );
    assert_fatal_and_quiet(&mut h, SaslErrorKind::ServerSignatureMismatch);
}

#[test]
fn a_server_nonce_that_does_not_extend_ours_is_fatal() {
    let mut h = scram_scenario(|_| format!("r=SomeoneElsesNonce,s={},i=4096", salt()), None);
    assert_fatal_and_quiet(&mut h, SaslErrorKind::ServerNonceMismatch);
    // Nor one that adds nothing to ours.
    let mut h = scram_scenario(|nonce| format!("r={nonce},s={},i=4096", salt()), None);
    assert_fatal_and_quiet(&mut h, SaslErrorKind::ServerNonceMismatch);
}

#[test]
fn absurd_iteration_counts_are_fatal() {
    for (i, expected) in [
        ("1000000000", 1_000_000_000u64),
        ("4095", 4095),
        ("99999999999999999999999", u64::MAX),
    ] {
        let mut h = scram_scenario(
            |nonce| format!("r={nonce}S3rv3rN0nce,s={},i={i}", salt()),
            None,
        );
        assert_fatal_and_quiet(&mut h, SaslErrorKind::IterationCount(expected));
        let (_, e) = one_auth_error(&h.events);
        assert!(e.to_string().contains("4096..=100000"), "{e}");
    }
    assert_eq!((MIN_ITERATIONS, MAX_ITERATIONS), (4096, 100_000));
}

#[test]
fn the_servers_e_is_a_typed_fatal_error() {
    let mut h = scram_scenario(
        |nonce| format!("r={nonce}S3rv3rN0nce,s={},i=4096", salt()),
        Some(&|_, _| "e=invalid-proof".into()),
    );
    assert_fatal_and_quiet(&mut h, SaslErrorKind::ServerError("invalid-proof".into()));
}

#[test]
fn a_malformed_server_first_closes_the_connection_and_backs_off() {
    let mut h = scram_scenario(|_| "garbage".into(), None);
    let (fatal, e) = one_auth_error(&h.events);
    assert!(!fatal);
    assert!(matches!(e.kind, SaslErrorKind::Malformed(_)), "{e:?}");
    // Reconnected after the backoff, not at once.
    assert!(h.conns_to(-1).is_empty());
    let t = h.c.poll_timeout().unwrap();
    assert!(t > h.now);
    h.run_until(t);
    assert!(h.is_connecting(-1));
}

// ----- broker answers ------------------------------------------------------------------

#[test]
fn authentication_failed_is_fatal_with_the_brokers_message_and_no_reconnect_storm() {
    let mut h = bootstrap(&sasl_config("PLAIN"));
    answer_handshake(&mut h, -1, "PLAIN");
    let req = h.expect_api::<SaslAuthenticateRequest>(-1);
    h.respond(
        &req,
        &failed_response(
            ErrorCode::SaslAuthenticationFailed,
            "Authentication failed: Invalid username or password",
        ),
    );
    let (fatal, e) = one_auth_error(&h.events);
    assert!(fatal);
    assert_eq!(
        e,
        SaslError {
            mechanism: SaslMechanism::Plain,
            kind: SaslErrorKind::AuthenticationFailed {
                message: Some("Authentication failed: Invalid username or password".into())
            }
        }
    );
    let shown = e.to_string();
    assert!(
        shown.contains("PLAIN") && shown.contains("Invalid username or password"),
        "{shown}"
    );
    assert!(!shown.contains(PASSWORD));
    assert!(matches!(
        h.commands.last(),
        Some(ConnCommand::Disconnect { .. })
    ));
    // A simulated hour: not one more connection attempt, and the timer table does
    // not keep the driver busy either.
    let before = connects(&h);
    let mut wakeups = 0;
    let until = h.now + Duration::from_secs(3600);
    while let Some(t) = h.c.poll_timeout() {
        if t > until {
            break;
        }
        wakeups += 1;
        h.now = t;
        h.c.handle_timeout(t);
        h.drain();
    }
    assert_eq!(connects(&h), before);
    assert!(wakeups < 50, "{wakeups} wake-ups in an hour");
    assert_eq!(auth_errors(&h.events).len(), 1);
}

#[test]
fn a_broker_that_keeps_failing_non_fatally_is_retried_with_backoff() {
    // ILLEGAL_SASL_STATE is not fatal: the connection is retried, never hot.
    let mut h = bootstrap(&sasl_config("PLAIN"));
    let start = h.now;
    let fail = |h: &mut Harness| {
        answer_handshake(h, -1, "PLAIN");
        let req = h.expect_api::<SaslAuthenticateRequest>(-1);
        h.respond(
            &req,
            &failed_response(ErrorCode::IllegalSaslState, "out of order"),
        );
    };
    fail(&mut h);
    let mut attempts = 1;
    while h.now < start + Duration::from_secs(10) {
        if h.is_connecting(-1) {
            attempts += 1;
            h.connect_and_negotiate(-1, &Versions::all());
            fail(&mut h);
        } else {
            h.step();
        }
    }
    let errors = auth_errors(&h.events);
    assert!(errors
        .iter()
        .all(|(fatal, e)| !fatal && matches!(e.error.kind, SaslErrorKind::IllegalState { .. })));
    // 50 ms doubling to 1 s (±20 %): about 14 attempts in 10 s, not hundreds.
    assert!((8..=20).contains(&attempts), "{attempts} attempts");
    assert_eq!(errors.len(), attempts);
}

#[test]
fn an_unsupported_mechanism_lists_the_brokers_mechanisms() {
    let mut h = bootstrap(&sasl_config("SCRAM-SHA-512"));
    let req = h.expect_api::<SaslHandshakeRequest>(-1);
    h.respond(
        &req,
        &SaslHandshakeResponse {
            error_code: ErrorCode::UnsupportedSaslMechanism.code(),
            mechanisms: vec!["GSSAPI".into(), "PLAIN".into()],
        },
    );
    let (fatal, e) = one_auth_error(&h.events);
    assert!(fatal);
    assert_eq!(
        e.kind,
        SaslErrorKind::UnsupportedMechanism {
            enabled: vec!["GSSAPI".into(), "PLAIN".into()]
        }
    );
    assert_eq!(
        e.to_string(),
        "the broker does not enable SASL mechanism SCRAM-SHA-512; it offers GSSAPI, PLAIN"
    );
    assert_fatal_and_quiet(&mut h, e.kind.clone());
}

#[test]
fn a_broker_without_sasl_authenticate_is_refused_clearly() {
    let mut h = Harness::new(&sasl_config("PLAIN"), 1, 1);
    h.c.assign([tp(0)]).unwrap();
    h.drain();
    h.connect_and_negotiate(-1, &Versions::all().without(ApiKey::SaslAuthenticate));
    let (fatal, e) = one_auth_error(&h.events);
    assert!(fatal);
    assert_eq!(e.kind, SaslErrorKind::BrokerTooOld);
    assert!(e.to_string().contains("SaslAuthenticate"), "{e}");
    // Nor one whose SaslHandshake stops at v0.
    let mut h = Harness::new(&sasl_config("PLAIN"), 1, 1);
    h.c.assign([tp(0)]).unwrap();
    h.drain();
    h.connect_and_negotiate(-1, &Versions::all().with(ApiKey::SaslHandshake, 0, 0));
    assert_eq!(
        one_auth_error(&h.events).1.kind,
        SaslErrorKind::BrokerTooOld
    );
}

#[test]
fn a_sasl_request_that_times_out_closes_the_connection() {
    let mut h = bootstrap(&sasl_config("PLAIN"));
    h.expect_api::<SaslHandshakeRequest>(-1);
    h.run_for(Duration::from_millis(5_001));
    assert!(h.events.iter().any(|e| matches!(
        e,
        Event::Error(ConsumerError::Remote(
            kasio_core::consumer::RemoteError::Connection {
                error: kasio_core::conn::ConnError::RequestTimeout(ApiKey::SaslHandshake),
                ..
            }
        ))
    )));
}

// ----- KIP-368: re-authentication ----------------------------------------------------

#[test]
fn sessions_are_renewed_before_they_end_without_mixing_with_requests() {
    let mut h = bootstrap(&sasl_config("PLAIN"));
    plain_auth(&mut h, -1, 0);
    h.answer_metadata(-1);
    h.accept(1);
    h.negotiate(1, &Versions::all());
    let authenticated = h.now;
    let conn = plain_auth(&mut h, 1, 10_000);
    let (_, renew_at) =
        h.c.timers()
            .find(|(t, _)| **t == Timer::Reauthenticate(conn))
            .expect("a renewal timer");
    let renew_in = renew_at - authenticated;
    assert!(
        renew_in >= Duration::from_millis(8_500) && renew_in <= Duration::from_millis(9_500),
        "renewal {renew_in:?} after authentication, not at 85–95 % of 10 s"
    );
    h.answer_list_offsets(1, 0);
    h.take_trace();

    // Fetches go on, each answered after 400 ms, until one is in flight when the
    // renewal comes due.
    let mut offset = 0;
    let fetch = loop {
        let f = h.expect::<FetchRequest>(1);
        if h.now + ms(400) >= renew_at {
            break f;
        }
        h.advance(ms(400));
        h.respond(&f, &fetch_resp(0, vec![pdata(0, 0)]));
    };
    h.take_trace();
    h.run_until(renew_at);
    // Due, but the Fetch in flight is answered first: nothing new on the connection.
    h.expect_nothing(1);
    assert!(h.take_trace().is_empty());
    h.advance(ms(100));
    h.respond(
        &fetch,
        &fetch_resp(0, vec![pdata_with(0, 3, batch(offset, 3, 5))]),
    );
    offset += 3;
    // Its records are the application's; then the renewal, alone.
    let records = summarize(&h.poll());
    assert_eq!(records, [(0, 0), (0, 1), (0, 2)]);
    let again = answer_handshake(&mut h, 1, "PLAIN");
    assert_eq!(again, conn, "the same connection");
    let auth = h.expect_api::<SaslAuthenticateRequest>(1);
    h.expect_nothing(1);
    assert_eq!(auth.conn, conn);
    h.respond(&auth, &authenticate_response(b"", 10_000));
    // Ready again: fetching resumes where it was, and the next renewal is set.
    let f = h.expect::<FetchRequest>(1);
    assert_eq!(fetch_parts(&f.body), [(0, offset)]);
    assert!(h
        .c
        .timers()
        .any(|(t, at)| *t == Timer::Reauthenticate(conn) && at > h.now));
    assert!(auth_errors(&h.events).is_empty());
    assert_eq!(h.conns_to(1), [conn]);
}

#[test]
fn an_idle_connection_renews_at_once_and_a_failed_renewal_is_fatal() {
    let mut h = bootstrap_idle(&sasl_config("SCRAM-SHA-256"));
    let mut server = ScramServer::<S256>::new(PASSWORD, 4096);
    scram_auth(&mut h, -1, &mut server, 5_000);
    h.answer_metadata(-1);
    // The bootstrap connection idles: its renewal starts when the timer fires.
    let (_, at) =
        h.c.timers()
            .find(|(t, _)| matches!(t, Timer::Reauthenticate(_)))
            .unwrap();
    h.run_until(at);
    h.take_trace();
    answer_handshake(&mut h, -1, "SCRAM-SHA-256");
    let first = h.expect_api::<SaslAuthenticateRequest>(-1);
    // A fresh nonce for the new exchange.
    let server_first = server.server_first(&first.body.auth_bytes);
    h.respond(&first, &authenticate_response(server_first.as_bytes(), 0));
    let fin = h.expect_api::<SaslAuthenticateRequest>(-1);
    // The credentials were revoked meanwhile.
    h.respond(
        &fin,
        &failed_response(ErrorCode::SaslAuthenticationFailed, "credentials revoked"),
    );
    let (fatal, e) = one_auth_error(&h.events);
    assert!(fatal && matches!(e.kind, SaslErrorKind::AuthenticationFailed { .. }));
}

// ----- OAUTHBEARER ---------------------------------------------------------------------

fn token_requests(events: &[Event]) -> usize {
    events
        .iter()
        .filter(|e| matches!(e, Event::OAuthBearerTokenRequired))
        .count()
}

#[test]
fn oauthbearer_asks_for_a_token_waits_for_it_and_renews_with_a_fresh_one() {
    let mut h = bootstrap_idle(&sasl_config("OAUTHBEARER"));
    answer_handshake(&mut h, -1, "OAUTHBEARER");
    // No token yet: the application is asked, once, and the connection waits.
    assert_eq!(token_requests(&h.events), 1);
    h.expect_nothing(-1);
    h.advance(ms(2_000));
    h.expect_nothing(-1);
    assert_eq!(token_requests(&h.events), 1);

    let supplied = h.now;
    h.c.set_oauthbearer_token(
        OAuthBearerToken::new(TOKEN, Duration::from_secs(60))
            .with_principal("alice")
            .with_extension("logicalCluster", "lkc-1"),
    )
    .unwrap();
    h.drain();
    let auth = h.expect_api::<SaslAuthenticateRequest>(-1);
    assert_eq!(
        &auth.body.auth_bytes[..],
        format!("n,,\x01auth=Bearer {TOKEN}\x01logicalCluster=lkc-1\x01\x01").as_bytes()
    );
    // The broker's session ends with the token.
    h.respond(&auth, &authenticate_response(b"", 60_000));
    h.answer_metadata(-1);
    h.take_events();

    // At 80–85 % of the token's life the application is asked for a new one.
    let (_, refresh_at) =
        h.c.timers()
            .find(|(t, _)| **t == Timer::OAuthBearerToken)
            .unwrap();
    let refresh_in = refresh_at - supplied;
    assert!(
        refresh_in >= Duration::from_secs(48) && refresh_in <= Duration::from_secs(51),
        "{refresh_in:?}"
    );
    h.run_until(refresh_at);
    assert_eq!(token_requests(&h.take_events()), 1);
    h.c.set_oauthbearer_token(OAuthBearerToken::new(
        "fresh.token",
        Duration::from_secs(60),
    ))
    .unwrap();
    h.drain();
    // The renewal (at 85–95 % of the session) uses the fresh token.
    let (_, renew_at) =
        h.c.timers()
            .find(|(t, _)| matches!(t, Timer::Reauthenticate(_)))
            .unwrap();
    h.run_until(renew_at);
    answer_handshake(&mut h, -1, "OAUTHBEARER");
    let auth = h.expect_api::<SaslAuthenticateRequest>(-1);
    assert_eq!(
        &auth.body.auth_bytes[..],
        b"n,,\x01auth=Bearer fresh.token\x01\x01"
    );
    h.respond(&auth, &authenticate_response(b"", 60_000));
    assert!(auth_errors(&h.events).is_empty());
    assert_eq!(token_requests(&h.events), 0, "the token at hand was used");
}

#[test]
fn an_expired_token_is_not_used_and_the_application_is_told() {
    let mut h = bootstrap(&sasl_config("OAUTHBEARER"));
    h.c.set_oauthbearer_token(OAuthBearerToken::new(TOKEN, Duration::from_secs(5)))
        .unwrap();
    h.drain();
    // Supplied ahead of the need: no event, the exchange uses it at once.
    answer_handshake(&mut h, -1, "OAUTHBEARER");
    assert_eq!(token_requests(&h.events), 0);
    let auth = h.expect_api::<SaslAuthenticateRequest>(-1);
    h.respond(&auth, &authenticate_response(b"", 0));
    h.answer_metadata(-1);
    // The application ignores the refresh request; the token expires (before the
    // connection to the partition's leader, asked for meanwhile, is made).
    h.run_for(Duration::from_secs(6));
    assert_eq!(token_requests(&h.take_events()), 2, "refresh, then expiry");
    // A new connection now waits for a token, without asking again.
    h.accept(1);
    h.negotiate(1, &Versions::all());
    answer_handshake(&mut h, 1, "OAUTHBEARER");
    h.expect_nothing(1);
    assert_eq!(token_requests(&h.events), 0);
}

#[test]
fn a_token_that_never_comes_times_the_connection_out_without_repeating_the_request() {
    let mut h = bootstrap_idle(&sasl_config("OAUTHBEARER"));
    answer_handshake(&mut h, -1, "OAUTHBEARER");
    h.run_for(Duration::from_millis(10_001));
    let (fatal, e) = one_auth_error(&h.events);
    assert!(!fatal);
    assert_eq!(e.kind, SaslErrorKind::TokenTimeout);
    assert!(e.to_string().contains("socket.connection.setup.timeout.ms"));
    // Reconnects after a backoff and waits again, without asking again.
    h.run_for(Duration::from_secs(2));
    h.connect_and_negotiate(-1, &Versions::all());
    answer_handshake(&mut h, -1, "OAUTHBEARER");
    assert_eq!(token_requests(&h.events), 1);
}

#[test]
fn a_rejected_token_is_fatal_until_a_new_token_comes() {
    let mut h = bootstrap_idle(&sasl_config("OAUTHBEARER"));
    h.c.set_oauthbearer_token(OAuthBearerToken::new(TOKEN, Duration::from_secs(600)))
        .unwrap();
    h.drain();
    answer_handshake(&mut h, -1, "OAUTHBEARER");
    let auth = h.expect_api::<SaslAuthenticateRequest>(-1);
    // The broker's error JSON comes as a challenge (RFC 7628 §3.2.2) …
    let json = r#"{"status":"invalid_token"}"#;
    h.respond(&auth, &authenticate_response(json.as_bytes(), 0));
    // … which the client acknowledges with a lone 0x01 …
    let ack = h.expect_api::<SaslAuthenticateRequest>(-1);
    assert_eq!(&ack.body.auth_bytes[..], b"\x01");
    // … and the broker fails the exchange.
    h.respond(
        &ack,
        &failed_response(ErrorCode::SaslAuthenticationFailed, "Authentication failed"),
    );
    let (fatal, e) = one_auth_error(&h.events);
    assert!(fatal);
    let shown = e.to_string();
    assert!(
        shown.contains("invalid_token") && shown.contains("OAUTHBEARER"),
        "{shown}"
    );
    assert!(!shown.contains(TOKEN));
    let before = connects(&h);
    h.run_for(Duration::from_secs(30));
    assert_eq!(connects(&h), before);
    // A new token lifts the stop.
    h.c.set_oauthbearer_token(OAuthBearerToken::new(
        "good.token",
        Duration::from_secs(600),
    ))
    .unwrap();
    h.drain();
    h.connect_and_negotiate(-1, &Versions::all());
    answer_handshake(&mut h, -1, "OAUTHBEARER");
    let auth = h.expect_api::<SaslAuthenticateRequest>(-1);
    assert_eq!(
        &auth.body.auth_bytes[..],
        b"n,,\x01auth=Bearer good.token\x01\x01"
    );
}

#[test]
fn tokens_are_checked_when_supplied() {
    let mut h = Harness::new(&sasl_config("OAUTHBEARER"), 1, 1);
    let bad = |v: &str| OAuthBearerToken::new(v, Duration::from_secs(1));
    assert_eq!(
        h.c.set_oauthbearer_token(bad("not a token")),
        Err(UsageError::InvalidOAuthBearerToken(
            TokenError::InvalidToken
        ))
    );
    assert_eq!(
        h.c.set_oauthbearer_token(bad("a").with_extension("auth", "x")),
        Err(UsageError::InvalidOAuthBearerToken(
            TokenError::InvalidExtensionName
        ))
    );
    assert_eq!(
        h.c.set_oauthbearer_token(OAuthBearerToken::new("a", Duration::ZERO)),
        Err(UsageError::InvalidOAuthBearerToken(TokenError::NoLifetime))
    );
    let err =
        h.c.set_oauthbearer_token(bad("secret token value"))
            .unwrap_err();
    assert!(!err.to_string().contains("secret token value"));
    // Only with OAUTHBEARER.
    let mut h = Harness::new(&sasl_config("PLAIN"), 1, 1);
    assert_eq!(
        h.c.set_oauthbearer_token(bad("a")),
        Err(UsageError::NotOAuthBearer)
    );
    let mut h = Harness::new(&[], 1, 1);
    assert_eq!(
        h.c.set_oauthbearer_token(bad("a")),
        Err(UsageError::NotOAuthBearer)
    );
}

// ----- secrets ---------------------------------------------------------------------

#[test]
fn secrets_appear_in_no_debug_or_display() {
    // Mid-exchange, every SASL state is inside the consumer.
    let mut h = bootstrap(&sasl_config("SCRAM-SHA-256"));
    answer_handshake(&mut h, -1, "SCRAM-SHA-256");
    let mut server = ScramServer::<S256>::new(PASSWORD, 4096);
    let first = h.expect_api::<SaslAuthenticateRequest>(-1);
    let server_first = server.server_first(&first.body.auth_bytes);
    h.respond(&first, &authenticate_response(server_first.as_bytes(), 0));
    let shown = format!("{:?} {:?} {:#?}", h.c, h.c.config(), h.c);
    assert!(!shown.contains(PASSWORD), "{shown}");

    let mut h = bootstrap(&sasl_config("OAUTHBEARER"));
    h.c.set_oauthbearer_token(OAuthBearerToken::new(TOKEN, Duration::from_secs(60)))
        .unwrap();
    h.drain();
    let shown = format!("{:?}", h.c);
    assert!(!shown.contains(TOKEN), "{shown}");

    let config = Config::from_pairs([
        ("bootstrap.servers", "b:9092"),
        ("security.protocol", "SASL_SSL"),
        (
            "sasl.jaas.config",
            "org.apache.kafka.common.security.plain.PlainLoginModule required \
             username=\"alice\" password=\"hunter2-secret\";",
        ),
    ])
    .unwrap();
    let consumer = Consumer::new(config.clone(), Instant::ZERO, 1);
    for shown in [format!("{config:?}"), format!("{consumer:?}")] {
        assert!(!shown.contains(PASSWORD), "{shown}");
    }

    // Every error kind, displayed and debugged.
    for kind in [
        SaslErrorKind::AuthenticationFailed { message: None },
        SaslErrorKind::ServerSignatureMismatch,
        SaslErrorKind::ServerNonceMismatch,
        SaslErrorKind::IterationCount(1),
        SaslErrorKind::Malformed("x"),
        SaslErrorKind::TokenTimeout,
    ] {
        let e = SaslError::new(SaslMechanism::ScramSha256, kind);
        let shown = format!("{e} {e:?}");
        assert!(shown.contains("SCRAM-SHA-256"), "{shown}");
        assert!(!shown.contains(PASSWORD));
    }
}
