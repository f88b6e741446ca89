//! Compressed record batches whose *uncompressed* content the fuzzer writes: the
//! harness compresses it with an independent encoder (miniz_oxide, snap, lz4_flex's
//! frame encoder, libzstd) in one of several framings, wraps it in a v2 batch or a
//! legacy (magic 0/1) wrapper message with valid CRCs, and decodes. So every input
//! gets through decompression to the record parser.
//!
//! Input: a 57-byte prefix, then the payload (the v2 records section, or the legacy
//! inner message set):
//! `[codec, format, framing, limit, flags]` + the v2 header fields without
//! batchLength, magic and CRC (base offset, leader epoch, attributes, last offset
//! delta, base/max timestamp, producer id/epoch, base sequence, record count).
//!
//! Oracle: besides the shared checks, decompression is exact and bounded: a payload
//! within `max_decompressed_bytes` must decompress (no codec error, no "too large"),
//! a larger one must fail with `DecompressedTooLarge`; and a v2 batch must yield the
//! same records compressed as uncompressed.
#![no_main]

use std::io::Write;

use arbitrary::Unstructured;
use bytes::{BufMut, Bytes, BytesMut};
use kasio_core::records::crc::{crc32, crc32c};
use kasio_core::records::{batches, Compression, DecodeOptions, RecordErrorKind};
use libfuzzer_sys::fuzz_target;

#[path = "records_common.rs"]
mod records_common;
use records_common::*;

const CODECS: [Compression; 4] = [
    Compression::Gzip,
    Compression::Snappy,
    Compression::Lz4,
    Compression::Zstd,
];

#[derive(Debug, Default)]
struct Header {
    base_offset: i64,
    leader_epoch: i32,
    attributes: i16,
    last_offset_delta: i32,
    base_timestamp: i64,
    max_timestamp: i64,
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
    records_count: i32,
}

fn be<const N: usize>(u: &mut Unstructured<'_>) -> [u8; N] {
    let mut b = [0u8; N];
    let _ = u.fill_buffer(&mut b);
    b
}

fn compress(codec: Compression, framing: u8, input: &[u8]) -> Vec<u8> {
    match codec {
        Compression::Gzip => {
            let flags = framing & 0x1e; // FHCRC, FEXTRA, FNAME, FCOMMENT
            let mut out = vec![0x1f, 0x8b, 8, flags, 0, 0, 0, 0, 0, 0xff];
            if flags & 0x04 != 0 {
                out.extend_from_slice(&3u16.to_le_bytes());
                out.extend_from_slice(b"xyz");
            }
            if flags & 0x08 != 0 {
                out.extend_from_slice(b"name\0");
            }
            if flags & 0x10 != 0 {
                out.extend_from_slice(b"comment\0");
            }
            if flags & 0x02 != 0 {
                let crc = crc32(&out) as u16;
                out.extend_from_slice(&crc.to_le_bytes());
            }
            let level = framing >> 5; // 0..=7
            out.extend_from_slice(&miniz_oxide::deflate::compress_to_vec(input, level));
            out.extend_from_slice(&crc32(input).to_le_bytes());
            out.extend_from_slice(&(input.len() as u32).to_le_bytes());
            out
        }
        Compression::Snappy => {
            let mut enc = snap::raw::Encoder::new();
            if framing & 1 == 0 {
                return enc.compress_vec(input).expect("snappy compresses");
            }
            // xerial framing, as snappy-java writes it, with a chosen block size.
            let block = 1usize << (8 + (framing >> 1) % 8); // 256 B .. 32 KiB
            let mut out = vec![
                0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1,
            ];
            for chunk in input.chunks(block) {
                let c = enc.compress_vec(chunk).expect("snappy compresses");
                out.extend_from_slice(&(c.len() as u32).to_be_bytes());
                out.extend_from_slice(&c);
            }
            out
        }
        Compression::Lz4 => {
            use lz4_flex::frame::{BlockMode, BlockSize, FrameEncoder, FrameInfo};
            let info = FrameInfo::new()
                .block_size(match (framing >> 4) & 3 {
                    0 => BlockSize::Max64KB,
                    1 => BlockSize::Max256KB,
                    2 => BlockSize::Max1MB,
                    _ => BlockSize::Max4MB,
                })
                .block_mode(if framing & 1 != 0 {
                    BlockMode::Linked
                } else {
                    BlockMode::Independent
                })
                .block_checksums(framing & 2 != 0)
                .content_checksum(framing & 4 != 0)
                .content_size((framing & 8 != 0).then_some(input.len() as u64));
            let mut enc = FrameEncoder::with_frame_info(info, Vec::new());
            enc.write_all(input).expect("lz4 compresses");
            enc.finish().expect("lz4 finishes")
        }
        Compression::Zstd => {
            let level = i32::from(framing >> 2) % 5 - 1; // -1 ..= 3
            if framing & 1 == 0 {
                zstd::bulk::compress(input, level).expect("zstd compresses")
            } else {
                // Streaming: no content size in the frame header.
                let mut enc = zstd::stream::Encoder::new(Vec::new(), level).expect("zstd encoder");
                enc.include_contentsize(false).expect("zstd option");
                if framing & 2 != 0 {
                    enc.include_checksum(true).expect("zstd option");
                }
                enc.write_all(input).expect("zstd compresses");
                enc.finish().expect("zstd finishes")
            }
        }
        Compression::None => input.to_vec(),
    }
}

