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
/// Bytes given to [`push`](Self::push) are copied. Bytes given as [`Bytes`] to
/// [`push_bytes`](Self::push_bytes) are not: a frame lying whole in them comes out
/// as a slice of them (and keeps their memory alive while it lives). Only a frame
/// that straddles two chunks is copied, to make it contiguous. To get that, drain
/// [`next_frame`](Self::next_frame) after each `push_bytes`: what is still
/// undecoded when the next chunk comes is copied.
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
    /// The front of the stream, copied: what `push` gave, or the start of a frame
    /// that straddles two chunks.
    buf: BytesMut,
    /// The rest of the stream after `buf`: what is left of the last `push_bytes`.
    rest: Bytes,
    /// After an oversized or negative length, the stream cannot be resynchronised.
    poisoned: Option<DecodeError>,
}

impl FrameDecoder {
    /// A decoder that rejects frames larger than `max_frame` bytes.
    pub fn new(max_frame: usize) -> Self {
        Self {
            max_frame,
            buf: BytesMut::new(),
            rest: Bytes::new(),
            poisoned: None,
        }
    }

    /// Appends received bytes (copying them).
    pub fn push(&mut self, data: &[u8]) {
        if self.poisoned.is_none() {
            self.spill();
            self.buf.extend_from_slice(data);
        }
    }

    /// Appends received bytes the caller already owns as [`Bytes`]; frames lying
    /// whole inside them are handed out without copying.
    pub fn push_bytes(&mut self, data: Bytes) {
        if self.poisoned.is_none() && !data.is_empty() {
            self.spill();
            self.rest = data;
        }
    }

    /// Copies what is left of the last `push_bytes` to `buf`, so that the stream
    /// can go on after it.
    fn spill(&mut self) {
        if !self.rest.is_empty() {
            self.buf.extend_from_slice(&self.rest);
            self.rest = Bytes::new();
        }
    }

    /// Bytes buffered but not yet returned as frames.
    pub fn buffered(&self) -> usize {
        self.buf.len() + self.rest.len()
    }

    /// The next complete frame (without its length prefix), if one is buffered.
    ///
    /// A length above the maximum (or negative) is an error, and stays one: the
    /// connection has lost framing and must be closed.
    pub fn next_frame(&mut self) -> Result<Option<Bytes>, DecodeError> {
        if let Some(err) = self.poisoned {
            return Err(err);
        }
        if self.buf.is_empty() {
            // Nothing copied is pending: a frame lying whole in the chunk from
            // `push_bytes` is a slice of it.
            let prefix = announced(&self.rest, self.max_frame);
            let Some(len) = prefix.map_err(|kind| self.poison(kind))? else {
                return Ok(None);
            };
            if self.rest.len() - 4 < len {
                return Ok(None);
            }
            self.rest.advance(4);
            return Ok(Some(self.rest.split_to(len)));
        }
        // A frame starts in `buf`: complete its prefix, then its content, from `rest`.
        self.fill(4);
        let prefix = announced(&self.buf, self.max_frame);
        let Some(len) = prefix.map_err(|kind| self.poison(kind))? else {
            return Ok(None);
        };
        if self.buf.len() == 4 && self.rest.len() >= len {
            // Only the prefix straddled: the content lies whole in the chunk.
            self.buf.clear();
            return Ok(Some(self.rest.split_to(len)));
        }
        self.fill(4 + len);
        if self.buf.len() < 4 + len {
            return Ok(None);
        }
        self.buf.advance(4);
        Ok(Some(self.buf.split_to(len).freeze()))
    }

    /// Moves bytes from `rest` to `buf` until `buf` holds `want` or `rest` is empty.
    fn fill(&mut self, want: usize) {
        let n = want.saturating_sub(self.buf.len()).min(self.rest.len());
        if n > 0 {
            self.buf.extend_from_slice(&self.rest[..n]);
            self.rest.advance(n);
        }
    }

    /// Fails for good: framing is lost.
    fn poison(&mut self, kind: DecodeErrorKind) -> DecodeError {
        let err = DecodeError {
            offset: Some(0),
            ..DecodeError::new(kind, self.buffered())
        };
        self.poisoned = Some(err);
        self.buf = BytesMut::new();
        self.rest = Bytes::new();
        err
    }

    /// Forgets everything buffered (the connection was reset).
    pub fn reset(&mut self) {
        self.buf = BytesMut::new();
        self.rest = Bytes::new();
        self.poisoned = None;
    }
}

