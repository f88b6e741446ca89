//! The brokers' side of SASL (KIP-43, KIP-152): SaslHandshake v1 and
//! SaslAuthenticate v0–v2 with PLAIN (RFC 4616), SCRAM-SHA-256/512 (RFC 5802,
//! RFC 7677) and OAUTHBEARER (RFC 7628, with Kafka's unsecured JWS tokens), so
//! that serve mode can be a SASL listener for any client.
//!
//! Written from the RFCs and Kafka's broker behaviour, independently of
//! kasio-core's client side (core/src/sasl/), which it checks: the SCRAM server
//! keeps only salted credentials (salt, StoredKey, ServerKey), verifies the
//! client's proof and sends the server signature.
//!
//! As on Kafka: on a SASL listener a connection may send only ApiVersions,
//! SaslHandshake and SaslAuthenticate until it is authenticated; anything else
//! closes it. A failed SaslAuthenticate is answered with
//! SASL_AUTHENTICATION_FAILED (and a message) and the connection is then closed.
//! An OAUTHBEARER token that does not validate gets the RFC 7628 error challenge
//! (`{"status":"invalid_token"}`) first; the client's `%x01` acknowledgement is
//! then failed. A session (re-)authenticated with OAUTHBEARER lasts until the
//! token's `exp` (SaslAuthenticate v1+ `session_lifetime_ms`), so clients
//! re-authenticate (KIP-368) on the same connection: once a session expired,
//! any other request closes the connection (and is a violation, as a correct
//! client re-authenticates in time). The other mechanisms' sessions do not
//! expire.
//!
//! Not implemented: SaslHandshake v0's raw (unframed) tokens — only v1 is
//! advertised (librdkafka and the Java client use v1 when the broker lists
//! SaslAuthenticate), SCRAM channel binding, delegation tokens
//! (`tokenauth=true`), GSSAPI.
//!
//! Client bytes are parsed with bounds and without panicking: a token over
//! [`MAX_TOKEN`] bytes, bad UTF-8, bad base64 or malformed attributes fail the
//! exchange.

use std::collections::BTreeMap;
use std::fmt;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use bytes::Bytes;
use hmac::{Hmac, KeyInit, Mac};
use kasio_core::protocol::messages::{
    SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest, SaslHandshakeResponse,
};
use kasio_core::protocol::ErrorCode;
use sha2::{Digest, Sha256, Sha512};

use super::cluster::Cluster;
use super::server::{response_frame, Reply, Req, ServerConn};

/// The longest SaslAuthenticate token the brokers read.
pub const MAX_TOKEN: usize = 64 * 1024;

/// The SCRAM iteration count of every user's credentials (Kafka's minimum).
pub const SCRAM_ITERATIONS: u32 = 4096;

/// A SASL mechanism the simulated brokers can enable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Mechanism {
    /// RFC 4616.
    Plain,
    /// RFC 7677.
    ScramSha256,
    /// RFC 7677 with SHA-512 (as Kafka names it).
    ScramSha512,
    /// RFC 7628 with unsecured JWS tokens.
    OAuthBearer,
}

impl Mechanism {
    /// Every mechanism.
    pub const ALL: [Mechanism; 4] = [
        Mechanism::Plain,
        Mechanism::ScramSha256,
        Mechanism::ScramSha512,
        Mechanism::OAuthBearer,
    ];

    /// The name in SaslHandshake and in client configurations.
    pub fn name(self) -> &'static str {
        match self {
            Mechanism::Plain => "PLAIN",
            Mechanism::ScramSha256 => "SCRAM-SHA-256",
            Mechanism::ScramSha512 => "SCRAM-SHA-512",
            Mechanism::OAuthBearer => "OAUTHBEARER",
        }
    }

    fn from_name(name: &str) -> Option<Mechanism> {
        Mechanism::ALL.into_iter().find(|m| m.name() == name)
    }
}

/// Salted SCRAM credentials (what a Kafka broker stores in its metadata).
#[derive(Clone, PartialEq, Eq)]
struct ScramCredential {
    salt: Vec<u8>,
    stored_key: Vec<u8>,
    server_key: Vec<u8>,
    iterations: u32,
}

#[derive(Clone, PartialEq, Eq)]
struct User {
    /// For PLAIN only.
    password: String,
    sha256: ScramCredential,
    sha512: ScramCredential,
}

