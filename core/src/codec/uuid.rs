//! Kafka's `uuid` type (topic IDs, directory IDs).

use core::fmt;

/// A 128-bit UUID as Kafka uses it for topic IDs. Displayed the way Kafka displays
/// them: URL-safe base64 without padding (22 characters).
///
/// ```
/// use kasio_core::codec::Uuid;
/// assert_eq!(Uuid::ZERO.to_string(), "AAAAAAAAAAAAAAAAAAAAAA");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Uuid(pub [u8; 16]);

impl Uuid {
    /// The all-zero UUID, which Kafka uses for "no topic ID".
    pub const ZERO: Uuid = Uuid([0; 16]);

    /// True for [`Uuid::ZERO`].
    pub fn is_zero(&self) -> bool {
        self.0 == [0; 16]
    }
}

impl fmt::Display for Uuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const ALPHABET: &[u8; 64] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut bits: u32 = 0;
        let mut nbits = 0;
        for &b in &self.0 {
            bits = (bits << 8) | u32::from(b);
            nbits += 8;
            while nbits >= 6 {
                nbits -= 6;
                let c = ALPHABET[((bits >> nbits) & 0x3f) as usize];
                fmt::Write::write_char(f, char::from(c))?;
            }
        }
        if nbits > 0 {
            let c = ALPHABET[((bits << (6 - nbits)) & 0x3f) as usize];
            fmt::Write::write_char(f, char::from(c))?;
        }
        Ok(())
    }
}

impl fmt::Debug for Uuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Uuid({self})")
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for Uuid {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "Uuid({=[u8]:x})", &self.0[..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn displays_like_kafka() {
        // Kafka's Uuid.toString of bytes 0x00..0x0f (Base64 URL-safe, no padding).
        let u = Uuid([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]);
        assert_eq!(u.to_string(), "AAECAwQFBgcICQoLDA0ODw");
        assert_eq!(Uuid([0xff; 16]).to_string(), "_____________________w");
    }
}