fn v2_batch(h: &Header, codec: Compression, records: &[u8]) -> Bytes {
    let mut buf = BytesMut::new();
    buf.put_i64(h.base_offset);
    buf.put_i32((49 + records.len()) as i32);
    buf.put_i32(h.leader_epoch);
    buf.put_i8(2);
    buf.put_u32(0);
    buf.put_i16((h.attributes & !7) | i16::from(codec.id()));
    buf.put_i32(h.last_offset_delta);
    buf.put_i64(h.base_timestamp);
    buf.put_i64(h.max_timestamp);
    buf.put_i64(h.producer_id);
    buf.put_i16(h.producer_epoch);
    buf.put_i32(h.base_sequence);
    buf.put_i32(h.records_count);
    buf.put_slice(records);
    let crc = crc32c(&buf[21..]);
    buf[17..21].copy_from_slice(&crc.to_be_bytes());
    buf.freeze()
}

fn legacy_wrapper(h: &Header, magic: i8, codec: Compression, value: &[u8]) -> Bytes {
    let mut buf = BytesMut::new();
    buf.put_i64(h.base_offset);
    buf.put_i32(0);
    buf.put_u32(0);
    buf.put_i8(magic);
    buf.put_i8((h.attributes as i8 & 0x08) | codec.id() as i8);
    if magic == 1 {
        buf.put_i64(h.base_timestamp);
    }
    buf.put_i32(-1); // key
    buf.put_i32(value.len() as i32);
    buf.put_slice(value);
    let size = (buf.len() - 12) as i32;
    buf[8..12].copy_from_slice(&size.to_be_bytes());
    let crc = crc32(&buf[16..]);
    buf[12..16].copy_from_slice(&crc.to_be_bytes());
    buf.freeze()
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 57 {
        return;
    }
    let (prefix, payload) = data.split_at(57);
    let [codec, format, framing, limit, flags] = prefix[..5].try_into().unwrap();
    let mut u = Unstructured::new(&prefix[5..]);
    let h = Header {
        base_offset: i64::from_be_bytes(be(&mut u)),
        leader_epoch: i32::from_be_bytes(be(&mut u)),
        attributes: i16::from_be_bytes(be(&mut u)),
        last_offset_delta: i32::from_be_bytes(be(&mut u)),
        base_timestamp: i64::from_be_bytes(be(&mut u)),
        max_timestamp: i64::from_be_bytes(be(&mut u)),
        producer_id: i64::from_be_bytes(be(&mut u)),
        producer_epoch: i16::from_be_bytes(be(&mut u)),
        base_sequence: i32::from_be_bytes(be(&mut u)),
        records_count: i32::from_be_bytes(be(&mut u)),
    };
    let codec = CODECS[usize::from(codec) % 4];
    let mut payload = payload.to_vec();
    if flags & 1 != 0 && !payload.is_empty() {
        // Grow the payload past one codec block (64 KiB and more): multi-block
        // frames, linked lz4 blocks, several xerial chunks.
        let times = 70_000 / payload.len() + 1 + usize::from(flags >> 4);
        payload = payload.repeat(times);
    }
    let format = format % 3;
    if format > 0 && flags & 2 != 0 {
        fix_crcs(&mut payload); // the inner messages' CRCs
    }
    let opts = DecodeOptions {
        check_crcs: true,
        max_decompressed_bytes: (1usize << (12 + limit % 9)) + usize::from(flags >> 2) % 4 - 1,
    };
    let compressed = compress(codec, framing, &payload);
    let batch = match format {
        0 => v2_batch(&h, codec, &compressed),
        m => legacy_wrapper(&h, (m - 1) as i8, codec, &compressed),
    };

    // Decompression: exact and bounded, whatever the content.
    let b = batches(batch.clone(), opts)
        .next()
        .expect("one batch")
        .expect("a batch with a valid CRC frames");
    let fits = payload.len() <= opts.max_decompressed_bytes;
    match b.records(&opts) {
        Err(e) => match e.kind {
            RecordErrorKind::DecompressedTooLarge { .. } => assert!(
                !fits,
                "{} bytes within the limit of {} reported too large ({codec:?}, framing {framing:#x})",
                payload.len(),
                opts.max_decompressed_bytes
            ),
            RecordErrorKind::Decompress { .. } => panic!(
                "{codec:?} (framing {framing:#x}) rejected what its encoder wrote: {e}"
            ),
            // The content itself may be rejected (a negative record count, a legacy
            // inner message set that does not frame), but only once decompressed.
            _ => assert!(fits, "{e}"),
        },
        Ok(_) => assert!(fits, "{} bytes decompressed past the limit of {}", payload.len(), opts.max_decompressed_bytes),
    }

    // The record parser behind decompression, and the shared checks.
    let (records, error) = walk_batches(&batch, opts);
    walk_partition(&batch, h.base_offset, opts, None);
    walk_partition(
        &batch,
        i64::MIN,
        opts,
        Some(vec![(h.producer_id, h.base_offset)]),
    );

    // A v2 batch yields the same records compressed as not.
    if format == 0 && fits {
        let plain = v2_batch(&h, Compression::None, &payload);
        let (plain_records, plain_error) = walk_batches(&plain, opts);
        assert_eq!(records, plain_records);
        assert_eq!(
            error.is_some(),
            plain_error.is_some(),
            "{error:?} vs {plain_error:?}"
        );
    }
});
