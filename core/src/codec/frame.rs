//! Size-prefixed framing: every Kafka request and response is an `int32` length
//! followed by that many bytes.

use bytes::{Buf, Bytes, BytesMut};

use super::error::{DecodeError, DecodeErrorKind};

/// The default largest frame accepted, as librdkafka's `receive.message.max.bytes`.
pub const DEFAULT_MAX_FRAME: usize = 100_000_000;

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
    fn default_maximum_is_accepted_exactly() {
        let mut d = FrameDecoder::new(DEFAULT_MAX_FRAME);
        d.push(&(DEFAULT_MAX_FRAME as i32).to_be_bytes());
        assert_eq!(d.next_frame().unwrap(), None);
        let mut d = FrameDecoder::new(DEFAULT_MAX_FRAME);
        d.push(&(DEFAULT_MAX_FRAME as i32 + 1).to_be_bytes());
        assert!(d.next_frame().is_err());
    }
}
