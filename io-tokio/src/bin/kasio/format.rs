//! Record output: kcat's `-f` format strings, its default `-K`/`-D` output, its `-J`
//! JSON envelope, byte for byte as kcat 1.7.1 prints them, plus kasio's readable
//! timestamps and base64 JSON.
//!
//! A format is compiled once into [`Token`]s; [`Formatter::render`] then appends one
//! record to a caller-owned buffer (cleared and reused per record or batch), without
//! allocating once the buffer has grown.
//!
//! Where kcat has quirks, kasio has them too, so that output piped into existing
//! scripts does not change; each is noted where it is implemented and pinned by the
//! kcat fixtures in `testdata/` (see `golden.rs`):
//! - `%k` / `%s` of an empty key or value print nothing, like a null one; with `-Z`
//!   both print `NULL` (kcat tests the length, not the pointer). `%K` / `%S` tell them
//!   apart: -1 for null, 0 for empty. `%R` is `%S` as a big-endian 32-bit integer
//!   (`ff ff ff ff` for null).
//! - `%h` prints `name=value` pairs joined by `,`, a null value as `NULL` (with or
//!   without `-Z`), an empty value as nothing, and a value only up to its first NUL
//!   byte (kcat prints it with `%.*s`); nothing at all for a record without headers.
//! - Escapes in `-f` (`\t \n \r`, `\xHH`, `\NNN`, anything else escaped is itself)
//!   follow kcat's `fmt_add`, including its odd corners; see [`unescape_literal`].
//! - `-D`/`-K` go through kcat's `parse_delim` (`\n \t \xHH` only, not `\r`), and are
//!   then pasted into a format string that is parsed like `-f`: escapes are read a
//!   second time and `%` in a delimiter is a format token. See [`default_format`].
//! - `-J` is followed by the first piece of the format when it is literal text: the
//!   `-D` delimiter (default newline), or with `-f` the text before the first `%`
//!   token (nothing when `-f` starts with a token).

use std::io::Write as _;

use crate::json;
use crate::record::{RecordView, TsType};

/// One piece of a compiled `-f` format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Token {
    /// Text, escapes already applied (`%%` is a literal `%`).
    Literal(Vec<u8>),
    /// `%t`
    Topic,
    /// `%p`
    Partition,
    /// `%o`
    Offset,
    /// `%k`
    Key,
    /// `%K`
    KeyLen,
    /// `%s`
    Value,
    /// `%S`
    ValueLen,
    /// `%R`
    ValueLenBinary,
    /// `%T`
    Timestamp,
    /// `%h`
    Headers,
}

/// The format tokens kcat knows, for error messages.
pub const TOKENS: &str = "%t %p %o %k %K %s %S %R %T %h %%";

/// A `-f`, `-D` or `-K` string kcat would refuse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormatError {
    /// `%` at the end (kcat: "Empty formatter").
    TrailingPercent,
    /// `%` followed by a byte that is no token (kcat: "Unsupported formatter: %c").
    UnknownToken(u8),
    /// `\x` in `-D`/`-K` without a hex digit after it (kcat: "Delimiter %s expects hex
    /// number").
    DelimiterHex(Vec<u8>),
}

impl std::fmt::Display for FormatError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::TrailingPercent => write!(
                f,
                "the format ends with a lone '%': expected one of {TOKENS} after it"
            ),
            Self::UnknownToken(b) => write!(
                f,
                "unsupported format token '%{}': expected one of {TOKENS}",
                (*b as char).escape_default()
            ),
            Self::DelimiterHex(rest) => write!(
                f,
                "'{}' expects a hex number after \\x",
                String::from_utf8_lossy(rest)
            ),
        }
    }
}

