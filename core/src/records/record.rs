//! The record view and the lazy record iterator of a v2 batch.
//!
//! A record's key, value and headers are [`Bytes`] slices of the batch's buffer: a
//! reference-count bump, no copy, no allocation. The hot loop parses each record with
//! the codec's varint parsers (one-byte fast path) and checks each length once.

use bytes::Bytes;

use super::batch::{de, BatchHeader, TimestampType};
use super::legacy::LegacyRecords;
use super::RecordError;
use crate::codec::primitives::{take, varint, varlong};
use crate::codec::{DecodeError, DecodeErrorKind, PResult};

/// One record: its offset, timestamp, key, value and headers.
///
/// It borrows nothing: the byte fields are [`Bytes`] slices of the fetched (or
/// decompressed) buffer, which stays alive as long as any record of it does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The record's offset in its partition.
    pub offset: i64,
    /// Milliseconds since the epoch (-1 when a magic-0 message has none).
    pub timestamp: i64,
    /// Who set the timestamp.
    pub timestamp_type: TimestampType,
    /// The format the record came in: 2 for record batches, 0 or 1 for legacy
    /// messages (magic 0 has no timestamp at all; tools such as kcat print that as
    /// "not available", unlike a timestamp of -1 in a later format).
    pub magic: i8,
    /// The key; `None` is a null key.
    pub key: Option<Bytes>,
    /// The value; `None` is a null value (a tombstone).
    pub value: Option<Bytes>,
    /// The headers (always empty for legacy messages).
    pub headers: Headers,
}

impl Record {
    /// Iterates the headers in order, allocating nothing.
    pub fn headers(&self) -> HeaderIter<'_> {
        self.headers.iter()
    }
}

/// A borrowed view of one record: the fast path. Getting one costs no reference
/// count and no allocation; [`RecordRef::to_record`] makes the owned [`Record`]
/// (whose byte fields are [`Bytes`] slices of the same buffer) when one is needed.
#[derive(Clone, Copy)]
pub struct RecordRef<'a> {
    /// The record's offset in its partition.
    pub offset: i64,
    /// Milliseconds since the epoch (-1 when a magic-0 message has none).
    pub timestamp: i64,
    /// Who set the timestamp.
    pub timestamp_type: TimestampType,
    /// The format the record came in: 2, or 0/1 for legacy messages.
    pub magic: i8,
    /// The key; `None` is a null key.
    pub key: Option<&'a [u8]>,
    /// The value; `None` is a null value.
    pub value: Option<&'a [u8]>,
    headers: &'a [u8],
    header_count: u32,
    buf: &'a Bytes,
}

impl core::fmt::Debug for RecordRef<'_> {
    // Not derived: that would print the whole batch buffer the record points into.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RecordRef")
            .field("offset", &self.offset)
            .field("timestamp", &self.timestamp)
            .field("timestamp_type", &self.timestamp_type)
            .field("magic", &self.magic)
            .field("key", &self.key)
            .field("value", &self.value)
            .field("headers", &self.headers().collect::<alloc::vec::Vec<_>>())
            .finish()
    }
}

impl<'a> RecordRef<'a> {
    /// A record without headers (legacy messages have none).
    pub(crate) fn new(
        offset: i64,
        timestamp: i64,
        timestamp_type: TimestampType,
        magic: i8,
        key: Option<&'a [u8]>,
        value: Option<&'a [u8]>,
        buf: &'a Bytes,
    ) -> Self {
        Self {
            offset,
            timestamp,
            timestamp_type,
            magic,
            key,
            value,
            headers: &[],
            header_count: 0,
            buf,
        }
    }