/// The SASL side of a listener: enabled mechanisms, users and how OAUTHBEARER
/// tokens are judged. Set on [`ClusterSpec::sasl`](super::ClusterSpec::sasl).
#[derive(Clone, PartialEq, Eq)]
pub struct SaslSpec {
    /// The mechanisms SaslHandshake accepts, in the order it lists them.
    pub mechanisms: Vec<Mechanism>,
    users: BTreeMap<String, User>,
    /// Unix time (ms) at the cluster's `Instant::ZERO`, for OAUTHBEARER `exp`
    /// checks (serve mode starts its clock when it is built).
    pub unix_ms_at_zero: u64,
}

impl fmt::Debug for SaslSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SaslSpec")
            .field("mechanisms", &self.mechanisms)
            .field("users", &self.users.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Default for SaslSpec {
    fn default() -> Self {
        Self::new()
    }
}

impl SaslSpec {
    /// Every mechanism enabled, no users yet; the wall clock read now.
    pub fn new() -> Self {
        let unix_ms_at_zero = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        Self {
            mechanisms: Mechanism::ALL.to_vec(),
            users: BTreeMap::new(),
            unix_ms_at_zero,
        }
    }

    /// Only these mechanisms.
    #[must_use]
    pub fn mechanisms(mut self, mechanisms: &[Mechanism]) -> Self {
        self.mechanisms = mechanisms.to_vec();
        self
    }

    /// A user for PLAIN and SCRAM (credentials salted with a salt derived from
    /// the name, [`SCRAM_ITERATIONS`] iterations). OAUTHBEARER needs no user:
    /// any valid token's `sub` is the principal.
    #[must_use]
    pub fn user(mut self, name: &str, password: &str) -> Self {
        let salt = |tag: &str| Sha256::digest(format!("kasio-sim salt {tag} {name}")).to_vec();
        let user = User {
            password: password.to_string(),
            sha256: scram_credential::<Sha256>(password, &salt("256")[..16], SCRAM_ITERATIONS),
            sha512: scram_credential::<Sha512>(password, &salt("512")[..16], SCRAM_ITERATIONS),
        };
        self.users.insert(name.to_string(), user);
        self
    }

    fn scram(&self, mechanism: Mechanism, user: &str) -> Option<&ScramCredential> {
        let u = self.users.get(user)?;
        match mechanism {
            Mechanism::ScramSha256 => Some(&u.sha256),
            Mechanism::ScramSha512 => Some(&u.sha512),
            _ => None,
        }
    }
}

/// SHA-256 or SHA-512 for SCRAM.
trait ScramHash: Digest {
    fn hmac(key: &[u8], data: &[u8]) -> Vec<u8>;
    fn hi(password: &str, salt: &[u8], iterations: u32) -> Vec<u8>;
}

macro_rules! scram_hash {
    ($h:ty, $len:expr) => {
        impl ScramHash for $h {
            fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
                let mut mac =
                    <Hmac<$h> as KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
                mac.update(data);
                mac.finalize().into_bytes().to_vec()
            }
            fn hi(password: &str, salt: &[u8], iterations: u32) -> Vec<u8> {
                let mut out = [0u8; $len];
                pbkdf2::pbkdf2_hmac::<$h>(password.as_bytes(), salt, iterations, &mut out);
                out.to_vec()
            }
        }
    };
}
scram_hash!(Sha256, 32);
scram_hash!(Sha512, 64);

fn scram_credential<H: ScramHash>(password: &str, salt: &[u8], iterations: u32) -> ScramCredential {
    let salted = H::hi(password, salt, iterations);
    let client_key = H::hmac(&salted, b"Client Key");
    ScramCredential {
        salt: salt.to_vec(),
        stored_key: H::digest(&client_key).to_vec(),
        server_key: H::hmac(&salted, b"Server Key"),
        iterations,
    }
}

/// Where one connection is in authentication.
#[derive(Debug, Default)]
pub(crate) struct ConnAuth {
    /// Authenticated at least once: other requests are served.
    pub authenticated: bool,
    /// The authenticated principal (for notes).
    pub principal: Option<String>,
    /// When the session ends (cluster time), if it does: then only a
    /// re-authentication may follow.
    pub expires_at: Option<kasio_core::time::Instant>,
    stage: Stage,
}

