//! Every request and response decoder. The first byte picks the message, the second
//! the version; the rest is the body. A body that decodes must encode again and decode
//! to the same value.
#![no_main]

use bytes::{Bytes, BytesMut};
use kasio_core::protocol::Message;
use libfuzzer_sys::fuzz_target;

#[macro_use]
#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let [which, version, body @ ..] = data else {
        return;
    };
    let body = Bytes::copy_from_slice(body);
    with_message!(*which as usize, |M| {
        let (lo, hi) = M::VERSIONS;
        let version = lo + (*version as i16) % (hi - lo + 1);
        if let Ok(msg) = M::decode(version, &body) {
            let mut buf = BytesMut::new();
            msg.encode(version, &mut buf)
                .expect("a decoded message encodes at its version");
            let again = M::decode_exact(version, &buf.freeze()).expect("our own encoding decodes");
            assert_eq!(again, msg);
        }
    });
});
