//! The independent oracle: a byte builder written from `protocol.html` ("Protocol
//! Primitive Types") that never calls kasio's encoders, and the harness that holds a
//! message's encoder and decoder to the bytes it builds.

use bytes::{Bytes, BytesMut};
use kasio_core::protocol::consumer_protocol::{decode_versioned, encode_versioned};
use kasio_core::protocol::Message;

/// Builds expected bytes field by field. `flex` selects the flexible (KIP-482)
/// encodings: COMPACT_* lengths as unsigned varints of length + 1 (0 = null) and a
/// tagged-field section at the end of every struct.
pub struct W {
    buf: Vec<u8>,
    flex: bool,
}

impl W {
    pub fn new(flex: bool) -> Self {
        W {
            buf: Vec::new(),
            flex,
        }
    }

    pub fn done(self) -> Vec<u8> {
        self.buf
    }

    pub fn raw(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
    }

    /// INT8.
    pub fn i8(&mut self, v: i8) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    /// INT16, big-endian.
    pub fn i16(&mut self, v: i16) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    /// INT32, big-endian.
    pub fn i32(&mut self, v: i32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    /// INT64, big-endian.
    pub fn i64(&mut self, v: i64) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    /// BOOLEAN: one byte, 0 or 1.
    pub fn bool(&mut self, v: bool) {
        self.buf.push(u8::from(v));
    }

    /// UUID: 16 raw bytes.
    pub fn uuid(&mut self, v: [u8; 16]) {
        self.buf.extend_from_slice(&v);
    }

    /// UNSIGNED_VARINT: 7 bits a byte, least significant group first, high bit = more.
    pub fn uvarint(&mut self, mut v: u32) {
        while v >= 0x80 {
            self.buf.push((v & 0x7f) as u8 | 0x80);
            v >>= 7;
        }
        self.buf.push(v as u8);
    }

    /// STRING (int16 length) or COMPACT_STRING (uvarint length + 1), UTF-8 bytes.
    pub fn str(&mut self, s: &str) {
        if self.flex {
            self.uvarint(s.len() as u32 + 1);
        } else {
            self.i16(s.len() as i16);
        }
        self.raw(s.as_bytes());
    }

    /// NULLABLE_STRING (null = int16 -1) or COMPACT_NULLABLE_STRING (null = 0).
    pub fn nstr(&mut self, s: Option<&str>) {
        match s {
            Some(s) => self.str(s),
            None if self.flex => self.uvarint(0),
            None => self.i16(-1),
        }
    }

    /// A classic NULLABLE_STRING whatever the version: the request header's client id.
    pub fn classic_nstr(&mut self, s: Option<&str>) {
        match s {
            Some(s) => {
                self.i16(s.len() as i16);
                self.raw(s.as_bytes());
            }
            None => self.i16(-1),
        }
    }

    /// BYTES (int32 length) or COMPACT_BYTES (uvarint length + 1).
    pub fn bytes(&mut self, b: &[u8]) {
        if self.flex {
            self.uvarint(b.len() as u32 + 1);
        } else {
            self.i32(b.len() as i32);
        }
        self.raw(b);
    }

    /// NULLABLE_BYTES / RECORDS (null = int32 -1) or their compact forms (null = 0).
    pub fn nbytes(&mut self, b: Option<&[u8]>) {
        match b {
            Some(b) => self.bytes(b),
            None if self.flex => self.uvarint(0),
            None => self.i32(-1),
        }
    }

    /// ARRAY length (int32) or COMPACT_ARRAY length (uvarint n + 1).
    pub fn array(&mut self, n: usize) {
        if self.flex {
            self.uvarint(n as u32 + 1);
        } else {
            self.i32(n as i32);
        }
    }

    /// A null array: int32 -1, or compact 0.
    pub fn null_array(&mut self) {
        if self.flex {
            self.uvarint(0);
        } else {
            self.i32(-1);
        }
    }

    /// []int32.
    pub fn i32s(&mut self, xs: &[i32]) {
        self.array(xs.len());
        for &x in xs {
            self.i32(x);
        }
    }

    /// []int64.
    pub fn i64s(&mut self, xs: &[i64]) {
        self.array(xs.len());
        for &x in xs {
            self.i64(x);
        }
    }

    /// []string.
    pub fn strs(&mut self, xs: &[&str]) {
        self.array(xs.len());
        for x in xs {
            self.str(x);
        }
    }

    /// The end of a struct: in a flexible version, an empty tagged-field section
    /// (count 0); nothing otherwise.
    pub fn no_tags(&mut self) {
        if self.flex {
            self.uvarint(0);
        }
    }

    /// One tagged field: uvarint tag, uvarint size, then the data `f` writes (in the
    /// message's flexible encoding). The caller writes the count first.
    pub fn tagged(&mut self, tag: u32, f: impl FnOnce(&mut W)) {
        let mut inner = W::new(self.flex);
        f(&mut inner);
        self.uvarint(tag);
        self.uvarint(inner.buf.len() as u32);
        self.raw(&inner.buf);
    }
}

/// `String` from `&str`, to keep the values short.
pub fn s(x: &str) -> String {
    x.to_owned()
}

pub fn hex(b: &[u8]) -> String {
    b.iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn diff(actual: &[u8], golden: &[u8]) -> String {
    let at = actual
        .iter()
        .zip(golden)
        .position(|(a, g)| a != g)
        .unwrap_or(actual.len().min(golden.len()));
    format!(
        "first difference at byte {at} (actual {} bytes, golden {} bytes)\n  actual: {}\n  golden: {}",
        actual.len(),
        golden.len(),
        hex(actual),
        hex(golden)
    )
}

/// Holds `value` to `golden` at `v`: the encoding is exactly the golden bytes, the
/// golden bytes decode to the value, and every strict prefix is an error.
pub fn check<M: Message>(name: &str, v: i16, value: &M, golden: &[u8]) -> Result<(), String> {
    let mut errors = Vec::new();
    let mut buf = BytesMut::new();
    match value.encode(v, &mut buf) {
        Ok(()) if buf[..] == golden[..] => {}
        Ok(()) => errors.push(format!("encode: {}", diff(&buf, golden))),
        Err(e) => errors.push(format!("encode failed: {e:?}")),
    }
    let body = Bytes::copy_from_slice(golden);
    match M::decode_exact(v, &body) {
        Ok(decoded) if decoded == *value => {}
        Ok(decoded) => errors.push(format!(
            "decode: got {decoded:#?}\n  expected {value:#?}\n  golden: {}",
            hex(golden)
        )),
        Err(e) => errors.push(format!("decode failed: {e:?}\n  golden: {}", hex(golden))),
    }
    for len in 0..golden.len() {
        if let Ok(m) = M::decode_exact(v, &body.slice(..len)) {
            errors.push(format!(
                "truncated to {len} of {} bytes, decoded anyway: {m:?}",
                golden.len()
            ));
            break;
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(format!("{name} v{v}:\n  {}", errors.join("\n  ")))
    }
}

/// [`check`] for embedded consumer-protocol data, which carries an int16 version
/// prefix: `golden` is the body; the prefixed form is checked through
/// `encode_versioned` / `decode_versioned`.
pub fn check_versioned<M: Message>(
    name: &str,
    v: i16,
    value: &M,
    golden: &[u8],
) -> Result<(), String> {
    let mut errors = Vec::new();
    if let Err(e) = check(name, v, value, golden) {
        errors.push(e);
    }
    let mut full = v.to_be_bytes().to_vec(); // Version (int16)
    full.extend_from_slice(golden);
    match encode_versioned(value, v) {
        Ok(b) if b[..] == full[..] => {}
        Ok(b) => errors.push(format!("encode_versioned: {}", diff(&b, &full))),
        Err(e) => errors.push(format!("encode_versioned failed: {e:?}")),
    }
    let full = Bytes::from(full);
    match decode_versioned::<M>(&full) {
        Ok((m, got_v)) if m == *value && got_v == v => {}
        Ok((m, got_v)) => errors.push(format!(
            "decode_versioned: got v{got_v} {m:#?}\n  expected v{v} {value:#?}"
        )),
        Err(e) => errors.push(format!("decode_versioned failed: {e:?}")),
    }
    for len in 0..full.len() {
        if let Ok(m) = decode_versioned::<M>(&full.slice(..len)) {
            errors.push(format!(
                "versioned, truncated to {len} of {} bytes, decoded anyway: {m:?}",
                full.len()
            ));
            break;
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{name} (versioned) v{v}:\n  {}",
            errors.join("\n  ")
        ))
    }
}

/// Runs `case` at every version in `versions`; reports all failures at once.
pub fn run<M: Message>(
    name: &str,
    versions: impl IntoIterator<Item = i16>,
    case: fn(i16) -> (M, Vec<u8>),
) {
    let failures: Vec<String> = versions
        .into_iter()
        .filter_map(|v| {
            let (value, golden) = case(v);
            check(name, v, &value, &golden).err()
        })
        .collect();
    assert!(failures.is_empty(), "\n{}", failures.join("\n\n"));
}

/// [`run`] over every version the codec declares (`M::VERSIONS`; the table test
/// holds those to the schemas' `validVersions`).
pub fn run_all<M: Message>(name: &str, case: fn(i16) -> (M, Vec<u8>)) {
    run(name, M::VERSIONS.0..=M::VERSIONS.1, case);
}

/// [`run_all`] for version-prefixed embedded data.
pub fn run_all_versioned<M: Message>(name: &str, case: fn(i16) -> (M, Vec<u8>)) {
    let failures: Vec<String> = (M::VERSIONS.0..=M::VERSIONS.1)
        .filter_map(|v| {
            let (value, golden) = case(v);
            check_versioned(name, v, &value, &golden).err()
        })
        .collect();
    assert!(failures.is_empty(), "\n{}", failures.join("\n\n"));
}
