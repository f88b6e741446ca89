//! The SASL authentication state machine with arbitrary server answers, at two
//! levels:
//!
//! - the `Authenticator` alone (every mechanism), fed handshake and authenticate
//!   answers in any order: arbitrary values, plausible SCRAM server-first messages
//!   built on the client's real nonce (so the fuzzer reaches key derivation and the
//!   server-final check), OAUTHBEARER tokens and error challenges;
//! - a `Connection` with SASL, driven as the consumer drives it: ApiVersions (with
//!   or without the SASL APIs), then answers to whatever it sent next (valid or
//!   arbitrary SASL answers, raw bytes, wrong correlation ids), owner requests when
//!   it says it is ready, time passing, session renewals (KIP-368), tokens.
//!
//! Oracle: no panic; no error, `Debug` or `Display` shows the password or token;
//! SCRAM never sends the password; a connection is only ready after an exchange
//! succeeded, never sends an owner request while authenticating, starts a renewal
//! only with nothing in flight, and hands back exactly the owner's requests
//! (never its own) when closed.
#![no_main]

use std::collections::VecDeque;

use arbitrary::{Arbitrary, Unstructured};
use bytes::{Bytes, BytesMut};
use kasio_core::codec::{encode_response_frame, FrameDecoder, RequestHeader};
use kasio_core::config::SaslMechanism;
use kasio_core::conn::{ConnId, ConnSettings, ConnState, Connection, Incoming};
use kasio_core::protocol::messages::api_versions_response::ApiVersion;
use kasio_core::protocol::messages::{
    ApiVersionsResponse, MetadataRequest, MetadataResponse, SaslAuthenticateResponse,
    SaslHandshakeResponse,
};
use kasio_core::protocol::{ApiKey, Message};
use kasio_core::sasl::{Authenticator, OAuthBearerToken, SaslConfig, Step};
use kasio_core::time::{Duration, Instant};
use libfuzzer_sys::fuzz_target;

const PASSWORD: &str = "fuzz-password-secret";
const TOKEN: &str = "fuzz.token.secret";
const MAX_OPS: usize = 64;

#[derive(Arbitrary, Debug)]
struct Input {
    mechanism: u8,
    token_auth: bool,
    seed: u64,
    connection: bool,
    /// Which SASL APIs the broker lists in ApiVersions (connection mode).
    versions: u8,
    ops: Vec<Op>,
}

#[derive(Arbitrary, Debug)]
enum Server {
    HandshakeOk,
    /// An arbitrary SaslHandshake answer (v1), made from these bytes.
    Handshake(Vec<u8>),
    /// An arbitrary SaslAuthenticate answer (v0..v2), made from these bytes.
    Authenticate(Vec<u8>, u8),
    /// `r=<client nonce><extra>,s=<salt>,i=<4096 + iterations % 64>[,<tail>]`
    ScramFirst {
        extra: String,
        salt: Vec<u8>,
        iterations: u8,
        tail: Option<String>,
        lifetime: i64,
    },
    /// `v=<base64 of bytes>`
    ScramFinal(Vec<u8>, i64),
    /// OAUTHBEARER's error challenge.
    Challenge(String),
    Ok(i64),
}

#[derive(Arbitrary, Debug)]
enum Op {
    Start,
    Answer(Server),
    Token {
        good: bool,
        extension: Option<(String, String)>,
    },
    /// Connection mode: an owner request, if the connection takes one.
    Send,
    /// Connection mode: a well-formed answer to the oldest request in flight.
    AnswerOwner,
    /// Connection mode: raw bytes from the broker.
    Raw(Vec<u8>),
    /// Connection mode: an answer with a wrong correlation id.
    WrongCorrelation(Server),
    /// Time passes by this many milliseconds (× 100 when `long`).
    Advance { ms: u16, long: bool },
}

fn mechanism(n: u8) -> SaslMechanism {
    SaslMechanism::ALL[usize::from(n) % SaslMechanism::ALL.len()]
}

fn config(input: &Input) -> SaslConfig {
    SaslConfig::with_password(mechanism(input.mechanism), "fuzz-user", PASSWORD)
        .token_auth(input.token_auth)
}