    /// Iterates the headers in order, allocating nothing.
    pub fn headers(&self) -> HeaderIter<'a> {
        HeaderIter {
            rest: self.headers,
            left: self.header_count,
        }
    }
    /// How many headers there are.
    pub fn header_count(&self) -> usize {
        self.header_count as usize
    }
    /// The key as [`Bytes`]: a slice of the batch buffer, no copy.
    pub fn key_bytes(&self) -> Option<Bytes> {
        self.key.map(|k| self.buf.slice_ref(k))
    }
    /// The value as [`Bytes`]: a slice of the batch buffer, no copy.
    pub fn value_bytes(&self) -> Option<Bytes> {
        self.value.map(|v| self.buf.slice_ref(v))
    }
    /// The owned record: byte fields become [`Bytes`] slices (reference-count bumps,
    /// no copies; none for null or empty fields).
    pub fn to_record(&self) -> Record {
        Record {
            offset: self.offset,
            timestamp: self.timestamp,
            timestamp_type: self.timestamp_type,
            magic: self.magic,
            key: self.key_bytes(),
            value: self.value_bytes(),
            headers: if self.header_count == 0 {
                Headers::default()
            } else {
                Headers {
                    buf: self.buf.slice_ref(self.headers),
                    count: self.header_count,
                }
            },
        }
    }
}

/// The encoded headers of one record, already validated (lengths, UTF-8 keys).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Headers {
    buf: Bytes,
    count: u32,
}

impl Headers {
    /// How many headers there are.
    pub fn len(&self) -> usize {
        self.count as usize
    }
    /// No headers.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
    /// Iterates the headers in order, allocating nothing.
    pub fn iter(&self) -> HeaderIter<'_> {
        HeaderIter {
            rest: &self.buf,
            left: self.count,
        }
    }
    /// The first header named `key`, if any.
    pub fn get(&self, key: &str) -> Option<Header<'_>> {
        self.iter().find(|h| h.key == key)
    }
    /// A header value as [`Bytes`]: a slice of the same buffer, no copy. `value` must
    /// come from this record's headers.
    pub fn to_bytes(&self, value: &[u8]) -> Bytes {
        self.buf.slice_ref(value)
    }
}

impl<'a> IntoIterator for &'a Headers {
    type Item = Header<'a>;
    type IntoIter = HeaderIter<'a>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// One record header. Header keys are strings; values are bytes or null.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header<'a> {
    /// The name.
    pub key: &'a str,
    /// The value; `None` is null. [`Headers::to_bytes`] turns it into [`Bytes`].
    pub value: Option<&'a [u8]>,
}

/// Iterator over the headers of a record. Infallible: the headers were validated when
/// the record was decoded.
#[derive(Debug, Clone)]
pub struct HeaderIter<'a> {
    rest: &'a [u8],
    left: u32,
}

impl<'a> Iterator for HeaderIter<'a> {
    type Item = Header<'a>;

    #[inline]
    fn next(&mut self) -> Option<Header<'a>> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        match header(self.rest) {
            Ok((rest, h)) => {
                self.rest = rest;
                Some(h)
            }
            // Unreachable for validated bytes; end quietly rather than panic.
            Err(_) => {
                self.left = 0;
                None
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left as usize, Some(self.left as usize))
    }
}

/// A varint length: `None` for -1 (null), an error for other negatives.
#[inline(always)]
fn nullable_len(input: &[u8]) -> PResult<'_, Option<usize>> {
    let (rest, n) = varint_fast(input)?;
    if n >= 0 {
        Ok((rest, Some(n as usize)))
    } else if n == -1 {
        Ok((rest, None))
    } else {
        Err(nom::Err::Error(DecodeError::new(
            DecodeErrorKind::NegativeLength,
            input.len(),
        )))
    }
}

/// A nullable byte field: a varint length, then that many bytes.
#[inline(always)]
fn nullable_bytes(input: &[u8]) -> PResult<'_, Option<&[u8]>> {
    match nullable_len(input)? {
        (rest, Some(n)) => take(rest, n).map(|(rest, b)| (rest, Some(b))),
        (rest, None) => Ok((rest, None)),
    }
}

