//! An encoder for v2 record batches, with every codec: the simulated broker stores
//! what it encodes here, and tests round-trip through it.

use alloc::vec::Vec;
use core::fmt;

use bytes::{BufMut, BytesMut};

use super::batch::{TimestampType, V2_CRC_OFFSET, V2_CRC_START, V2_HEADER_LEN};
use super::compression::{self, Compression};
use super::control::ControlType;
use super::LOG_OVERHEAD;
use crate::codec::primitives::{put_varint, put_varlong};

/// Why a batch cannot be encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum EncodeRecordError {
    /// The codec's feature is not enabled in this build.
    CodecDisabled(Compression),
    /// The batch would be larger than `batchLength` (an `int32`) can say.
    TooLarge,
}

impl fmt::Display for EncodeRecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::CodecDisabled(c) => {
                write!(f, "{} compression is not enabled in this build", c.name())
            }
            Self::TooLarge => f.write_str("record batch larger than 2 GiB"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for EncodeRecordError {}

/// Builds one v2 record batch. Set the batch fields, [`push`](Self::push) records,
/// then [`encode`](Self::encode).
#[derive(Debug, Clone)]
pub struct BatchBuilder {
    /// The offset of the first record.
    pub base_offset: i64,
    /// The leader epoch stamped on the batch.
    pub partition_leader_epoch: i32,
    /// The codec for the records.
    pub compression: Compression,
    /// With [`TimestampType::LogAppendTime`] every record reads `max_timestamp`.
    pub timestamp_type: TimestampType,
    /// Part of a transaction.
    pub transactional: bool,
    /// A control batch.
    pub control: bool,
    /// The producer id, or -1.
    pub producer_id: i64,
    /// The producer epoch, or -1.
    pub producer_epoch: i16,
    /// The sequence of the first record, or -1.
    pub base_sequence: i32,
    /// Overrides the largest record timestamp (e.g. the broker's append time).
    pub max_timestamp: Option<i64>,
    records: Vec<u8>,
    scratch: BytesMut,
    count: i32,
    base_timestamp: Option<i64>,
    max_record_timestamp: i64,
    last_offset_delta: i32,
}

impl BatchBuilder {
    /// An empty, uncompressed, non-transactional batch starting at `base_offset`.
    pub fn new(base_offset: i64) -> Self {
        Self {
            base_offset,
            partition_leader_epoch: 0,
            compression: Compression::None,
            timestamp_type: TimestampType::CreateTime,
            transactional: false,
            control: false,
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
            max_timestamp: None,
            records: Vec::new(),
            scratch: BytesMut::new(),
            count: 0,
            base_timestamp: None,
            max_record_timestamp: -1,
            last_offset_delta: -1,
        }
    }

    /// Sets the codec.
    #[must_use]
    pub fn with_compression(mut self, compression: Compression) -> Self {
        self.compression = compression;
        self
    }

    /// A control batch holding one transaction marker at `offset`.
    pub fn control_marker(
        offset: i64,
        producer_id: i64,
        producer_epoch: i16,
        control_type: ControlType,
        coordinator_epoch: i32,
        timestamp: i64,
    ) -> Self {
        let mut b = Self::new(offset);
        b.control = true;
        b.transactional = true;
        b.producer_id = producer_id;
        b.producer_epoch = producer_epoch;
        let ty: i16 = match control_type {
            ControlType::Abort => 0,
            ControlType::Commit => 1,
            ControlType::Other(t) => t,
        };
        let mut key = [0u8; 4];
        key[2..].copy_from_slice(&ty.to_be_bytes());
        let mut value = [0u8; 6];
        value[2..].copy_from_slice(&coordinator_epoch.to_be_bytes());
        b.push(timestamp, Some(&key), Some(&value), &[]);
        b
    }

    /// Records pushed so far.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// No records yet.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Appends a record at the next offset; returns its offset delta.
    pub fn push(
        &mut self,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[(&str, Option<&[u8]>)],
    ) -> i32 {
        let delta = self.last_offset_delta.wrapping_add(1);
        self.push_at(delta, timestamp, key, value, headers);
        delta
    }

    /// Appends a record at `base_offset + offset_delta` (deltas must grow; gaps are
    /// what compaction leaves).
    pub fn push_at(
        &mut self,
        offset_delta: i32,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[(&str, Option<&[u8]>)],
    ) {
        let base_timestamp = *self.base_timestamp.get_or_insert(timestamp);
        let body = &mut self.scratch;
        body.clear();
        body.put_i8(0); // attributes: unused
        put_varlong(body, timestamp.wrapping_sub(base_timestamp));
        put_varint(body, offset_delta);
        put_nullable(body, key);
        put_nullable(body, value);
        put_varint(body, headers.len() as i32);
        for (k, v) in headers {
            put_nullable(body, Some(k.as_bytes()));
            put_nullable(body, *v);
        }
        let mut len = BytesMut::with_capacity(5);
        put_varint(&mut len, body.len() as i32);
        self.records.extend_from_slice(&len);
        self.records.extend_from_slice(body);
        self.count += 1;
        self.last_offset_delta = offset_delta;
        self.max_record_timestamp = self.max_record_timestamp.max(timestamp);
    }

    /// Appends the encoded batch to `buf`.
    pub fn encode(&self, buf: &mut BytesMut) -> Result<(), EncodeRecordError> {
        let mut compressed = Vec::new();
        let records: &[u8] = if self.compression == Compression::None {
            &self.records
        } else {
            compression::compress(self.compression, &self.records, &mut compressed)
                .map_err(EncodeRecordError::CodecDisabled)?;
            &compressed
        };
        let batch_length = i32::try_from(V2_HEADER_LEN - LOG_OVERHEAD + records.len())
            .map_err(|_| EncodeRecordError::TooLarge)?;
        let mut attributes = i16::from(self.compression.id());
        if self.timestamp_type == TimestampType::LogAppendTime {
            attributes |= 0x08;
        }
        if self.transactional {
            attributes |= 0x10;
        }
        if self.control {
            attributes |= 0x20;
        }
        let start = buf.len();
        buf.reserve(V2_HEADER_LEN + records.len());
        buf.put_i64(self.base_offset);
        buf.put_i32(batch_length);
        buf.put_i32(self.partition_leader_epoch);
        buf.put_i8(2);
        buf.put_u32(0); // CRC, filled in below
        buf.put_i16(attributes);
        buf.put_i32(self.last_offset_delta.max(0));
        let base_timestamp = self.base_timestamp.unwrap_or(-1);
        buf.put_i64(base_timestamp);
        buf.put_i64(self.max_timestamp.unwrap_or(if self.count == 0 {
            -1
        } else {
            self.max_record_timestamp
        }));
        buf.put_i64(self.producer_id);
        buf.put_i16(self.producer_epoch);
        buf.put_i32(self.base_sequence);
        buf.put_i32(self.count);
        buf.put_slice(records);
        let crc = super::crc::crc32c(&buf[start + V2_CRC_START..]);
        buf[start + V2_CRC_OFFSET..start + V2_CRC_START].copy_from_slice(&crc.to_be_bytes());
        Ok(())
    }
}

fn put_nullable(buf: &mut BytesMut, b: Option<&[u8]>) {
    match b {
        Some(b) => {
            put_varint(buf, b.len() as i32);
            buf.put_slice(b);
        }
        None => put_varint(buf, -1),
    }
}
