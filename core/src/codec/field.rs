//! How each field type is written and read. [`Field`] is implemented for the wire
//! types (integers, strings, bytes, uuid, arrays, nullables) and, by `kafka_struct!`,
//! for every message struct, so a message's encoder and decoder are just its fields
//! in order.

use alloc::string::String;
use alloc::vec::Vec;

use bytes::{BufMut, Bytes, BytesMut};

use super::error::{fail, DecodeError, DecodeErrorKind, EncodeError, PResult};
use super::primitives as p;
use super::uuid::Uuid;

/// What a field's encoding depends on: the message version, whether that version is
/// flexible (compact lengths, tagged fields), whether the field may be null in it,
/// and, when decoding, the buffer the input was cut from so that byte fields can be
/// zero-copy slices of it.
#[derive(Clone, Copy, Debug)]
pub struct Cx<'f> {
    /// The message version.
    pub version: i16,
    /// The version uses the flexible encoding (KIP-482).
    pub flexible: bool,
    /// The field being processed may be null in this version.
    pub nullable: bool,
    /// The buffer the decoder's input is a slice of, if any.
    pub frame: Option<&'f Bytes>,
}

impl<'f> Cx<'f> {
    /// A context for encoding at `version`.
    pub const fn encode(version: i16, flexible: bool) -> Cx<'static> {
        Cx {
            version,
            flexible,
            nullable: false,
            frame: None,
        }
    }

    /// A context for decoding `frame` at `version`.
    pub const fn decode(version: i16, flexible: bool, frame: &'f Bytes) -> Self {
        Cx {
            version,
            flexible,
            nullable: false,
            frame: Some(frame),
        }
    }

    /// The same context for a field that may (or may not) be null.
    pub const fn with_nullable(self, nullable: bool) -> Self {
        Cx { nullable, ..self }
    }

    /// Bytes of `slice`: a zero-copy slice of the frame when `slice` lies inside it,
    /// a copy otherwise.
    pub fn bytes_of(&self, slice: &[u8]) -> Bytes {
        match self.frame {
            Some(frame) if is_within(frame, slice) => frame.slice_ref(slice),
            _ => Bytes::copy_from_slice(slice),
        }
    }
}

fn is_within(outer: &[u8], inner: &[u8]) -> bool {
    let (o, i) = (outer.as_ptr() as usize, inner.as_ptr() as usize);
    i >= o && i + inner.len() <= o + outer.len()
}

/// A type that can appear as a field of a Kafka message.
pub trait Field: Sized {
    /// The fewest bytes one value can take on the wire; bounds array counts before
    /// anything is allocated.
    fn min_size(_cx: Cx<'_>) -> usize {
        1
    }

