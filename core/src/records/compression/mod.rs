//! The compression codecs of record batches, each behind its own feature.
//!
//! | codec  | feature  | crate                          | without `std` |
//! |--------|----------|--------------------------------|---------------|
//! | gzip   | `gzip`   | `miniz_oxide` (pure Rust)      | yes           |
//! | snappy | `snappy` | `snap` (pure Rust)             | no            |
//! | lz4    | `lz4`    | `lz4_flex` (pure Rust)         | yes           |
//! | zstd   | `zstd`   | `zstd` (bindings to libzstd)   | no            |
//!
//! Decompression is always bounded: a batch that would decompress to more than the
//! caller's limit fails with [`RecordErrorKind::DecompressedTooLarge`] before more
//! than about the limit is allocated.
//!
//! [`RecordErrorKind::DecompressedTooLarge`]: super::RecordErrorKind::DecompressedTooLarge

use alloc::vec::Vec;

use super::RecordErrorKind;

#[cfg(feature = "gzip")]
mod gzip;
#[cfg(feature = "lz4")]
mod lz4;
#[cfg(feature = "snappy")]
mod snappy;
#[cfg(feature = "zstd")]
mod zstd;

/// The codec named by the low three bits of a batch's attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Compression {
    /// Not compressed.
    #[default]
    None,
    /// gzip (RFC 1952).
    Gzip,
    /// Snappy: raw, or in the xerial framing the Java producer writes.
    Snappy,
    /// LZ4 frame format.
    Lz4,
    /// Zstandard.
    Zstd,
}

impl Compression {
    /// Every codec, in attribute order.
    pub const ALL: [Compression; 5] = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];

    /// The codec of attribute bits 0-2, or the unknown value.
    pub const fn from_attributes(attributes: i16) -> Result<Self, u8> {
        match attributes & 0x07 {
            0 => Ok(Self::None),
            1 => Ok(Self::Gzip),
            2 => Ok(Self::Snappy),
            3 => Ok(Self::Lz4),
            4 => Ok(Self::Zstd),
            other => Err(other as u8),
        }
    }

    /// The value of attribute bits 0-2.
    pub const fn id(self) -> u8 {
        match self {
            Self::None => 0,
            Self::Gzip => 1,
            Self::Snappy => 2,
            Self::Lz4 => 3,
            Self::Zstd => 4,
        }
    }

    /// The name Kafka uses (`compression.type`).
    pub const fn name(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Gzip => "gzip",
            Self::Snappy => "snappy",
            Self::Lz4 => "lz4",
            Self::Zstd => "zstd",
        }
    }

    /// Whether this build can decompress (and compress) the codec.
    pub const fn is_enabled(self) -> bool {
        match self {
            Self::None => true,
            Self::Gzip => cfg!(feature = "gzip"),
            Self::Snappy => cfg!(feature = "snappy"),
            Self::Lz4 => cfg!(feature = "lz4"),
            Self::Zstd => cfg!(feature = "zstd"),
        }
    }
}

/// Decompresses `input` with `codec` into a new buffer of at most `limit` bytes.
pub(crate) fn decompress(
    codec: Compression,
    input: &[u8],
    limit: usize,
) -> Result<Vec<u8>, RecordErrorKind> {
    #[allow(unused_variables)] // every codec's arm may be compiled out
    let (input, limit) = (input, limit);
    match codec {
        Compression::None => Ok(input.to_vec()),
        #[cfg(feature = "gzip")]
        Compression::Gzip => gzip::decompress(input, limit),
        #[cfg(feature = "snappy")]
        Compression::Snappy => snappy::decompress(input, limit),
        #[cfg(feature = "lz4")]
        Compression::Lz4 => lz4::decompress(input, limit),
        #[cfg(feature = "zstd")]
        Compression::Zstd => zstd::decompress(input, limit),
        #[allow(unreachable_patterns)]
        other => Err(RecordErrorKind::CodecDisabled(other)),
    }
}

/// Compresses `input` with `codec`, appending to `out` (the encoder's side).
pub(crate) fn compress(
    codec: Compression,
    input: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), Compression> {
    match codec {
        Compression::None => out.extend_from_slice(input),
        #[cfg(feature = "gzip")]
        Compression::Gzip => gzip::compress(input, out),
        #[cfg(feature = "snappy")]
        Compression::Snappy => snappy::compress(input, out),
        #[cfg(feature = "lz4")]
        Compression::Lz4 => lz4::compress(input, out),
        #[cfg(feature = "zstd")]
        Compression::Zstd => zstd::compress(input, out),
        #[allow(unreachable_patterns)]
        other => return Err(other),
    }
    Ok(())
}

/// The error for a codec whose output would pass the limit.
#[allow(dead_code)] // unused when every codec is compiled out
pub(crate) fn too_large(codec: Compression, limit: usize) -> RecordErrorKind {
    RecordErrorKind::DecompressedTooLarge { codec, limit }
}

/// The error for bytes a codec rejects.
#[allow(dead_code)]
pub(crate) fn corrupt(codec: Compression, reason: &'static str) -> RecordErrorKind {
    RecordErrorKind::Decompress { codec, reason }
}