/// C's `strtoul(s, &end, base)` for base 0 or 16 on a byte string: leading
/// whitespace, an optional sign (`-` negates modulo 2^64), the `0x` prefix (base 0 or
/// 16), octal for a leading `0` in base 0; saturates at `u64::MAX` on overflow.
/// Returns the value and how many bytes were consumed (0 when no digit was found).
/// kcat hands escapes to `strtoul`, so its exact reading decides the bytes printed.
pub fn strtoul(s: &[u8], base: u32) -> (u64, usize) {
    let mut i = 0;
    while i < s.len() && matches!(s[i], b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r') {
        i += 1;
    }
    let mut negative = false;
    if i < s.len() && (s[i] == b'+' || s[i] == b'-') {
        negative = s[i] == b'-';
        i += 1;
    }
    let hex_prefix = |i: usize| {
        i + 2 < s.len()
            && s[i] == b'0'
            && (s[i + 1] | 0x20) == b'x'
            && (s[i + 2] as char).is_ascii_hexdigit()
    };
    let mut base = base;
    if (base == 0 || base == 16) && hex_prefix(i) {
        base = 16;
        i += 2;
    } else if base == 0 {
        base = if s.get(i) == Some(&b'0') { 8 } else { 10 };
    }
    let start = i;
    let mut v: u64 = 0;
    let mut overflow = false;
    while i < s.len() {
        let Some(d) = (s[i] as char).to_digit(base) else {
            break;
        };
        match v
            .checked_mul(u64::from(base))
            .and_then(|v| v.checked_add(u64::from(d)))
        {
            Some(n) => v = n,
            None => overflow = true,
        }
        i += 1;
    }
    if i == start {
        return (0, 0);
    }
    if overflow {
        return (u64::MAX, i);
    }
    (if negative { v.wrapping_neg() } else { v }, i)
}

/// kcat's `fmt_add` escape handling for one literal piece of a format (the text
/// between `%` tokens; escapes never span a token):
/// - `\t` `\n` `\r` are tab, newline, carriage return;
/// - `\x` followed by a decimal digit reads as many hex digits as follow (`strtoul`,
///   base 16) and keeps the low byte: `\x41` is `A`, `\x414` is `0x414` → `0x14`;
///   `\x` followed by a hex *letter* is that letter (`\xAB` → `AB`, kcat tests for
///   `0`-`9` only);
/// - `\` followed by a digit reads a C number (`strtoul`, base 0: `\101` is decimal
///   101 = `e`, `\0101` octal = `A`, `\0x41` hex = `A`) and keeps the low byte;
/// - `\` followed by anything else is that byte (`\\` → `\`, `\q` → `q`); a lone `\`
///   at the end of the piece stays;
/// - a resulting NUL byte ends the piece: kcat keeps it as a C string (`strlen`).
pub fn unescape_literal(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'\\' && i + 1 < s.len() {
            i += 1;
            let mut base = 0;
            match s[i] {
                b't' => out.push(b'\t'),
                b'n' => out.push(b'\n'),
                b'r' => out.push(b'\r'),
                c => {
                    if c == b'x' {
                        i += 1;
                        base = 16;
                    }
                    match s.get(i) {
                        Some(d) if d.is_ascii_digit() => {
                            let (v, used) = strtoul(&s[i..], base);
                            out.push(v as u8);
                            if used > 0 {
                                i += used - 1;
                            }
                        }
                        Some(&other) => out.push(other),
                        // `\x` at the very end: kcat copies the terminating NUL.
                        None => out.push(0),
                    }
                }
            }
        } else {
            out.push(s[i]);
        }
        i += 1;
    }
    if let Some(n) = out.iter().position(|&b| b == 0) {
        out.truncate(n);
    }
    out
}

/// Compiles a kcat format string (kcat's `fmt_parse`). Literal pieces that come out
/// empty (a piece that starts with `\0`) are dropped: kcat would write zero bytes,
/// take `fwrite`'s 0 for an error and exit with "Write error" at the first record.
pub fn compile(fmt: &[u8]) -> Result<Vec<Token>, FormatError> {
    let mut tokens = Vec::new();
    let mut rest = fmt;
    while !rest.is_empty() {
        let Some(pct) = rest.iter().position(|&b| b == b'%') else {
            push_literal(&mut tokens, unescape_literal(rest));
            break;
        };
        if pct > 0 {
            push_literal(&mut tokens, unescape_literal(&rest[..pct]));
        }
        let Some(&c) = rest.get(pct + 1) else {
            return Err(FormatError::TrailingPercent);
        };
        tokens.push(match c {
            b'o' => Token::Offset,
            b'k' => Token::Key,
            b'K' => Token::KeyLen,
            b's' => Token::Value,
            b'S' => Token::ValueLen,
            b'R' => Token::ValueLenBinary,
            b't' => Token::Topic,
            b'p' => Token::Partition,
            b'T' => Token::Timestamp,
            b'h' => Token::Headers,
            b'%' => Token::Literal(b"%".to_vec()),
            other => return Err(FormatError::UnknownToken(other)),
        });
        rest = &rest[pct + 2..];
    }
    Ok(tokens)
}