    /// Appends the encoding of `self`.
    fn put(&self, cx: Cx<'_>, buf: &mut BytesMut) -> Result<(), EncodeError>;

    /// Parses one value.
    fn get<'a>(cx: Cx<'_>, input: &'a [u8]) -> PResult<'a, Self>;

    /// An arbitrary value that `cx.version` can carry (fields the version lacks keep
    /// their defaults, null only where allowed), for property tests and fuzzing.
    #[cfg(feature = "arbitrary")]
    fn arbitrary_field(u: &mut arbitrary::Unstructured<'_>, cx: Cx<'_>) -> arbitrary::Result<Self>;

    /// Writes `self` for `defmt`.
    #[cfg(feature = "defmt")]
    fn format_field(&self, f: defmt::Formatter<'_>);
}

/// A field type with a null value on the wire (strings, bytes, arrays, structs).
pub trait Nullable: Field {
    /// Parses a value or null.
    fn get_nullable<'a>(cx: Cx<'_>, input: &'a [u8]) -> PResult<'a, Option<Self>>;
    /// Writes null.
    fn put_null(cx: Cx<'_>, buf: &mut BytesMut);
    /// Writes a present value where the field could have been null (structs mark it).
    fn put_present(&self, cx: Cx<'_>, buf: &mut BytesMut) -> Result<(), EncodeError> {
        self.put(cx, buf)
    }
}

macro_rules! fixed_width {
    ($($ty:ty => $get:path, $put:ident, $size:expr;)*) => {$(
        impl Field for $ty {
            fn min_size(_cx: Cx<'_>) -> usize {
                $size
            }
            fn put(&self, _cx: Cx<'_>, buf: &mut BytesMut) -> Result<(), EncodeError> {
                buf.$put(*self);
                Ok(())
            }
            fn get<'a>(_cx: Cx<'_>, input: &'a [u8]) -> PResult<'a, Self> {
                $get(input)
            }
            #[cfg(feature = "arbitrary")]
            fn arbitrary_field(u: &mut arbitrary::Unstructured<'_>, _cx: Cx<'_>) -> arbitrary::Result<Self> {
                u.arbitrary()
            }
            #[cfg(feature = "defmt")]
            fn format_field(&self, f: defmt::Formatter<'_>) {
                defmt::write!(f, "{}", self)
            }
        }
    )*};
}

fixed_width! {
    i8 => p::int8, put_i8, 1;
    i16 => p::int16, put_i16, 2;
    i32 => p::int32, put_i32, 4;
    i64 => p::int64, put_i64, 8;
    u16 => p::uint16, put_u16, 2;
    u32 => p::uint32, put_u32, 4;
}

impl Field for bool {
    fn put(&self, _cx: Cx<'_>, buf: &mut BytesMut) -> Result<(), EncodeError> {
        buf.put_u8(u8::from(*self));
        Ok(())
    }
    fn get<'a>(_cx: Cx<'_>, input: &'a [u8]) -> PResult<'a, Self> {
        p::boolean(input)
    }
    #[cfg(feature = "arbitrary")]
    fn arbitrary_field(
        u: &mut arbitrary::Unstructured<'_>,
        _cx: Cx<'_>,
    ) -> arbitrary::Result<Self> {
        u.arbitrary()
    }
    #[cfg(feature = "defmt")]
    fn format_field(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "{}", self)
    }
}

impl Field for f64 {
    fn min_size(_cx: Cx<'_>) -> usize {
        8
    }
    fn put(&self, _cx: Cx<'_>, buf: &mut BytesMut) -> Result<(), EncodeError> {
        buf.put_f64(*self);
        Ok(())
    }
    fn get<'a>(_cx: Cx<'_>, input: &'a [u8]) -> PResult<'a, Self> {
        p::float64(input)
    }
    #[cfg(feature = "arbitrary")]
    fn arbitrary_field(
        u: &mut arbitrary::Unstructured<'_>,
        _cx: Cx<'_>,
    ) -> arbitrary::Result<Self> {
        // NaN != NaN would make round-trip equality meaningless.
        Ok(f64::from(u.arbitrary::<i32>()?) / 8.0)
    }
    #[cfg(feature = "defmt")]
    fn format_field(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "{}", self)
    }
}

impl Field for Uuid {
    fn min_size(_cx: Cx<'_>) -> usize {
        16
    }
    fn put(&self, _cx: Cx<'_>, buf: &mut BytesMut) -> Result<(), EncodeError> {
        buf.put_slice(&self.0);
        Ok(())
    }
    fn get<'a>(_cx: Cx<'_>, input: &'a [u8]) -> PResult<'a, Self> {
        let (rest, b) = p::uuid(input)?;
        Ok((rest, Uuid(b)))
    }
    #[cfg(feature = "arbitrary")]
    fn arbitrary_field(
        u: &mut arbitrary::Unstructured<'_>,
        _cx: Cx<'_>,
    ) -> arbitrary::Result<Self> {
        Ok(Uuid(u.arbitrary()?))
    }
    #[cfg(feature = "defmt")]
    fn format_field(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "{}", self)
    }
}

/// Parses a non-null value of a nullable type; null is an error.
fn get_non_null<'a, T: Nullable>(cx: Cx<'_>, input: &'a [u8]) -> PResult<'a, T> {
    match T::get_nullable(cx, input)? {
        (rest, Some(v)) => Ok((rest, v)),
        (_, None) => fail(input, DecodeErrorKind::UnexpectedNull),
    }
}

fn too_long() -> EncodeError {
    EncodeError::TooLong {
        within: "",
        field: "",
    }
}

