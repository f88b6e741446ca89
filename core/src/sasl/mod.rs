//! SASL authentication (KIP-43, KIP-152, KIP-368): what a connection says between
//! ApiVersions and its first request when `security.protocol` is `SASL_PLAINTEXT` or
//! `SASL_SSL`.
//!
//! ```text
//! ApiVersions ─▶ SaslHandshake v1 (mechanism) ─▶ SaslAuthenticate … ─▶ ready
//!                     ▲                                                  │
//!                     └──── re-authentication (KIP-368), same connection ┘
//! ```
//!
//! - [`Authenticator`] is the mechanism-independent state machine: it builds the
//!   SaslHandshake, digests its answer, and trades SaslAuthenticate tokens with the
//!   broker until the mechanism says done. It is sans-IO like everything in core:
//!   [`conn::Connection`](crate::conn::Connection) sends what it asks for and feeds it
//!   the answers.
//! - The mechanisms: [`plain`] (RFC 4616), [`scram`] (RFC 5802 / RFC 7677,
//!   SCRAM-SHA-256 and SCRAM-SHA-512) and [`oauthbearer`] (RFC 7628, with a token the
//!   application supplies).
//! - Only SaslHandshake v1 followed by SaslAuthenticate is spoken (Kafka 1.0 and
//!   later); a broker without them gets [`SaslErrorKind::BrokerTooOld`]. The raw
//!   token framing of SaslHandshake v0 is not implemented.
//!
//! Secrets (passwords, salted passwords, bearer tokens) live in [`Secret`] or in
//! types whose `Debug` hides them, and no error carries one.
//!
//! What the consumer does with a failure (a fatal error after the broker rejects
//! the credentials, backoff otherwise) is described on
//! [`SaslErrorKind::is_fatal`].

mod authenticator;
pub mod oauthbearer;
pub mod plain;
pub mod scram;

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

pub use authenticator::{Authenticator, Step};
pub use oauthbearer::OAuthBearerToken;

use crate::config::Config;
pub use crate::config::SaslMechanism;
use crate::protocol::ErrorCode;

/// A secret string (a password). `Debug` and `Display` print `[hidden]`; the value
/// is only reachable through [`expose`](Self::expose).
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the code that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[hidden]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[hidden]")
    }
}

/// What a connection authenticates with: the mechanism and its credentials, resolved
/// from the configuration ([`from_config`](Self::from_config)).
#[derive(Clone, PartialEq, Eq)]
pub struct SaslConfig {
    mechanism: SaslMechanism,
    credentials: Credentials,
}

#[derive(Clone, PartialEq, Eq)]
enum Credentials {
    /// PLAIN and SCRAM.
    Password {
        username: String,
        password: Secret,
        /// SCRAM with a delegation token (`tokenauth=true` in the JAAS entry).
        token_auth: bool,
    },
    /// OAUTHBEARER: the token comes from the application.
    Token,
}

impl fmt::Debug for SaslConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("SaslConfig");
        s.field("mechanism", &self.mechanism);
        if let Credentials::Password {
            username,
            token_auth,
            ..
        } = &self.credentials
        {
            s.field("username", username)
                .field("password", &"[hidden]")
                .field("token_auth", token_auth);
        }
        s.finish()
    }
}

impl SaslConfig {
    /// The SASL settings of a validated configuration, or `None` when
    /// `security.protocol` does not use SASL. The credentials come from
    /// `sasl.jaas.config` when it is set, else from `sasl.username` and
    /// `sasl.password` (validation allows only one of the two ways).
    pub fn from_config(config: &Config) -> Option<Self> {
        if !config.security_protocol.uses_sasl() {
            return None;
        }
        let mechanism = config.sasl_mechanism;
        if mechanism == SaslMechanism::OAuthBearer {
            return Some(Self::oauthbearer());
        }
        let (username, password, token_auth) = match &config.sasl_jaas_config {
            Some(jaas) => (
                jaas.option("username")?,
                jaas.option("password")?,
                jaas.option("tokenauth")
                    .is_some_and(|v| v.eq_ignore_ascii_case("true")),
            ),
            None => (
                config.sasl_username.as_deref()?,
                config.sasl_password.as_deref()?,
                false,
            ),
        };
        Some(Self::with_password(mechanism, username, password).token_auth(token_auth))
    }