#[derive(Debug, Default)]
enum Stage {
    /// Expecting SaslHandshake.
    #[default]
    Idle,
    /// Handshake done; expecting the first SaslAuthenticate.
    Handshaken(Mechanism),
    /// SCRAM: server-first sent; expecting client-final.
    ScramFinal {
        mechanism: Mechanism,
        user: String,
        gs2_header: String,
        nonce: String,
        /// client-first-message-bare + "," + server-first-message.
        auth_prefix: String,
    },
    /// OAUTHBEARER: the error challenge was sent; expecting `%x01`.
    OAuthFailed(String),
}

/// What one SaslAuthenticate token comes to.
enum Outcome {
    /// Send these bytes and wait for the next token.
    Challenge(Vec<u8>, Stage),
    /// Authenticated as `principal`; send these bytes.
    Done {
        principal: String,
        bytes: Vec<u8>,
        lifetime_ms: i64,
    },
    /// SASL_AUTHENTICATION_FAILED with this message, then close.
    Failed(String),
}

fn invalid_credentials(m: Mechanism) -> String {
    format!(
        "Authentication failed during authentication due to invalid credentials with SASL mechanism {}",
        m.name()
    )
}

impl Cluster {
    /// Why `conn` may not send a request with API key `key` now, if it may not:
    /// on a SASL listener, only ApiVersions and the SASL APIs before
    /// authentication and after the session expired.
    pub(crate) fn sasl_refuses(&self, conn: ServerConn, key: i16) -> Option<&'static str> {
        if self.spec.sasl.is_none() || matches!(key, 17 | 18 | 36) {
            return None;
        }
        let auth = &self.conns.get(&conn)?.auth;
        if !auth.authenticated {
            return Some("before SASL authentication");
        }
        if auth.expires_at.is_some_and(|t| self.now >= t) {
            return Some("after its SASL session expired (no re-authentication)");
        }
        None
    }

    /// Successful re-authentications (KIP-368: a SaslHandshake and
    /// SaslAuthenticate on an authenticated connection) so far.
    pub fn sasl_reauthentications(&self) -> u64 {
        self.sasl_reauthentications
    }

    pub(crate) fn handle_sasl_handshake(
        &mut self,
        broker: i32,
        conn: ServerConn,
        req: &Req,
    ) -> Reply {
        let Some(body) = self.decode::<SaslHandshakeRequest>(broker, req) else {
            return Reply::Close;
        };
        let enabled = self
            .spec
            .sasl
            .as_ref()
            .map(|s| s.mechanisms.clone())
            .unwrap_or_default();
        let mechanisms: Vec<String> = enabled.iter().map(|m| m.name().to_string()).collect();
        let chosen = Mechanism::from_name(&body.mechanism).filter(|m| enabled.contains(m));
        let Some(c) = self.conns.get_mut(&conn) else {
            return Reply::Close;
        };
        let error = match (&c.auth.stage, chosen) {
            (Stage::Idle, Some(m)) => {
                c.auth.stage = Stage::Handshaken(m);
                ErrorCode::None
            }
            (Stage::Idle, None) => ErrorCode::UnsupportedSaslMechanism,
            _ => ErrorCode::IllegalSaslState,
        };
        self.note(
            broker,
            format!(
                "SaslHandshake v{} {} -> {error:?}",
                req.version, body.mechanism
            ),
        );
        let frame = response_frame(
            req.api,
            req.version,
            req.corr,
            &SaslHandshakeResponse {
                error_code: error.code(),
                mechanisms,
            },
        );
        if error == ErrorCode::None {
            Reply::Frame(frame)
        } else {
            // Kafka closes the connection after a failed handshake.
            Reply::FrameThenClose(frame)
        }
    }

    pub(crate) fn handle_sasl_authenticate(
        &mut self,
        broker: i32,
        conn: ServerConn,
        req: &Req,
    ) -> Reply {
        let Some(body) = self.decode::<SaslAuthenticateRequest>(broker, req) else {
            return Reply::Close;
        };
        let Some(spec) = self.spec.sasl.clone() else {
            return Reply::Close;
        };
        let Some(c) = self.conns.get_mut(&conn) else {
            return Reply::Close;
        };
        let stage = std::mem::take(&mut c.auth.stage);
        let token: &[u8] = &body.auth_bytes;
        let now_unix_ms = spec.unix_ms_at_zero + self.now.as_micros() / 1000;
        let outcome = if token.len() > MAX_TOKEN {
            Outcome::Failed(format!("SASL token of {} bytes is too long", token.len()))
        } else {
            match stage {
                Stage::Idle => {
                    let frame = response_frame(
                        req.api,
                        req.version,
                        req.corr,
                        &SaslAuthenticateResponse {
                            error_code: ErrorCode::IllegalSaslState.code(),
                            error_message: Some(
                                "SaslAuthenticate before SaslHandshake".to_string(),
                            ),
                            ..Default::default()
                        },
                    );
                    return Reply::FrameThenClose(frame);
                }
                Stage::Handshaken(Mechanism::Plain) => plain(&spec, token),
                Stage::Handshaken(m @ Mechanism::ScramSha256) => {
                    scram_first(&spec, m, token, self.rng.next_u64(), self.rng.next_u64())
                }
                Stage::Handshaken(m @ Mechanism::ScramSha512) => {
                    scram_first(&spec, m, token, self.rng.next_u64(), self.rng.next_u64())
                }
                Stage::Handshaken(Mechanism::OAuthBearer) => oauthbearer(token, now_unix_ms),
                Stage::ScramFinal {
                    mechanism,
                    user,
                    gs2_header,
                    nonce,
                    auth_prefix,
                } => {
                    let Some(cred) = spec.scram(mechanism, &user) else {
                        return Reply::Close;
                    };
                    match mechanism {
                        Mechanism::ScramSha512 => scram_final::<Sha512>(
                            mechanism,
                            cred,
                            &user,
                            &gs2_header,
                            &nonce,
                            &auth_prefix,
                            token,
                        ),
                        _ => scram_final::<Sha256>(
                            mechanism,
                            cred,
                            &user,
                            &gs2_header,
                            &nonce,
                            &auth_prefix,
                            token,
                        ),
                    }
                }
                Stage::OAuthFailed(reason) => Outcome::Failed(if token == [0x01] {
                    reason
                } else {
                    format!("{reason} (and the client did not acknowledge the error with %x01)")
                }),
            }
        };
        let Some(c) = self.conns.get_mut(&conn) else {
            return Reply::Close;
        };
        let (response, close, note) = match outcome {
            Outcome::Challenge(bytes, next) => {
                c.auth.stage = next;
                (
                    SaslAuthenticateResponse {
                        auth_bytes: Bytes::from(bytes),
                        error_message: None,
                        ..Default::default()
                    },
                    false,
                    "challenge".to_string(),
                )
            }
            Outcome::Done {
                principal,
                bytes,
                lifetime_ms,
            } => {
                let reauthentication = c.auth.authenticated;
                c.auth.authenticated = true;
                c.auth.stage = Stage::Idle;
                c.auth.expires_at = (lifetime_ms > 0).then(|| {
                    kasio_core::time::Instant::from_micros(
                        self.now
                            .as_micros()
                            .saturating_add((lifetime_ms as u64).saturating_mul(1000)),
                    )
                });
                self.sasl_reauthentications += u64::from(reauthentication);
                let note = format!("authenticated {principal} (session {lifetime_ms} ms)");
                c.auth.principal = Some(principal);
                (
                    SaslAuthenticateResponse {
                        auth_bytes: Bytes::from(bytes),
                        error_message: None,
                        session_lifetime_ms: lifetime_ms,
                        ..Default::default()
                    },
                    false,
                    note,
                )
            }
            Outcome::Failed(message) => (
                SaslAuthenticateResponse {
                    error_code: ErrorCode::SaslAuthenticationFailed.code(),
                    error_message: Some(message.clone()),
                    ..Default::default()
                },
                true,
                format!("failed: {message}"),
            ),
        };
        self.note(broker, format!("SaslAuthenticate v{}: {note}", req.version));
        let frame = response_frame(req.api, req.version, req.corr, &response);
        if close {
            Reply::FrameThenClose(frame)
        } else {
            Reply::Frame(frame)
        }
    }
}

