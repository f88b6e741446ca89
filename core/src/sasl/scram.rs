//! SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC 7677), the client side, as Kafka
//! speaks it: no channel binding (`n,,`), no authorization id, and the
//! `tokenauth=true` extension for delegation tokens (KIP-48).
//!
//! ```text
//! client-first   n,,n=<saslname>,r=<client nonce>[,tokenauth=true]
//! server-first   r=<client nonce><server nonce>,s=<salt, base64>,i=<iterations>
//! client-final   c=biws,r=<nonce>,p=<ClientKey XOR HMAC(StoredKey, AuthMessage), base64>
//! server-final   v=<HMAC(ServerKey, AuthMessage), base64>   or   e=<error>
//! ```
//!
//! What the client checks, each a fatal [`SaslErrorKind`]:
//! - the server nonce starts with the client's and adds to it
//!   ([`ServerNonceMismatch`](SaslErrorKind::ServerNonceMismatch));
//! - the iteration count lies in [`MIN_ITERATIONS`]`..=`[`MAX_ITERATIONS`]
//!   ([`IterationCount`](SaslErrorKind::IterationCount));
//! - the server signature matches, compared in constant time
//!   ([`ServerSignatureMismatch`](SaslErrorKind::ServerSignatureMismatch)): only a
//!   server that knows the password (its salted form) can produce it.
//!
//! The password is used as its UTF-8 bytes, without SASLprep, as Java's
//! `ScramFormatter` does (so both clients derive the same keys for any password).
//!
//! ```
//! use kasio_core::config::SaslMechanism;
//! use kasio_core::sasl::scram::ScramClient;
//!
//! // RFC 7677's example exchange.
//! let mut c = ScramClient::new(SaslMechanism::ScramSha256, "user", "pencil", "rOprNGfwEbeRWgbNEkqO").unwrap();
//! assert_eq!(c.client_first(), b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
//! let client_final = c.handle_server_first(
//!     b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
//! ).unwrap();
//! assert_eq!(
//!     client_final,
//!     b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
//! );
//! c.handle_server_final(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=").unwrap();
//! ```

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256, Sha512};

use super::{SaslErrorKind, SaslMechanism, Secret};
use crate::rng::Rng;

/// The fewest PBKDF2 iterations accepted: RFC 7677's recommended minimum, which is
/// also what Java's `ScramSaslClient` enforces and what Kafka brokers create
/// credentials with by default.
pub const MIN_ITERATIONS: u32 = 4096;

/// The most PBKDF2 iterations accepted. Kafka brokers create credentials with at
/// most 16384 (KIP-554); this leaves room for clusters configured by hand while a
/// hostile or broken server cannot make the core, which runs on the driver's
/// thread, spend seconds in PBKDF2 on every connection (100 000 iterations of
/// HMAC-SHA-512 take tens of milliseconds on a server CPU).
pub const MAX_ITERATIONS: u32 = 100_000;

/// Length of the client nonce, in characters (`[A-Za-z0-9]`, about 190 bits).
pub const NONCE_LEN: usize = 32;

/// `base64("n,,")`: the GS2 header of a client without channel binding or
/// authorization id, echoed in the client-final message.
const CHANNEL_BINDING: &str = "biws";

/// A client nonce drawn from `rng`. The core's RNG is seeded by the driver, so a
/// production driver must seed it from real entropy for nonces to be
/// unpredictable (kasio-std does).
pub fn nonce(rng: &mut Rng) -> String {
    const ALPHABET: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    (0..NONCE_LEN)
        .map(|_| ALPHABET[rng.range_inclusive(0, 61) as usize] as char)
        .collect()
}

/// A user name as a SCRAM `saslname`: `,` becomes `=2C` and `=` becomes `=3D`.
///
/// ```
/// assert_eq!(kasio_core::sasl::scram::saslname("a,b=c"), "a=2Cb=3Dc");
/// ```
pub fn saslname(username: &str) -> String {
    let mut out = String::with_capacity(username.len());
    for c in username.chars() {
        match c {
            ',' => out.push_str("=2C"),
            '=' => out.push_str("=3D"),
            c => out.push(c),
        }
    }
    out
}

/// The hash of a SCRAM mechanism.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hash {
    Sha256,
    Sha512,
}

impl Hash {
    fn of(mechanism: SaslMechanism) -> Option<Self> {
        match mechanism {
            SaslMechanism::ScramSha256 => Some(Hash::Sha256),
            SaslMechanism::ScramSha512 => Some(Hash::Sha512),
            _ => None,
        }
    }

