//! Structure-aware: an arbitrary message at an arbitrary version encodes, and decodes
//! back to itself.
#![no_main]

use arbitrary::Unstructured;
use bytes::BytesMut;
use kasio_core::protocol::Message;
use libfuzzer_sys::fuzz_target;

#[macro_use]
#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let [which, version, rest @ ..] = data else {
        return;
    };
    let mut u = Unstructured::new(rest);
    with_message!(*which as usize, |M| {
        let (lo, hi) = M::VERSIONS;
        let version = lo + (*version as i16) % (hi - lo + 1);
        let Ok(msg) = M::arbitrary_at(&mut u, version) else {
            return;
        };
        let mut buf = BytesMut::new();
        msg.encode(version, &mut buf)
            .expect("an arbitrary value for this version encodes");
        let back = M::decode_exact(version, &buf.freeze()).expect("our own encoding decodes");
        assert_eq!(back, msg);
    });
});
