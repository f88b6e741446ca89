//! Legacy message sets, magic 0 and 1 (before Kafka 0.11). Old topics still hold
//! them, and brokers hand them out as stored. They decode into the same [`Record`]
//! view as v2 batches (with no headers).
//!
//! A message is `offset int64, size int32, crc uint32, magic int8, attributes int8,
//! [timestamp int64 (magic 1)], key bytes, value bytes`; the CRC-32 covers magic to
//! the end. A compressed message is a *wrapper*: its value is a compressed message
//! set of inner messages. In magic 1 the inner offsets are relative and the wrapper
//! carries the offset of the last inner message; in magic 0 they are absolute.
//!
//! [`Record`]: super::Record

use bytes::Bytes;

use super::batch::{de, BatchHeader, TimestampType};
use super::compression::{self, Compression};
use super::record::{RecordRef, Records};
use super::{DecodeOptions, RecordError, RecordErrorKind};
use crate::codec::primitives::{int32, int64, int8, take, uint32};
use crate::codec::{DecodeError, DecodeErrorKind, PResult};

/// The timestamp of a message that has none (magic 0).
pub const NO_TIMESTAMP: i64 = -1;
/// The smallest magic-0 message after offset and size: crc, magic, attributes and
/// two null lengths.
pub(crate) const MIN_MESSAGE_V0: usize = 14;
/// The same for magic 1, which adds the timestamp.
pub(crate) const MIN_MESSAGE_V1: usize = 22;
const ATTR_TIMESTAMP_TYPE: i8 = 0x08;

/// Positions of a message's parts in its buffer.
struct Parsed<'a> {
    end: usize,
    offset: i64,
    crc: u32,
    magic: i8,
    attributes: i8,
    timestamp: i64,
    key: Option<&'a [u8]>,
    value: Option<&'a [u8]>,
    /// Where the part the CRC covers starts (the magic byte).
    crc_start: usize,
}

fn nullable_bytes(input: &[u8]) -> PResult<'_, Option<&[u8]>> {
    let (rest, n) = int32(input)?;
    match n {
        -1 => Ok((rest, None)),
        n if n < 0 => Err(nom::Err::Error(DecodeError::new(
            DecodeErrorKind::NegativeLength,
            input.len(),
        ))),
        n => take(rest, n as usize).map(|(r, b)| (r, Some(b))),
    }
}

/// Parses the whole message (offset and size included) at `data[pos..]`.
fn parse(data: &[u8], pos: usize) -> Result<Parsed<'_>, DecodeError> {
    let input = data.get(pos..).unwrap_or_default();
    let (i, offset) = int64(input).map_err(de)?;
    let (i, size) = int32(i).map_err(de)?;
    let size = usize::try_from(size)
        .map_err(|_| DecodeError::new(DecodeErrorKind::NegativeLength, i.len()))?;
    let (_, msg) = take(i, size).map_err(|e| de(e).in_field("Message", "size"))?;
    let end = pos + (input.len() - i.len()) + size;
    // Positions of sub-slices in `data` (pointer difference; all are inside `data`).
    let base = data.as_ptr() as usize;
    let at = |s: &[u8]| s.as_ptr() as usize - base;
    let (i, crc) = uint32(msg).map_err(de)?;
    let crc_start = at(i);
    let (i, magic) = int8(i).map_err(de)?;
    let (i, attributes) = int8(i).map_err(de)?;
    let (i, timestamp) = match magic {
        0 => (i, NO_TIMESTAMP),
        1 => int64(i).map_err(de)?,
        _ => {
            return Err(DecodeError::new(DecodeErrorKind::InvalidValue, i.len())
                .in_field("Message", "magic"))
        }
    };
    let (i, key) = nullable_bytes(i).map_err(|e| de(e).in_field("Message", "key"))?;
    let (i, value) = nullable_bytes(i).map_err(|e| de(e).in_field("Message", "value"))?;
    if !i.is_empty() {
        return Err(
            DecodeError::new(DecodeErrorKind::TrailingBytes, i.len()).in_field("Message", "size")
        );
    }
    Ok(Parsed {
        end,
        offset,
        crc,
        magic,
        attributes,
        timestamp,
        key,
        value,
        crc_start,
    })
}

/// Checks the CRC-32 of a parsed message.
fn check_crc(data: &[u8], p: &Parsed<'_>, at: i64) -> Result<(), RecordError> {
    let computed = super::crc::crc32(&data[p.crc_start..p.end]);
    if computed == p.crc {
        Ok(())
    } else {
        Err(RecordError::new(
            RecordErrorKind::CrcMismatch {
                stored: p.crc,
                computed,
            },
            Some(at),
        ))
    }
}

fn timestamp_type(attributes: i8) -> TimestampType {
    if attributes & ATTR_TIMESTAMP_TYPE != 0 {
        TimestampType::LogAppendTime
    } else {
        TimestampType::CreateTime
    }
}

