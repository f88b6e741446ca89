//! JSON output primitives that write exactly what kcat's JSON library (yajl 2, as
//! kcat 1.7 configures it) writes, straight into a byte buffer.

use std::io::Write as _;

/// Appends `s` as a JSON string the way `yajl_gen_string` does with kcat's settings
/// (no `yajl_gen_validate_utf8`, no `yajl_gen_escape_solidus`):
/// - `"` `\` and the control bytes with a short form (`\b \f \n \r \t`) get it;
/// - the other bytes below 0x20 become `\u00XX`, hex digits in UPPER case;
/// - everything else, 0x7F and every byte from 0x80 up included, is copied raw, so
///   invalid UTF-8 stays invalid and the line is then not valid JSON. kasio keeps
///   this for byte-for-byte compatibility; `--json-encoding=base64` is the
///   binary-safe alternative.
///
/// Checked against kcat 1.7.1 (Debian) in `testdata/json*.out` (record 5 holds all
/// 256 byte values, record 8 invalid UTF-8).
pub fn string(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    let mut start = 0;
    for (i, &b) in s.iter().enumerate() {
        let short: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&s[start..i]);
        if short.is_empty() {
            const HEX: &[u8; 16] = b"0123456789ABCDEF";
            out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(b >> 4)],
                HEX[usize::from(b & 15)],
            ]);
        } else {
            out.extend_from_slice(short);
        }
        start = i + 1;
    }
    out.extend_from_slice(&s[start..]);
    out.push(b'"');
}

/// A C string as kcat passes it to yajl (`strlen`): cut at the first NUL byte. kcat
/// does so for topic and header names.
pub fn c_string(out: &mut Vec<u8>, s: &[u8]) {
    string(out, until_nul(s));
}

/// `s` up to its first NUL byte, as C's string functions see it.
pub fn until_nul(s: &[u8]) -> &[u8] {
    match s.iter().position(|&b| b == 0) {
        Some(n) => &s[..n],
        None => s,
    }
}

/// A `"name":` key (kasio's field names need no escaping).
pub fn key(out: &mut Vec<u8>, name: &str) {
    out.push(b'"');
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\":");
}

/// An integer as yajl prints it (`%lld`).
pub fn int(out: &mut Vec<u8>, n: i64) {
    // Writing into a Vec cannot fail.
    let _ = write!(out, "{n}");
}

/// Appends `data` as standard base64 (RFC 4648 alphabet, `=` padding), in a JSON
/// string. Hand-written rather than the `base64` crate: it appends into the reused
/// output buffer with no intermediate allocation and is a dozen lines.
pub fn base64_string(out: &mut Vec<u8>, data: &[u8]) {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    out.push(b'"');
    out.reserve(data.len().div_ceil(3) * 4 + 1);
    let mut chunks = data.chunks_exact(3);
    for c in &mut chunks {
        let n = u32::from(c[0]) << 16 | u32::from(c[1]) << 8 | u32::from(c[2]);
        out.extend_from_slice(&[
            ALPHABET[(n >> 18) as usize & 63],
            ALPHABET[(n >> 12) as usize & 63],
            ALPHABET[(n >> 6) as usize & 63],
            ALPHABET[n as usize & 63],
        ]);
    }
    match *chunks.remainder() {
        [a] => {
            let n = u32::from(a) << 16;
            out.extend_from_slice(&[
                ALPHABET[(n >> 18) as usize & 63],
                ALPHABET[(n >> 12) as usize & 63],
                b'=',
                b'=',
            ]);
        }
        [a, b] => {
            let n = u32::from(a) << 16 | u32::from(b) << 8;
            out.extend_from_slice(&[
                ALPHABET[(n >> 18) as usize & 63],
                ALPHABET[(n >> 12) as usize & 63],
                ALPHABET[(n >> 6) as usize & 63],
                b'=',
            ]);
        }
        _ => {}
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(b: &[u8]) -> String {
        let mut out = Vec::new();
        string(&mut out, b);
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn escapes_like_yajl() {
        assert_eq!(s(b"plain"), r#""plain""#);
        assert_eq!(s(b"a\"b\\c/d"), r#""a\"b\\c/d""#);
        assert_eq!(
            s(b"\x08\x0c\n\r\t\x00\x01\x1f\x7f"),
            "\"\\b\\f\\n\\r\\t\\u0000\\u0001\\u001F\x7f\""
        );
        let mut out = Vec::new();
        string(&mut out, b"\xff\xc3(");
        assert_eq!(out, b"\"\xff\xc3(\"");
    }

    #[test]
    fn c_string_stops_at_nul() {
        let mut out = Vec::new();
        c_string(&mut out, b"ab\0cd");
        assert_eq!(out, b"\"ab\"");
    }

    #[test]
    fn base64_rfc4648_vectors() {
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            let mut out = Vec::new();
            base64_string(&mut out, i.as_bytes());
            assert_eq!(out, format!("\"{o}\"").as_bytes());
        }
        let mut out = Vec::new();
        base64_string(&mut out, &[0xfb, 0xff, 0xbf]);
        assert_eq!(out, b"\"+/+/\"");
    }

    #[test]
    fn ints() {
        let mut out = Vec::new();
        int(&mut out, -1);
        out.push(b' ');
        int(&mut out, i64::MAX);
        assert_eq!(out, b"-1 9223372036854775807");
    }
}
