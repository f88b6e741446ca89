//! What the caller decides about decoding: CRC checks and the decompression bound.

/// Options for decoding record batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct DecodeOptions {
    /// Verify each batch's CRC (Kafka's `check.crcs`, default on). CRC32C for v2
    /// batches, CRC32 for legacy messages.
    pub check_crcs: bool,
    /// The largest size one compressed batch may decompress to. Larger is an error
    /// ([`RecordErrorKind::DecompressedTooLarge`]), never an allocation of that size:
    /// this is what stops a decompression bomb.
    ///
    /// [`RecordErrorKind::DecompressedTooLarge`]: super::RecordErrorKind::DecompressedTooLarge
    pub max_decompressed_bytes: usize,
}

impl DecodeOptions {
    /// Kafka's default `fetch.max.bytes` (50 MiB).
    pub const DEFAULT_FETCH_MAX_BYTES: usize = 52_428_800;

    /// Options for a consumer configured with `fetch.max.bytes`: one batch may
    /// decompress to at most that many bytes (at least 1 MiB, the default
    /// `max.message.bytes`, so a tiny fetch limit cannot make valid batches fail).
    pub const fn from_fetch_max_bytes(fetch_max_bytes: usize) -> Self {
        let floor = 1 << 20;
        Self {
            check_crcs: true,
            max_decompressed_bytes: if fetch_max_bytes < floor {
                floor
            } else {
                fetch_max_bytes
            },
        }
    }
}

impl Default for DecodeOptions {
    fn default() -> Self {
        Self::from_fetch_max_bytes(Self::DEFAULT_FETCH_MAX_BYTES)
    }
}
