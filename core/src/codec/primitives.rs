//! Kafka's primitive wire types (`protocol.html`, "Protocol Primitive Types"): the nom
//! parsers and the matching encoders. Everything here works on complete input: a
//! frame is fully buffered before it is decoded.

use bytes::{BufMut, BytesMut};
use nom::number::complete as num;

use super::error::{fail, DecodeErrorKind, PResult};

/// `int8`.
pub fn int8(input: &[u8]) -> PResult<'_, i8> {
    num::be_i8(input)
}
/// `int16`.
pub fn int16(input: &[u8]) -> PResult<'_, i16> {
    num::be_i16(input)
}
/// `int32`.
pub fn int32(input: &[u8]) -> PResult<'_, i32> {
    num::be_i32(input)
}
/// `int64`.
pub fn int64(input: &[u8]) -> PResult<'_, i64> {
    num::be_i64(input)
}
/// `uint16`.
pub fn uint16(input: &[u8]) -> PResult<'_, u16> {
    num::be_u16(input)
}
/// `uint32`.
pub fn uint32(input: &[u8]) -> PResult<'_, u32> {
    num::be_u32(input)
}
/// `float64` (IEEE 754 binary64, big-endian).
pub fn float64(input: &[u8]) -> PResult<'_, f64> {
    num::be_f64(input)
}
/// `boolean`: any non-zero byte is true, as in the Java client.
pub fn boolean(input: &[u8]) -> PResult<'_, bool> {
    let (rest, b) = num::be_u8(input)?;
    Ok((rest, b != 0))
}

/// `unsigned_varint`: up to 5 bytes, 7 bits each, least significant group first.
#[inline]
pub fn unsigned_varint(input: &[u8]) -> PResult<'_, u32> {
    // Fast path: most lengths, tags and counts fit one byte.
    if let Some(&b) = input.first() {
        if b < 0x80 {
            return Ok((&input[1..], u32::from(b)));
        }
    }
    let (rest, v) = varint_u64(input, 5)?;
    match u32::try_from(v) {
        Ok(v) => Ok((rest, v)),
        Err(_) => fail(input, DecodeErrorKind::VarintTooLong),
    }
}

/// `varint`: a zigzag-encoded `int32` in up to 5 bytes.
#[inline]
pub fn varint(input: &[u8]) -> PResult<'_, i32> {
    let (rest, raw) = unsigned_varint(input)?;
    Ok((rest, ((raw >> 1) as i32) ^ -((raw & 1) as i32)))
}

/// `varlong`: a zigzag-encoded `int64` in up to 10 bytes.
#[inline]
pub fn varlong(input: &[u8]) -> PResult<'_, i64> {
    if let Some(&b) = input.first() {
        if b < 0x80 {
            let raw = u64::from(b);
            return Ok((&input[1..], ((raw >> 1) as i64) ^ -((raw & 1) as i64)));
        }
    }
    let (rest, raw) = varint_u64(input, 10)?;
    Ok((rest, ((raw >> 1) as i64) ^ -((raw & 1) as i64)))
}

/// Reads a little-endian base-128 integer of at most `max_bytes` bytes.
fn varint_u64(input: &[u8], max_bytes: usize) -> PResult<'_, u64> {
    let mut value: u64 = 0;
    for (i, &b) in input.iter().enumerate() {
        if i == max_bytes {
            break;
        }
        // The 10th byte of a varlong may only carry the top bit of the 64.
        if i == 9 && b > 1 {
            return fail(input, DecodeErrorKind::VarintTooLong);
        }
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Ok((&input[i + 1..], value));
        }
    }
    if input.len() < max_bytes {
        fail(&input[input.len()..], DecodeErrorKind::Truncated)
    } else {
        fail(input, DecodeErrorKind::VarintTooLong)
    }
}

/// `uuid`: 16 bytes.
pub fn uuid(input: &[u8]) -> PResult<'_, [u8; 16]> {
    let (rest, bytes) = take(input, 16)?;
    let mut out = [0u8; 16];
    out.copy_from_slice(bytes);
    Ok((rest, out))
}

/// Takes exactly `n` bytes, or fails with [`DecodeErrorKind::LengthExceedsInput`]: a
/// length field that points past the end is the peer's error, not a short read.
#[inline]
pub fn take(input: &[u8], n: usize) -> PResult<'_, &[u8]> {
    if n > input.len() {
        return fail(input, DecodeErrorKind::LengthExceedsInput);
    }
    Ok((&input[n..], &input[..n]))
}

/// A length prefix: `None` for null, else the length. Classic prefixes are signed
/// (`int16` for strings, `int32` for bytes and arrays, -1 is null); compact prefixes
/// are `unsigned_varint` of length + 1 (0 is null).
pub fn length(input: &[u8], compact: bool, wide: bool) -> PResult<'_, Option<usize>> {
    if compact {
        let (rest, n) = unsigned_varint(input)?;
        return Ok((rest, n.checked_sub(1).map(|n| n as usize)));
    }
    let (rest, n) = if wide {
        int32(input)?
    } else {
        int16(input).map(|(r, n)| (r, i32::from(n)))?
    };
    match n {
        -1 => Ok((rest, None)),
        n if n < 0 => fail(input, DecodeErrorKind::NegativeLength),
        n => Ok((rest, Some(n as usize))),
    }
}

