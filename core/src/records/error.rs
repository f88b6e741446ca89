//! Errors of record batch decoding. All of them are *remote* errors: the broker (or
//! the producer behind it) handed us bytes that are not a valid batch. They belong to
//! one batch; the consumer reports them and decides whether to go on.

use alloc::string::String;
use core::fmt;

use super::Compression;
use crate::codec::DecodeError;

/// What was wrong with a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum RecordErrorKind {
    /// The bytes do not follow the batch or record format (a length past the end, a
    /// negative length, a bad varint, trailing bytes, a record count that does not
    /// match the records).
    Malformed(DecodeError),
    /// The stored checksum does not match the bytes (CRC32C for v2, CRC32 for
    /// legacy messages).
    CrcMismatch {
        /// The checksum in the batch.
        stored: u32,
        /// The checksum of the bytes received.
        computed: u32,
    },
    /// A magic byte other than 0, 1 or 2.
    UnsupportedMagic(i8),
    /// The compression bits name no codec Kafka defines.
    UnknownCompression(u8),
    /// The batch uses a codec whose feature this build leaves out.
    CodecDisabled(Compression),
    /// The codec rejected the compressed bytes.
    Decompress {
        /// The codec.
        codec: Compression,
        /// What the codec said, shortly.
        reason: &'static str,
    },
    /// The batch decompresses to more than [`DecodeOptions::max_decompressed_bytes`].
    ///
    /// [`DecodeOptions::max_decompressed_bytes`]: super::DecodeOptions::max_decompressed_bytes
    DecompressedTooLarge {
        /// The codec.
        codec: Compression,
        /// The configured bound.
        limit: usize,
    },
}

impl fmt::Display for RecordErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed(e) => write!(f, "malformed batch: {e}"),
            Self::CrcMismatch { stored, computed } => write!(
                f,
                "CRC mismatch: batch says {stored:#010x}, bytes give {computed:#010x}"
            ),
            Self::UnsupportedMagic(m) => write!(f, "unsupported magic byte {m}"),
            Self::UnknownCompression(c) => write!(f, "unknown compression type {c}"),
            Self::CodecDisabled(c) => {
                write!(f, "{} compression is not enabled in this build", c.name())
            }
            Self::Decompress { codec, reason } => {
                write!(f, "{} decompression failed: {reason}", codec.name())
            }
            Self::DecompressedTooLarge { codec, limit } => write!(
                f,
                "{} batch decompresses to more than the limit of {limit} bytes",
                codec.name()
            ),
        }
    }
}

/// A batch that does not decode, and where it is: the batch's base offset (the batch
/// knows it) and the topic and partition (the caller adds them with
/// [`RecordError::in_partition`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct RecordError {
    /// What was wrong.
    pub kind: RecordErrorKind,
    /// The base offset of the batch (legacy: the offset of the outer message), when
    /// the bytes got that far.
    pub offset: Option<i64>,
    /// The topic, when the caller supplied it.
    pub topic: Option<String>,
    /// The partition, when the caller supplied it.
    pub partition: Option<i32>,
}

impl RecordError {
    /// An error of `kind` in the batch at `offset`.
    pub fn new(kind: RecordErrorKind, offset: Option<i64>) -> Self {
        Self {
            kind,
            offset,
            topic: None,
            partition: None,
        }
    }

    /// Names the topic and partition the batch came from. Allocates (the topic name),
    /// which is fine: this is the error path.
    #[must_use]
    pub fn in_partition(mut self, topic: &str, partition: i32) -> Self {
        self.topic = Some(String::from(topic));
        self.partition = Some(partition);
        self
    }

    pub(crate) fn malformed(e: DecodeError, offset: Option<i64>) -> Self {
        Self::new(RecordErrorKind::Malformed(e), offset)
    }

    /// Sets the batch offset unless a more precise one is already there.
    pub(crate) fn at_offset(mut self, offset: i64) -> Self {
        self.offset.get_or_insert(offset);
        self
    }
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.kind)?;
        if let Some(offset) = self.offset {
            write!(f, " in the batch at offset {offset}")?;
        }
        match (&self.topic, self.partition) {
            (Some(t), Some(p)) => write!(f, " of {t}-{p}"),
            _ => Ok(()),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for RecordError {}