    fn hmac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        fn run<M: Mac + KeyInit>(key: &[u8], data: &[u8]) -> Vec<u8> {
            // HMAC takes keys of any length.
            let mut mac = <M as KeyInit>::new_from_slice(key).expect("any key length");
            mac.update(data);
            mac.finalize().into_bytes().to_vec()
        }
        match self {
            Hash::Sha256 => run::<Hmac<Sha256>>(key, data),
            Hash::Sha512 => run::<Hmac<Sha512>>(key, data),
        }
    }

    fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            Hash::Sha256 => Sha256::digest(data).to_vec(),
            Hash::Sha512 => Sha512::digest(data).to_vec(),
        }
    }

    /// `Hi(password, salt, i)`: PBKDF2 with this hash's HMAC, one block.
    fn hi(self, password: &[u8], salt: &[u8], iterations: u32) -> Vec<u8> {
        match self {
            Hash::Sha256 => {
                let mut out = [0u8; 32];
                pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut out);
                out.to_vec()
            }
            Hash::Sha512 => {
                let mut out = [0u8; 64];
                pbkdf2::pbkdf2_hmac::<Sha512>(password, salt, iterations, &mut out);
                out.to_vec()
            }
        }
    }
}

/// Whether `c` may appear in a nonce: RFC 5802's `printable`, ASCII 0x21–0x7E
/// except `,`.
fn printable(c: u8) -> bool {
    (0x21..=0x7e).contains(&c) && c != b','
}

/// The server-first message, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerFirst<'a> {
    /// The whole nonce: the client's followed by the server's.
    pub nonce: &'a str,
    /// The salt, decoded.
    pub salt: Vec<u8>,
    /// The iteration count as the server wrote it (not yet checked against the
    /// bounds; a number too large for `u64` reads as `u64::MAX`).
    pub iterations: u64,
}

/// Splits `a=value` into `(a, value)` when the attribute is the expected letter.
fn attribute(part: &[u8], name: u8) -> Option<&[u8]> {
    match part {
        [a, b'=', value @ ..] if *a == name => Some(value),
        _ => None,
    }
}

/// A decimal number of at most 19 digits read exactly, longer ones as `u64::MAX`.
fn decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let significant = digits.iter().skip_while(|&&d| d == b'0').count();
    if significant > 19 {
        return Some(u64::MAX);
    }
    Some(digits.iter().fold(0u64, |n, d| {
        n.saturating_mul(10).saturating_add(u64::from(d - b'0'))
    }))
}

impl<'a> ServerFirst<'a> {
    /// Parses `[m=…,]r=…,s=…,i=…[,extensions]`. A mandatory extension (`m=`) is
    /// refused, as RFC 5802 requires of a client that knows none.
    pub fn parse(message: &'a [u8]) -> Result<Self, SaslErrorKind> {
        let mut parts = message.split(|&b| b == b',');
        let first = parts.next().unwrap_or_default();
        if attribute(first, b'm').is_some() {
            return Err(SaslErrorKind::Malformed(
                "server-first-message has a mandatory extension (m=)",
            ));
        }
        let nonce = attribute(first, b'r').ok_or(SaslErrorKind::Malformed(
            "server-first-message must start with r=",
        ))?;
        if nonce.is_empty() || !nonce.iter().all(|&c| printable(c)) {
            return Err(SaslErrorKind::Malformed(
                "the server nonce is empty or not printable ASCII",
            ));
        }
        let nonce = core::str::from_utf8(nonce)
            .map_err(|_| SaslErrorKind::Malformed("the server nonce is not ASCII"))?;
        let salt =
            parts
                .next()
                .and_then(|p| attribute(p, b's'))
                .ok_or(SaslErrorKind::Malformed(
                    "server-first-message lacks s= after r=",
                ))?;
        let salt = STANDARD
            .decode(salt)
            .map_err(|_| SaslErrorKind::Malformed("the salt is not base64"))?;
        if salt.is_empty() {
            return Err(SaslErrorKind::Malformed("the salt is empty"));
        }
        let iterations =
            parts
                .next()
                .and_then(|p| attribute(p, b'i'))
                .ok_or(SaslErrorKind::Malformed(
                    "server-first-message lacks i= after s=",
                ))?;
        let iterations = decimal(iterations).ok_or(SaslErrorKind::Malformed(
            "the iteration count is not a decimal number",
        ))?;
        // Extensions may follow; a client that knows none ignores them.
        Ok(Self {
            nonce,
            salt,
            iterations,
        })
    }
}

/// The server-final message, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerFinal<'a> {
    /// `v=`: the server signature, decoded.
    Verifier(Vec<u8>),
    /// `e=`: the server's error.
    Error(&'a [u8]),
}

