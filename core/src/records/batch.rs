//! One batch: the v2 batch header, and the batch as the unit the records come in.
//!
//! A v2 batch (magic 2) is a 61-byte header followed by its records, compressed as a
//! whole or not. A legacy message (magic 0 or 1) is treated as a batch too, as the
//! Java client does: an uncompressed one holds one record, a compressed wrapper holds
//! the inner message set.

use bytes::Bytes;

use super::compression::{self, Compression};
use super::control::{self, ControlMarker};
use super::legacy;
use super::record::Records;
use super::{DecodeOptions, RecordError, RecordErrorKind};
use crate::codec::primitives::{int16, int32, int64, int8, uint32};
use crate::codec::{DecodeError, DecodeErrorKind, PResult};

/// Size of the v2 batch header, up to and including the record count.
pub(crate) const V2_HEADER_LEN: usize = 61;
/// Where the part the CRC covers starts: the attributes.
pub(crate) const V2_CRC_START: usize = 21;
/// Where the CRC field is.
pub(crate) const V2_CRC_OFFSET: usize = 17;

const ATTR_TIMESTAMP_TYPE: i16 = 0x08;
const ATTR_TRANSACTIONAL: i16 = 0x10;
const ATTR_CONTROL: i16 = 0x20;
const ATTR_DELETE_HORIZON: i16 = 0x40;

/// How a batch's timestamps were set (attribute bit 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum TimestampType {
    /// The producer set each record's timestamp.
    #[default]
    CreateTime,
    /// The broker set the batch's `maxTimestamp` when appending; every record has it.
    LogAppendTime,
}

/// The header of a v2 record batch, field by field. For a legacy message the same
/// fields are filled in from the message (see [`Batch`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct BatchHeader {
    /// The offset of the first record.
    pub base_offset: i64,
    /// Bytes after this field to the end of the batch.
    pub batch_length: i32,
    /// The leader epoch the broker stamped on the batch.
    pub partition_leader_epoch: i32,
    /// The format: 2 (0 and 1 for legacy messages).
    pub magic: i8,
    /// The CRC-32C of everything from the attributes to the end.
    pub crc: u32,
    /// Compression (bits 0-2), timestamp type (3), transactional (4), control (5),
    /// delete horizon (6).
    pub attributes: i16,
    /// `lastOffset - baseOffset`; survives compaction, so it is what moves the fetch
    /// position past a batch.
    pub last_offset_delta: i32,
    /// The timestamp record deltas are relative to (or the delete horizon).
    pub base_timestamp: i64,
    /// The largest timestamp in the batch (with log-append time: the append time).
    pub max_timestamp: i64,
    /// The idempotent/transactional producer, or -1.
    pub producer_id: i64,
    /// That producer's epoch, or -1.
    pub producer_epoch: i16,
    /// The sequence number of the first record, or -1.
    pub base_sequence: i32,
    /// How many records the batch says it holds.
    pub records_count: i32,
}

impl BatchHeader {
    /// The codec, or the unknown value of the compression bits.
    pub fn compression(&self) -> Result<Compression, u8> {
        Compression::from_attributes(self.attributes)
    }
    /// How record timestamps were set.
    pub fn timestamp_type(&self) -> TimestampType {
        if self.attributes & ATTR_TIMESTAMP_TYPE != 0 {
            TimestampType::LogAppendTime
        } else {
            TimestampType::CreateTime
        }
    }
    /// Part of a transaction.
    pub fn is_transactional(&self) -> bool {
        self.attributes & ATTR_TRANSACTIONAL != 0
    }
    /// Holds a control record (a transaction marker), not user records.
    pub fn is_control(&self) -> bool {
        self.attributes & ATTR_CONTROL != 0
    }
    /// `base_timestamp` is the delete horizon set by compaction.
    pub fn has_delete_horizon(&self) -> bool {
        self.attributes & ATTR_DELETE_HORIZON != 0
    }
    /// The offset of the last record (compacted away or not).
    pub fn last_offset(&self) -> i64 {
        self.base_offset
            .wrapping_add(i64::from(self.last_offset_delta))
    }
    /// Where the next fetch starts once this batch is consumed.
    pub fn next_offset(&self) -> i64 {
        self.last_offset().wrapping_add(1)
    }
}

/// Parses the 61-byte v2 header.
pub(crate) fn v2_header(input: &[u8]) -> PResult<'_, BatchHeader> {
    let (i, base_offset) = int64(input)?;
    let (i, batch_length) = int32(i)?;
    let (i, partition_leader_epoch) = int32(i)?;
    let (i, magic) = int8(i)?;
    let (i, crc) = uint32(i)?;
    let (i, attributes) = int16(i)?;
    let (i, last_offset_delta) = int32(i)?;
    let (i, base_timestamp) = int64(i)?;
    let (i, max_timestamp) = int64(i)?;
    let (i, producer_id) = int64(i)?;
    let (i, producer_epoch) = int16(i)?;
    let (i, base_sequence) = int32(i)?;
    let (i, records_count) = int32(i)?;
    Ok((
        i,
        BatchHeader {
            base_offset,
            batch_length,
            partition_leader_epoch,
            magic,
            crc,
            attributes,
            last_offset_delta,
            base_timestamp,
            max_timestamp,
            producer_id,
            producer_epoch,
            base_sequence,
            records_count,
        },
    ))
}