fn push_literal(tokens: &mut Vec<Token>, lit: Vec<u8>) {
    if !lit.is_empty() {
        tokens.push(Token::Literal(lit));
    }
}

/// kcat's `parse_delim` for `-D` and `-K`: replaces the first `\n`, else the first
/// `\t`, else the first `\x` + hex number (`strtoul` base 16, low byte), again and
/// again until none is left. So it rescans its own output (`\x5cn` becomes `\n` and
/// then a newline), knows no `\r` (kcat's help says it does), and a NUL byte ends the
/// delimiter (kcat measures it with `strlen`).
pub fn parse_delim(s: &[u8]) -> Result<Vec<u8>, FormatError> {
    let mut s = s.to_vec();
    loop {
        let find = |pat: &[u8; 2]| s.windows(2).position(|w| w == pat);
        if let Some(t) = find(b"\\n") {
            s[t] = b'\n';
            s.remove(t + 1);
        } else if let Some(t) = find(b"\\t") {
            s[t] = b'\t';
            s.remove(t + 1);
        } else if let Some(t) = find(b"\\x") {
            let (v, used) = strtoul(&s[t + 2..], 16);
            if used == 0 {
                return Err(FormatError::DelimiterHex(s[t..].to_vec()));
            }
            s[t] = v as u8;
            s.drain(t + 1..t + 2 + used);
        } else {
            break;
        }
        if let Some(n) = s.iter().position(|&b| b == 0) {
            s.truncate(n);
        }
    }
    Ok(s)
}

/// The format kcat builds when there is no `-f`: `%k<K>%s<D>` with `-K`, else
/// `%s<D>`, through `snprintf` into a 64-byte buffer (so cut at 63 bytes), then
/// parsed like `-f`: escapes left after `parse_delim` are read again (`-D '\\n'`
/// prints a bare newline: the `\` escapes the newline `parse_delim` made) and a `%`
/// in a delimiter is a token (`-D %%` is one `%`, `-D %` is an error).
pub fn default_format(key_delim: Option<&[u8]>, delim: &[u8]) -> Vec<u8> {
    let mut fmt = Vec::with_capacity(64);
    if let Some(kd) = key_delim {
        fmt.extend_from_slice(b"%k");
        fmt.extend_from_slice(kd);
    }
    fmt.extend_from_slice(b"%s");
    fmt.extend_from_slice(delim);
    fmt.truncate(63);
    fmt
}

/// How `%T` (and `-J`'s extra `ts_iso`) print timestamps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TimeFormat {
    /// Milliseconds since the epoch, as kcat.
    #[default]
    Millis,
    /// RFC 3339 in UTC with milliseconds, e.g. `2023-11-14T22:13:20.000Z` (kasio's
    /// `--time-format=iso`). A missing timestamp still prints -1.
    Iso,
}

/// How `-J` writes keys, values and header values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum JsonEncoding {
    /// As kcat: the bytes in a JSON string, escaped like yajl (invalid UTF-8 passes
    /// through raw).
    #[default]
    Raw,
    /// Base64 (RFC 4648 standard alphabet, padded), announced by an
    /// `"encoding":"base64"` field after `broker`: always valid JSON, binary-safe.
    Base64,
}

/// What the consumer prints for each record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Formatter {
    style: Style,
    /// `-Z`: kcat's `conf.null_str` ("NULL") for empty or null `%k`/`%s`.
    null_str: bool,
    time: TimeFormat,
    encoding: JsonEncoding,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Style {
    Tokens(Vec<Token>),
    Json { trailer: Vec<u8> },
}