impl Field for String {
    fn min_size(cx: Cx<'_>) -> usize {
        if cx.flexible {
            1
        } else {
            2
        }
    }
    fn put(&self, cx: Cx<'_>, buf: &mut BytesMut) -> Result<(), EncodeError> {
        // Strings are limited to int16 lengths, compact or not (as in the Java client).
        if self.len() > i16::MAX as usize {
            return Err(too_long());
        }
        p::put_length(buf, Some(self.len()), cx.flexible, false);
        buf.put_slice(self.as_bytes());
        Ok(())
    }
    fn get<'a>(cx: Cx<'_>, input: &'a [u8]) -> PResult<'a, Self> {
        get_non_null(cx, input)
    }
    #[cfg(feature = "arbitrary")]
    fn arbitrary_field(
        u: &mut arbitrary::Unstructured<'_>,
        _cx: Cx<'_>,
    ) -> arbitrary::Result<Self> {
        let s: &str = u.arbitrary()?;
        Ok(s.chars().take(40).collect())
    }
    #[cfg(feature = "defmt")]
    fn format_field(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "{=str}", self.as_str())
    }
}

impl Nullable for String {
    fn get_nullable<'a>(cx: Cx<'_>, input: &'a [u8]) -> PResult<'a, Option<Self>> {
        let (rest, len) = p::length(input, cx.flexible, false)?;
        let Some(len) = len else {
            return Ok((rest, None));
        };
        // A compact length could say more, but Kafka strings never exceed int16.
        if len > i16::MAX as usize {
            return fail(input, DecodeErrorKind::InvalidValue);
        }
        let (rest, raw) = p::take(rest, len)?;
        match core::str::from_utf8(raw) {
            Ok(s) => Ok((rest, Some(String::from(s)))),
            Err(_) => fail(input, DecodeErrorKind::InvalidUtf8),
        }
    }
    fn put_null(cx: Cx<'_>, buf: &mut BytesMut) {
        p::put_length(buf, None, cx.flexible, false);
    }
}

/// Smallest encoding of a bytes or array field: a compact length is one byte, a
/// classic one an `int32`.
fn wide_prefix_size(cx: Cx<'_>) -> usize {
    if cx.flexible {
        1
    } else {
        4
    }
}

impl Field for Bytes {
    fn min_size(cx: Cx<'_>) -> usize {
        wide_prefix_size(cx)
    }
    fn put(&self, cx: Cx<'_>, buf: &mut BytesMut) -> Result<(), EncodeError> {
        if self.len() >= i32::MAX as usize {
            return Err(too_long());
        }
        p::put_length(buf, Some(self.len()), cx.flexible, true);
        buf.put_slice(self);
        Ok(())
    }
    fn get<'a>(cx: Cx<'_>, input: &'a [u8]) -> PResult<'a, Self> {
        get_non_null(cx, input)
    }
    #[cfg(feature = "arbitrary")]
    fn arbitrary_field(
        u: &mut arbitrary::Unstructured<'_>,
        _cx: Cx<'_>,
    ) -> arbitrary::Result<Self> {
        let len = u.int_in_range(0..=64)?;
        Ok(Bytes::copy_from_slice(u.bytes(len.min(u.len()))?))
    }
    #[cfg(feature = "defmt")]
    fn format_field(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "<{=usize} bytes>", self.len())
    }
}

impl Nullable for Bytes {
    fn get_nullable<'a>(cx: Cx<'_>, input: &'a [u8]) -> PResult<'a, Option<Self>> {
        let (rest, len) = p::length(input, cx.flexible, true)?;
        let Some(len) = len else {
            return Ok((rest, None));
        };
        let (rest, raw) = p::take(rest, len)?;
        Ok((rest, Some(cx.bytes_of(raw))))
    }
    fn put_null(cx: Cx<'_>, buf: &mut BytesMut) {
        p::put_length(buf, None, cx.flexible, true);
    }
}

impl<T: Field> Field for Vec<T> {
    fn min_size(cx: Cx<'_>) -> usize {
        wide_prefix_size(cx)
    }
    fn put(&self, cx: Cx<'_>, buf: &mut BytesMut) -> Result<(), EncodeError> {
        if self.len() >= i32::MAX as usize {
            return Err(too_long());
        }
        p::put_length(buf, Some(self.len()), cx.flexible, true);
        let item_cx = cx.with_nullable(false);
        self.iter().try_for_each(|item| item.put(item_cx, buf))
    }
    fn get<'a>(cx: Cx<'_>, input: &'a [u8]) -> PResult<'a, Self> {
        get_non_null(cx, input)
    }
    #[cfg(feature = "arbitrary")]
    fn arbitrary_field(u: &mut arbitrary::Unstructured<'_>, cx: Cx<'_>) -> arbitrary::Result<Self> {
        let len = u.int_in_range(0..=3)?;
        (0..len)
            .map(|_| T::arbitrary_field(u, cx.with_nullable(false)))
            .collect()
    }
    #[cfg(feature = "defmt")]
    fn format_field(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "[");
        for (i, item) in self.iter().enumerate() {
            if i > 0 {
                defmt::write!(f, ", ");
            }
            item.format_field(f);
        }
        defmt::write!(f, "]");
    }
}