/// PLAIN: `[authzid] NUL authcid NUL passwd`.
fn plain(spec: &SaslSpec, token: &[u8]) -> Outcome {
    let parts: Vec<&[u8]> = token.split(|&b| b == 0).collect();
    let [authzid, user, password] = parts[..] else {
        return Outcome::Failed("Authentication failed: malformed PLAIN message".into());
    };
    let (Ok(authzid), Ok(user), Ok(password)) = (
        std::str::from_utf8(authzid),
        std::str::from_utf8(user),
        std::str::from_utf8(password),
    ) else {
        return Outcome::Failed("Authentication failed: PLAIN message is not UTF-8".into());
    };
    if !authzid.is_empty() && authzid != user {
        return Outcome::Failed(
            "Authentication failed: Client requested an authorization id that is different from username"
                .into(),
        );
    }
    match spec.users.get(user) {
        Some(u) if !user.is_empty() && u.password == password => Outcome::Done {
            principal: user.to_string(),
            bytes: Vec::new(),
            lifetime_ms: 0,
        },
        _ => Outcome::Failed("Authentication failed: Invalid username or password".into()),
    }
}

/// RFC 5802 `saslname`: `=2C` is `,`, `=3D` is `=`; any other `=` is invalid.
fn decode_saslname(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('=') {
        out.push_str(&rest[..i]);
        let esc = rest.get(i..i + 3)?;
        out.push(match esc {
            "=2C" => ',',
            "=3D" => '=',
            _ => return None,
        });
        rest = &rest[i + 3..];
    }
    out.push_str(rest);
    Some(out)
}