/// Decodes the outer message that is exactly `bytes` into a batch header and where
/// its value is.
pub(crate) fn outer(
    bytes: &Bytes,
    opts: &DecodeOptions,
) -> Result<(BatchHeader, Option<(u32, u32)>), RecordError> {
    let p = parse(bytes, 0).map_err(|e| RecordError::malformed(e, None))?;
    if opts.check_crcs {
        check_crc(bytes, &p, p.offset)?;
    }
    let header = BatchHeader {
        base_offset: p.offset,
        batch_length: (bytes.len() - super::LOG_OVERHEAD) as i32,
        partition_leader_epoch: -1,
        magic: p.magic,
        crc: p.crc,
        attributes: i16::from(p.attributes & 0x0f),
        last_offset_delta: 0,
        base_timestamp: p.timestamp,
        max_timestamp: p.timestamp,
        producer_id: -1,
        producer_epoch: -1,
        base_sequence: -1,
        records_count: 1,
    };
    let base = bytes.as_ptr() as usize;
    // A message is at most 2 GiB (an int32 size), so positions fit in u32.
    let value = p.value.map(|v| {
        let start = v.as_ptr() as usize - base;
        (start as u32, (start + v.len()) as u32)
    });
    Ok((header, value))
}

/// What `records` needs of the outer message (all of it is in the batch header).
struct Outer {
    offset: i64,
    magic: i8,
    attributes: i8,
    timestamp: i64,
}

/// The records of a legacy message: itself, or the inner messages of a wrapper.
pub(crate) fn records(
    header: &BatchHeader,
    bytes: Bytes,
    value: Option<(u32, u32)>,
    opts: &DecodeOptions,
) -> Result<Records, RecordError> {
    let m = Outer {
        offset: header.base_offset,
        magic: header.magic,
        attributes: header.attributes as i8,
        timestamp: header.base_timestamp,
    };
    let at = Some(m.offset);
    let codec = Compression::from_attributes(i16::from(m.attributes))
        .map_err(|c| RecordError::new(RecordErrorKind::UnknownCompression(c), at))?;
    let ts_type = timestamp_type(m.attributes);
    if codec == Compression::None {
        // The message itself is a message set of one; its CRC is checked already.
        return Ok(Records::legacy(LegacyRecords {
            data: bytes,
            pos: 0,
            base: None,
            log_append_time: (m.magic >= 1 && ts_type == TimestampType::LogAppendTime)
                .then_some(m.timestamp),
            wrapper_offset: m.offset,
            check_crcs: false,
            wrapper: false,
        }));
    }
    let compressed = value
        .map(|(a, b)| &bytes[a as usize..b as usize])
        .ok_or_else(|| {
            RecordError::malformed(
                DecodeError::new(DecodeErrorKind::UnexpectedNull, 0).in_field("Message", "value"),
                at,
            )
        })?;
    let data = Bytes::from(
        compression::decompress(codec, compressed, opts.max_decompressed_bytes)
            .map_err(|k| RecordError::new(k, at))?,
    );
    // Magic 1 inner offsets are relative to the wrapper, which holds the last one's
    // absolute offset: find the last inner offset first (a walk over sizes, no copy).
    let base = if m.magic >= 1 {
        let last = last_inner_offset(&data).map_err(|e| RecordError::malformed(e, at))?;
        Some(m.offset.wrapping_sub(last))
    } else {
        None
    };
    let log_append_time =
        (m.magic >= 1 && ts_type == TimestampType::LogAppendTime).then_some(m.timestamp);
    Ok(Records::legacy(LegacyRecords {
        data,
        pos: 0,
        base,
        log_append_time,
        wrapper_offset: m.offset,
        check_crcs: opts.check_crcs,
        wrapper: true,
    }))
}

fn last_inner_offset(data: &[u8]) -> Result<i64, DecodeError> {
    let mut rest = data;
    let mut last = 0;
    while !rest.is_empty() {
        let (i, offset) = int64(rest).map_err(de)?;
        let (i, size) = int32(i).map_err(de)?;
        let size = usize::try_from(size)
            .map_err(|_| DecodeError::new(DecodeErrorKind::NegativeLength, i.len()))?;
        rest = take(i, size).map_err(de)?.0;
        last = offset;
    }
    Ok(last)
}

/// The record iterator of a legacy message: the message itself (a message set of
/// one), or a wrapper's inner message set.
#[derive(Debug, Clone)]
pub(crate) struct LegacyRecords {
    data: Bytes,
    pos: usize,
    /// Magic 1 wrapper: the absolute offset of inner relative offset 0.
    base: Option<i64>,
    log_append_time: Option<i64>,
    wrapper_offset: i64,
    check_crcs: bool,
    /// Iterating a wrapper's inner messages (which may not be compressed again).
    wrapper: bool,
}