/// Writes an `unsigned_varint`.
#[inline]
pub fn put_unsigned_varint(buf: &mut BytesMut, mut v: u32) {
    while v >= 0x80 {
        buf.put_u8((v as u8) | 0x80);
        v >>= 7;
    }
    buf.put_u8(v as u8);
}

/// Writes a zigzag `varint`.
#[inline]
pub fn put_varint(buf: &mut BytesMut, v: i32) {
    put_unsigned_varint(buf, ((v << 1) ^ (v >> 31)) as u32);
}

/// Writes a zigzag `varlong`.
#[inline]
pub fn put_varlong(buf: &mut BytesMut, v: i64) {
    let mut raw = ((v << 1) ^ (v >> 63)) as u64;
    while raw >= 0x80 {
        buf.put_u8((raw as u8) | 0x80);
        raw >>= 7;
    }
    buf.put_u8(raw as u8);
}

/// Bytes an `unsigned_varint` of `v` takes.
pub const fn unsigned_varint_len(v: u32) -> usize {
    match v {
        0..=0x7f => 1,
        0x80..=0x3fff => 2,
        0x4000..=0x1f_ffff => 3,
        0x20_0000..=0x0fff_ffff => 4,
        _ => 5,
    }
}

/// Writes a length prefix (see [`length`]); `None` is null.
pub fn put_length(buf: &mut BytesMut, len: Option<usize>, compact: bool, wide: bool) {
    match (compact, len) {
        (true, None) => put_unsigned_varint(buf, 0),
        (true, Some(n)) => put_unsigned_varint(buf, n as u32 + 1),
        (false, None) if wide => buf.put_i32(-1),
        (false, None) => buf.put_i16(-1),
        (false, Some(n)) if wide => buf.put_i32(n as i32),
        (false, Some(n)) => buf.put_i16(n as i16),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    fn uvarint_bytes(v: u32) -> Vec<u8> {
        let mut b = BytesMut::new();
        put_unsigned_varint(&mut b, v);
        b.to_vec()
    }

    #[test]
    fn unsigned_varint_matches_protocol_examples() {
        assert_eq!(uvarint_bytes(0), [0x00]);
        assert_eq!(uvarint_bytes(1), [0x01]);
        assert_eq!(uvarint_bytes(127), [0x7f]);
        assert_eq!(uvarint_bytes(128), [0x80, 0x01]);
        assert_eq!(uvarint_bytes(300), [0xac, 0x02]);
        assert_eq!(uvarint_bytes(u32::MAX), [0xff, 0xff, 0xff, 0xff, 0x0f]);
        for v in [0u32, 1, 127, 128, 300, 16383, 16384, u32::MAX] {
            let b = uvarint_bytes(v);
            assert_eq!(b.len(), unsigned_varint_len(v));
            assert_eq!(unsigned_varint(&b).unwrap(), (&[][..], v));
        }
    }

    #[test]
    fn zigzag_round_trips_extremes() {
        for v in [0i32, -1, 1, -64, 63, 64, i32::MIN, i32::MAX] {
            let mut b = BytesMut::new();
            put_varint(&mut b, v);
            assert_eq!(varint(&b).unwrap().1, v);
        }
        for v in [0i64, -1, 1, i64::MIN, i64::MAX, 1 << 40] {
            let mut b = BytesMut::new();
            put_varlong(&mut b, v);
            assert!(b.len() <= 10);
            assert_eq!(varlong(&b).unwrap().1, v);
        }
        // zigzag: -1 -> 1, 1 -> 2
        let mut b = BytesMut::new();
        put_varint(&mut b, -1);
        assert_eq!(&b[..], [0x01]);
    }

    #[test]
    fn overlong_and_truncated_varints_are_errors() {
        assert_eq!(
            unsigned_varint(&[0x80, 0x80]).unwrap_err(),
            nom::Err::Error(super::super::DecodeError::new(
                DecodeErrorKind::Truncated,
                0
            ))
        );
        let six = [0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
        assert!(
            matches!(unsigned_varint(&six), Err(nom::Err::Error(e)) if e.kind == DecodeErrorKind::VarintTooLong)
        );
        // 5 bytes whose value exceeds u32
        let big = [0xff, 0xff, 0xff, 0xff, 0x1f];
        assert!(
            matches!(unsigned_varint(&big), Err(nom::Err::Error(e)) if e.kind == DecodeErrorKind::VarintTooLong)
        );
        let eleven = [0xffu8; 11];
        assert!(
            matches!(varlong(&eleven), Err(nom::Err::Error(e)) if e.kind == DecodeErrorKind::VarintTooLong)
        );
        // a 10th byte above 1 would overflow 64 bits
        let mut ten = [0xffu8; 10];
        ten[9] = 0x02;
        assert!(
            matches!(varlong(&ten), Err(nom::Err::Error(e)) if e.kind == DecodeErrorKind::VarintTooLong)
        );
    }

    #[test]
    fn lengths_classic_and_compact() {
        assert_eq!(length(&[0xff, 0xff], false, false).unwrap().1, None);
        assert_eq!(length(&[0x00, 0x03], false, false).unwrap().1, Some(3));
        assert!(
            matches!(length(&[0xff, 0xfe], false, false), Err(nom::Err::Error(e)) if e.kind == DecodeErrorKind::NegativeLength)
        );
        assert_eq!(
            length(&[0xff, 0xff, 0xff, 0xff], false, true).unwrap().1,
            None
        );
        assert_eq!(length(&[0x00], true, false).unwrap().1, None);
        assert_eq!(length(&[0x04], true, false).unwrap().1, Some(3));
    }
}