/// The length a size prefix at the front of `stream` announces, once its four bytes
/// are in; a negative one or one above `max` is an error.
fn announced(stream: &[u8], max: usize) -> Result<Option<usize>, DecodeErrorKind> {
    let Some(&[a, b, c, d]) = stream.get(..4) else {
        return Ok(None);
    };
    match usize::try_from(i32::from_be_bytes([a, b, c, d])) {
        Ok(len) if len <= max => Ok(Some(len)),
        Ok(_) => Err(DecodeErrorKind::FrameTooLarge),
        Err(_) => Err(DecodeErrorKind::NegativeLength),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;
    use core::ops::Range;

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

    /// Frames of 0, 1, 3, 0, 300 and 2 bytes back to back, written by
    /// `encode_frame`, and where each one's content lies in the stream.
    fn sample_stream() -> (Bytes, Vec<Range<usize>>) {
        let mut buf = BytesMut::new();
        let mut contents = Vec::new();
        for (i, len) in [0usize, 1, 3, 0, 300, 2].into_iter().enumerate() {
            let start = buf.len() + 4;
            encode_frame(&mut buf, |b| {
                b.extend((0..len).map(|j| (i * 31 + j) as u8));
                Ok::<_, EncodeError>(())
            })
            .unwrap();
            contents.push(start..buf.len());
        }
        (buf.freeze(), contents)
    }

    /// Feeds `stream` in chunks of the given lengths, each through `push_bytes` if
    /// `owned(chunk index)`, else through `push`, draining after each.
    fn feed(
        stream: &Bytes,
        lengths: &[usize],
        owned: impl Fn(usize) -> bool,
    ) -> Result<Vec<Bytes>, DecodeError> {
        let mut d = FrameDecoder::new(1000);
        let mut out = Vec::new();
        let mut at = 0;
        for (i, &n) in lengths.iter().enumerate() {
            let chunk = stream.slice(at..at + n);
            at += n;
            if owned(i) {
                d.push_bytes(chunk);
            } else {
                d.push(&chunk);
            }
            while let Some(f) = d.next_frame()? {
                out.push(f);
            }
        }
        assert_eq!(d.buffered(), 0);
        Ok(out)
    }

    #[test]
    fn push_bytes_hands_out_whole_frames_as_slices_of_the_input() {
        let (stream, contents) = sample_stream();
        let mut d = FrameDecoder::new(1000);
        d.push_bytes(stream.clone());
        let input = stream.as_ptr_range();
        for want in &contents {
            let frame = d.next_frame().unwrap().unwrap();
            assert_eq!(frame, stream.slice(want.clone()));
            assert!(input.contains(&frame.as_ptr()) || frame.is_empty());
        }
        assert_eq!(d.next_frame().unwrap(), None);
        // Nothing was copied.
        assert_eq!(d.buf.capacity(), 0);
    }

    #[test]
    fn every_chunking_gives_the_same_frames_through_push_and_push_bytes() {
        let (stream, contents) = sample_stream();
        let want: Vec<Bytes> = contents.iter().map(|r| stream.slice(r.clone())).collect();
        let mut chunkings: Vec<Vec<usize>> = (1..=stream.len())
            .map(|n| {
                let mut lengths = alloc::vec![n; stream.len() / n];
                lengths.extend(Some(stream.len() % n).filter(|&r| r > 0));
                lengths
            })
            .collect();
        let mut rng = crate::rng::Rng::new(11);
        for _ in 0..200 {
            let mut lengths = Vec::new();
            let mut left = stream.len();
            while left > 0 {
                let n = rng.range_inclusive(1, left.min(40) as u64) as usize;
                lengths.push(n);
                left -= n;
            }
            chunkings.push(lengths);
        }
        for lengths in &chunkings {
            assert_eq!(feed(&stream, lengths, |_| false).unwrap(), want);
            assert_eq!(feed(&stream, lengths, |i| i % 2 == 0).unwrap(), want);
            assert_eq!(feed(&stream, lengths, |i| i % 3 != 0).unwrap(), want);
            let got = feed(&stream, lengths, |_| true).unwrap();
            assert_eq!(got, want);
            // Through `push_bytes` alone, content lying whole in one chunk is not
            // copied: the frame is that very memory.
            let chunk_of = |pos: usize| {
                let mut end = 0;
                lengths.iter().position(|&n| {
                    end += n;
                    pos < end
                })
            };
            for (frame, range) in got.iter().zip(&contents) {
                if !range.is_empty() && chunk_of(range.start) == chunk_of(range.end - 1) {
                    assert_eq!(
                        frame.as_ptr(),
                        stream[range.start..].as_ptr(),
                        "{lengths:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn push_bytes_rejects_a_bad_length_before_its_body_arrives() {
        let mut d = FrameDecoder::new(100);
        d.push_bytes(Bytes::from_static(&[0, 0, 0, 1, 7, 0x7f, 0xff]));
        assert_eq!(&d.next_frame().unwrap().unwrap()[..], &[7]);
        assert_eq!(d.next_frame().unwrap(), None);
        d.push_bytes(Bytes::from_static(&[0xff, 0xff, 1, 2, 3]));
        let err = d.next_frame().unwrap_err();
        assert_eq!(err.kind, DecodeErrorKind::FrameTooLarge);
        assert_eq!(d.buffered(), 0);
        assert!(d.buf.capacity() < 1000);
        // Framing is lost for good, whichever way bytes come.
        d.push_bytes(Bytes::from_static(&[0, 0, 0, 0]));
        assert_eq!(d.buffered(), 0);
        assert!(d.next_frame().is_err());
        d.reset();
        d.push_bytes(Bytes::from_static(&[0xff, 0xff, 0xff, 0xfe]));
        assert_eq!(
            d.next_frame().unwrap_err().kind,
            DecodeErrorKind::NegativeLength
        );
    }

    #[test]
    fn reset_forgets_bytes_from_push_bytes_too() {
        let mut d = FrameDecoder::new(100);
        d.push(&[0, 0]);
        d.push_bytes(Bytes::from_static(&[0, 5, 1, 2]));
        assert_eq!(d.next_frame().unwrap(), None);
        assert_eq!(d.buffered(), 6);
        d.reset();
        assert_eq!(d.buffered(), 0);
        d.push_bytes(Bytes::from_static(&[0, 0, 0, 1, 7]));
        assert_eq!(&d.next_frame().unwrap().unwrap()[..], &[7]);
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
        let mut next = |header_version| {
            let frame = d.next_frame().unwrap().unwrap();
            let (h, body) = ResponseHeader::decode(header_version, &frame).unwrap();
            (h.correlation_id, body)
        };
        let (corr, body) = next(0);
        assert_eq!(corr, 9);
        assert_eq!(ApiVersionsResponse::decode_exact(3, &body), Ok(versions));
        let (corr, body) = next(1);
        assert_eq!(corr, 10);
        assert_eq!(HeartbeatResponse::decode_exact(4, &body), Ok(heartbeat));
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
