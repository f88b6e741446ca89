//! Size-prefixed framing: every Kafka request and response is an `int32` length
//! followed by that many bytes. [`encode_frame`] writes one (and
//! [`encode_request_frame`] / [`encode_response_frame`] the usual two kinds);
//! [`FrameDecoder`] takes a byte stream apart again.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::error::{DecodeError, DecodeErrorKind, EncodeError};
use super::header::{RequestHeader, ResponseHeader};
use crate::protocol::{ApiKey, Message, Request};

/// The default largest frame accepted, as librdkafka's `receive.message.max.bytes`.
pub const DEFAULT_MAX_FRAME: usize = 100_000_000;

/// Appends one frame to `buf`: reserves the four size bytes, lets `body` append the
/// frame's content after them, then writes the content's length into them.
///
/// Frames can be appended one after another to the same buffer. If `body` fails, or
/// writes more than `i32::MAX` bytes ([`EncodeError::FrameTooLarge`]), `buf` is cut
/// back to what it held before and the error is returned.
///
/// ```
/// use bytes::{BufMut, BytesMut};
/// use kasio_core::codec::{encode_frame, EncodeError};
///
/// let mut buf = BytesMut::new();
/// encode_frame(&mut buf, |b| {
///     b.put_slice(b"hi");
///     Ok::<_, EncodeError>(())
/// })
/// .unwrap();
/// assert_eq!(&buf[..], &[0, 0, 0, 2, b'h', b'i']);
/// ```
pub fn encode_frame<E: From<EncodeError>>(
    buf: &mut BytesMut,
    body: impl FnOnce(&mut BytesMut) -> Result<(), E>,
) -> Result<(), E> {
    let start = buf.len();
    buf.put_i32(0); // the size, written once the content is
    let size = body(buf).and_then(|()| {
        let written = buf.len().checked_sub(start + 4);
        frame_size(written.expect("the frame body writer cut off the size")).map_err(E::from)
    });
    match size {
        Ok(size) => {
            buf[start..start + 4].copy_from_slice(&size.to_be_bytes());
            Ok(())
        }
        Err(e) => {
            buf.truncate(start);
            Err(e)
        }
    }
}

/// The size prefix for `len` bytes of content.
fn frame_size(len: usize) -> Result<i32, EncodeError> {
    i32::try_from(len).map_err(|_| EncodeError::FrameTooLarge { size: len })
}

/// Appends a request frame to `buf`: the size, the request header (v1, or v2 if
/// `version` of `R` is flexible) and `req` at `version`.
///
/// ```
/// use bytes::BytesMut;
/// use kasio_core::codec::{encode_request_frame, FrameDecoder, RequestHeader};
/// use kasio_core::protocol::{messages::HeartbeatRequest, Message};
///
/// let req = HeartbeatRequest { group_id: "g".into(), ..Default::default() };
/// let mut buf = BytesMut::new();
/// encode_request_frame(&mut buf, 4, 7, Some("app"), &req).unwrap();
///
/// let mut d = FrameDecoder::new(1024);
/// d.push_bytes(buf.freeze());
/// let frame = d.next_frame().unwrap().unwrap();
/// let (header, body) = RequestHeader::decode(2, &frame).unwrap();
/// assert_eq!((header.correlation_id, header.client_id.as_deref()), (7, Some("app")));
/// assert_eq!(HeartbeatRequest::decode_exact(4, &body).unwrap(), req);
/// ```
pub fn encode_request_frame<R: Request>(
    buf: &mut BytesMut,
    version: i16,
    correlation_id: i32,
    client_id: Option<&str>,
    req: &R,
) -> Result<(), EncodeError> {
    let header = RequestHeader {
        api_key: R::API_KEY.key(),
        api_version: version,
        correlation_id,
        client_id: client_id.map(Into::into),
    };
    encode_frame(buf, |buf| {
        header.encode(R::API_KEY.request_header_version(version), buf)?;
        req.encode(version, buf)
    })
}

