//! Request header v1/v2 and response header v0/v1 (`RequestHeader.json`,
//! `ResponseHeader.json`). Which version applies follows from whether the message
//! version is flexible; see [`crate::protocol::ApiKey::request_header_version`].

use alloc::string::String;

use bytes::{BufMut, Bytes, BytesMut};

use super::error::{DecodeError, EncodeError};
use super::field::{get_tagged_fields, Cx, Field};
use super::primitives as p;

/// The header in front of every request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct RequestHeader {
    /// The API key of the request.
    pub api_key: i16,
    /// The version of the request body.
    pub api_version: i16,
    /// Echoed by the broker in the response header.
    pub correlation_id: i32,
    /// The client ID (`client.id`), nullable.
    pub client_id: Option<String>,
}

impl RequestHeader {
    /// Appends the header at `header_version` (1 or 2; 0 has no client ID).
    pub fn encode(&self, header_version: i16, buf: &mut BytesMut) -> Result<(), EncodeError> {
        buf.put_i16(self.api_key);
        buf.put_i16(self.api_version);
        buf.put_i32(self.correlation_id);
        if header_version >= 1 {
            // The client ID is a classic nullable string even in header v2, so that a
            // broker can read it before it knows whether the request is flexible.
            self.client_id
                .put(Cx::encode(header_version, false).with_nullable(true), buf)
                .map_err(|e| e.in_field("RequestHeader", "client_id", header_version))?;
        }
        if header_version >= 2 {
            p::put_unsigned_varint(buf, 0);
        }
        Ok(())
    }

    /// Parses only the API key, version and correlation id: enough to pick the header
    /// version for the rest. Used by brokers (the simulated one) and fuzzers.
    pub fn peek(frame: &[u8]) -> Result<(i16, i16, i32), DecodeError> {
        let total = frame.len();
        let run = || -> super::PResult<'_, (i16, i16, i32)> {
            let (rest, key) = p::int16(frame)?;
            let (rest, version) = p::int16(rest)?;
            let (rest, corr) = p::int32(rest)?;
            Ok((rest, (key, version, corr)))
        };
        run()
            .map(|(_, v)| v)
            .map_err(|e| flatten(e).at_offset_of(total))
    }

    /// Parses a header at `header_version`; returns it and the body that follows as a
    /// zero-copy slice of `frame`.
    pub fn decode(header_version: i16, frame: &Bytes) -> Result<(Self, Bytes), DecodeError> {
        let total = frame.len();
        let cx = Cx::decode(header_version, false, frame).with_nullable(true);
        let parse = |input| -> super::PResult<'_, Self> {
            let (rest, api_key) = p::int16(input)?;
            let (rest, api_version) = p::int16(rest)?;
            let (rest, correlation_id) = p::int32(rest)?;
            let (rest, client_id) = if header_version >= 1 {
                Option::<String>::get(cx, rest)?
            } else {
                (rest, None)
            };
            let (rest, ()) = if header_version >= 2 {
                get_tagged_fields(rest, |_, _| Ok(false))?
            } else {
                (rest, ())
            };
            Ok((
                rest,
                Self {
                    api_key,
                    api_version,
                    correlation_id,
                    client_id,
                },
            ))
        };
        let (rest, header) = parse(&frame[..]).map_err(|e| flatten(e).at_offset_of(total))?;
        Ok((header, frame.slice_ref(rest)))
    }
}

/// The header in front of every response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ResponseHeader {
    /// The correlation id of the request this answers.
    pub correlation_id: i32,
}

impl ResponseHeader {
    /// Appends the header at `header_version` (0, or 1 with tagged fields).
    pub fn encode(&self, header_version: i16, buf: &mut BytesMut) {
        buf.put_i32(self.correlation_id);
        if header_version >= 1 {
            p::put_unsigned_varint(buf, 0);
        }
    }

    /// Parses a header; returns it and the body as a zero-copy slice of `frame`.
    pub fn decode(header_version: i16, frame: &Bytes) -> Result<(Self, Bytes), DecodeError> {
        let total = frame.len();
        let parse = |input| -> super::PResult<'_, Self> {
            let (rest, correlation_id) = p::int32(input)?;
            let (rest, ()) = if header_version >= 1 {
                get_tagged_fields(rest, |_, _| Ok(false))?
            } else {
                (rest, ())
            };
            Ok((rest, Self { correlation_id }))
        };
        let (rest, header) = parse(&frame[..]).map_err(|e| flatten(e).at_offset_of(total))?;
        Ok((header, frame.slice_ref(rest)))
    }

    /// The correlation id alone, before the request (and so the header version) is known.
    pub fn peek_correlation_id(frame: &[u8]) -> Result<i32, DecodeError> {
        p::int32(frame)
            .map(|(_, c)| c)
            .map_err(|e| flatten(e).at_offset_of(frame.len()))
    }
}

/// Unwraps a nom error; all parsers here are complete, so `Incomplete` means truncated.
pub(crate) fn flatten(e: nom::Err<DecodeError>) -> DecodeError {
    match e {
        nom::Err::Error(e) | nom::Err::Failure(e) => e,
        nom::Err::Incomplete(_) => DecodeError::new(super::DecodeErrorKind::Truncated, 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_header_v2_has_classic_client_id_and_tag_section() {
        let h = RequestHeader {
            api_key: 18,
            api_version: 3,
            correlation_id: 7,
            client_id: Some("ab".into()),
        };
        let mut buf = BytesMut::new();
        h.encode(2, &mut buf).unwrap();
        assert_eq!(&buf[..], &[0, 18, 0, 3, 0, 0, 0, 7, 0, 2, b'a', b'b', 0]);
        let frame = buf.freeze();
        let (back, body) = RequestHeader::decode(2, &frame).unwrap();
        assert_eq!(back, h);
        assert!(body.is_empty());
    }

    #[test]
    fn null_client_id_and_header_v1() {
        let h = RequestHeader {
            api_key: 1,
            api_version: 4,
            correlation_id: -1,
            client_id: None,
        };
        let mut buf = BytesMut::new();
        h.encode(1, &mut buf).unwrap();
        assert_eq!(&buf[..], &[0, 1, 0, 4, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
        assert_eq!(RequestHeader::decode(1, &buf.freeze()).unwrap().0, h);
    }

    #[test]
    fn response_header_v1_skips_unknown_tags() {
        // correlation id 5, one tagged field (tag 9, 2 bytes), then a body byte.
        let frame = Bytes::from_static(&[0, 0, 0, 5, 1, 9, 2, 0xaa, 0xbb, 0x42]);
        let (h, body) = ResponseHeader::decode(1, &frame).unwrap();
        assert_eq!(h.correlation_id, 5);
        assert_eq!(&body[..], &[0x42]);
        let (h0, body0) = ResponseHeader::decode(0, &frame).unwrap();
        assert_eq!(h0.correlation_id, 5);
        assert_eq!(body0.len(), 6);
    }
}
