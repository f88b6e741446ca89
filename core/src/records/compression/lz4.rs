//! LZ4 in the frame format (what Kafka calls lz4), over `lz4_flex`'s block codec: pure
//! Rust, works without `std`.
//!
//! The frame is parsed here rather than with `lz4_flex::frame` (which needs `std`)
//! for two more reasons: magic-0 messages carry a wrong header checksum (KAFKA-3160,
//! fixed by KIP-57 for magic 1 and later), which a strict frame reader rejects; and
//! decompressing block by block into one buffer lets us enforce the size limit before
//! allocating. Header, block and content checksums (xxHash32) are not verified: the
//! batch CRC already covers every compressed byte.

use alloc::vec::Vec;

use lz4_flex::block::{self, DecompressError};

use super::{corrupt, too_large, Compression};
use crate::records::RecordErrorKind;

const MAGIC: [u8; 4] = [0x04, 0x22, 0x4d, 0x18];
/// FLG and BD bits.
const FLG_VERSION_MASK: u8 = 0xc0;
const FLG_VERSION_01: u8 = 0x40;
const FLG_INDEPENDENT: u8 = 0x20;
const FLG_BLOCK_CHECKSUM: u8 = 0x10;
const FLG_CONTENT_SIZE: u8 = 0x08;
const FLG_DICT_ID: u8 = 0x01;
/// The high bit of a block size: the block is stored uncompressed.
const UNCOMPRESSED: u32 = 0x8000_0000;
/// Linked blocks may refer this far back into earlier output.
const WINDOW: usize = 64 * 1024;
/// The header this encoder writes: FLG = version 01, independent blocks, no
/// checksums, no content size; BD = 64 KiB blocks; then the header checksum
/// (byte 1 of xxHash32 of FLG and BD), which for these two bytes is 0x82.
const ENCODER_HEADER: [u8; 3] = [0x60, 0x40, 0x82];
const ENCODER_BLOCK: usize = 64 * 1024;

fn bad(reason: &'static str) -> RecordErrorKind {
    corrupt(Compression::Lz4, reason)
}

fn le32(input: &[u8], at: usize) -> Result<u32, RecordErrorKind> {
    input
        .get(at..at + 4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .ok_or_else(|| bad("truncated frame"))
}

pub(super) fn decompress(input: &[u8], limit: usize) -> Result<Vec<u8>, RecordErrorKind> {
    if input.len() < 7 || input[..4] != MAGIC {
        return Err(bad("not an LZ4 frame"));
    }
    let (flg, bd) = (input[4], input[5]);
    if flg & FLG_VERSION_MASK != FLG_VERSION_01 {
        return Err(bad("unsupported frame version"));
    }
    let block_max = match (bd >> 4) & 0x07 {
        4 => 64 << 10,
        5 => 256 << 10,
        6 => 1 << 20,
        7 => 4 << 20,
        _ => return Err(bad("invalid block size")),
    };
    let independent = flg & FLG_INDEPENDENT != 0;
    let block_checksum = if flg & FLG_BLOCK_CHECKSUM != 0 { 4 } else { 0 };
    let mut pos = 6;
    if flg & FLG_CONTENT_SIZE != 0 {
        pos += 8;
    }
    if flg & FLG_DICT_ID != 0 {
        // A dictionary we do not have; Kafka producers never set one.
        return Err(bad("frame needs a dictionary"));
    }
    pos += 1; // header checksum

    let mut out: Vec<u8> = Vec::new();
    loop {
        let raw = le32(input, pos)?;
        pos += 4;
        if raw == 0 {
            break; // end mark
        }
        let len = (raw & !UNCOMPRESSED) as usize;
        if len > block_max {
            return Err(bad("block larger than the frame's maximum"));
        }
        let data = input
            .get(pos..pos + len)
            .ok_or_else(|| bad("truncated block"))?;
        pos += len + block_checksum;
        let start = out.len();
        let room = limit - start;
        if raw & UNCOMPRESSED != 0 {
            if len > room {
                return Err(too_large(Compression::Lz4, limit));
            }
            out.extend_from_slice(data);
            continue;
        }
        let avail = block_max.min(room);
        out.resize(start + avail, 0);
        let (prev, tail) = out.split_at_mut(start);
        let dict = if independent {
            &[][..]
        } else {
            &prev[start.saturating_sub(WINDOW)..]
        };
        match block::decompress_into_with_dict(data, tail, dict) {
            Ok(n) => out.truncate(start + n),
            Err(DecompressError::OutputTooSmall { .. }) if avail < block_max => {
                return Err(too_large(Compression::Lz4, limit))
            }
            Err(_) => return Err(bad("invalid block")),
        }
    }
    // A content checksum may follow; like the other checksums it is not verified.
    Ok(out)
}

pub(super) fn compress(input: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&ENCODER_HEADER);
    for chunk in input.chunks(ENCODER_BLOCK) {
        let at = out.len();
        out.resize(at + 4 + block::get_maximum_output_size(chunk.len()), 0);
        match block::compress_into(chunk, &mut out[at + 4..]) {
            Ok(n) if n < chunk.len() => {
                out[at..at + 4].copy_from_slice(&(n as u32).to_le_bytes());
                out.truncate(at + 4 + n);
            }
            // Incompressible (or, impossibly, no room): store the block as it is.
            _ => {
                out.truncate(at);
                out.extend_from_slice(&(chunk.len() as u32 | UNCOMPRESSED).to_le_bytes());
                out.extend_from_slice(chunk);
            }
        }
    }
    out.extend_from_slice(&0u32.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_limit() {
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 13) as u8).collect();
        let mut c = Vec::new();
        compress(&data, &mut c);
        assert_eq!(decompress(&c, 1 << 20).unwrap(), data);
        assert!(matches!(
            decompress(&c, 100_000),
            Err(RecordErrorKind::DecompressedTooLarge { .. })
        ));
        let random: Vec<u8> = (0..1000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        let mut c = Vec::new();
        compress(&random, &mut c);
        assert_eq!(decompress(&c, 1 << 20).unwrap(), random);
    }
}