impl<T: Field> Nullable for Vec<T> {
    fn get_nullable<'a>(cx: Cx<'_>, input: &'a [u8]) -> PResult<'a, Option<Self>> {
        let (mut rest, count) = p::length(input, cx.flexible, true)?;
        let Some(count) = count else {
            return Ok((rest, None));
        };
        let item_cx = cx.with_nullable(false);
        // Never trust a count: it must fit in what is left before anything is allocated.
        let min = T::min_size(item_cx).max(1);
        if count > rest.len() / min {
            return fail(input, DecodeErrorKind::LengthExceedsInput);
        }
        let mut items = Vec::with_capacity(count);
        for _ in 0..count {
            let (r, item) = T::get(item_cx, rest)?;
            items.push(item);
            rest = r;
        }
        Ok((rest, Some(items)))
    }
    fn put_null(cx: Cx<'_>, buf: &mut BytesMut) {
        p::put_length(buf, None, cx.flexible, true);
    }
}

impl<T: Nullable> Field for Option<T> {
    fn min_size(cx: Cx<'_>) -> usize {
        T::min_size(cx)
    }
    fn put(&self, cx: Cx<'_>, buf: &mut BytesMut) -> Result<(), EncodeError> {
        match self {
            Some(v) => v.put_present(cx, buf),
            None if cx.nullable => {
                T::put_null(cx, buf);
                Ok(())
            }
            None => Err(EncodeError::NullNotAllowed {
                within: "",
                field: "",
                version: cx.version,
            }),
        }
    }
    fn get<'a>(cx: Cx<'_>, input: &'a [u8]) -> PResult<'a, Self> {
        let (rest, v) = T::get_nullable(cx, input)?;
        if v.is_none() && !cx.nullable {
            return fail(input, DecodeErrorKind::UnexpectedNull);
        }
        Ok((rest, v))
    }
    #[cfg(feature = "arbitrary")]
    fn arbitrary_field(u: &mut arbitrary::Unstructured<'_>, cx: Cx<'_>) -> arbitrary::Result<Self> {
        let null = cx.nullable && u.ratio(1, 4)?;
        Ok(if null {
            None
        } else {
            Some(T::arbitrary_field(u, cx)?)
        })
    }
    #[cfg(feature = "defmt")]
    fn format_field(&self, f: defmt::Formatter<'_>) {
        match self {
            Some(v) => v.format_field(f),
            None => defmt::write!(f, "null"),
        }
    }
}

/// Parses a tagged-field section (KIP-482): a count, then per field its tag, its size
/// and its bytes. `known` is offered each field and says whether it took it; the
/// others are skipped, so newer peers can add fields we do not know.
pub fn get_tagged_fields<'a>(
    input: &'a [u8],
    mut known: impl FnMut(u32, &'a [u8]) -> Result<bool, nom::Err<DecodeError>>,
) -> PResult<'a, ()> {
    let (mut rest, count) = p::unsigned_varint(input)?;
    // Each tagged field takes at least two bytes (tag and size).
    if count as usize > rest.len() / 2 {
        return fail(input, DecodeErrorKind::LengthExceedsInput);
    }
    for _ in 0..count {
        let (r, tag) = p::unsigned_varint(rest)?;
        let (r, size) = p::unsigned_varint(r)?;
        let (r, data) = p::take(r, size as usize)?;
        known(tag, data)?;
        rest = r;
    }
    Ok((rest, ()))
}

/// Writes one tagged field: its tag, the size of its encoding, and the encoding.
pub fn put_tagged_field<T: Field>(
    tag: u32,
    value: &T,
    cx: Cx<'_>,
    buf: &mut BytesMut,
) -> Result<(), EncodeError> {
    let mut data = BytesMut::new();
    value.put(cx, &mut data)?;
    p::put_unsigned_varint(buf, tag);
    p::put_unsigned_varint(buf, data.len() as u32);
    buf.put_slice(&data);
    Ok(())
}