fn token(good: bool, extension: &Option<(String, String)>) -> OAuthBearerToken {
    let mut t = OAuthBearerToken::new(if good { TOKEN } else { "bad token" }, Duration::from_secs(60));
    if let Some((k, v)) = extension {
        t = t.with_extension(k.clone(), v.clone());
    }
    t
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

fn has_secret(bytes: &[u8]) -> bool {
    contains(bytes, PASSWORD) || contains(bytes, TOKEN)
}

fn no_secret(shown: &str) {
    assert!(!shown.contains(PASSWORD), "{shown}");
    assert!(!shown.contains(TOKEN), "{shown}");
}

/// The client nonce in a SCRAM client-first message.
fn client_nonce(client_first: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(client_first).ok()?;
    let start = text.find(",r=")? + 3;
    let rest = &text[start..];
    Some(rest.split(',').next()?.to_string())
}

/// What the server sends, as (handshake, authenticate) answers.
enum Built {
    Handshake(SaslHandshakeResponse),
    Authenticate(SaslAuthenticateResponse),
}

fn build(server: &Server, nonce: &Option<String>, mech: SaslMechanism) -> Built {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let auth = |bytes: Vec<u8>, lifetime: i64| {
        Built::Authenticate(SaslAuthenticateResponse {
            auth_bytes: Bytes::from(bytes),
            session_lifetime_ms: lifetime,
            ..Default::default()
        })
    };
    match server {
        Server::HandshakeOk => Built::Handshake(SaslHandshakeResponse {
            error_code: 0,
            mechanisms: vec![mech.as_str().into()],
        }),
        Server::Handshake(bytes) => Built::Handshake(
            SaslHandshakeResponse::arbitrary_at(&mut Unstructured::new(bytes), 1)
                .unwrap_or_default(),
        ),
        Server::Authenticate(bytes, version) => Built::Authenticate(
            SaslAuthenticateResponse::arbitrary_at(
                &mut Unstructured::new(bytes),
                i16::from(version % 3),
            )
            .unwrap_or_default(),
        ),
        Server::ScramFirst {
            extra,
            salt,
            iterations,
            tail,
            lifetime,
        } => {
            let mut m = format!(
                "r={}{extra},s={},i={}",
                nonce.as_deref().unwrap_or(""),
                b64.encode(salt),
                4096 + u32::from(*iterations % 64)
            );
            if let Some(t) = tail {
                m.push(',');
                m.push_str(t);
            }
            auth(m.into_bytes(), *lifetime)
        }
        Server::ScramFinal(sig, lifetime) => {
            auth(format!("v={}", b64.encode(sig)).into_bytes(), *lifetime)
        }
        Server::Challenge(json) => auth(json.clone().into_bytes(), 0),
        Server::Ok(lifetime) => auth(Vec::new(), *lifetime),
    }
}

// ----- the authenticator alone ------------------------------------------------------

fn authenticator(input: &Input) {
    let mech = mechanism(input.mechanism);
    let mut auth = Authenticator::new(config(input), input.seed);
    let mut nonce = None;
    let mut authenticate_steps = 0;
    // The client echoes what the server sends (its nonce): once the server has
    // sent a secret itself, the client may send it back.
    let mut server_said_secret = false;
    for op in input.ops.iter().take(MAX_OPS) {
        let step = match op {
            Op::Start => {
                let req = auth.start();
                assert_eq!(req.mechanism, mech.as_str());
                authenticate_steps = 0;
                continue;
            }
            Op::Answer(server) => match build(server, &nonce, mech) {
                Built::Handshake(r) => {
                    server_said_secret |= r.mechanisms.iter().any(|m| has_secret(m.as_bytes()));
                    auth.on_handshake(&r)
                }
                Built::Authenticate(r) => {
                    server_said_secret |= has_secret(&r.auth_bytes)
                        || r.error_message.as_deref().is_some_and(|m| has_secret(m.as_bytes()));
                    auth.on_authenticate(&r)
                }
            },
            Op::Token { good, extension } => auth.provide_token(&token(*good, extension)),
            _ => continue,
        };
        if !server_said_secret {
            no_secret(&format!("{auth:?}"));
        }
        match step {
            Ok(Step::Authenticate(bytes)) => {
                authenticate_steps += 1;
                let first = authenticate_steps == 1;
                if mech == SaslMechanism::Plain {
                    assert!(first, "PLAIN sends one message");
                } else if !server_said_secret {
                    assert!(!contains(&bytes, PASSWORD), "only PLAIN sends the password");
                }
                if matches!(mech, SaslMechanism::ScramSha256 | SaslMechanism::ScramSha512) && first {
                    nonce = client_nonce(&bytes);
                    assert!(nonce.is_some());
                }
            }
            Ok(Step::NeedToken) => {
                assert_eq!(mech, SaslMechanism::OAuthBearer);
                assert!(auth.awaiting_token());
            }
            Ok(Step::Done { .. }) => assert!(auth.is_done()),
            Err(e) => {
                assert!(!auth.is_done());
                assert_eq!(e.mechanism, mech);
                if !server_said_secret {
                    no_secret(&format!("{e} {e:?}"));
                }
            }
        }
    }
}

// ----- a connection with SASL ---------------------------------------------------------

fn ours(api: ApiKey) -> (i16, i16) {
    api.versions()
}

struct Sent {
    api: ApiKey,
    version: i16,
    correlation_id: i32,
}

struct Driver {
    conn: Connection<u32>,
    mechanism: SaslMechanism,
    now: Instant,
    /// Requests the connection wrote, oldest first, not yet answered.
    pending: VecDeque<Sent>,
    owner_sent: u32,
    owner_back: u32,
    nonce: Option<String>,
    ready_once: bool,
    closed: bool,
    /// The server sent the password or token itself (the client may echo it).
    server_said_secret: bool,
}

impl Driver {
    fn flush(&mut self) {
        while let Some(bytes) = self.conn.poll_transmit() {
            let mut frames = FrameDecoder::new(usize::MAX);
            frames.push_bytes(bytes);
            while let Some(frame) = frames.next_frame().expect("our own framing") {
                let (key, version, correlation_id) = RequestHeader::peek(&frame).expect("header");
                let api = ApiKey::from_i16(key).expect("a known API");
                if !self.server_said_secret {
                    if contains(&frame, TOKEN) {
                        assert_eq!(self.mechanism, SaslMechanism::OAuthBearer);
                    }
                    if contains(&frame, PASSWORD) {
                        assert_eq!(self.mechanism, SaslMechanism::Plain);
                    }
                }
                if api == ApiKey::SaslAuthenticate && self.nonce.is_none() {
                    self.nonce = client_nonce(&frame);
                }
                if matches!(api, ApiKey::SaslHandshake | ApiKey::SaslAuthenticate) {
                    assert_eq!(self.conn.state(), &ConnState::Authenticating);
                }
                if api == ApiKey::SaslHandshake {
                    // A renewal starts only with nothing of the owner's in flight.
                    assert_eq!(self.owner_sent, self.owner_back);
                    self.nonce = None;
                }
                if api == ApiKey::Metadata {
                    assert!(!matches!(self.conn.state(), ConnState::Authenticating));
                }
                self.pending.push_back(Sent {
                    api,
                    version,
                    correlation_id,
                });
            }
        }
    }

    fn deliver(&mut self, bytes: &[u8]) {
        self.server_said_secret |= has_secret(bytes);
        self.conn.on_input(bytes);
        loop {
            match self.conn.next_incoming(self.now) {
                Ok(None) => break,
                Ok(Some(Incoming::Ready)) => {
                    assert!(!self.ready_once, "Ready once per connection");
                    self.ready_once = true;
                    assert!(self.conn.is_ready());
                }
                Ok(Some(Incoming::Response(c))) => {
                    assert_eq!(c.api, ApiKey::Metadata);
                    assert_eq!(c.purpose, self.owner_back);
                    self.owner_back += 1;
                }
                Err(e) => return self.close(&format!("{e} {e:?}")),
            }
        }
        self.flush();
    }

    fn close(&mut self, why: &str) {
        if !self.server_said_secret {
            no_secret(why);
        }
        self.closed = true;
    }

    /// Drops what the connection has read past (the answered requests).
    fn answered(&mut self) -> Option<Sent> {
        self.pending.pop_front()
    }

    fn encode<M: Message>(sent: &Sent, corr: i32, msg: &M) -> Option<Bytes> {
        let mut buf = BytesMut::new();
        encode_response_frame(&mut buf, sent.api, sent.version, corr, msg).ok()?;
        Some(buf.freeze())
    }
}

fn versions_response(which: u8) -> ApiVersionsResponse {
    ApiVersionsResponse {
        api_keys: ApiKey::ALL
            .iter()
            .filter(|k| match k {
                ApiKey::SaslHandshake => which & 1 == 0,
                ApiKey::SaslAuthenticate => which & 2 == 0,
                _ => true,
            })
            .map(|&k| ApiVersion {
                api_key: k.key(),
                min_version: k.versions().0,
                max_version: if k == ApiKey::SaslHandshake && which & 4 != 0 {
                    0
                } else {
                    k.versions().1
                },
            })
            .collect(),
        ..Default::default()
    }
}

fn connection(input: &Input) {
    let mech = mechanism(input.mechanism);
    let settings = ConnSettings {
        client_id: Some("fuzz".into()),
        max_frame: 1 << 20,
        request_timeout: Duration::from_millis(5_000),
        versions: ours,
    };
    let auth = Authenticator::new(config(input), input.seed);
    let conn = Connection::new(ConnId(1), &settings, Instant::from_millis(10_000))
        .with_sasl(auth, Duration::from_millis(10_000));
    let mut d = Driver {
        conn,
        mechanism: mech,
        now: Instant::ZERO,
        pending: VecDeque::new(),
        owner_sent: 0,
        owner_back: 0,
        nonce: None,
        ready_once: false,
        closed: false,
        server_said_secret: false,
    };
    d.conn.on_connected(d.now).expect("ApiVersions encodes");
    d.flush();
    // ApiVersions, answered.
    let sent = d.answered().expect("ApiVersions");
    assert_eq!(sent.api, ApiKey::ApiVersions);
    let bytes = Driver::encode(&sent, sent.correlation_id, &versions_response(input.versions))
        .expect("encodes");
    d.deliver(&bytes);

    for op in input.ops.iter().take(MAX_OPS) {
        if d.closed {
            return;
        }
        match op {
            Op::Start => {
                if let Err(e) = d.conn.start_reauthentication(d.now) {
                    d.close(&e.to_string());
                }
                d.flush();
            }
            Op::Answer(server) | Op::WrongCorrelation(server) => {
                let Some(sent) = d.answered() else { continue };
                let corr = match op {
                    Op::WrongCorrelation(_) => sent.correlation_id.wrapping_add(1),
                    _ => sent.correlation_id,
                };
                let bytes = match (sent.api, build(server, &d.nonce, mech)) {
                    (ApiKey::SaslHandshake, Built::Handshake(r)) => Driver::encode(&sent, corr, &r),
                    (ApiKey::SaslAuthenticate, Built::Authenticate(r)) => {
                        Driver::encode(&sent, corr, &r)
                    }
                    (ApiKey::SaslHandshake, Built::Authenticate(r)) => {
                        // The wrong message for the request: bytes that may not decode.
                        Driver::encode(&sent, corr, &r)
                    }
                    (ApiKey::SaslAuthenticate, Built::Handshake(r)) => Driver::encode(&sent, corr, &r),
                    (_, _) => Driver::encode(&sent, corr, &MetadataResponse::default()),
                };
                if let Some(bytes) = bytes {
                    d.deliver(&bytes);
                }
            }
            Op::AnswerOwner => {
                let Some(sent) = d.pending.front() else { continue };
                if sent.api != ApiKey::Metadata {
                    continue;
                }
                let sent = d.answered().unwrap();
                if let Some(bytes) = Driver::encode(&sent, sent.correlation_id, &MetadataResponse::default()) {
                    d.deliver(&bytes);
                }
            }
            Op::Send => {
                if !d.conn.is_ready() {
                    continue;
                }
                assert!(d.ready_once);
                assert_eq!(d.conn.state(), &ConnState::Ready);
                let Some(v) = d.conn.versions().version(ApiKey::Metadata) else { continue };
                d.conn
                    .send(&MetadataRequest::default(), v, d.owner_sent, d.now)
                    .expect("Metadata encodes");
                d.owner_sent += 1;
                d.flush();
            }
            Op::Raw(bytes) => {
                d.deliver(bytes);
            }
            Op::Token { good, extension } => {
                let t = token(*good, extension);
                if t.validate().is_err() {
                    continue;
                }
                if let Err(e) = d.conn.provide_token(&t, d.now) {
                    d.close(&format!("{e:?}"));
                }
                d.flush();
            }
            Op::Advance { ms, long } => {
                let step = u64::from(*ms) * if *long { 100 } else { 1 };
                d.now += Duration::from_millis(step);
                if let Some(at) = d.conn.next_deadline() {
                    if d.now >= at {
                        assert!(d.conn.check_timeouts(d.now).is_err());
                        d.close("timed out");
                        continue;
                    }
                }
                if let Err(e) = d.conn.start_reauthentication(d.now) {
                    d.close(&e.to_string());
                }
                d.flush();
            }
        }
        if !d.server_said_secret {
            no_secret(&format!("{:?}", d.conn));
        }
    }
    if !d.closed {
        // Closing hands back the owner's requests only.
        let lost = d.conn.close().count() as u32;
        assert_eq!(lost, d.owner_sent - d.owner_back);
    }
}

fuzz_target!(|input: Input| {
    if input.connection {
        connection(&input);
    } else {
        authenticator(&input);
    }
});
