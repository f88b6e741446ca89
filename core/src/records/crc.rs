//! Checksums of record batches: CRC-32C (Castagnoli) for v2 batches, CRC-32 (IEEE)
//! for legacy messages and the gzip trailer.
//!
//! With `std`, CRC-32C comes from the `crc32c` crate, which uses the SSE4.2 / ARMv8
//! CRC instructions when the CPU has them (detected at run time). That crate needs
//! `std`, so without it a portable slicing-by-8 table implementation in this module
//! is used (about 1-2 GB/s instead of 10+). CRC-32 comes from `crc32fast` either way.

/// CRC-32C of `data`.
#[inline]
pub fn crc32c(data: &[u8]) -> u32 {
    #[cfg(feature = "std")]
    {
        ::crc32c::crc32c(data)
    }
    #[cfg(not(feature = "std"))]
    {
        crc32c_portable(data)
    }
}

/// CRC-32 (IEEE 802.3, as zlib and Java's `java.util.zip.CRC32`) of `data`.
#[inline]
pub fn crc32(data: &[u8]) -> u32 {
    crc32fast::hash(data)
}

/// The reflected Castagnoli polynomial.
const POLY: u32 = 0x82F6_3B78;

/// Eight 256-entry tables for slicing-by-8, computed at compile time.
#[cfg_attr(feature = "std", allow(dead_code))]
static TABLES: [[u32; 256]; 8] = tables();

const fn tables() -> [[u32; 256]; 8] {
    let mut t = [[0u32; 256]; 8];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 { (c >> 1) ^ POLY } else { c >> 1 };
            k += 1;
        }
        t[0][i] = c;
        i += 1;
    }
    let mut i = 0;
    while i < 256 {
        let mut s = 1;
        while s < 8 {
            let prev = t[s - 1][i];
            t[s][i] = (prev >> 8) ^ t[0][(prev & 0xff) as usize];
            s += 1;
        }
        i += 1;
    }
    t
}

/// CRC-32C in portable Rust (slicing-by-8). Used without `std`; public so tests and
/// benchmarks can compare it with the accelerated one.
#[cfg_attr(feature = "std", allow(dead_code))]
pub fn crc32c_portable(data: &[u8]) -> u32 {
    let t = &TABLES;
    let mut crc = !0u32;
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let lo = crc ^ u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        crc = t[7][(lo & 0xff) as usize]
            ^ t[6][((lo >> 8) & 0xff) as usize]
            ^ t[5][((lo >> 16) & 0xff) as usize]
            ^ t[4][(lo >> 24) as usize]
            ^ t[3][c[4] as usize]
            ^ t[2][c[5] as usize]
            ^ t[1][c[6] as usize]
            ^ t[0][c[7] as usize];
    }
    for &b in chunks.remainder() {
        crc = (crc >> 8) ^ t[0][((crc ^ u32::from(b)) & 0xff) as usize];
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answers() {
        // The standard check value of CRC-32C and CRC-32 ("123456789").
        assert_eq!(crc32c_portable(b"123456789"), 0xE306_9283);
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32c_portable(b""), 0);
    }

    #[test]
    fn portable_matches_accelerated_at_every_length() {
        let data: alloc::vec::Vec<u8> = (0..300u32).map(|i| (i * 7 + 3) as u8).collect();
        for n in 0..data.len() {
            assert_eq!(crc32c_portable(&data[..n]), crc32c(&data[..n]), "len {n}");
        }
    }
}