impl<'a> ServerFinal<'a> {
    /// Parses `v=…[,extensions]` or `e=…[,extensions]`.
    pub fn parse(message: &'a [u8]) -> Result<Self, SaslErrorKind> {
        let first = message.split(|&b| b == b',').next().unwrap_or_default();
        if let Some(error) = attribute(first, b'e') {
            return Ok(Self::Error(error));
        }
        let verifier = attribute(first, b'v').ok_or(SaslErrorKind::Malformed(
            "server-final-message must start with v= or e=",
        ))?;
        STANDARD
            .decode(verifier)
            .map(Self::Verifier)
            .map_err(|_| SaslErrorKind::Malformed("the server signature is not base64"))
    }
}

/// Equality that takes as long whatever the first difference (lengths are public).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[derive(Clone, PartialEq, Eq)]
enum State {
    /// client-first sent, server-first awaited.
    First,
    /// client-final sent; the server signature it must send.
    Final { server_signature: Vec<u8> },
    /// Verified.
    Done,
    /// Failed; nothing more is accepted.
    Failed,
}

/// One SCRAM exchange, from the client's side. `Debug` shows neither the password
/// nor anything derived from it.
#[derive(Clone)]
pub struct ScramClient {
    hash: Hash,
    mechanism: SaslMechanism,
    password: Secret,
    nonce: String,
    client_first_bare: String,
    state: State,
}

impl fmt::Debug for ScramClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.state {
            State::First => "awaiting server-first",
            State::Final { .. } => "awaiting server-final",
            State::Done => "done",
            State::Failed => "failed",
        };
        f.debug_struct("ScramClient")
            .field("mechanism", &self.mechanism)
            .field("client_first_bare", &self.client_first_bare)
            .field("state", &state)
            .finish_non_exhaustive()
    }
}

impl ScramClient {
    /// An exchange for `username` and `password` with the client nonce `nonce`
    /// (see [`nonce`](fn@nonce)); `None` unless `mechanism` is a SCRAM mechanism or
    /// when `nonce` is empty or has characters a nonce may not have.
    pub fn new(
        mechanism: SaslMechanism,
        username: &str,
        password: &str,
        nonce: &str,
    ) -> Option<Self> {
        Self::with_extensions(mechanism, username, password, nonce, false)
    }

    /// As [`new`](Self::new), with the `tokenauth=true` extension when
    /// `token_auth` (the credentials are a delegation token, KIP-48).
    pub fn with_extensions(
        mechanism: SaslMechanism,
        username: &str,
        password: &str,
        nonce: &str,
        token_auth: bool,
    ) -> Option<Self> {
        let hash = Hash::of(mechanism)?;
        if nonce.is_empty() || !nonce.bytes().all(printable) {
            return None;
        }
        let mut client_first_bare = String::from("n=");
        client_first_bare.push_str(&saslname(username));
        client_first_bare.push_str(",r=");
        client_first_bare.push_str(nonce);
        if token_auth {
            client_first_bare.push_str(",tokenauth=true");
        }
        Some(Self {
            hash,
            mechanism,
            password: Secret::new(password),
            nonce: nonce.into(),
            client_first_bare,
            state: State::First,
        })
    }

    /// The client-first message.
    pub fn client_first(&self) -> Vec<u8> {
        let mut out = Vec::from(&b"n,,"[..]);
        out.extend_from_slice(self.client_first_bare.as_bytes());
        out
    }

    /// Whether the server has proved itself (its signature checked out).
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Digests the server-first message; returns the client-final message.
    pub fn handle_server_first(&mut self, message: &[u8]) -> Result<Vec<u8>, SaslErrorKind> {
        if self.state != State::First {
            return Err(SaslErrorKind::Malformed(
                "a server-first message out of turn",
            ));
        }
        self.state = State::Failed;
        let first = ServerFirst::parse(message)?;
        if !first.nonce.starts_with(&self.nonce) || first.nonce.len() == self.nonce.len() {
            return Err(SaslErrorKind::ServerNonceMismatch);
        }
        let iterations = match u32::try_from(first.iterations) {
            Ok(i) if (MIN_ITERATIONS..=MAX_ITERATIONS).contains(&i) => i,
            _ => return Err(SaslErrorKind::IterationCount(first.iterations)),
        };
        let h = self.hash;
        let salted = h.hi(self.password.expose().as_bytes(), &first.salt, iterations);
        let client_key = h.hmac(&salted, b"Client Key");
        let stored_key = h.digest(&client_key);
        let server_key = h.hmac(&salted, b"Server Key");

        let mut without_proof = String::from("c=");
        without_proof.push_str(CHANNEL_BINDING);
        without_proof.push_str(",r=");
        without_proof.push_str(first.nonce);

        let mut auth_message = Vec::with_capacity(
            self.client_first_bare.len() + message.len() + without_proof.len() + 2,
        );
        auth_message.extend_from_slice(self.client_first_bare.as_bytes());
        auth_message.push(b',');
        auth_message.extend_from_slice(message);
        auth_message.push(b',');
        auth_message.extend_from_slice(without_proof.as_bytes());

        let client_signature = h.hmac(&stored_key, &auth_message);
        let proof: Vec<u8> = client_key
            .iter()
            .zip(&client_signature)
            .map(|(k, s)| k ^ s)
            .collect();
        let server_signature = h.hmac(&server_key, &auth_message);

        let mut out = without_proof.into_bytes();
        out.extend_from_slice(b",p=");
        out.extend_from_slice(STANDARD.encode(proof).as_bytes());
        self.state = State::Final { server_signature };
        Ok(out)
    }

