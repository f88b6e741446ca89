//! Kafka's protocol as a consumer speaks it: the messages (generated descriptions in
//! [`messages`]), API keys and header versions, error codes, version negotiation and
//! the embedded consumer-protocol data.

use core::fmt;

use bytes::{Bytes, BytesMut};

use crate::codec::{header::flatten, Cx, DecodeError, DecodeErrorKind, EncodeError, Field};

mod api_key;
pub mod consumer_protocol;
#[macro_use]
mod error_code_macro;
mod error_code;
pub mod messages;
pub mod versions;

pub use api_key::ApiKey;
pub use error_code::ErrorCode;
pub use versions::{ApiVersionsNegotiation, NegotiatedVersions};

/// A message struct with its version range: the body of a request or response, or
/// embedded data such as the consumer-protocol subscription.
pub trait Message: Field + Default + Clone + PartialEq + fmt::Debug {
    /// The schema's name (`FetchRequest`).
    const NAME: &'static str;
    /// The lowest and highest version this implementation speaks.
    const VERSIONS: (i16, i16);
    /// The first flexible version (KIP-482), if any.
    const FLEXIBLE_SINCE: Option<i16>;

    /// Whether `version` uses compact lengths and tagged fields.
    fn is_flexible(version: i16) -> bool {
        matches!(Self::FLEXIBLE_SINCE, Some(f) if version >= f)
    }

    /// Whether `version` is in range.
    fn supports(version: i16) -> bool {
        (Self::VERSIONS.0..=Self::VERSIONS.1).contains(&version)
    }

    /// Appends the body at `version`.
    fn encode(&self, version: i16, buf: &mut BytesMut) -> Result<(), EncodeError> {
        if !Self::supports(version) {
            return Err(EncodeError::UnsupportedVersion {
                message: Self::NAME,
                version,
            });
        }
        self.put(Cx::encode(version, Self::is_flexible(version)), buf)
    }

    /// Parses a body at `version`; returns the message and the number of bytes it
    /// took. Byte fields (records, metadata) are zero-copy slices of `body`.
    fn decode_prefix(version: i16, body: &Bytes) -> Result<(Self, usize), DecodeError> {
        if !Self::supports(version) {
            return Err(
                DecodeError::new(DecodeErrorKind::UnsupportedVersion, body.len())
                    .at_offset_of(body.len()),
            );
        }
        let cx = Cx::decode(version, Self::is_flexible(version), body);
        match Self::get(cx, body) {
            Ok((rest, msg)) => Ok((msg, body.len() - rest.len())),
            Err(e) => Err(flatten(e).at_offset_of(body.len())),
        }
    }

    /// Parses a body at `version`. Bytes after the message are ignored, as by the Java
    /// client; [`Message::decode_exact`] rejects them.
    fn decode(version: i16, body: &Bytes) -> Result<Self, DecodeError> {
        Self::decode_prefix(version, body).map(|(m, _)| m)
    }

    /// An arbitrary message that `version` can carry: property tests and fuzzing.
    #[cfg(feature = "arbitrary")]
    fn arbitrary_at(u: &mut arbitrary::Unstructured<'_>, version: i16) -> arbitrary::Result<Self> {
        Self::arbitrary_field(u, Cx::encode(version, Self::is_flexible(version)))
    }

    /// Parses a body that must be exactly one message at `version`.
    fn decode_exact(version: i16, body: &Bytes) -> Result<Self, DecodeError> {
        let (msg, used) = Self::decode_prefix(version, body)?;
        if used != body.len() {
            return Err(
                DecodeError::new(DecodeErrorKind::TrailingBytes, body.len() - used)
                    .at_offset_of(body.len()),
            );
        }
        Ok(msg)
    }
}

/// A request body; names its API key and its response type.
pub trait Request: Message {
    /// The API key.
    const API_KEY: ApiKey;
    /// The body of the matching response.
    type Response: Response;
}

/// A response body.
pub trait Response: Message {
    /// The API key.
    const API_KEY: ApiKey;
}
