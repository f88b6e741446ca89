//! Snappy over the `snap` crate (pure Rust, needs `std`).
//!
//! Two framings reach a consumer: raw snappy (librdkafka, most non-Java producers)
//! and the *xerial* framing of `snappy-java`'s `SnappyOutputStream`, which the Java
//! producer writes: an 8-byte magic, two big-endian `int32` versions, then blocks of
//! `int32` length + raw snappy. We recognise the magic and accept both.

use alloc::vec::Vec;

use super::{corrupt, too_large, Compression};
use crate::records::RecordErrorKind;

const XERIAL_MAGIC: [u8; 8] = [0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0];
const XERIAL_HEADER_LEN: usize = 16;
/// The block size the Java producer uses (`snappy-java`'s default).
const XERIAL_BLOCK: usize = 32 * 1024;

fn bad(reason: &'static str) -> RecordErrorKind {
    corrupt(Compression::Snappy, reason)
}

/// Appends the raw snappy `block` to `out`, keeping `out` within `limit`.
fn decompress_block(
    dec: &mut snap::raw::Decoder,
    block: &[u8],
    out: &mut Vec<u8>,
    limit: usize,
) -> Result<(), RecordErrorKind> {
    // The length is the block's own claim: check it before allocating for it.
    let n = snap::raw::decompress_len(block).map_err(|_| bad("invalid block header"))?;
    let start = out.len();
    if n > limit - start {
        return Err(too_large(Compression::Snappy, limit));
    }
    out.resize(start + n, 0);
    let written = dec
        .decompress(block, &mut out[start..])
        .map_err(|_| bad("invalid block"))?;
    out.truncate(start + written);
    Ok(())
}

pub(super) fn decompress(input: &[u8], limit: usize) -> Result<Vec<u8>, RecordErrorKind> {
    let mut dec = snap::raw::Decoder::new();
    let mut out = Vec::new();
    if !input.starts_with(&XERIAL_MAGIC) {
        decompress_block(&mut dec, input, &mut out, limit)?;
        return Ok(out);
    }
    if input.len() < XERIAL_HEADER_LEN {
        return Err(bad("truncated xerial header"));
    }
    let mut rest = &input[XERIAL_HEADER_LEN..];
    while !rest.is_empty() {
        let len = rest
            .get(..4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
            .ok_or_else(|| bad("truncated xerial block length"))?;
        let block = rest
            .get(4..4 + len)
            .ok_or_else(|| bad("truncated xerial block"))?;
        decompress_block(&mut dec, block, &mut out, limit)?;
        rest = &rest[4 + len..];
    }
    Ok(out)
}

/// Writes the xerial framing, as the Java producer does.
pub(super) fn compress(input: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&XERIAL_MAGIC);
    out.extend_from_slice(&1i32.to_be_bytes());
    out.extend_from_slice(&1i32.to_be_bytes());
    let mut enc = snap::raw::Encoder::new();
    let mut buf = Vec::new();
    for chunk in input.chunks(XERIAL_BLOCK) {
        buf.resize(snap::raw::max_compress_len(chunk.len()), 0);
        // Cannot fail: the buffer has the maximum size and a chunk is far below 4 GiB.
        let n = enc.compress(chunk, &mut buf).unwrap_or(0);
        out.extend_from_slice(&(n as u32).to_be_bytes());
        out.extend_from_slice(&buf[..n]);
    }
}

/// Raw snappy (no framing), as librdkafka writes it; for tests.
#[cfg(test)]
pub(super) fn compress_raw(input: &[u8]) -> Vec<u8> {
    snap::raw::Encoder::new()
        .compress_vec(input)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_and_xerial_both_decode() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let mut x = Vec::new();
        compress(&data, &mut x);
        assert!(x.starts_with(&XERIAL_MAGIC));
        assert_eq!(decompress(&x, 1 << 20).unwrap(), data);
        assert_eq!(decompress(&compress_raw(&data), 1 << 20).unwrap(), data);
        assert!(matches!(
            decompress(&x, 50_000),
            Err(RecordErrorKind::DecompressedTooLarge { .. })
        ));
    }
}
