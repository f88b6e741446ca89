//! One partition's records in a Produce request, checked as a Kafka leader checks
//! them (`ProduceRequest.validateRecords`, then the log's own validation) and made
//! ready to store: the producer's bytes stay the producer's bytes (its codec, its
//! record encoding), so consumers read exactly what it sent.

use bytes::Bytes;
use kasio_core::protocol::ErrorCode;
use kasio_core::records::{batches, crc, DecodeOptions, RecordErrorKind, TimestampType};

use crate::sim::record::digest_record;

/// Where the v2 header fields a broker rewrites sit.
const ATTRIBUTES: usize = 21;
const MAX_TIMESTAMP: usize = 35;
/// The CRC covers the batch from its attributes on.
const CRC: usize = 17;
/// Attribute bit 3: the timestamps are LogAppendTime.
const LOG_APPEND_TIME_BIT: i16 = 0x08;
/// Kafka's default `message.max.bytes` (a batch larger than this is refused).
pub(super) const MAX_BATCH_BYTES: usize = 1_048_588;
/// Produce versions before this one may not carry zstd (KIP-110).
const FIRST_ZSTD_VERSION: i16 = 7;

/// A batch that passed every check, as it will be stored.
#[derive(Debug, Clone)]
pub(crate) struct Incoming {
    /// The batch; the log sets its base offset and partition leader epoch.
    pub bytes: Vec<u8>,
    /// Records in it.
    pub count: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub transactional: bool,
    /// Per record, as consumers will read it.
    pub timestamps: Vec<i64>,
    /// Per record (see [`digest_record`]), for the invariant checker's history.
    pub digests: Vec<u64>,
}

/// Why a partition's records were refused: the error, and for INVALID_RECORD the
/// record at fault with what was wrong (Produce v8+ `record_errors`).
pub(crate) type Refusal = (ErrorCode, Option<(i32, String)>);

/// Checks `records` of a Produce at `version`; with `log_append_time` (the
/// topic's `message.timestamp.type`) stamps the batch with `now_ms`, as a broker
/// does, recomputing the CRC since the attributes and max timestamp are covered.
pub(crate) fn check(
    records: Option<&Bytes>,
    version: i16,
    log_append_time: Option<i64>,
) -> Result<Incoming, Refusal> {
    let invalid = |why: &str| (ErrorCode::InvalidRecord, Some((0, why.to_string())));
    let data = match records {
        Some(d) if !d.is_empty() => d.clone(),
        // v3+ must carry exactly one batch.
        _ => return Err(invalid("no record batch")),
    };
    let opts = DecodeOptions::default();
    let mut walk = batches(data.clone(), opts);
    let batch = match walk.next() {
        Some(Ok(b)) => b,
        Some(Err(e)) => {
            return Err(match e.kind {
                RecordErrorKind::UnsupportedMagic(_) => invalid("magic must be 2"),
                _ => (ErrorCode::CorruptMessage, None),
            })
        }
        // The batch's length says more than the request holds.
        None => return Err((ErrorCode::CorruptMessage, None)),
    };
    if walk.next().is_some() || walk.truncated().is_some() || walk.remaining_bytes() > 0 {
        return Err(invalid("more than one record batch"));
    }
    let h = *batch.header();
    if h.magic != 2 {
        return Err(invalid("magic must be 2"));
    }
    if data.len() > MAX_BATCH_BYTES {
        return Err((ErrorCode::MessageTooLarge, None));
    }
    if h.is_control() {
        return Err(invalid("clients may not write control batches"));
    }
    if h.is_transactional() && h.producer_id < 0 {
        return Err(invalid("a transactional batch needs a producer id"));
    }
    match h.compression() {
        Ok(kasio_core::records::Compression::Zstd) if version < FIRST_ZSTD_VERSION => {
            return Err((ErrorCode::UnsupportedCompressionType, None))
        }
        Ok(_) => {}
        Err(_) => return Err((ErrorCode::CorruptMessage, None)),
    }
    if h.records_count < 1 || i64::from(h.last_offset_delta) + 1 != i64::from(h.records_count) {
        return Err(invalid("record count and last offset delta disagree"));
    }
    if h.timestamp_type() == TimestampType::LogAppendTime && log_append_time.is_none() {
        // A client cannot choose LogAppendTime for a CreateTime topic.
        return Err((ErrorCode::InvalidTimestamp, None));
    }
    let mut bytes = data.to_vec();
    if let Some(now_ms) = log_append_time {
        let attrs = h.attributes | LOG_APPEND_TIME_BIT;
        bytes[ATTRIBUTES..ATTRIBUTES + 2].copy_from_slice(&attrs.to_be_bytes());
        bytes[MAX_TIMESTAMP..MAX_TIMESTAMP + 8].copy_from_slice(&now_ms.to_be_bytes());
        let sum = crc::crc32c(&bytes[ATTRIBUTES..]);
        bytes[CRC..CRC + 4].copy_from_slice(&sum.to_be_bytes());
    }
    // Decode every record of the stored form: what consumers will read.
    let stored = Bytes::from(bytes.clone());
    let batch = match batches(stored, opts).next() {
        Some(Ok(b)) => b,
        _ => return Err((ErrorCode::CorruptMessage, None)),
    };
    let records = batch
        .records(&opts)
        .map_err(|_| (ErrorCode::CorruptMessage, None))?;
    let mut timestamps = Vec::new();
    let mut digests = Vec::new();
    for (i, r) in records.enumerate() {
        let r = r.map_err(|_| (ErrorCode::CorruptMessage, None))?;
        // Kafka's LogValidator: inner offsets are 0, 1, 2, … in order.
        if r.offset != h.base_offset + i as i64 {
            let why = format!("record {i} has offset delta {}", r.offset - h.base_offset);
            return Err((ErrorCode::InvalidRecord, Some((i as i32, why))));
        }
        timestamps.push(r.timestamp);
        digests.push(digest_record(&r));
    }
    if digests.len() as i64 != i64::from(h.records_count) {
        return Err((ErrorCode::CorruptMessage, None));
    }
    Ok(Incoming {
        bytes,
        count: i64::from(h.records_count),
        producer_id: h.producer_id,
        producer_epoch: h.producer_epoch,
        base_sequence: h.base_sequence,
        transactional: h.is_transactional(),
        timestamps,
        digests,
    })
}
