//! OAUTHBEARER (RFC 7628, KIP-255, KIP-342): a bearer token the application
//! obtains (from its identity provider) and hands to the consumer with
//! [`Consumer::set_oauthbearer_token`](crate::consumer::Consumer::set_oauthbearer_token).
//!
//! The consumer asks for one with
//! [`Event::OAuthBearerTokenRequired`](crate::consumer::Event::OAuthBearerTokenRequired)
//! when a connection first needs it, again at 80–85 % of its lifetime (Java's
//! `sasl.login.refresh.window.factor` and `.jitter` defaults) and once more if it
//! expires unreplaced; connections that need a token meanwhile wait for it (at most
//! `socket.connection.setup.timeout.ms`) without holding up the others.
//!
//! The client's first message, as Kafka's `OAuthBearerClientInitialResponse`:
//!
//! ```text
//! n,,\x01auth=Bearer <token>\x01[<key>=<value>\x01]*\x01
//! ```
//!
//! A broker that rejects the token answers with an error JSON as a challenge; the
//! client acknowledges it with a lone `\x01` (RFC 7628 §3.2.3) and the broker then
//! fails the exchange with SASL_AUTHENTICATION_FAILED. The JSON goes into the error.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use super::Secret;
use crate::time::Duration;

/// The separator of RFC 7628 key/value pairs (`kvsep`).
pub const KVSEP: u8 = 0x01;

/// A bearer token with what the consumer needs to know about it. `Debug` hides the
/// token and the extensions' values.
///
/// ```
/// use kasio_core::sasl::OAuthBearerToken;
/// use kasio_core::time::Duration;
///
/// let token = OAuthBearerToken::new("eyJhbGciOi.eyJzdWIiOi.c2lnbmF0dXJl", Duration::from_secs(3600))
///     .with_principal("alice")
///     .with_extension("logicalCluster", "lkc-123");
/// assert!(token.validate().is_ok());
/// assert!(!format!("{token:?}").contains("eyJ"));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct OAuthBearerToken {
    value: Secret,
    lifetime: Duration,
    principal: String,
    extensions: BTreeMap<String, String>,
}

