//! Hostile input: decoding never panics, never allocates more than the input can
//! justify, and reports what went wrong.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use arbitrary::Unstructured;
use bytes::{Bytes, BytesMut};
use kasio_core::codec::{DecodeErrorKind, FrameDecoder, RequestHeader};
use kasio_core::protocol::messages::*;
use kasio_core::protocol::Message;

mod common;
use common::{for_each_message, random_bytes};

/// Tracks the largest single allocation, to prove that no length from the input
/// sizes an allocation beyond what the input holds.
struct LargestAlloc;
static LARGEST: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for LargestAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST.fetch_max(new_size, Ordering::Relaxed);
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static ALLOC: LargestAlloc = LargestAlloc;

#[test]
fn huge_array_count_with_little_input_is_an_error_not_an_allocation() {
    // MetadataResponse v0: brokers array claiming 2^31-1 entries, ten bytes left.
    let mut body = vec![0x7f, 0xff, 0xff, 0xff];
    body.extend_from_slice(&[0; 10]);
    let body = Bytes::from(body);
    let err = MetadataResponse::decode(0, &body).unwrap_err();
    assert_eq!(err.kind, DecodeErrorKind::LengthExceedsInput);
    assert_eq!(err.field, Some("brokers"));
    assert_eq!(err.offset, Some(0));
    assert!(
        LARGEST.load(Ordering::Relaxed) < 1 << 20,
        "an allocation followed the count"
    );

    // The same in a flexible version: compact array count (uvarint) of u32::MAX.
    let body = Bytes::from_static(&[0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f, 0, 0]);
    let err = MetadataResponse::decode(12, &body).unwrap_err();
    assert_eq!(err.kind, DecodeErrorKind::LengthExceedsInput);
}

#[test]
fn huge_string_and_bytes_lengths_are_errors() {
    // HeartbeatRequest v0: group_id of length 0x7fff with 3 bytes behind it.
    let body = Bytes::from_static(&[0x7f, 0xff, b'a', b'b', b'c']);
    assert_eq!(
        HeartbeatRequest::decode(0, &body).unwrap_err().kind,
        DecodeErrorKind::LengthExceedsInput
    );
    // SaslAuthenticateRequest v0: auth_bytes of length 2^31-1.
    let body = Bytes::from_static(&[0x7f, 0xff, 0xff, 0xff, 1, 2]);
    assert_eq!(
        SaslAuthenticateRequest::decode(0, &body).unwrap_err().kind,
        DecodeErrorKind::LengthExceedsInput
    );
    // Negative non-null length.
    let body = Bytes::from_static(&[0xff, 0xfe]);
    assert_eq!(
        HeartbeatRequest::decode(0, &body).unwrap_err().kind,
        DecodeErrorKind::NegativeLength
    );
    // Null where not nullable.
    let body = Bytes::from_static(&[0xff, 0xff]);
    let err = HeartbeatRequest::decode(0, &body).unwrap_err();
    assert_eq!(err.kind, DecodeErrorKind::UnexpectedNull);
    assert_eq!(err.field, Some("group_id"));
}

#[test]
fn invalid_utf8_is_an_error() {
    let body = Bytes::from_static(&[0, 2, 0xc3, 0x28, 0, 0, 0, 1, 0, 0]);
    assert_eq!(
        HeartbeatRequest::decode(0, &body).unwrap_err().kind,
        DecodeErrorKind::InvalidUtf8
    );
}

/// Random bytes, and valid encodings with bytes flipped or cut, for every message at
/// every version: decoding returns (Ok or Err) and never panics; allocations stay
/// within a small multiple of the input.
#[test]
fn random_and_mutated_input_never_panics() {
    let mut decoded_ok = 0usize;
    let mut rejected = 0usize;
    macro_rules! hammer {
        ($ty:ident) => {{
            let (lo, hi) = <$ty as Message>::VERSIONS;
            for version in lo..=hi {
                for case in 0..40u64 {
                    let seed = (version as u64) << 40 | case;
                    // Pure noise.
                    let noise = Bytes::from(random_bytes(seed, (case as usize * 7) % 300));
                    match $ty::decode(version, &noise) {
                        Ok(_) => decoded_ok += 1,
                        Err(_) => rejected += 1,
                    }
                    // A valid encoding, mutated.
                    let entropy = random_bytes(seed ^ 0xabcd, 2048);
                    let mut u = Unstructured::new(&entropy);
                    let value = $ty::arbitrary_at(&mut u, version).unwrap();
                    let mut buf = BytesMut::new();
                    value.encode(version, &mut buf).unwrap();
                    let mut bytes = buf.to_vec();
                    if bytes.is_empty() {
                        continue;
                    }
                    let flips = random_bytes(seed ^ 0x5555, 8);
                    for f in flips.chunks(2) {
                        let at = f[0] as usize % bytes.len();
                        bytes[at] ^= f[1] | 1;
                    }
                    let cut = flips[0] as usize % (bytes.len() + 1);
                    for candidate in [
                        Bytes::from(bytes.clone()),
                        Bytes::from(bytes[..cut].to_vec()),
                    ] {
                        match $ty::decode(version, &candidate) {
                            Ok(_) => decoded_ok += 1,
                            Err(_) => rejected += 1,
                        }
                    }
                }
            }
        }};
    }
    for_each_message!(hammer);
    assert!(
        rejected > 1000,
        "hostile inputs were rejected only {rejected} times"
    );
    assert!(
        decoded_ok > 100,
        "mutations never decoded ({decoded_ok}): the test lost its reach"
    );
    // Inputs are at most ~2 KiB; no allocation may follow an untrusted length beyond that
    // scale (the largest legitimate one here is a Vec of a few structs).
    assert!(
        LARGEST.load(Ordering::Relaxed) < 1 << 20,
        "largest allocation {}",
        LARGEST.load(Ordering::Relaxed)
    );
}

#[test]
fn frame_decoder_and_header_survive_noise() {
    for seed in 0..200u64 {
        let noise = random_bytes(seed, 64);
        let mut d = FrameDecoder::new(1 << 16);
        for chunk in noise.chunks(1 + seed as usize % 7) {
            d.push(chunk);
            while let Ok(Some(frame)) = d.next_frame() {
                let _ = RequestHeader::decode(2, &frame);
                let _ = RequestHeader::peek(&frame);
            }
        }
    }
}
