//! A bounds check of a request body before `kafka-protocol` decodes it.
//!
//! `kafka-protocol` reserves an array's whole capacity from the count on the
//! wire (`Vec::with_capacity(n)`) before reading a single element, so four bytes
//! from a client could ask for gigabytes and abort the process. kasio-core's
//! codec never allocates more than the input justifies; to keep that promise
//! for the producer APIs, each body is first walked against a small description
//! of its schema: every length and count must be backed by bytes that are
//! really there, and the body must end where the schema does. Only then is it
//! handed to `kafka-protocol`, whose allocations are now bounded by the frame.

/// One field of a schema, in wire order.
#[derive(Debug, Clone, Copy)]
pub(super) enum F {
    I16,
    I32,
    I64,
    /// A string (never null).
    Str,
    /// A nullable string.
    NStr,
    /// Nullable bytes (a Produce partition's records).
    NBytes,
    /// An array of `i32`.
    ArrI32,
    /// An array of structs with these fields (each ends with tagged fields when
    /// the version is flexible).
    Arr(&'static [F]),
}

/// Whether `body` is exactly one struct with `fields`, in the flexible
/// (compact, tagged) encoding or not.
pub(super) fn fits(fields: &[F], flexible: bool, body: &[u8]) -> bool {
    let mut c = Cursor { buf: body, pos: 0 };
    c.fields(fields, flexible).is_some() && c.pos == body.len()
}

struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn skip(&mut self, n: usize) -> Option<()> {
        let end = self.pos.checked_add(n)?;
        (end <= self.buf.len()).then(|| self.pos = end)
    }

    fn i16(&mut self) -> Option<i16> {
        let b = self.buf.get(self.pos..self.pos + 2)?;
        self.pos += 2;
        Some(i16::from_be_bytes([b[0], b[1]]))
    }

    fn i32(&mut self) -> Option<i32> {
        let b = self.buf.get(self.pos..self.pos + 4)?;
        self.pos += 4;
        Some(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn uvarint(&mut self) -> Option<u32> {
        let mut v: u32 = 0;
        for i in 0..5 {
            let b = *self.buf.get(self.pos)?;
            self.pos += 1;
            v |= u32::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }

    /// A length or count: `None` for null (only if `nullable`), else the value.
    fn length(&mut self, flexible: bool, wide: bool, nullable: bool) -> Option<Option<usize>> {
        let n: i64 = if flexible {
            i64::from(self.uvarint()?) - 1
        } else if wide {
            i64::from(self.i32()?)
        } else {
            i64::from(self.i16()?)
        };
        match n {
            -1 if nullable => Some(None),
            n if n >= 0 => Some(Some(usize::try_from(n).ok()?)),
            _ => None,
        }
    }

    fn tagged(&mut self) -> Option<()> {
        let count = self.uvarint()?;
        for _ in 0..count {
            self.uvarint()?;
            let size = self.uvarint()?;
            self.skip(usize::try_from(size).ok()?)?;
        }
        Some(())
    }

    fn fields(&mut self, fields: &[F], flexible: bool) -> Option<()> {
        for f in fields {
            match f {
                F::I16 => self.skip(2)?,
                F::I32 => self.skip(4)?,
                F::I64 => self.skip(8)?,
                F::Str | F::NStr => {
                    if let Some(n) = self.length(flexible, false, matches!(f, F::NStr))? {
                        self.skip(n)?;
                    }
                }
                F::NBytes => {
                    if let Some(n) = self.length(flexible, true, true)? {
                        self.skip(n)?;
                    }
                }
                F::ArrI32 => {
                    let n = self.length(flexible, true, false)?.unwrap_or(0);
                    self.skip(n.checked_mul(4)?)?;
                }
                F::Arr(inner) => {
                    // Each element is walked: the count is only trusted once
                    // every element it announces has been seen.
                    let n = self.length(flexible, true, false)?.unwrap_or(0);
                    for _ in 0..n {
                        self.fields(inner, flexible)?;
                    }
                }
            }
        }
        if flexible {
            self.tagged()?;
        }
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOPICS: &[F] = &[F::Str, F::ArrI32];

    #[test]
    fn counts_must_be_backed_by_bytes() {
        // topics: [ { name "t", partitions [0, 1] } ]
        let mut ok = vec![0, 0, 0, 1, 0, 1, b't', 0, 0, 0, 2];
        ok.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 1]);
        assert!(fits(&[F::Arr(TOPICS)], false, &ok));
        // A count of 2^31-1 topics in 4 bytes.
        assert!(!fits(&[F::Arr(TOPICS)], false, &[0x7f, 0xff, 0xff, 0xff]));
        // Trailing bytes, a cut, a negative count.
        let mut long = ok.clone();
        long.push(0);
        assert!(!fits(&[F::Arr(TOPICS)], false, &long));
        assert!(!fits(&[F::Arr(TOPICS)], false, &ok[..ok.len() - 1]));
        assert!(!fits(&[F::Arr(TOPICS)], false, &[0xff, 0xff, 0xff, 0xfe]));
    }

    #[test]
    fn flexible_fields_are_compact_and_tagged() {
        // Compact string "ab", compact nullable bytes (null), two tagged fields,
        // then the struct's own (empty) tagged fields.
        let body = [3, b'a', b'b', 0, 0];
        assert!(fits(&[F::Str, F::NBytes], true, &body));
        let tagged = [3, b'a', b'b', 0, 1, 7, 2, 9, 9];
        assert!(fits(&[F::Str, F::NBytes], true, &tagged));
        // An over-long varint.
        assert!(!fits(
            &[F::Str],
            true,
            &[0xff, 0xff, 0xff, 0xff, 0xff, 0x01]
        ));
    }
}