impl LegacyRecords {
    pub(crate) fn remaining(&self) -> usize {
        (self.data.len() - self.pos).div_ceil(super::LOG_OVERHEAD + MIN_MESSAGE_V0)
    }

    pub(crate) fn next_ref(&mut self) -> Option<Result<RecordRef<'_>, RecordError>> {
        if self.pos >= self.data.len() {
            return None;
        }
        let at = Some(self.wrapper_offset);
        let p = match parse(&self.data, self.pos) {
            Ok(p) => p,
            Err(e) => {
                self.pos = self.data.len();
                return Some(Err(RecordError::malformed(e, at)));
            }
        };
        if self.check_crcs {
            if let Err(e) = check_crc(&self.data, &p, self.wrapper_offset) {
                self.pos = self.data.len();
                return Some(Err(e));
            }
        }
        if self.wrapper && p.attributes & 0x07 != 0 {
            // Kafka never nests compression; refusing it also bounds the work.
            self.pos = self.data.len();
            let e = DecodeError::new(DecodeErrorKind::InvalidValue, 0)
                .in_field("Message", "attributes");
            return Some(Err(RecordError::malformed(e, at)));
        }
        self.pos = p.end;
        let (timestamp, timestamp_type) = match self.log_append_time {
            Some(t) => (t, TimestampType::LogAppendTime),
            None => (p.timestamp, TimestampType::CreateTime),
        };
        let offset = match self.base {
            Some(base) => base.wrapping_add(p.offset),
            None => p.offset,
        };
        Some(Ok(RecordRef::new(
            offset,
            timestamp,
            timestamp_type,
            p.magic,
            p.key,
            p.value,
            &self.data,
        )))
    }
}

/// Encodes legacy messages, for tests and the simulated broker: old-format data is
/// something a consumer must still read.
pub mod encode {
    use alloc::vec::Vec;

    use bytes::{BufMut, BytesMut};

    use super::super::compression::{self, Compression};
    use super::super::crc::crc32;

    /// One message to write.
    #[derive(Debug, Clone, Copy)]
    pub struct Message<'a> {
        /// The offset written in front of the message.
        pub offset: i64,
        /// Magic-1 timestamp (ignored for magic 0).
        pub timestamp: i64,
        /// The key; `None` is null.
        pub key: Option<&'a [u8]>,
        /// The value; `None` is null.
        pub value: Option<&'a [u8]>,
    }

    fn put_bytes(buf: &mut BytesMut, b: Option<&[u8]>) {
        match b {
            Some(b) => {
                buf.put_i32(b.len() as i32);
                buf.put_slice(b);
            }
            None => buf.put_i32(-1),
        }
    }

    /// Appends one message (offset, size, crc, ...) to `buf`.
    pub fn message(buf: &mut BytesMut, magic: i8, attributes: i8, m: &Message<'_>) {
        buf.put_i64(m.offset);
        let size_at = buf.len();
        buf.put_i32(0);
        buf.put_u32(0);
        let crc_from = buf.len();
        buf.put_i8(magic);
        buf.put_i8(attributes);
        if magic >= 1 {
            buf.put_i64(m.timestamp);
        }
        put_bytes(buf, m.key);
        put_bytes(buf, m.value);
        let size = (buf.len() - size_at - 4) as i32;
        buf[size_at..size_at + 4].copy_from_slice(&size.to_be_bytes());
        let crc = crc32(&buf[crc_from..]);
        buf[crc_from - 4..crc_from].copy_from_slice(&crc.to_be_bytes());
    }

    /// Appends a message set: uncompressed messages, or (with a codec) one wrapper
    /// whose offset is that of the last message. In magic 1 the inner offsets are
    /// written relative (0, 1, ...), as the broker stores them; in magic 0 absolute.
    /// Returns `false` if the codec is not enabled in this build.
    pub fn message_set(
        buf: &mut BytesMut,
        magic: i8,
        codec: Compression,
        messages: &[Message<'_>],
    ) -> bool {
        if codec == Compression::None {
            for m in messages {
                message(buf, magic, 0, m);
            }
            return true;
        }
        let mut inner = BytesMut::new();
        for (i, m) in messages.iter().enumerate() {
            let offset = if magic >= 1 { i as i64 } else { m.offset };
            message(&mut inner, magic, 0, &Message { offset, ..*m });
        }
        let mut compressed = Vec::new();
        if compression::compress(codec, &inner, &mut compressed).is_err() {
            return false;
        }
        let last = messages.last().map_or(0, |m| m.offset);
        let ts = messages.iter().map(|m| m.timestamp).max().unwrap_or(-1);
        let wrapper = Message {
            offset: last,
            timestamp: ts,
            key: None,
            value: Some(&compressed),
        };
        message(buf, magic, codec.id() as i8, &wrapper);
        true
    }
}