impl fmt::Debug for OAuthBearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthBearerToken")
            .field("value", &self.value)
            .field("lifetime", &self.lifetime)
            .field("principal", &self.principal)
            .field("extensions", &self.extensions.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Why a token was refused by [`OAuthBearerToken::validate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum TokenError {
    /// The token is empty or not an RFC 6750 `b64token` (letters, digits,
    /// `-._~+/`, then `=` padding).
    InvalidToken,
    /// The lifetime is zero.
    NoLifetime,
    /// An extension name is not letters only, or is `auth` (RFC 7628 reserves it).
    InvalidExtensionName,
    /// An extension value has characters other than visible ASCII, space, tab,
    /// CR and LF, or is empty.
    InvalidExtensionValue,
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::InvalidToken => {
                "the token is empty or not a bearer token (RFC 6750 b64token: letters, digits, \
                 '-', '.', '_', '~', '+', '/', then '=' padding)"
            }
            Self::NoLifetime => "the token's lifetime is zero",
            Self::InvalidExtensionName => {
                "an extension name must be letters only and not \"auth\" (RFC 7628)"
            }
            Self::InvalidExtensionValue => {
                "an extension value must be non-empty visible ASCII, space, tab, CR or LF \
                 (RFC 7628)"
            }
        })
    }
}

#[cfg(feature = "std")]
impl std::error::Error for TokenError {}

impl OAuthBearerToken {
    /// A token valid for `lifetime` from when it is handed to the consumer.
    pub fn new(value: impl Into<String>, lifetime: Duration) -> Self {
        Self {
            value: Secret::new(value),
            lifetime,
            principal: String::new(),
            extensions: BTreeMap::new(),
        }
    }

    /// The principal the token stands for, for logs (it is not sent: the broker
    /// reads the principal from the token).
    pub fn with_principal(mut self, principal: impl Into<String>) -> Self {
        self.principal = principal.into();
        self
    }

    /// A SASL extension (KIP-342) sent with the token, e.g. `logicalCluster`. A
    /// later value for the same name replaces the earlier.
    pub fn with_extension(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.extensions.insert(name.into(), value.into());
        self
    }

    /// How long the token is valid from when it is supplied.
    pub fn lifetime(&self) -> Duration {
        self.lifetime
    }

    /// The principal, as given.
    pub fn principal(&self) -> &str {
        &self.principal
    }

    /// The extensions, by name.
    pub fn extensions(&self) -> impl Iterator<Item = (&str, &str)> {
        self.extensions
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Checks the token and extensions against RFC 6750 and RFC 7628, so that a
    /// token the broker could not parse is refused when it is supplied, not on
    /// every connection.
    pub fn validate(&self) -> Result<(), TokenError> {
        if !valid_b64token(self.value.expose().as_bytes()) {
            return Err(TokenError::InvalidToken);
        }
        if self.lifetime == Duration::ZERO {
            return Err(TokenError::NoLifetime);
        }
        for (name, value) in &self.extensions {
            if name.is_empty() || !name.bytes().all(|c| c.is_ascii_alphabetic()) || name == "auth" {
                return Err(TokenError::InvalidExtensionName);
            }
            if value.is_empty()
                || !value
                    .bytes()
                    .all(|c| matches!(c, 0x21..=0x7e | b' ' | b'\t' | b'\r' | b'\n'))
            {
                return Err(TokenError::InvalidExtensionValue);
            }
        }
        Ok(())
    }

    /// The client's initial response (GS2 header without authorization id, the
    /// `auth` pair, then the extensions).
    pub fn initial_response(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(32 + self.value.expose().len());
        out.extend_from_slice(b"n,,");
        out.push(KVSEP);
        out.extend_from_slice(b"auth=Bearer ");
        out.extend_from_slice(self.value.expose().as_bytes());
        out.push(KVSEP);
        for (name, value) in &self.extensions {
            out.extend_from_slice(name.as_bytes());
            out.push(b'=');
            out.extend_from_slice(value.as_bytes());
            out.push(KVSEP);
        }
        out.push(KVSEP);
        out
    }
}

/// RFC 6750 `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
fn valid_b64token(token: &[u8]) -> bool {
    let body = token.iter().take_while(|&&c| c != b'=').count();
    body > 0
        && token[..body].iter().all(|&c| {
            c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
        })
        && token[body..].iter().all(|&c| c == b'=')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initial_response_is_kafkas_format() {
        let t = OAuthBearerToken::new("abc.def", Duration::from_secs(1))
            .with_extension("b", "2")
            .with_extension("a", "1");
        assert_eq!(
            t.initial_response(),
            b"n,,\x01auth=Bearer abc.def\x01a=1\x01b=2\x01\x01"
        );
        let t = OAuthBearerToken::new("abc", Duration::from_secs(1));
        assert_eq!(t.initial_response(), b"n,,\x01auth=Bearer abc\x01\x01");
    }

    #[test]
    fn validation() {
        let ok = |v: &str| OAuthBearerToken::new(v, Duration::from_secs(1)).validate();
        assert_eq!(ok("a-b.c_d~e+f/g=="), Ok(()));
        for bad in ["", "=", "a b", "a=b", "a\u{1}", "é"] {
            assert_eq!(ok(bad), Err(TokenError::InvalidToken), "{bad:?}");
        }
        let t = OAuthBearerToken::new("a", Duration::ZERO);
        assert_eq!(t.validate(), Err(TokenError::NoLifetime));
        let ext = |k: &str, v: &str| {
            OAuthBearerToken::new("a", Duration::from_secs(1))
                .with_extension(k, v)
                .validate()
        };
        assert_eq!(ext("auth", "x"), Err(TokenError::InvalidExtensionName));
        assert_eq!(ext("a1", "x"), Err(TokenError::InvalidExtensionName));
        assert_eq!(ext("", "x"), Err(TokenError::InvalidExtensionName));
        assert_eq!(ext("a", "x\u{1}"), Err(TokenError::InvalidExtensionValue));
        assert_eq!(ext("a", ""), Err(TokenError::InvalidExtensionValue));
        assert_eq!(ext("a", "x y\t"), Ok(()));
    }
}
