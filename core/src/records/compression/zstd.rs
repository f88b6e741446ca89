//! Zstandard over the `zstd` crate (bindings to the reference libzstd; needs `std`).
//!
//! Chosen over the pure-Rust `ruzstd` because decompression speed is what a consumer
//! pays for, and libzstd's decoder is several times faster; `ruzstd` (0.9) also needs
//! a newer Rust than this workspace's 1.85. Decoding streams into a buffer that is
//! never allowed past the limit: a frame's declared content size is only a hint.

use alloc::vec::Vec;
use std::io::Read;

use super::{corrupt, too_large, Compression};
use crate::records::RecordErrorKind;

pub(super) fn decompress(input: &[u8], limit: usize) -> Result<Vec<u8>, RecordErrorKind> {
    let hint = match zstd::zstd_safe::get_frame_content_size(input) {
        Ok(Some(n)) if n <= limit as u64 => n as usize,
        Ok(Some(_)) => return Err(too_large(Compression::Zstd, limit)),
        _ => 0,
    };
    let dec = zstd::stream::read::Decoder::with_buffer(input)
        .map_err(|_| corrupt(Compression::Zstd, "cannot create a decoder"))?;
    let mut out = Vec::with_capacity(hint);
    // One byte more than allowed tells "exactly at the limit" from "past it".
    dec.take((limit as u64).saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|_| corrupt(Compression::Zstd, "invalid frame"))?;
    if out.len() > limit {
        return Err(too_large(Compression::Zstd, limit));
    }
    Ok(out)
}

pub(super) fn compress(input: &[u8], out: &mut Vec<u8>) {
    // Level 3 is the librdkafka and Java default. Compressing memory cannot fail
    // short of allocation failure.
    if let Ok(c) = zstd::bulk::compress(input, 3) {
        out.extend_from_slice(&c);
    }
}