/// The nonce characters RFC 5802 allows (printable ASCII except `,`).
fn valid_nonce(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| (0x21..=0x7e).contains(&b) && b != b',')
}

/// SCRAM client-first: `gs2-header client-first-message-bare`.
fn scram_first(spec: &SaslSpec, m: Mechanism, token: &[u8], r1: u64, r2: u64) -> Outcome {
    let fail = |why: &str| Outcome::Failed(format!("Authentication failed: {why}"));
    let Ok(msg) = std::str::from_utf8(token) else {
        return fail("client-first-message is not UTF-8");
    };
    // gs2-header: cbind-flag "," [authzid] ","
    let mut it = msg.splitn(3, ',');
    let (Some(cbind), Some(authzid), Some(bare)) = (it.next(), it.next(), it.next()) else {
        return fail("malformed client-first-message");
    };
    match cbind {
        "n" | "y" => {}
        _ => return fail("channel binding is not supported"),
    }
    let gs2_header = format!("{cbind},{authzid},");
    let mut attrs = bare.split(',');
    let user = match attrs.next().and_then(|a| a.strip_prefix("n=")) {
        Some(u) => match decode_saslname(u) {
            Some(u) if !u.is_empty() => u,
            _ => return fail("invalid user name"),
        },
        None => return fail("client-first-message has no user name"),
    };
    let client_nonce = match attrs.next().and_then(|a| a.strip_prefix("r=")) {
        Some(r) if valid_nonce(r) => r,
        _ => return fail("client-first-message has no valid nonce"),
    };
    for ext in attrs {
        // Kafka's client sends `tokenauth=true` for delegation tokens only.
        if ext == "tokenauth=true" {
            return fail("delegation tokens are not supported");
        }
    }
    if let Some(a) = authzid.strip_prefix("a=") {
        if decode_saslname(a).as_deref() != Some(user.as_str()) {
            return fail("authorization id differs from the user name");
        }
    } else if !authzid.is_empty() {
        return fail("malformed gs2-header");
    }
    let Some(cred) = spec.scram(m, &user) else {
        return Outcome::Failed(invalid_credentials(m));
    };
    let nonce = format!("{client_nonce}{r1:016x}{r2:016x}");
    let server_first = format!(
        "r={nonce},s={},i={}",
        STANDARD.encode(&cred.salt),
        cred.iterations
    );
    let auth_prefix = format!("{bare},{server_first}");
    Outcome::Challenge(
        server_first.into_bytes(),
        Stage::ScramFinal {
            mechanism: m,
            user,
            gs2_header,
            nonce,
            auth_prefix,
        },
    )
}