    /// Digests the server-final message: `Ok` when the server's signature is the
    /// expected one.
    pub fn handle_server_final(&mut self, message: &[u8]) -> Result<(), SaslErrorKind> {
        let State::Final { server_signature } = core::mem::replace(&mut self.state, State::Failed)
        else {
            return Err(SaslErrorKind::Malformed(
                "a server-final message out of turn",
            ));
        };
        match ServerFinal::parse(message)? {
            ServerFinal::Error(e) => Err(SaslErrorKind::ServerError(super::bounded_text(e))),
            ServerFinal::Verifier(v) if constant_time_eq(&v, &server_signature) => {
                self.state = State::Done;
                Ok(())
            }
            ServerFinal::Verifier(_) => Err(SaslErrorKind::ServerSignatureMismatch),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_first_parses_and_refuses_what_it_must() {
        let ok = ServerFirst::parse(b"r=abcXYZ,s=QSXCR+Q6sek8bf92,i=4096,x=ext").unwrap();
        assert_eq!(ok.nonce, "abcXYZ");
        assert_eq!(ok.iterations, 4096);
        for bad in [
            &b""[..],
            b"m=x,r=a,s=QQ==,i=4096",
            b"s=QQ==,r=a,i=4096",
            b"r=,s=QQ==,i=4096",
            b"r=a b,s=QQ==,i=4096",
            b"r=a,s=!!,i=4096",
            b"r=a,s=,i=4096",
            b"r=a,s=QQ==",
            b"r=a,s=QQ==,i=-1",
            b"r=a,s=QQ==,i=",
            b"r=a,s=QQ==,i=4k",
        ] {
            assert!(
                matches!(ServerFirst::parse(bad), Err(SaslErrorKind::Malformed(_))),
                "{:?}",
                core::str::from_utf8(bad)
            );
        }
        let huge = ServerFirst::parse(b"r=a,s=QQ==,i=99999999999999999999999999").unwrap();
        assert_eq!(huge.iterations, u64::MAX);
        let padded = ServerFirst::parse(b"r=a,s=QQ==,i=0000000000000000000000004096").unwrap();
        assert_eq!(padded.iterations, 4096);
    }

    #[test]
    fn server_final_parses() {
        assert_eq!(
            ServerFinal::parse(b"e=invalid-proof").unwrap(),
            ServerFinal::Error(b"invalid-proof")
        );
        assert_eq!(
            ServerFinal::parse(b"v=QUJD,ext=1").unwrap(),
            ServerFinal::Verifier(b"ABC".to_vec())
        );
        assert!(ServerFinal::parse(b"x=1").is_err());
        assert!(ServerFinal::parse(b"v=***").is_err());
    }

    #[test]
    fn bad_nonces_and_mechanisms_make_no_client() {
        assert!(ScramClient::new(SaslMechanism::Plain, "u", "p", "n").is_none());
        assert!(ScramClient::new(SaslMechanism::ScramSha256, "u", "p", "").is_none());
        assert!(ScramClient::new(SaslMechanism::ScramSha256, "u", "p", "a,b").is_none());
        let mut rng = Rng::new(1);
        let n = nonce(&mut rng);
        assert_eq!(n.len(), NONCE_LEN);
        assert!(n.bytes().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(n, nonce(&mut rng));
    }

    #[test]
    fn debug_hides_the_password() {
        let c = ScramClient::new(SaslMechanism::ScramSha512, "u", "hunter2", "abc").unwrap();
        let s = alloc::format!("{c:?}");
        assert!(!s.contains("hunter2"), "{s}");
    }

    #[test]
    fn messages_out_of_turn_fail() {
        let mut c = ScramClient::new(SaslMechanism::ScramSha256, "u", "p", "abc").unwrap();
        assert!(c.handle_server_final(b"v=QUJD").is_err());
        let mut c = ScramClient::new(SaslMechanism::ScramSha256, "u", "p", "abc").unwrap();
        assert_eq!(
            c.handle_server_first(b"r=abc,s=QQ==,i=4096"),
            Err(SaslErrorKind::ServerNonceMismatch)
        );
        // A failed exchange accepts nothing more.
        assert!(c.handle_server_first(b"r=abcd,s=QQ==,i=4096").is_err());
    }
}
