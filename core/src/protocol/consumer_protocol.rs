//! The consumer protocol's embedded data: the subscription a member sends in
//! JoinGroup metadata and the assignment the leader hands out in SyncGroup. Both are
//! a version (`int16`) followed by the struct at that version.

use bytes::{BufMut, Bytes, BytesMut};

use super::Message;
use crate::codec::{primitives, DecodeError, DecodeErrorKind, EncodeError};

/// Writes `data` as `version` followed by its body.
///
/// ```
/// use kasio_core::protocol::consumer_protocol::{decode_versioned, encode_versioned};
/// use kasio_core::protocol::messages::ConsumerProtocolSubscription;
/// let sub = ConsumerProtocolSubscription { topics: vec!["t".into()], ..Default::default() };
/// let bytes = encode_versioned(&sub, 1).unwrap();
/// assert_eq!(decode_versioned::<ConsumerProtocolSubscription>(&bytes).unwrap(), (sub, 1));
/// ```
pub fn encode_versioned<M: Message>(data: &M, version: i16) -> Result<Bytes, EncodeError> {
    let mut buf = BytesMut::new();
    buf.put_i16(version);
    data.encode(version, &mut buf)?;
    Ok(buf.freeze())
}

/// Reads a version-prefixed struct. A version newer than kasio knows is read as the
/// newest it knows — the consumer protocol only ever appends fields, and this is what
/// the Java client does. Returns the struct and the version it was read at.
pub fn decode_versioned<M: Message>(bytes: &Bytes) -> Result<(M, i16), DecodeError> {
    let (_, version) = primitives::int16(bytes)
        .map_err(|_| DecodeError::new(DecodeErrorKind::Truncated, bytes.len()))?;
    if version < M::VERSIONS.0 {
        return Err(
            DecodeError::new(DecodeErrorKind::UnsupportedVersion, bytes.len())
                .at_offset_of(bytes.len()),
        );
    }
    let version = version.min(M::VERSIONS.1);
    let body = bytes.slice(2..);
    let msg = M::decode(version, &body).map_err(|mut e| {
        e.offset = e.offset.map(|o| o + 2);
        e
    })?;
    Ok((msg, version))
}