/// Appends a response frame to `buf`: the size, the response header that `version`
/// of `api` calls for, and `resp` at `version`. The broker's side: simulated
/// brokers and test harnesses answer requests with it.
pub fn encode_response_frame<M: Message>(
    buf: &mut BytesMut,
    api: ApiKey,
    version: i16,
    correlation_id: i32,
    resp: &M,
) -> Result<(), EncodeError> {
    encode_frame(buf, |buf| {
        ResponseHeader { correlation_id }.encode(api.response_header_version(version), buf);
        resp.encode(version, buf)
    })
}

/// Reassembles frames from bytes that arrive in any chunking, down to one byte at a
/// time.
///
/// The length prefix is checked against the maximum as soon as its four bytes are in,
/// before anything of that size is allocated; buffer growth follows the bytes that
/// actually arrive, so a peer announcing a huge frame and sending nothing costs nothing.
///
/// ```
/// use kasio_core::codec::FrameDecoder;
/// let mut d = FrameDecoder::new(1024);
/// d.push(&[0, 0, 0]);
/// assert_eq!(d.next_frame().unwrap(), None);
/// d.push(&[2, 0xab]);
/// assert_eq!(d.next_frame().unwrap(), None);
/// d.push(&[0xcd, 0, 0]);
/// assert_eq!(d.next_frame().unwrap().unwrap().as_ref(), &[0xab, 0xcd]);
/// ```
#[derive(Debug)]
pub struct FrameDecoder {
    max_frame: usize,
    buf: BytesMut,
    /// After an oversized or negative length, the stream cannot be resynchronised.
    poisoned: Option<DecodeError>,
}

impl FrameDecoder {
    /// A decoder that rejects frames larger than `max_frame` bytes.
    pub fn new(max_frame: usize) -> Self {
        Self {
            max_frame,
            buf: BytesMut::new(),
            poisoned: None,
        }
    }

    /// Appends received bytes.
    pub fn push(&mut self, data: &[u8]) {
        if self.poisoned.is_none() {
            self.buf.extend_from_slice(data);
        }
    }

    /// Appends received bytes the caller already owns as [`Bytes`]; frames lying
    /// whole inside them can be handed out without copying.
    pub fn push_bytes(&mut self, data: Bytes) {
        self.push(&data);
    }