/// SCRAM client-final: `c=<gs2-header, base64>,r=<nonce>[,ext],p=<proof>`.
fn scram_final<H: ScramHash>(
    m: Mechanism,
    cred: &ScramCredential,
    user: &str,
    gs2_header: &str,
    nonce: &str,
    auth_prefix: &str,
    token: &[u8],
) -> Outcome {
    let fail = |why: &str| Outcome::Failed(format!("Authentication failed: {why}"));
    let Ok(msg) = std::str::from_utf8(token) else {
        return fail("client-final-message is not UTF-8");
    };
    let Some(i) = msg.rfind(",p=") else {
        return fail("client-final-message has no proof");
    };
    let (without_proof, proof) = (&msg[..i], &msg[i + 3..]);
    let mut attrs = without_proof.split(',');
    let binding = attrs.next().and_then(|a| a.strip_prefix("c="));
    if binding.and_then(|b| STANDARD.decode(b).ok()).as_deref() != Some(gs2_header.as_bytes()) {
        return fail("channel binding does not match the gs2-header");
    }
    if attrs.next().and_then(|a| a.strip_prefix("r=")) != Some(nonce) {
        return fail("nonce mismatch");
    }
    let Ok(proof) = STANDARD.decode(proof) else {
        return fail("the proof is not base64");
    };
    let auth_message = format!("{auth_prefix},{without_proof}");
    let client_signature = H::hmac(&cred.stored_key, auth_message.as_bytes());
    if proof.len() != client_signature.len() {
        return Outcome::Failed(invalid_credentials(m));
    }
    let client_key: Vec<u8> = proof
        .iter()
        .zip(&client_signature)
        .map(|(p, s)| p ^ s)
        .collect();
    if H::digest(&client_key).as_slice() != cred.stored_key.as_slice() {
        return Outcome::Failed(invalid_credentials(m));
    }
    let server_signature = H::hmac(&cred.server_key, auth_message.as_bytes());
    Outcome::Done {
        principal: user.to_string(),
        bytes: format!("v={}", STANDARD.encode(server_signature)).into_bytes(),
        lifetime_ms: 0,
    }
}

/// OAUTHBEARER initial response: `gs2-header %x01 auth=Bearer <token> %x01
/// *(key=value %x01) %x01`, with an unsecured JWS (`alg: none`) token whose
/// payload has `sub` and a future `exp` (seconds).
fn oauthbearer(token: &[u8], now_unix_ms: u64) -> Outcome {
    let invalid = |why: String| {
        Outcome::Challenge(
            br#"{"status":"invalid_token"}"#.to_vec(),
            Stage::OAuthFailed(format!("Authentication failed: {why}")),
        )
    };
    let malformed =
        || Outcome::Failed("Authentication failed: malformed OAUTHBEARER message".into());
    let Ok(msg) = std::str::from_utf8(token) else {
        return malformed();
    };
    let mut it = msg.splitn(3, ',');
    let (Some("n" | "y"), Some(authzid), Some(rest)) = (it.next(), it.next(), it.next()) else {
        return malformed();
    };
    let Some(rest) = rest.strip_prefix('\x01') else {
        return malformed();
    };
    let Some(rest) = rest.strip_suffix("\x01\x01") else {
        return malformed();
    };
    let mut auth = None;
    for kv in rest.split('\x01') {
        let Some((k, v)) = kv.split_once('=') else {
            return malformed();
        };
        if k == "auth" {
            auth = Some(v);
        }
    }
    let Some(auth) = auth else {
        return malformed();
    };
    let bearer = match auth.split_once(' ') {
        Some((scheme, t)) if scheme.eq_ignore_ascii_case("bearer") => t.trim(),
        _ => return malformed(),
    };
    let parts: Vec<&str> = bearer.split('.').collect();
    let [header, payload, signature] = parts[..] else {
        return invalid("the token is not a JWS (three dot-separated parts)".into());
    };
    let json = |part: &str| -> Option<serde_json::Value> {
        let bytes = URL_SAFE_NO_PAD.decode(part.trim_end_matches('=')).ok()?;
        serde_json::from_slice(&bytes).ok()
    };
    let (Some(header), Some(payload)) = (json(header), json(payload)) else {
        return invalid("the token's header or payload is not base64url JSON".into());
    };
    if header.get("alg").and_then(|a| a.as_str()) != Some("none") || !signature.is_empty() {
        return invalid("only unsecured tokens (alg none, no signature) are accepted".into());
    }
    let sub = match payload.get("sub").and_then(|s| s.as_str()) {
        Some(s) if !s.is_empty() => s.to_string(),
        _ => return invalid("the token has no sub claim".into()),
    };
    let Some(exp) = payload.get("exp").and_then(|e| e.as_f64()) else {
        return invalid("the token has no exp claim".into());
    };
    // `as` saturates (and maps NaN to 0): any number the client sends is safe.
    let exp_ms = (exp * 1000.0) as i64;
    let lifetime_ms = exp_ms.saturating_sub(now_unix_ms as i64);
    if lifetime_ms <= 0 {
        return invalid(format!(
            "the token expired {} ms ago (exp {exp})",
            lifetime_ms.unsigned_abs()
        ));
    }
    if let Some(a) = authzid.strip_prefix("a=") {
        if a != sub {
            return invalid("authorization id differs from the token's sub".into());
        }
    }
    Outcome::Done {
        principal: sub,
        bytes: Vec::new(),
        lifetime_ms,
    }
}