/// Unwraps a nom error into the codec's error type.
pub(crate) fn de(e: nom::Err<DecodeError>) -> DecodeError {
    match e {
        nom::Err::Error(e) | nom::Err::Failure(e) => e,
        nom::Err::Incomplete(_) => DecodeError::new(DecodeErrorKind::Truncated, 0),
    }
}

/// One batch of a partition's fetched data, its CRC already checked (if asked).
///
/// Cheap to clone: it holds one slice of the fetched buffer (kept small, since
/// batches are moved around once per batch in the hot loop).
#[derive(Clone)]
pub struct Batch {
    header: BatchHeader,
    /// The whole batch (legacy: the whole message), offset and size included.
    bytes: Bytes,
    /// Legacy messages only: where the value is in `bytes` (for a compressed
    /// wrapper, the inner message set).
    legacy_value: Option<(u32, u32)>,
}

impl core::fmt::Debug for Batch {
    // The length, not the bytes: a batch can be megabytes.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Batch")
            .field("header", &self.header)
            .field("len", &self.bytes.len())
            .finish()
    }
}

impl Batch {
    /// Decodes one whole v2 batch (`bytes` is exactly the batch).
    pub(crate) fn v2(bytes: Bytes, opts: &DecodeOptions) -> Result<Self, RecordError> {
        let (_, header) =
            v2_header(&bytes).map_err(|e| RecordError::malformed(in_header(de(e)), None))?;
        let at = Some(header.base_offset);
        if bytes.len() < V2_HEADER_LEN {
            let e = DecodeError::new(DecodeErrorKind::InvalidValue, bytes.len());
            return Err(RecordError::malformed(in_header(e), at));
        }
        if opts.check_crcs {
            let computed = super::crc::crc32c(&bytes[V2_CRC_START..]);
            if computed != header.crc {
                return Err(RecordError::new(
                    RecordErrorKind::CrcMismatch {
                        stored: header.crc,
                        computed,
                    },
                    at,
                ));
            }
        }
        Ok(Self {
            header,
            bytes,
            legacy_value: None,
        })
    }

    /// Decodes one whole legacy message (`bytes` is exactly the message).
    pub(crate) fn legacy(bytes: Bytes, opts: &DecodeOptions) -> Result<Self, RecordError> {
        let (header, legacy_value) = legacy::outer(&bytes, opts)?;
        Ok(Self {
            header,
            bytes,
            legacy_value,
        })
    }

    /// The header. For a legacy message: `magic` 0 or 1, `base_offset` the message's
    /// offset (for a compressed wrapper the offset of its *last* inner message, as
    /// the wrapper carries it), `last_offset_delta` 0, the message's CRC, compression
    /// and timestamp, no producer (-1) and `records_count` 1.
    pub fn header(&self) -> &BatchHeader {
        &self.header
    }

    /// The offset of the first record (see [`Batch::header`] for legacy messages).
    pub fn base_offset(&self) -> i64 {
        self.header.base_offset
    }

    /// Where the next fetch starts once this batch is consumed: one past its last
    /// offset, even when compaction removed the last records or all of them.
    pub fn next_offset(&self) -> i64 {
        self.header.next_offset()
    }

    /// Holds a control record rather than user records.
    pub fn is_control(&self) -> bool {
        self.header.is_control()
    }

    /// The batch's records, decompressed first if the batch is compressed (into one
    /// buffer of at most `opts.max_decompressed_bytes`; the records are slices of it).
    /// Iterating the records of an uncompressed batch allocates nothing.
    pub fn records(&self, opts: &DecodeOptions) -> Result<Records, RecordError> {
        self.clone().into_records(opts)
    }

    /// [`Batch::records`], consuming the batch (saves a reference-count bump).
    pub fn into_records(self, opts: &DecodeOptions) -> Result<Records, RecordError> {
        let at = self.header.base_offset;
        if self.header.magic < 2 {
            return legacy::records(&self.header, self.bytes, self.legacy_value, opts)
                .map_err(|e| e.at_offset(at));
        }
        let codec = self
            .header
            .compression()
            .map_err(|c| RecordError::new(RecordErrorKind::UnknownCompression(c), Some(at)))?;
        if codec == Compression::None {
            return Records::v2(&self.header, self.bytes, V2_HEADER_LEN);
        }
        let data = compression::decompress(
            codec,
            &self.bytes[V2_HEADER_LEN..],
            opts.max_decompressed_bytes,
        )
        .map(Bytes::from)
        .map_err(|k| RecordError::new(k, Some(at)))?;
        Records::v2(&self.header, data, 0)
    }

    /// The transaction marker (or other control record) of a control batch; `None`
    /// for a batch of user records.
    pub fn control(&self, opts: &DecodeOptions) -> Option<Result<ControlMarker, RecordError>> {
        if !self.is_control() {
            return None;
        }
        Some(
            self.records(opts)
                .and_then(|mut r| control::marker(&self.header, &mut r)),
        )
    }
}

fn in_header(e: DecodeError) -> DecodeError {
    e.in_field("RecordBatch", "header")
}