/// The output options as given on the command line (raw bytes, before kcat's
/// parsing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputOptions {
    /// `-f`
    pub format: Option<Vec<u8>>,
    /// `-J`
    pub json: bool,
    /// `-D`; kcat's default is a newline.
    pub delim: Vec<u8>,
    /// `-K`
    pub key_delim: Option<Vec<u8>>,
    /// `-Z`
    pub null_str: bool,
    /// `--time-format`
    pub time: TimeFormat,
    /// `--json-encoding`
    pub encoding: JsonEncoding,
}

impl Default for OutputOptions {
    fn default() -> Self {
        Self {
            format: None,
            json: false,
            delim: b"\n".to_vec(),
            key_delim: None,
            null_str: false,
            time: TimeFormat::Millis,
            encoding: JsonEncoding::Raw,
        }
    }
}

/// Which option a [`FormatError`] came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormatSource {
    /// `-f`
    Format,
    /// `-D`
    Delim,
    /// `-K`
    KeyDelim,
}

impl Formatter {
    /// Compiles the options as kcat's `argparse` + `fmt_parse` do. `-D` and `-K` are
    /// parsed (and may fail) even when `-f` makes them unused, as in kcat.
    pub fn new(o: &OutputOptions) -> Result<Self, (FormatSource, FormatError)> {
        let key_delim = match &o.key_delim {
            Some(k) => Some(parse_delim(k).map_err(|e| (FormatSource::KeyDelim, e))?),
            None => None,
        };
        let delim = parse_delim(&o.delim).map_err(|e| (FormatSource::Delim, e))?;
        let (fmt, source) = match (&o.format, o.json) {
            (Some(f), _) => (f.clone(), FormatSource::Format),
            // For -J kcat's format string is the delimiter alone.
            (None, true) => (delim, FormatSource::Delim),
            (None, false) => (
                default_format(key_delim.as_deref(), &delim),
                if key_delim.is_some() {
                    FormatSource::KeyDelim
                } else {
                    FormatSource::Delim
                },
            ),
        };
        let tokens = compile(&fmt).map_err(|e| (source, e))?;
        let style = if o.json {
            // kcat writes `conf.fmt[0].str` after each object: the first token when it
            // is text, nothing otherwise.
            let trailer = match tokens.first() {
                Some(Token::Literal(l)) => l.clone(),
                _ => Vec::new(),
            };
            Style::Json { trailer }
        } else {
            Style::Tokens(tokens)
        };
        Ok(Self {
            style,
            null_str: o.null_str,
            time: o.time,
            encoding: o.encoding,
        })
    }

    /// Appends one record's output to `out`.
    pub fn render(&self, r: &RecordView<'_>, out: &mut Vec<u8>) {
        match &self.style {
            Style::Tokens(tokens) => {
                for t in tokens {
                    self.token(t, r, out);
                }
            }
            Style::Json { trailer } => {
                self.json(r, out);
                out.extend_from_slice(trailer);
            }
        }
    }

