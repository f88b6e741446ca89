//! What the simulation-side producer writes, and a content digest that identifies a
//! record whether it is held by the simulation or decoded by a consumer.

use bytes::Bytes;
use kasio_core::records::Record;

/// A record to produce into the simulated cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimRecord {
    /// CreateTime timestamp (milliseconds).
    pub timestamp: i64,
    /// Key (`None`: null).
    pub key: Option<Bytes>,
    /// Value (`None`: null).
    pub value: Option<Bytes>,
    /// Headers in order.
    pub headers: Vec<(String, Option<Bytes>)>,
}

impl SimRecord {
    /// A record with a key and a value and no headers.
    pub fn new(timestamp: i64, key: Option<&[u8]>, value: Option<&[u8]>) -> Self {
        Self {
            timestamp,
            key: key.map(Bytes::copy_from_slice),
            value: value.map(Bytes::copy_from_slice),
            headers: Vec::new(),
        }
    }

    /// Adds a header.
    #[must_use]
    pub fn with_header(mut self, key: &str, value: Option<&[u8]>) -> Self {
        self.headers
            .push((key.to_string(), value.map(Bytes::copy_from_slice)));
        self
    }

    /// The content digest (see [`digest_record`]).
    pub fn digest(&self) -> u64 {
        let mut d = Digest::new();
        d.record(
            self.timestamp,
            self.key.as_deref(),
            self.value.as_deref(),
            self.headers.iter().map(|(k, v)| (k.as_str(), v.as_deref())),
        );
        d.finish()
    }
}

/// The digest of a record a consumer returned: equal to [`SimRecord::digest`] of the
/// record that was produced, so the checker can tell exactly which write it is.
pub fn digest_record(r: &Record) -> u64 {
    let mut d = Digest::new();
    d.record(
        r.timestamp,
        r.key.as_deref(),
        r.value.as_deref(),
        r.headers().map(|h| (h.key, h.value)),
    );
    d.finish()
}

/// FNV-1a, 64 bits: stable across platforms and releases (unlike std's hashers),
/// which the trace hash and the checked-in seeds depend on.
#[derive(Debug, Clone, Copy)]
pub struct Digest(u64);

impl Default for Digest {
    fn default() -> Self {
        Self::new()
    }
}

impl Digest {
    /// A fresh digest.
    pub const fn new() -> Self {
        Digest(0xcbf2_9ce4_8422_2325)
    }

    /// Mixes in bytes.
    pub fn bytes(&mut self, data: &[u8]) {
        for &b in data {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    /// Mixes in a number.
    pub fn u64(&mut self, v: u64) {
        self.bytes(&v.to_le_bytes());
    }

    /// Mixes in an optional byte string, keeping null and empty apart.
    pub fn opt(&mut self, v: Option<&[u8]>) {
        match v {
            None => self.u64(u64::MAX),
            Some(b) => {
                self.u64(b.len() as u64);
                self.bytes(b);
            }
        }
    }

    fn record<'a>(
        &mut self,
        ts: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: impl Iterator<Item = (&'a str, Option<&'a [u8]>)>,
    ) {
        self.u64(ts as u64);
        self.opt(key);
        self.opt(value);
        for (k, v) in headers {
            self.opt(Some(k.as_bytes()));
            self.opt(v);
        }
    }

    /// The value.
    pub fn finish(&self) -> u64 {
        self.0
    }
}