/// One header: a varint-length UTF-8 key (never null), a nullable value.
#[inline]
fn header(input: &[u8]) -> PResult<'_, Header<'_>> {
    let (rest, key) = match nullable_bytes(input)? {
        (rest, Some(k)) => (rest, k),
        (_, None) => {
            return Err(nom::Err::Error(
                DecodeError::new(DecodeErrorKind::UnexpectedNull, input.len())
                    .in_field("Header", "key"),
            ))
        }
    };
    let key = core::str::from_utf8(key).map_err(|_| {
        nom::Err::Error(
            DecodeError::new(DecodeErrorKind::InvalidUtf8, input.len()).in_field("Header", "key"),
        )
    })?;
    let (rest, value) = nullable_bytes(rest)?;
    Ok((rest, Header { key, value }))
}

/// Iterator over the records of one batch (v2 or legacy). Yields an error at most
/// once, then ends.
#[derive(Debug, Clone)]
pub struct Records {
    inner: Inner,
}

#[derive(Debug, Clone)]
enum Inner {
    V2(V2Records),
    Legacy(LegacyRecords),
}

impl Records {
    /// The records of a v2 batch, in `data` from `start` to the end.
    pub(crate) fn v2(header: &BatchHeader, data: Bytes, start: usize) -> Result<Self, RecordError> {
        let at = Some(header.base_offset);
        let left = u32::try_from(header.records_count).map_err(|_| {
            RecordError::malformed(
                DecodeError::new(DecodeErrorKind::NegativeLength, data.len())
                    .in_field("RecordBatch", "recordsCount"),
                at,
            )
        })?;
        let log_append_time = match header.timestamp_type() {
            TimestampType::LogAppendTime => Some(header.max_timestamp),
            TimestampType::CreateTime => None,
        };
        Ok(Self {
            inner: Inner::V2(V2Records {
                data,
                pos: start,
                left,
                base_offset: header.base_offset,
                base_timestamp: header.base_timestamp,
                log_append_time,
            }),
        })
    }

    pub(crate) fn legacy(inner: LegacyRecords) -> Self {
        Self {
            inner: Inner::Legacy(inner),
        }
    }

    /// The next record as a borrowed view: no reference count, no allocation. Mixes
    /// freely with [`Iterator::next`], which yields owned [`Record`]s.
    #[inline]
    pub fn next_ref(&mut self) -> Option<Result<RecordRef<'_>, RecordError>> {
        match &mut self.inner {
            Inner::V2(r) => r.next_ref(),
            Inner::Legacy(r) => r.next_ref(),
        }
    }

    /// How many records are left, as the batch claims (an upper bound for legacy).
    pub fn remaining(&self) -> usize {
        match &self.inner {
            Inner::V2(r) => r.left as usize,
            Inner::Legacy(r) => r.remaining(),
        }
    }
}

impl Iterator for Records {
    type Item = Result<Record, RecordError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        self.next_ref().map(|r| r.map(|r| r.to_record()))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        // One more item is possible: the error for bytes after the last record.
        (0, self.remaining().checked_add(1))
    }
}

/// The records of a v2 batch: `left` more records from `data[pos..]`.
#[derive(Debug, Clone)]
struct V2Records {
    data: Bytes,
    pos: usize,
    left: u32,
    base_offset: i64,
    base_timestamp: i64,
    log_append_time: Option<i64>,
}

/// A record's fields, as slices of the batch buffer.
struct Parsed<'a> {
    end: usize,
    timestamp_delta: i64,
    offset_delta: i32,
    key: Option<&'a [u8]>,
    value: Option<&'a [u8]>,
    headers: &'a [u8],
    header_count: u32,
}

/// A zigzag varint with a fast path for one and two bytes (record lengths of up to
/// 8 KiB, small deltas), falling back to the codec's general parser.
#[inline(always)]
fn varint_fast(input: &[u8]) -> PResult<'_, i32> {
    if let [a, b, rest @ ..] = input {
        let zz = |raw: u32| ((raw >> 1) as i32) ^ -((raw & 1) as i32);
        if a & 0x80 == 0 {
            return Ok((&input[1..], zz(u32::from(*a))));
        }
        if b & 0x80 == 0 {
            return Ok((rest, zz(u32::from(a & 0x7f) | (u32::from(*b) << 7))));
        }
    }
    varint(input)
}

