//! Control batches: transaction markers (and KRaft's own control records). They are
//! reported to the consumer's state machine, never handed to the user as records.

use super::batch::{de, BatchHeader};
use super::record::Records;
use super::{RecordError, RecordErrorKind};
use crate::codec::primitives::{int16, int32};
use crate::codec::{DecodeError, DecodeErrorKind};

/// The type in a control record's key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ControlType {
    /// The transaction was aborted: its records are to be dropped (read_committed).
    Abort,
    /// The transaction was committed.
    Commit,
    /// A type a consumer does not act on (KRaft's leader change, snapshot and voter
    /// records, or one newer than this code).
    Other(i16),
}

impl ControlType {
    /// The type from its wire value.
    pub fn from_i16(v: i16) -> Self {
        match v {
            0 => Self::Abort,
            1 => Self::Commit,
            other => Self::Other(other),
        }
    }
}

/// What a control batch says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ControlMarker {
    /// The offset of the control record.
    pub offset: i64,
    /// The producer whose transaction this ends.
    pub producer_id: i64,
    /// That producer's epoch.
    pub producer_epoch: i16,
    /// Abort, commit, or something else.
    pub control_type: ControlType,
    /// For commit and abort markers: the transaction coordinator's epoch.
    pub coordinator_epoch: Option<i32>,
}

fn malformed(field: &'static str, at: i64) -> impl Fn(nom::Err<DecodeError>) -> RecordError {
    move |e| RecordError::malformed(de(e).in_field("ControlRecord", field), Some(at))
}

/// Reads the control record of a control batch: key = version (int16), type (int16);
/// for commit/abort the value = version (int16), coordinator epoch (int32).
pub(crate) fn marker(
    header: &BatchHeader,
    records: &mut Records,
) -> Result<ControlMarker, RecordError> {
    let at = header.base_offset;
    let record = match records.next() {
        Some(r) => r?,
        None => {
            let e =
                DecodeError::new(DecodeErrorKind::Truncated, 0).in_field("ControlRecord", "record");
            return Err(RecordError::malformed(e, Some(at)));
        }
    };
    let missing = |field| {
        RecordError::new(
            RecordErrorKind::Malformed(
                DecodeError::new(DecodeErrorKind::UnexpectedNull, 0)
                    .in_field("ControlRecord", field),
            ),
            Some(at),
        )
    };
    let key = record.key.as_deref().ok_or_else(|| missing("key"))?;
    // The key's version is 0 today; like the Java client we read the type regardless.
    let (k, _version) = int16(key).map_err(malformed("key", at))?;
    let (_, ty) = int16(k).map_err(malformed("key", at))?;
    let control_type = ControlType::from_i16(ty);
    let coordinator_epoch = match control_type {
        ControlType::Abort | ControlType::Commit => {
            let value = record.value.as_deref().ok_or_else(|| missing("value"))?;
            let (v, _version) = int16(value).map_err(malformed("value", at))?;
            Some(int32(v).map_err(malformed("value", at))?.1)
        }
        ControlType::Other(_) => None,
    };
    Ok(ControlMarker {
        offset: record.offset,
        producer_id: header.producer_id,
        producer_epoch: header.producer_epoch,
        control_type,
        coordinator_epoch,
    })
}