    /// Bytes buffered but not yet returned as frames.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next complete frame (without its length prefix), if one is buffered.
    ///
    /// A length above the maximum (or negative) is an error, and stays one: the
    /// connection has lost framing and must be closed.
    pub fn next_frame(&mut self) -> Result<Option<Bytes>, DecodeError> {
        if let Some(err) = self.poisoned {
            return Err(err);
        }
        let Some(prefix) = self.buf.get(..4) else {
            return Ok(None);
        };
        let len = i32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]);
        if len < 0 || len as usize > self.max_frame {
            let kind = if len < 0 {
                DecodeErrorKind::NegativeLength
            } else {
                DecodeErrorKind::FrameTooLarge
            };
            let err = DecodeError {
                offset: Some(0),
                ..DecodeError::new(kind, self.buf.len())
            };
            self.poisoned = Some(err);
            self.buf = BytesMut::new();
            return Err(err);
        }
        let len = len as usize;
        if self.buf.len() < 4 + len {
            return Ok(None);
        }
        self.buf.advance(4);
        Ok(Some(self.buf.split_to(len).freeze()))
    }

    /// Forgets everything buffered (the connection was reset).
    pub fn reset(&mut self) {
        self.buf = BytesMut::new();
        self.poisoned = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    fn frames(max: usize, stream: &[u8], chunk: usize) -> Result<Vec<Bytes>, DecodeError> {
        let mut d = FrameDecoder::new(max);
        let mut out = Vec::new();
        for piece in stream.chunks(chunk) {
            d.push(piece);
            while let Some(f) = d.next_frame()? {
                out.push(f);
            }
        }
        Ok(out)
    }

    #[test]
    fn any_chunking_yields_the_same_frames() {
        let stream = [0, 0, 0, 3, 1, 2, 3, 0, 0, 0, 0, 0, 0, 0, 1, 9];
        for chunk in 1..=stream.len() {
            let got = frames(16, &stream, chunk).unwrap();
            assert_eq!(got.len(), 3, "chunk size {chunk}");
            assert_eq!(&got[0][..], &[1, 2, 3]);
            assert!(got[1].is_empty());
            assert_eq!(&got[2][..], &[9]);
        }
    }

    #[test]
    fn oversized_frame_is_rejected_before_its_body_arrives() {
        let mut d = FrameDecoder::new(100);
        d.push(&[0x7f, 0xff, 0xff, 0xff]);
        let err = d.next_frame().unwrap_err();
        assert_eq!(err.kind, DecodeErrorKind::FrameTooLarge);
        // Nothing the size of the announced frame was reserved.
        assert!(d.buf.capacity() < 1000);
        // Framing is lost for good.
        d.push(&[0, 0, 0, 0]);
        assert!(d.next_frame().is_err());
        d.reset();
        d.push(&[0, 0, 0, 1, 7]);
        assert_eq!(&d.next_frame().unwrap().unwrap()[..], &[7]);
    }

    #[test]
    fn negative_length_is_an_error() {
        assert_eq!(
            frames(100, &[0xff, 0xff, 0xff, 0xfe], 4).unwrap_err().kind,
            DecodeErrorKind::NegativeLength
        );
    }

    #[test]
    fn encode_frame_appends_after_what_the_buffer_holds() {
        let mut buf = BytesMut::from(&b"xy"[..]);
        encode_frame(&mut buf, |b| {
            b.put_slice(&[1, 2, 3]);
            Ok::<_, EncodeError>(())
        })
        .unwrap();
        assert_eq!(&buf[..], &[b'x', b'y', 0, 0, 0, 3, 1, 2, 3]);
    }

    #[test]
    fn a_failing_body_leaves_the_buffer_as_it_was() {
        let mut buf = BytesMut::from(&b"xy"[..]);
        let err = EncodeError::TooLong {
            within: "W",
            field: "f",
        };
        let got = encode_frame(&mut buf, |b| {
            b.put_slice(&[1, 2, 3]);
            Err(err)
        });
        assert_eq!(got, Err(err));
        assert_eq!(&buf[..], b"xy");
    }

    #[test]
    fn content_too_long_for_the_size_prefix_is_an_error() {
        let max = i32::MAX as usize;
        assert_eq!(frame_size(max), Ok(i32::MAX));
        assert_eq!(
            frame_size(max + 1),
            Err(EncodeError::FrameTooLarge { size: max + 1 })
        );
    }

    #[test]
    fn response_frames_carry_the_header_their_api_calls_for() {
        use crate::protocol::messages::{ApiVersionsResponse, HeartbeatResponse};
        let mut buf = BytesMut::new();
        // ApiVersions answers with header v0 even in its flexible versions.
        let versions = ApiVersionsResponse {
            error_code: 35,
            ..Default::default()
        };
        encode_response_frame(&mut buf, ApiKey::ApiVersions, 3, 9, &versions).unwrap();
        let heartbeat = HeartbeatResponse {
            error_code: 27,
            ..Default::default()
        };
        encode_response_frame(&mut buf, ApiKey::Heartbeat, 4, 10, &heartbeat).unwrap();
        let mut d = FrameDecoder::new(1000);
        d.push_bytes(buf.freeze());
        let frame = d.next_frame().unwrap().unwrap();
        let (h, body) = ResponseHeader::decode(0, &frame).unwrap();
        assert_eq!(h.correlation_id, 9);
        assert_eq!(
            ApiVersionsResponse::decode_exact(3, &body).unwrap(),
            versions
        );
        let frame = d.next_frame().unwrap().unwrap();
        let (h, body) = ResponseHeader::decode(1, &frame).unwrap();
        assert_eq!(h.correlation_id, 10);
        assert_eq!(
            HeartbeatResponse::decode_exact(4, &body).unwrap(),
            heartbeat
        );
        assert_eq!(d.next_frame().unwrap(), None);
    }

    #[test]
    fn default_maximum_is_accepted_exactly() {
        let mut d = FrameDecoder::new(DEFAULT_MAX_FRAME);
        d.push(&(DEFAULT_MAX_FRAME as i32).to_be_bytes());
        assert_eq!(d.next_frame().unwrap(), None);
        let mut d = FrameDecoder::new(DEFAULT_MAX_FRAME);
        d.push(&(DEFAULT_MAX_FRAME as i32 + 1).to_be_bytes());
        assert!(d.next_frame().is_err());
    }
}