    fn token(&self, t: &Token, r: &RecordView<'_>, out: &mut Vec<u8>) {
        // Writes into a Vec cannot fail.
        match t {
            Token::Literal(l) => out.extend_from_slice(l),
            Token::Topic => out.extend_from_slice(json::until_nul(r.topic.as_bytes())),
            Token::Partition => {
                let _ = write!(out, "{}", r.partition);
            }
            Token::Offset => {
                let _ = write!(out, "{}", r.offset);
            }
            Token::Key => self.bytes_or_null(r.key, out),
            Token::Value => self.bytes_or_null(r.value, out),
            Token::KeyLen => {
                let _ = write!(out, "{}", len_or_minus_one(r.key));
            }
            Token::ValueLen => {
                let _ = write!(out, "{}", len_or_minus_one(r.value));
            }
            Token::ValueLenBinary => {
                out.extend_from_slice(&(len_or_minus_one(r.value) as i32).to_be_bytes())
            }
            Token::Timestamp => self.timestamp(r, out),
            Token::Headers => {
                for (i, h) in r.headers.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    out.extend_from_slice(json::until_nul(h.key.as_bytes()));
                    out.push(b'=');
                    match h.value {
                        Some(v) => out.extend_from_slice(json::until_nul(v)),
                        None => out.extend_from_slice(b"NULL"),
                    }
                }
            }
        }
    }

    fn bytes_or_null(&self, b: Option<&[u8]>, out: &mut Vec<u8>) {
        match b {
            Some(b) if !b.is_empty() => out.extend_from_slice(b),
            _ if self.null_str => out.extend_from_slice(b"NULL"),
            _ => {}
        }
    }

    fn timestamp(&self, r: &RecordView<'_>, out: &mut Vec<u8>) {
        let ts = if r.ts_type == TsType::NotAvailable {
            -1
        } else {
            r.timestamp
        };
        match self.time {
            TimeFormat::Iso if ts >= 0 => iso_time(ts, out),
            _ => {
                let _ = write!(out, "{ts}");
            }
        }
    }

    /// kcat's `fmt_msg_output_json`: one object, no spaces, fields in this order;
    /// `tstype`/`ts` only when the timestamp is available (`create`, `logappend`);
    /// `headers` only when there are any, as a flat array `[name, value, ...]` with
    /// null for a null value (kcat's help text shows an object; kcat 1.7 prints the
    /// array); `key`/`payload` null when null, else strings (an empty one is `""`);
    /// `-Z` changes nothing here.
    fn json(&self, r: &RecordView<'_>, out: &mut Vec<u8>) {
        out.push(b'{');
        json::key(out, "topic");
        json::c_string(out, r.topic.as_bytes());
        out.push(b',');
        json::key(out, "partition");
        json::int(out, i64::from(r.partition));
        out.push(b',');
        json::key(out, "offset");
        json::int(out, r.offset);
        out.push(b',');
        let tstype = match r.ts_type {
            TsType::NotAvailable => None,
            TsType::CreateTime => Some("create"),
            TsType::LogAppendTime => Some("logappend"),
        };
        if let Some(tstype) = tstype {
            json::key(out, "tstype");
            json::string(out, tstype.as_bytes());
            out.push(b',');
            json::key(out, "ts");
            json::int(out, r.timestamp);
            out.push(b',');
            if self.time == TimeFormat::Iso && r.timestamp >= 0 {
                json::key(out, "ts_iso");
                out.push(b'"');
                iso_time(r.timestamp, out);
                out.extend_from_slice(b"\",");
            }
        }
        json::key(out, "broker");
        json::int(out, i64::from(r.broker));
        out.push(b',');
        if self.encoding == JsonEncoding::Base64 {
            json::key(out, "encoding");
            json::string(out, b"base64");
            out.push(b',');
        }
        if !r.headers.is_empty() {
            json::key(out, "headers");
            out.push(b'[');
            for (i, h) in r.headers.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                json::c_string(out, h.key.as_bytes());
                out.push(b',');
                self.json_bytes(h.value, out);
            }
            out.extend_from_slice(b"],");
        }
        json::key(out, "key");
        self.json_bytes(r.key, out);
        out.push(b',');
        json::key(out, "payload");
        self.json_bytes(r.value, out);
        out.push(b'}');
    }

    fn json_bytes(&self, b: Option<&[u8]>, out: &mut Vec<u8>) {
        match (b, self.encoding) {
            (None, _) => out.extend_from_slice(b"null"),
            (Some(b), JsonEncoding::Raw) => json::string(out, b),
            (Some(b), JsonEncoding::Base64) => json::base64_string(out, b),
        }
    }
}

fn len_or_minus_one(b: Option<&[u8]>) -> i64 {
    b.map_or(-1, |b| b.len() as i64)
}

/// Milliseconds since the epoch as `YYYY-MM-DDTHH:MM:SS.mmmZ` (proleptic Gregorian,
/// UTC). Hand-written (Howard Hinnant's days-to-civil) so that a timestamp costs no
/// dependency and no allocation.
pub fn iso_time(ms: i64, out: &mut Vec<u8>) {
    let days = ms.div_euclid(86_400_000);
    let in_day = ms.rem_euclid(86_400_000);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let _ = write!(
        out,
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        in_day / 3_600_000,
        in_day / 60_000 % 60,
        in_day / 1000 % 60,
        in_day % 1000
    );
}

