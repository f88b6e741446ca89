//! gzip (RFC 1952) over `miniz_oxide`'s inflate: pure Rust, works without `std`.
//!
//! The gzip wrapper is parsed here (it is ten bytes and a few optional fields), so the
//! codec needs no `std::io`. The trailer's CRC-32 and length are checked: they guard
//! the decompressor's output, which the batch CRC (over the compressed bytes) cannot.

use alloc::vec::Vec;

use miniz_oxide::inflate::{self, TINFLStatus};

use super::{corrupt, too_large, Compression};
use crate::records::crc::crc32;
use crate::records::RecordErrorKind;

const ID: [u8; 2] = [0x1f, 0x8b];
const CM_DEFLATE: u8 = 8;
const FHCRC: u8 = 0x02;
const FEXTRA: u8 = 0x04;
const FNAME: u8 = 0x08;
const FCOMMENT: u8 = 0x10;

fn bad(reason: &'static str) -> RecordErrorKind {
    corrupt(Compression::Gzip, reason)
}

/// The deflate stream and the 8-byte trailer of a one-member gzip file.
fn split(input: &[u8]) -> Result<(&[u8], [u8; 8]), RecordErrorKind> {
    if input.len() < 18 || input[..2] != ID || input[2] != CM_DEFLATE {
        return Err(bad("not a gzip stream"));
    }
    let flags = input[3];
    let mut rest = &input[10..];
    if flags & FEXTRA != 0 {
        let n = rest
            .get(..2)
            .map(|b| usize::from(u16::from_le_bytes([b[0], b[1]])))
            .ok_or_else(|| bad("truncated header"))?;
        rest = rest.get(2 + n..).ok_or_else(|| bad("truncated header"))?;
    }
    for flag in [FNAME, FCOMMENT] {
        if flags & flag != 0 {
            let nul = rest
                .iter()
                .position(|&b| b == 0)
                .ok_or_else(|| bad("truncated header"))?;
            rest = &rest[nul + 1..];
        }
    }
    if flags & FHCRC != 0 {
        rest = rest.get(2..).ok_or_else(|| bad("truncated header"))?;
    }
    let split = rest
        .len()
        .checked_sub(8)
        .ok_or_else(|| bad("truncated stream"))?;
    let mut trailer = [0u8; 8];
    trailer.copy_from_slice(&rest[split..]);
    Ok((&rest[..split], trailer))
}

pub(super) fn decompress(input: &[u8], limit: usize) -> Result<Vec<u8>, RecordErrorKind> {
    let (deflate, trailer) = split(input)?;
    let out =
        inflate::decompress_to_vec_with_limit(deflate, limit).map_err(|e| match e.status {
            TINFLStatus::HasMoreOutput => too_large(Compression::Gzip, limit),
            TINFLStatus::FailedCannotMakeProgress => bad("truncated stream"),
            _ => bad("invalid deflate data"),
        })?;
    let crc = u32::from_le_bytes([trailer[0], trailer[1], trailer[2], trailer[3]]);
    let size = u32::from_le_bytes([trailer[4], trailer[5], trailer[6], trailer[7]]);
    if size != out.len() as u32 || crc != crc32(&out) {
        return Err(bad("trailer does not match the data"));
    }
    Ok(out)
}

pub(super) fn compress(input: &[u8], out: &mut Vec<u8>) {
    // Header: no flags, no mtime, XFL 0, OS 255 (unknown), like Java's GZIPOutputStream.
    out.extend_from_slice(&[0x1f, 0x8b, CM_DEFLATE, 0, 0, 0, 0, 0, 0, 0xff]);
    // Level 6 is zlib's (and Java's) default.
    out.extend_from_slice(&miniz_oxide::deflate::compress_to_vec(input, 6));
    out.extend_from_slice(&crc32(input).to_le_bytes());
    out.extend_from_slice(&(input.len() as u32).to_le_bytes());
}