/// The same for a zigzag varlong.
#[inline(always)]
fn varlong_fast(input: &[u8]) -> PResult<'_, i64> {
    if let [a, b, rest @ ..] = input {
        let zz = |raw: u64| ((raw >> 1) as i64) ^ -((raw & 1) as i64);
        if a & 0x80 == 0 {
            return Ok((&input[1..], zz(u64::from(*a))));
        }
        if b & 0x80 == 0 {
            return Ok((rest, zz(u64::from(a & 0x7f) | (u64::from(*b) << 7))));
        }
    }
    varlong(input)
}

/// Parses the record at `data[pos..]`, validating every length.
#[inline(always)]
fn parse(data: &[u8], pos: usize) -> Result<Parsed<'_>, DecodeError> {
    let input = data.get(pos..).unwrap_or_default();
    let (rest, len) = varint_fast(input).map_err(de)?;
    if len < 0 {
        return Err(DecodeError::new(
            DecodeErrorKind::NegativeLength,
            input.len(),
        ));
    }
    let (_, body) = take(rest, len as usize).map_err(de)?;
    let end = pos + (input.len() - rest.len()) + body.len();
    // The attributes byte is unused in v2 records.
    let (_, i) = body
        .split_first()
        .ok_or_else(|| DecodeError::new(DecodeErrorKind::Truncated, 0))?;
    let (i, timestamp_delta) = varlong_fast(i).map_err(de)?;
    let (i, offset_delta) = varint_fast(i).map_err(de)?;
    let (i, key) = nullable_bytes(i).map_err(|e| de(e).in_field("Record", "key"))?;
    let (i, value) = nullable_bytes(i).map_err(|e| de(e).in_field("Record", "value"))?;
    let (headers, count) = varint_fast(i).map_err(de)?;
    let header_count = u32::try_from(count).map_err(|_| {
        DecodeError::new(DecodeErrorKind::NegativeLength, headers.len())
            .in_field("Record", "headers")
    })?;
    let mut i = headers;
    for _ in 0..header_count {
        i = header(i)
            .map_err(|e| de(e).in_field("Record", "headers"))?
            .0;
    }
    if !i.is_empty() {
        return Err(
            DecodeError::new(DecodeErrorKind::TrailingBytes, i.len()).in_field("Record", "length")
        );
    }
    Ok(Parsed {
        end,
        timestamp_delta,
        offset_delta,
        key,
        value,
        headers,
        header_count,
    })
}

impl V2Records {
    #[inline]
    fn next_ref(&mut self) -> Option<Result<RecordRef<'_>, RecordError>> {
        if self.left == 0 {
            if self.pos == self.data.len() {
                return None;
            }
            // Bytes after the last record the batch counts: a wrong count or garbage.
            let e = DecodeError::new(DecodeErrorKind::TrailingBytes, self.data.len() - self.pos)
                .in_field("RecordBatch", "records");
            self.pos = self.data.len();
            return Some(Err(RecordError::malformed(e, Some(self.base_offset))));
        }
        match parse(&self.data, self.pos) {
            Ok(p) => {
                self.left -= 1;
                self.pos = p.end;
                let (timestamp, timestamp_type) = match self.log_append_time {
                    Some(t) => (t, TimestampType::LogAppendTime),
                    None => (
                        self.base_timestamp.wrapping_add(p.timestamp_delta),
                        TimestampType::CreateTime,
                    ),
                };
                Some(Ok(RecordRef {
                    offset: self.base_offset.wrapping_add(i64::from(p.offset_delta)),
                    timestamp,
                    timestamp_type,
                    magic: 2,
                    key: p.key,
                    value: p.value,
                    headers: p.headers,
                    header_count: p.header_count,
                    buf: &self.data,
                }))
            }
            Err(mut e) => {
                self.left = 0;
                // Point at the record that does not decode (within the batch's records).
                e.offset.get_or_insert(self.pos);
                self.pos = self.data.len();
                Some(Err(RecordError::malformed(e, Some(self.base_offset))))
            }
        }
    }
}
