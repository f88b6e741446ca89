//! Walking a partition's fetched bytes batch by batch.
//!
//! A broker cuts a Fetch response at the byte limit wherever that falls, so the last
//! batch is often incomplete. That is normal and not an error: the iterator ends and
//! [`Batches::truncated`] says what was cut, so the next fetch starts at the first
//! offset not yet consumed (the last complete batch's [`next_offset`]).
//!
//! [`next_offset`]: super::Batch::next_offset

use bytes::Bytes;

use super::batch::{Batch, V2_HEADER_LEN};
use super::legacy::{MIN_MESSAGE_V0, MIN_MESSAGE_V1};
use super::{DecodeOptions, RecordError, RecordErrorKind, LOG_OVERHEAD, MAGIC_OFFSET};
use crate::codec::{DecodeError, DecodeErrorKind};

/// The incomplete batch at the end of fetched data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Truncated {
    /// The cut batch's base offset, if its first 8 bytes arrived.
    pub base_offset: Option<i64>,
    /// The cut batch's full size in bytes, if its size field arrived. When no batch
    /// of the response is complete, a fetch must allow at least this many bytes for
    /// the partition to make progress (brokers since KIP-74 do this themselves by
    /// returning the first batch whole).
    pub batch_size: Option<usize>,
    /// How many bytes of it arrived.
    pub available: usize,
}

/// Iterator over the batches of one partition's fetched data (`PartitionData.records`).
///
/// Yields each complete batch with its CRC checked (if asked), or the error of a batch
/// that does not decode. After a CRC error the next batch follows (the framing is
/// intact); after a framing error (a bad size or magic) the iterator ends, since no
/// later boundary can be trusted.
#[derive(Debug, Clone)]
pub struct Batches {
    data: Bytes,
    pos: usize,
    opts: DecodeOptions,
    truncated: Option<Truncated>,
}

/// Iterates the batches of `data`.
pub fn batches(data: Bytes, opts: DecodeOptions) -> Batches {
    Batches {
        data,
        pos: 0,
        opts,
        truncated: None,
    }
}

fn be_i64(b: &[u8]) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    i64::from_be_bytes(a)
}

impl Batches {
    /// The incomplete batch the data ended with, once iteration has reached it.
    pub fn truncated(&self) -> Option<Truncated> {
        self.truncated
    }

    /// Bytes not yet walked.
    pub fn remaining_bytes(&self) -> usize {
        self.data.len() - self.pos
    }

    fn stop(&mut self) {
        self.pos = self.data.len();
    }

    fn framing_error(
        &mut self,
        kind: DecodeErrorKind,
        field: &'static str,
        base: i64,
    ) -> RecordError {
        let mut e =
            DecodeError::new(kind, self.data.len() - self.pos).in_field("RecordBatch", field);
        e.offset = Some(self.pos);
        self.stop();
        RecordError::malformed(e, Some(base))
    }
}

impl Iterator for Batches {
    type Item = Result<Batch, RecordError>;

    fn next(&mut self) -> Option<Self::Item> {
        let rest = &self.data[self.pos..];
        if rest.is_empty() {
            return None;
        }
        if rest.len() < LOG_OVERHEAD {
            self.truncated = Some(Truncated {
                base_offset: (rest.len() >= 8).then(|| be_i64(rest)),
                batch_size: None,
                available: rest.len(),
            });
            self.stop();
            return None;
        }
        let base = be_i64(rest);
        let size = i32::from_be_bytes([rest[8], rest[9], rest[10], rest[11]]);
        let Ok(size) = usize::try_from(size) else {
            return Some(Err(self.framing_error(
                DecodeErrorKind::NegativeLength,
                "batchLength",
                base,
            )));
        };
        // Every format's smallest entry is a magic-0 message; anything shorter cannot
        // be a batch, so the bytes are not batches at all.
        if size < MIN_MESSAGE_V0 {
            return Some(Err(self.framing_error(
                DecodeErrorKind::InvalidValue,
                "batchLength",
                base,
            )));
        }
        let total = LOG_OVERHEAD + size;
        if total > rest.len() {
            self.truncated = Some(Truncated {
                base_offset: Some(base),
                batch_size: Some(total),
                available: rest.len(),
            });
            self.stop();
            return None;
        }
        let magic = rest[MAGIC_OFFSET] as i8;
        let min = match magic {
            2 => V2_HEADER_LEN,
            1 => LOG_OVERHEAD + MIN_MESSAGE_V1,
            0 => LOG_OVERHEAD + MIN_MESSAGE_V0,
            other => {
                self.stop();
                return Some(Err(RecordError::new(
                    RecordErrorKind::UnsupportedMagic(other),
                    Some(base),
                )));
            }
        };
        if total < min {
            return Some(Err(self.framing_error(
                DecodeErrorKind::InvalidValue,
                "batchLength",
                base,
            )));
        }
        let bytes = self.data.slice(self.pos..self.pos + total);
        self.pos += total;
        let batch = if magic == 2 {
            Batch::v2(bytes, &self.opts)
        } else {
            Batch::legacy(bytes, &self.opts)
        };
        Some(batch.map_err(|e| e.at_offset(base)))
    }
}
