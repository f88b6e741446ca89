//! The consumer protocol's embedded data, as a group member reads it: the
//! subscription (JoinGroup metadata) and the assignment (SyncGroup), each a version
//! followed by the struct, via `decode_versioned`. The first byte picks which; the
//! rest is the embedded bytes. What decodes re-encodes at the version it was read at
//! and decodes to the same value.
#![no_main]

use bytes::Bytes;
use kasio_core::protocol::consumer_protocol::{decode_versioned, encode_versioned};
use kasio_core::protocol::messages::{ConsumerProtocolAssignment, ConsumerProtocolSubscription};
use kasio_core::protocol::Message;
use libfuzzer_sys::fuzz_target;

fn check<M: Message>(bytes: &Bytes) {
    let Ok((msg, version)) = decode_versioned::<M>(bytes) else {
        return;
    };
    assert!(M::supports(version));
    let again = encode_versioned(&msg, version).expect("a decoded value encodes at its version");
    let (back, v2) = decode_versioned::<M>(&again).expect("our own encoding decodes");
    assert_eq!((back, v2), (msg, version));
}

fuzz_target!(|data: &[u8]| {
    let [which, rest @ ..] = data else { return };
    let bytes = Bytes::copy_from_slice(rest);
    if which & 1 == 0 {
        check::<ConsumerProtocolSubscription>(&bytes);
    } else {
        check::<ConsumerProtocolAssignment>(&bytes);
    }
});