/// An unsecured JWS (Kafka's `alg: none` tokens) for `sub`, expiring at
/// `exp_unix_s`: what librdkafka's `enable.sasl.oauthbearer.unsecure.jwt` and
/// Java's `OAuthBearerUnsecuredLoginCallbackHandler` make, for kasio tests.
pub fn unsecured_jwt(sub: &str, exp_unix_s: u64) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#);
    let payload = URL_SAFE_NO_PAD.encode(
        serde_json::json!({"sub": sub, "iat": exp_unix_s.saturating_sub(3600), "exp": exp_unix_s})
            .to_string(),
    );
    format!("{header}.{payload}.")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::server::{unframe, Output};
    use crate::sim::ClusterSpec;
    use bytes::BytesMut;
    use kasio_core::codec::{encode_request_frame, ResponseHeader};
    use kasio_core::protocol::messages::{ApiVersionsRequest, MetadataRequest};
    use kasio_core::protocol::{ApiKey, Message, Request};
    use kasio_core::time::Instant;

    /// Sends one request on `conn`; what the broker did.
    fn send<R: Request>(c: &mut Cluster, conn: u64, version: i16, req: &R) -> Vec<Output> {
        let mut buf = BytesMut::new();
        encode_request_frame(&mut buf, version, 1, Some("t"), req).expect("encodes");
        c.handle_input(Instant::ZERO, ServerConn(conn), &buf);
        std::iter::from_fn(|| c.poll_output()).collect()
    }

    fn answer<M: Message>(api: ApiKey, version: i16, out: &[Output]) -> M {
        let Some(Output::Send { data, .. }) = out.first() else {
            panic!("no answer: {out:?}");
        };
        let frame = unframe(data.clone());
        let (_, body) =
            ResponseHeader::decode(api.response_header_version(version), &frame).expect("header");
        M::decode(version, &body).expect("body")
    }

    fn closed(out: &[Output]) -> bool {
        out.iter().any(|o| matches!(o, Output::Close { .. }))
    }

    /// ApiVersions is answered before authentication; anything else closes the
    /// connection; an unknown mechanism is refused with the enabled list; after
    /// authenticating, requests are served.
    #[test]
    fn a_sasl_listener_serves_only_authenticated_connections() {
        let sasl = SaslSpec::new()
            .mechanisms(&[Mechanism::Plain])
            .user("alice", "pw");
        let mut c = Cluster::new(ClusterSpec::new(1).topic("t", 1, 1).sasl(sasl));
        for conn in 1..=3 {
            assert!(c.handle_connect(Instant::ZERO, 1, ServerConn(conn)));
        }
        let out = send(&mut c, 1, 3, &ApiVersionsRequest::default());
        let versions: kasio_core::protocol::messages::ApiVersionsResponse =
            answer(ApiKey::ApiVersions, 3, &out);
        assert!(versions
            .api_keys
            .iter()
            .any(|a| a.api_key == ApiKey::SaslHandshake.key() && a.min_version == 1));
        let out = send(&mut c, 1, 12, &MetadataRequest::default());
        assert!(closed(&out), "Metadata before authentication: {out:?}");
        assert_eq!(c.take_violations().len(), 1);

        let hs = SaslHandshakeRequest {
            mechanism: "SCRAM-SHA-256".into(),
        };
        let out = send(&mut c, 2, 1, &hs);
        let r: SaslHandshakeResponse = answer(ApiKey::SaslHandshake, 1, &out);
        assert_eq!(r.error_code, ErrorCode::UnsupportedSaslMechanism.code());
        assert_eq!(r.mechanisms, vec!["PLAIN".to_string()]);
        assert!(closed(&out));

        let hs = SaslHandshakeRequest {
            mechanism: "PLAIN".into(),
        };
        let out = send(&mut c, 3, 1, &hs);
        let r: SaslHandshakeResponse = answer(ApiKey::SaslHandshake, 1, &out);
        assert_eq!(r.error_code, 0);
        let auth = SaslAuthenticateRequest {
            auth_bytes: Bytes::from_static(b"\0alice\0pw"),
        };
        let out = send(&mut c, 3, 2, &auth);
        let r: SaslAuthenticateResponse = answer(ApiKey::SaslAuthenticate, 2, &out);
        assert_eq!(r.error_code, 0, "{:?}", r.error_message);
        let out = send(&mut c, 3, 12, &MetadataRequest::default());
        assert!(!closed(&out) && out.len() == 1, "{out:?}");
        assert!(c.take_violations().is_empty());
    }

    fn spec() -> SaslSpec {
        SaslSpec::new().user("alice", "pw")
    }

    #[test]
    fn plain_checks_the_password() {
        assert!(matches!(
            plain(&spec(), b"\0alice\0pw"),
            Outcome::Done { .. }
        ));
        assert!(matches!(plain(&spec(), b"\0alice\0no"), Outcome::Failed(_)));
        assert!(matches!(
            plain(&spec(), b"bob\0alice\0pw"),
            Outcome::Failed(_)
        ));
        assert!(matches!(plain(&spec(), b"\0alice"), Outcome::Failed(_)));
        assert!(matches!(plain(&spec(), b""), Outcome::Failed(_)));
    }

    #[test]
    fn saslnames_decode() {
        assert_eq!(decode_saslname("a=2Cb=3D").as_deref(), Some("a,b="));
        assert_eq!(decode_saslname("a=2"), None);
        assert_eq!(decode_saslname("a=41"), None);
    }

    /// Garbage never panics and never authenticates.
    #[test]
    fn garbage_is_refused() {
        let s = spec();
        let mut seed = 1u64;
        for len in 0..200usize {
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    seed = seed
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    [b'n', b',', b'=', b'r', b'p', 0x01, 0, b'.', b'a'][(seed >> 60) as usize % 9]
                })
                .collect();
            assert!(!matches!(plain(&s, &bytes), Outcome::Done { .. }));
            assert!(!matches!(
                scram_first(&s, Mechanism::ScramSha256, &bytes, 1, 2),
                Outcome::Done { .. }
            ));
            assert!(!matches!(oauthbearer(&bytes, 0), Outcome::Done { .. }));
            let cred = s.scram(Mechanism::ScramSha256, "alice").unwrap();
            assert!(!matches!(
                scram_final::<Sha256>(
                    Mechanism::ScramSha256,
                    cred,
                    "alice",
                    "n,,",
                    "x",
                    "y",
                    &bytes
                ),
                Outcome::Done { .. }
            ));
        }
    }

    #[test]
    fn oauthbearer_checks_sub_and_expiry() {
        let msg = |t: &str| format!("n,,\x01auth=Bearer {t}\x01\x01").into_bytes();
        let now_ms = 1_800_000_000_000;
        match oauthbearer(&msg(&unsecured_jwt("alice", 1_800_000_060)), now_ms) {
            Outcome::Done {
                principal,
                lifetime_ms,
                ..
            } => {
                assert_eq!(principal, "alice");
                assert_eq!(lifetime_ms, 60_000);
            }
            _ => panic!("a valid token"),
        }
        assert!(matches!(
            oauthbearer(&msg(&unsecured_jwt("alice", 1_799_999_999)), now_ms),
            Outcome::Challenge(_, Stage::OAuthFailed(m)) if m.contains("expired")
        ));
        assert!(matches!(
            oauthbearer(&msg(&unsecured_jwt("", 1_800_000_060)), now_ms),
            Outcome::Challenge(_, Stage::OAuthFailed(m)) if m.contains("sub")
        ));
        // Absurd expiry times neither panic nor overflow.
        let claims = |exp: &str| {
            let payload = URL_SAFE_NO_PAD.encode(format!(r#"{{"sub":"a","exp":{exp}}}"#));
            msg(&format!("eyJhbGciOiJub25lIn0.{payload}."))
        };
        assert!(matches!(
            oauthbearer(&claims("1e300"), now_ms),
            Outcome::Done { lifetime_ms, .. } if lifetime_ms > 0
        ));
        for exp in ["-1e300", "0", "-5"] {
            assert!(matches!(
                oauthbearer(&claims(exp), now_ms),
                Outcome::Challenge(_, Stage::OAuthFailed(_))
            ));
        }
    }
}