    /// PLAIN or SCRAM with a user name and password. For OAUTHBEARER use
    /// [`oauthbearer`](Self::oauthbearer): the password is ignored.
    pub fn with_password(
        mechanism: SaslMechanism,
        username: impl Into<String>,
        password: impl Into<String>,
    ) -> Self {
        if mechanism == SaslMechanism::OAuthBearer {
            return Self::oauthbearer();
        }
        Self {
            mechanism,
            credentials: Credentials::Password {
                username: username.into(),
                password: Secret::new(password),
                token_auth: false,
            },
        }
    }

    /// OAUTHBEARER: the application supplies tokens.
    pub fn oauthbearer() -> Self {
        Self {
            mechanism: SaslMechanism::OAuthBearer,
            credentials: Credentials::Token,
        }
    }

    /// SCRAM with a delegation token (KIP-48): the client-first message carries
    /// the `tokenauth=true` extension. No effect on other mechanisms.
    pub fn token_auth(mut self, on: bool) -> Self {
        if let Credentials::Password { token_auth, .. } = &mut self.credentials {
            *token_auth = on;
        }
        self
    }

    /// The mechanism.
    pub fn mechanism(&self) -> SaslMechanism {
        self.mechanism
    }

    /// The user name (PLAIN, SCRAM).
    pub fn username(&self) -> Option<&str> {
        match &self.credentials {
            Credentials::Password { username, .. } => Some(username),
            Credentials::Token => None,
        }
    }
}

/// Longest broker-supplied text (an error message) kept in an error: the rest is
/// cut, so that a hostile broker cannot make every report of it megabytes long.
const MAX_MESSAGE: usize = 512;

/// Broker text as kept in errors: lossy UTF-8, at most [`MAX_MESSAGE`] bytes.
pub(crate) fn bounded_text(bytes: &[u8]) -> String {
    let cut = &bytes[..bytes.len().min(MAX_MESSAGE)];
    let mut s = String::from_utf8_lossy(cut).into_owned();
    if bytes.len() > MAX_MESSAGE {
        s.push('…');
    }
    s
}

/// An authentication failure: which mechanism, and what went wrong. Never holds a
/// secret.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SaslError {
    /// The mechanism that was tried.
    pub mechanism: SaslMechanism,
    /// What went wrong.
    pub kind: SaslErrorKind,
}

/// What went wrong while authenticating.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum SaslErrorKind {
    /// The broker rejected the credentials (SASL_AUTHENTICATION_FAILED): wrong
    /// user name or password, an unknown SCRAM user, an invalid or expired token.
    AuthenticationFailed {
        /// The broker's message, if it gave one (for OAUTHBEARER, with the
        /// server's error JSON).
        message: Option<String>,
    },
    /// The broker does not enable the mechanism (UNSUPPORTED_SASL_MECHANISM).
    UnsupportedMechanism {
        /// The mechanisms the broker does enable, as it listed them.
        enabled: Vec<String>,
    },
    /// The broker received a SASL request it did not expect (ILLEGAL_SASL_STATE).
    IllegalState {
        /// The broker's message, if any.
        message: Option<String>,
    },
    /// Another error code in a SaslHandshake or SaslAuthenticate answer.
    Broker {
        /// The code.
        code: ErrorCode,
        /// The broker's message, if any.
        message: Option<String>,
    },
    /// The broker lacks SaslHandshake v1 or SaslAuthenticate (brokers before
    /// Kafka 1.0), which kasio needs.
    BrokerTooOld,
    /// SCRAM: the server ended the exchange with an error (`e=` in its final
    /// message).
    ServerError(String),
    /// SCRAM: the server's signature does not match: it does not know the
    /// password, so it is not the broker the credentials were made for.
    ServerSignatureMismatch,
    /// SCRAM: the server's nonce does not extend the client's (or adds nothing).
    ServerNonceMismatch,
    /// SCRAM: the server asked for an iteration count outside
    /// [`scram::MIN_ITERATIONS`]`..=`[`scram::MAX_ITERATIONS`].
    IterationCount(u64),
    /// A server message does not follow the mechanism's syntax; says which part.
    Malformed(&'static str),
    /// OAUTHBEARER: the application supplied no token within
    /// `socket.connection.setup.timeout.ms` of the connection asking for one.
    TokenTimeout,
    /// A SASL request did not encode (a token longer than the protocol allows).
    Encode,
}

