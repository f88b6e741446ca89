//! Zstandard over the `zstd` crate (bindings to the reference libzstd; needs `std`).
//!
//! Chosen over the pure-Rust `ruzstd` because decompression speed is what a consumer
//! pays for, and libzstd's decoder is several times faster; `ruzstd` (0.9) also needs
//! a newer Rust than this workspace's 1.85. Decoding streams into a buffer that is
//! never allowed past the limit: a frame's declared content size is only a hint.

use alloc::vec::Vec;
use std::io::Read;

use zstd::zstd_safe::zstd_sys::ZSTD_ErrorCode;

use super::{corrupt, too_large, Compression};
use crate::records::RecordErrorKind;

pub(super) fn decompress(input: &[u8], limit: usize) -> Result<Vec<u8>, RecordErrorKind> {
    let hint = match zstd::zstd_safe::get_frame_content_size(input) {
        Ok(Some(n)) if n <= limit as u64 => n as usize,
        Ok(Some(_)) => return Err(too_large(Compression::Zstd, limit)),
        _ => 0,
    };
    let mut dec = zstd::stream::read::Decoder::with_buffer(input)
        .map_err(|_| corrupt(Compression::Zstd, "cannot create a decoder"))?;
    // The streaming decoder buffers a window of the size the frame header declares
    // (up to 128 MiB with libzstd's defaults), however little the frame holds: ten
    // bytes of header could make it allocate that much. Windows larger than the limit
    // are refused here, and such a frame (a high compression level or a small limit)
    // is decompressed in one pass into a buffer of at most the limit instead, which
    // needs no window buffer.
    let window_log_max = (usize::BITS - 1 - limit.max(1 << 10).leading_zeros()).min(30);
    dec.window_log_max(window_log_max)
        .map_err(|_| corrupt(Compression::Zstd, "cannot create a decoder"))?;
    let mut out = Vec::with_capacity(hint);
    // One byte more than allowed tells "exactly at the limit" from "past it".
    match dec
        .take((limit as u64).saturating_add(1))
        .read_to_end(&mut out)
    {
        Ok(_) if out.len() > limit => Err(too_large(Compression::Zstd, limit)),
        Ok(_) => Ok(out),
        Err(e)
            if e.to_string()
                == error_name(ZSTD_ErrorCode::ZSTD_error_frameParameter_windowTooLarge) =>
        {
            one_pass(input, limit)
        }
        Err(_) => Err(corrupt(Compression::Zstd, "invalid frame")),
    }
}

/// Decompresses every frame of `input` in one pass straight into the output buffer
/// (`ZSTD_decompressDCtx`), which needs no window buffer, whatever the window size.
fn one_pass(input: &[u8], limit: usize) -> Result<Vec<u8>, RecordErrorKind> {
    let mut out = Vec::with_capacity(limit);
    match zstd::zstd_safe::DCtx::create().decompress(&mut out, input) {
        Ok(_) => Ok(out),
        Err(code) if code == error_code(ZSTD_ErrorCode::ZSTD_error_dstSize_tooSmall) => {
            Err(too_large(Compression::Zstd, limit))
        }
        Err(_) => Err(corrupt(Compression::Zstd, "invalid frame")),
    }
}

/// The `size_t` libzstd returns for an error (`(size_t)-code`).
fn error_code(e: ZSTD_ErrorCode) -> usize {
    (e as usize).wrapping_neg()
}

fn error_name(e: ZSTD_ErrorCode) -> &'static str {
    zstd::zstd_safe::get_error_name(error_code(e))
}

pub(super) fn compress(input: &[u8], out: &mut Vec<u8>) {
    // Level 3 is the librdkafka and Java default. Compressing memory cannot fail
    // short of allocation failure.
    if let Ok(c) = zstd::bulk::compress(input, 3) {
        out.extend_from_slice(&c);
    }
}