/// What kcat prints on stderr (at the default verbosity, not with `-q`) when a
/// partition reaches its end: `% Reached end of topic T [P] at offset O`, with
/// `: exiting` when `-e` ends the run with it. Pinned by `testdata/eof_stderr.txt`.
pub fn eof_notice(topic: &str, partition: i32, offset: i64, exiting: bool) -> String {
    format!(
        "% Reached end of topic {topic} [{partition}] at offset {offset}{}\n",
        if exiting { ": exiting" } else { "" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::HeadersView;
    use kasio_core::records::Header;

    const HEADERS: &[Header<'static>] = &[
        Header {
            key: "a",
            value: Some(b"1"),
        },
        Header {
            key: "n",
            value: None,
        },
        Header {
            key: "e",
            value: Some(b""),
        },
        Header {
            key: "z",
            value: Some(b"x\0y"),
        },
    ];

    fn rec() -> RecordView<'static> {
        RecordView {
            topic: "t",
            partition: 3,
            offset: 42,
            ts_type: TsType::CreateTime,
            timestamp: 1_700_000_000_000,
            broker: 2,
            key: Some(b"k"),
            value: Some(b"v"),
            headers: HeadersView::List(HEADERS),
        }
    }

    fn render(o: &OutputOptions, r: &RecordView<'_>) -> Vec<u8> {
        let f = Formatter::new(o).unwrap();
        let mut out = Vec::new();
        f.render(r, &mut out);
        out
    }

    fn fmt(f: &str) -> OutputOptions {
        OutputOptions {
            format: Some(f.as_bytes().to_vec()),
            ..Default::default()
        }
    }

    #[test]
    fn strtoul_like_c() {
        assert_eq!(strtoul(b"41zz", 16), (0x41, 2));
        assert_eq!(strtoul(b"0x41", 16), (0x41, 4));
        assert_eq!(strtoul(b"0xg", 16), (0, 1));
        assert_eq!(strtoul(b"101", 0), (101, 3));
        assert_eq!(strtoul(b"0101", 0), (0o101, 4));
        assert_eq!(strtoul(b"089", 0), (0, 1));
        assert_eq!(strtoul(b"0x1F", 0), (0x1f, 4));
        assert_eq!(strtoul(b" -1", 16), (u64::MAX, 3));
        assert_eq!(strtoul(b"zz", 16), (0, 0));
        assert_eq!(strtoul(b"", 16), (0, 0));
        assert_eq!(strtoul(b"fffffffffffffffffff", 16), (u64::MAX, 19));
    }

    #[test]
    fn escapes_like_kcat() {
        assert_eq!(unescape_literal(br"a\tb\nc\rd"), b"a\tb\nc\rd");
        assert_eq!(unescape_literal(br"\x41\101\0101\0x41"), b"AeAA");
        assert_eq!(unescape_literal(br"\x414"), [0x14]);
        assert_eq!(unescape_literal(br"\xAB"), b"AB");
        assert_eq!(unescape_literal(br"\\\q\"), b"\\q\\");
        assert_eq!(unescape_literal(br"ab\0cd"), b"ab");
        assert_eq!(unescape_literal(br"ab\x"), b"ab");
        assert_eq!(unescape_literal(br"\999"), [999u32 as u8]);
    }

    #[test]
    fn compile_tokens() {
        assert_eq!(
            compile(b"%t %p %o %k %K %s %S %R %T %h %%").unwrap().len(),
            21
        );
        assert_eq!(
            compile(b"a%sb\\n").unwrap(),
            vec![
                Token::Literal(b"a".to_vec()),
                Token::Value,
                Token::Literal(b"b\n".to_vec())
            ]
        );
        // An escape does not reach across a token: the lone `\` stays.
        assert_eq!(
            compile(b"\\%s").unwrap(),
            vec![Token::Literal(b"\\".to_vec()), Token::Value]
        );
        assert_eq!(compile(b"%s%"), Err(FormatError::TrailingPercent));
        assert_eq!(compile(b"%x"), Err(FormatError::UnknownToken(b'x')));
        assert_eq!(compile(b""), Ok(vec![]));
    }

    #[test]
    fn delimiters_like_kcat() {
        assert_eq!(parse_delim(b"\\n").unwrap(), b"\n");
        // Hex digits are read greedily: `\x1fc` is 0x1fc, low byte 0xfc.
        assert_eq!(parse_delim(b"a\\tb\\x1fc").unwrap(), b"a\tb\xfc");
        assert_eq!(parse_delim(b"a\\x1f|").unwrap(), b"a\x1f|");
        assert_eq!(parse_delim(b"\\r").unwrap(), b"\\r");
        // Rescans its own output.
        assert_eq!(parse_delim(b"\\x5cn").unwrap(), b"\n");
        assert_eq!(parse_delim(b"ab\\x00|cd").unwrap(), b"ab");
        assert_eq!(parse_delim(b"ab\\x00cd").unwrap(), b"ab\xcd");
        assert_eq!(parse_delim(b"\\x141").unwrap(), [0x41]);
        assert_eq!(
            parse_delim(b"ab\\xg"),
            Err(FormatError::DelimiterHex(b"\\xg".to_vec()))
        );
    }

    #[test]
    fn default_format_pasted_and_cut() {
        assert_eq!(default_format(None, b"\n"), b"%s\n");
        assert_eq!(default_format(Some(b":"), b"\n"), b"%k:%s\n");
        assert_eq!(default_format(None, &[b'x'; 100]).len(), 63);
        let o = OutputOptions {
            delim: b"%".to_vec(),
            ..Default::default()
        };
        assert_eq!(
            Formatter::new(&o),
            Err((FormatSource::Delim, FormatError::TrailingPercent))
        );
        let o = OutputOptions {
            key_delim: Some(b"%q".to_vec()),
            ..Default::default()
        };
        assert_eq!(
            Formatter::new(&o),
            Err((FormatSource::KeyDelim, FormatError::UnknownToken(b'q')))
        );
        // -D is checked even when -f is given, as kcat does.
        let o = OutputOptions {
            delim: b"\\x".to_vec(),
            ..fmt("%s")
        };
        assert!(matches!(
            Formatter::new(&o),
            Err((FormatSource::Delim, FormatError::DelimiterHex(_)))
        ));
    }

    #[test]
    fn render_tokens() {
        let out = render(&fmt("%t|%p|%o|%T|%K|%S|%h|%k|%s\\n"), &rec());
        assert_eq!(out, b"t|3|42|1700000000000|1|1|a=1,n=NULL,e=,z=x|k|v\n");
        let mut r = rec();
        r.key = None;
        r.value = Some(b"");
        r.headers = HeadersView::NONE;
        assert_eq!(render(&fmt("[%k|%s|%K|%S|%h]"), &r), b"[||-1|0|]");
        let z = OutputOptions {
            null_str: true,
            ..fmt("[%k|%s]")
        };
        assert_eq!(render(&z, &r), b"[NULL|NULL]");
        r.value = None;
        assert_eq!(render(&fmt("%R"), &r), [0xff; 4]);
        r.value = Some(&[0; 300]);
        assert_eq!(render(&fmt("%R"), &r), [0, 0, 1, 44]);
    }

    #[test]
    fn render_timestamps() {
        let mut r = rec();
        let iso = OutputOptions {
            time: TimeFormat::Iso,
            ..fmt("%T")
        };
        assert_eq!(render(&iso, &r), b"2023-11-14T22:13:20.000Z");
        r.ts_type = TsType::NotAvailable;
        assert_eq!(render(&fmt("%T"), &r), b"-1");
        assert_eq!(render(&iso, &r), b"-1");
        for (ms, s) in [
            (0, "1970-01-01T00:00:00.000Z"),
            (951_782_400_123, "2000-02-29T00:00:00.123Z"),
            (-1_000, "1969-12-31T23:59:59.000Z"),
            (253_402_300_799_999, "9999-12-31T23:59:59.999Z"),
        ] {
            let mut out = Vec::new();
            iso_time(ms, &mut out);
            assert_eq!(out, s.as_bytes());
        }
    }

    #[test]
    fn render_json() {
        let j = OutputOptions {
            json: true,
            ..Default::default()
        };
        assert_eq!(
            String::from_utf8(render(&j, &rec())).unwrap(),
            "{\"topic\":\"t\",\"partition\":3,\"offset\":42,\"tstype\":\"create\",\
             \"ts\":1700000000000,\"broker\":2,\"headers\":[\"a\",\"1\",\"n\",null,\
             \"e\",\"\",\"z\",\"x\\u0000y\"],\"key\":\"k\",\"payload\":\"v\"}\n"
        );
        let mut r = rec();
        r.ts_type = TsType::NotAvailable;
        r.headers = HeadersView::NONE;
        r.key = None;
        assert_eq!(
            String::from_utf8(render(&j, &r)).unwrap(),
            "{\"topic\":\"t\",\"partition\":3,\"offset\":42,\"broker\":2,\
             \"key\":null,\"payload\":\"v\"}\n"
        );
        r.ts_type = TsType::LogAppendTime;
        let b64 = OutputOptions {
            json: true,
            encoding: JsonEncoding::Base64,
            time: TimeFormat::Iso,
            delim: Vec::new(),
            ..Default::default()
        };
        r.headers = HeadersView::List(HEADERS);
        assert_eq!(
            String::from_utf8(render(&b64, &r)).unwrap(),
            "{\"topic\":\"t\",\"partition\":3,\"offset\":42,\"tstype\":\"logappend\",\
             \"ts\":1700000000000,\"ts_iso\":\"2023-11-14T22:13:20.000Z\",\"broker\":2,\
             \"encoding\":\"base64\",\"headers\":[\"a\",\"MQ==\",\"n\",null,\"e\",\"\",\
             \"z\",\"eAB5\"],\"key\":null,\"payload\":\"dg==\"}"
        );
    }

    #[test]
    fn json_trailer_is_first_literal() {
        let with = |f: Option<&str>, d: &str| OutputOptions {
            json: true,
            format: f.map(|f| f.as_bytes().to_vec()),
            delim: d.as_bytes().to_vec(),
            ..Default::default()
        };
        let tail = |o: &OutputOptions| {
            let out = render(o, &rec());
            out[out.iter().rposition(|&b| b == b'}').unwrap() + 1..].to_vec()
        };
        // parse_delim leaves `\r` alone; the format parser then reads it.
        assert_eq!(tail(&with(None, "\\r\\n")), b"\r\n");
        assert_eq!(tail(&with(None, "")), b"");
        assert_eq!(tail(&with(Some("X%sY"), "\n")), b"X");
        assert_eq!(tail(&with(Some("%s\\n"), "\n")), b"");
    }

    /// Counts this thread's allocations, to check that rendering makes none.
    struct Counting;

    thread_local! {
        static ALLOCS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    }

    unsafe impl std::alloc::GlobalAlloc for Counting {
        unsafe fn alloc(&self, l: std::alloc::Layout) -> *mut u8 {
            ALLOCS.with(|a| a.set(a.get() + 1));
            unsafe { std::alloc::System.alloc(l) }
        }
        unsafe fn dealloc(&self, p: *mut u8, l: std::alloc::Layout) {
            unsafe { std::alloc::System.dealloc(p, l) }
        }
    }

    #[global_allocator]
    static GLOBAL: Counting = Counting;

    #[test]
    fn rendering_allocates_nothing_once_the_buffer_has_grown() {
        let formats = [
            fmt("%t|%p|%o|%T|%K|%S|%R|%h|%k|%s\\n"),
            OutputOptions {
                time: TimeFormat::Iso,
                null_str: true,
                ..fmt("%T %k %s\\n")
            },
            OutputOptions {
                json: true,
                ..Default::default()
            },
            OutputOptions {
                json: true,
                encoding: JsonEncoding::Base64,
                time: TimeFormat::Iso,
                ..Default::default()
            },
        ];
        for o in &formats {
            let f = Formatter::new(o).unwrap();
            let r = rec();
            let mut out = Vec::with_capacity(4096);
            let before = ALLOCS.with(|a| a.get());
            for _ in 0..1000 {
                out.clear();
                f.render(&r, &mut out);
            }
            assert_eq!(ALLOCS.with(|a| a.get()) - before, 0, "{o:?}");
            assert!(!out.is_empty());
        }
    }

    #[test]
    fn eof_notice_text() {
        assert_eq!(
            eof_notice("golden", 1, 15, true),
            "% Reached end of topic golden [1] at offset 15: exiting\n"
        );
        assert_eq!(
            eof_notice("t", 0, 3, false),
            "% Reached end of topic t [0] at offset 3\n"
        );
    }
}