impl SaslErrorKind {
    /// Whether the consumer gives up on authentication: these failures repeat on
    /// every attempt, so retrying would only hammer the brokers.
    ///
    /// Fatal: the broker rejected the credentials or does not offer the mechanism
    /// (Java's `SaslAuthenticationException` and `UnsupportedSaslMechanismException`,
    /// both `AuthenticationException`s), the broker is too old for SASL as kasio
    /// speaks it, and every SCRAM verification failure (a wrong server signature or
    /// nonce, an iteration count out of bounds, the server's `e=`), which Java's
    /// `ScramSaslClient` also ends in an `AuthenticationException`. On a fatal error
    /// the consumer emits [`Event::Fatal`](crate::consumer::Event::Fatal), closes
    /// every connection and opens none until, for OAUTHBEARER, the application
    /// supplies a new token; otherwise the application should close it.
    ///
    /// Not fatal: ILLEGAL_SASL_STATE and other error codes, a malformed server
    /// message, no OAUTHBEARER token in time. The connection is closed and
    /// reopened after `reconnect.backoff.ms`, which grows to
    /// `reconnect.backoff.max.ms` while authentication keeps failing (the backoff
    /// is reset only once a connection is authenticated).
    pub fn is_fatal(&self) -> bool {
        matches!(
            self,
            Self::AuthenticationFailed { .. }
                | Self::UnsupportedMechanism { .. }
                | Self::BrokerTooOld
                | Self::ServerError(_)
                | Self::ServerSignatureMismatch
                | Self::ServerNonceMismatch
                | Self::IterationCount(_)
        )
    }
}

impl SaslError {
    /// An error of `mechanism`.
    pub fn new(mechanism: SaslMechanism, kind: SaslErrorKind) -> Self {
        Self { mechanism, kind }
    }

    /// See [`SaslErrorKind::is_fatal`].
    pub fn is_fatal(&self) -> bool {
        self.kind.is_fatal()
    }
}

fn message_suffix(f: &mut fmt::Formatter<'_>, message: &Option<String>) -> fmt::Result {
    match message {
        Some(m) if !m.is_empty() => write!(f, ": {m}"),
        _ => Ok(()),
    }
}

impl fmt::Display for SaslError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.mechanism;
        match &self.kind {
            SaslErrorKind::AuthenticationFailed { message } => {
                write!(f, "{m} authentication failed (SASL_AUTHENTICATION_FAILED)")?;
                message_suffix(f, message)
            }
            SaslErrorKind::UnsupportedMechanism { enabled } => {
                write!(
                    f,
                    "the broker does not enable SASL mechanism {m}; it offers "
                )?;
                if enabled.is_empty() {
                    return f.write_str("none");
                }
                for (i, name) in enabled.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    f.write_str(name)?;
                }
                Ok(())
            }
            SaslErrorKind::IllegalState { message } => {
                write!(f, "{m} authentication: ILLEGAL_SASL_STATE")?;
                message_suffix(f, message)
            }
            SaslErrorKind::Broker { code, message } => {
                write!(f, "{m} authentication: the broker answered {}", code.name())?;
                message_suffix(f, message)
            }
            SaslErrorKind::BrokerTooOld => write!(
                f,
                "{m} authentication: the broker lacks SaslHandshake v1 or SaslAuthenticate \
                 (Kafka 1.0 or later is needed)"
            ),
            SaslErrorKind::ServerError(e) => {
                write!(f, "{m} authentication: the server ended the exchange: {e}")
            }
            SaslErrorKind::ServerSignatureMismatch => write!(
                f,
                "{m} authentication: the server's signature is wrong \
                 (it does not know the password)"
            ),
            SaslErrorKind::ServerNonceMismatch => write!(
                f,
                "{m} authentication: the server's nonce does not extend the client's"
            ),
            SaslErrorKind::IterationCount(n) => write!(
                f,
                "{m} authentication: the server asks for {n} iterations, outside {}..={}",
                scram::MIN_ITERATIONS,
                scram::MAX_ITERATIONS
            ),
            SaslErrorKind::Malformed(what) => {
                write!(f, "{m} authentication: malformed server message: {what}")
            }
            SaslErrorKind::TokenTimeout => write!(
                f,
                "{m} authentication: no token was supplied within \
                 socket.connection.setup.timeout.ms"
            ),
            SaslErrorKind::Encode => write!(f, "{m} authentication: a request did not encode"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for SaslError {}
