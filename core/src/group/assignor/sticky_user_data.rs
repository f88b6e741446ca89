//! The user data of the eager `sticky` assignor: the member's previous assignment
//! and its generation, as Java's `StickyAssignor` writes it.
//!
//! An eager member revokes everything before it joins, so its subscription's
//! `owned_partitions` is empty: what it had travels in the `sticky` protocol's user
//! data instead, and the leader reads it from there (Java's leader reads only the
//! user data for `sticky`, whatever the subscription's fields say). Without it the
//! eager sticky assignment would start from nothing at every rebalance, sticky in
//! name only, and a Java leader would move a kasio member's partitions freely.
//!
//! The layout is Java's `STICKY_ASSIGNOR_USER_DATA_V1` (no version prefix):
//! `previous_assignment: [topic: STRING, partitions: [INT32]]`, `generation: INT32`;
//! `V0` is the same without the generation. A reader tries V1, then V0, as Java
//! does, and ignores data that is neither.

use alloc::string::String;
use alloc::vec::Vec;

use crate::consumer::TopicPartition;

/// What a member's `sticky` user data says it had.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StickyUserData {
    /// Its previous assignment.
    pub partitions: Vec<TopicPartition>,
    /// The generation it had it in (`None` in V0 data).
    pub generation: Option<i32>,
}

/// Encodes `partitions` (grouped by topic in the order given; pass them sorted)
/// and `generation` as V1 user data.
pub fn encode(partitions: &[TopicPartition], generation: i32) -> Vec<u8> {
    let mut topics: Vec<(&str, Vec<i32>)> = Vec::new();
    for tp in partitions {
        match topics.last_mut() {
            Some((t, ps)) if *t == tp.topic.as_str() => ps.push(tp.partition),
            _ => topics.push((tp.topic.as_str(), alloc::vec![tp.partition])),
        }
    }
    let mut out = Vec::new();
    out.extend_from_slice(&(topics.len() as i32).to_be_bytes());
    for (topic, ps) in &topics {
        // Topic names are at most 249 bytes: the i16 length cannot overflow.
        out.extend_from_slice(&(topic.len() as i16).to_be_bytes());
        out.extend_from_slice(topic.as_bytes());
        out.extend_from_slice(&(ps.len() as i32).to_be_bytes());
        for p in ps {
            out.extend_from_slice(&p.to_be_bytes());
        }
    }
    out.extend_from_slice(&generation.to_be_bytes());
    out
}

/// Decodes V1 user data, else V0; `None` if it is neither (Java then treats the
/// member as owning nothing).
pub fn decode(data: &[u8]) -> Option<StickyUserData> {
    let mut r = Reader(data);
    let partitions = r.assignment()?;
    match r.i32() {
        Some(generation) => Some(StickyUserData {
            partitions,
            generation: Some(generation),
        }),
        // V1 ran out where the generation would be: V0.
        None => Some(StickyUserData {
            partitions,
            generation: None,
        }),
    }
}

/// Reads from the front of a slice; every read checks the length first, so no
/// count from the wire sizes an allocation.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    fn i16(&mut self) -> Option<i16> {
        self.take(2).map(|b| i16::from_be_bytes([b[0], b[1]]))
    }

    fn i32(&mut self) -> Option<i32> {
        self.take(4)
            .map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A non-negative array count that the remaining bytes can hold at
    /// `min_size` bytes per element.
    fn count(&mut self, min_size: usize) -> Option<usize> {
        let n = usize::try_from(self.i32()?).ok()?;
        (n.checked_mul(min_size)? <= self.0.len()).then_some(n)
    }

    fn assignment(&mut self) -> Option<Vec<TopicPartition>> {
        let topics = self.count(2 + 4)?;
        let mut out = Vec::new();
        for _ in 0..topics {
            let len = usize::try_from(self.i16()?).ok()?;
            let topic = String::from(core::str::from_utf8(self.take(len)?).ok()?);
            let partitions = self.count(4)?;
            for _ in 0..partitions {
                out.push(TopicPartition::new(topic.clone(), self.i32()?));
            }
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tp(t: &str, p: i32) -> TopicPartition {
        TopicPartition::new(t, p)
    }

    #[test]
    fn v1_round_trip_and_the_exact_bytes_java_writes() {
        let parts = [tp("a", 0), tp("a", 2), tp("b", 1)];
        let data = encode(&parts, 7);
        // Java's Struct for STICKY_ASSIGNOR_USER_DATA_V1, written by hand.
        let mut java = Vec::new();
        java.extend_from_slice(&2i32.to_be_bytes());
        java.extend_from_slice(&1i16.to_be_bytes());
        java.extend_from_slice(b"a");
        java.extend_from_slice(&2i32.to_be_bytes());
        java.extend_from_slice(&0i32.to_be_bytes());
        java.extend_from_slice(&2i32.to_be_bytes());
        java.extend_from_slice(&1i16.to_be_bytes());
        java.extend_from_slice(b"b");
        java.extend_from_slice(&1i32.to_be_bytes());
        java.extend_from_slice(&1i32.to_be_bytes());
        java.extend_from_slice(&7i32.to_be_bytes());
        assert_eq!(data, java);
        assert_eq!(
            decode(&data),
            Some(StickyUserData {
                partitions: parts.to_vec(),
                generation: Some(7)
            })
        );
    }

    #[test]
    fn v0_has_no_generation() {
        let mut data = encode(&[tp("a", 3)], 7);
        data.truncate(data.len() - 4);
        assert_eq!(
            decode(&data),
            Some(StickyUserData {
                partitions: alloc::vec![tp("a", 3)],
                generation: None
            })
        );
    }

    #[test]
    fn absurd_counts_and_truncations_are_refused_without_allocating_for_them() {
        assert_eq!(decode(&i32::MAX.to_be_bytes()), None);
        assert_eq!(decode(&(-1i32).to_be_bytes()), None);
        assert_eq!(decode(&[]), None);
        let data = encode(&[tp("topic", 1), tp("topic", 2)], 3);
        // Every cut inside the assignment fails; a cut inside the generation is V0.
        for cut in 0..data.len() - 4 {
            assert_eq!(decode(&data[..cut]), None, "cut at {cut}");
        }
        let mut huge = Vec::new();
        huge.extend_from_slice(&1i32.to_be_bytes());
        huge.extend_from_slice(&1i16.to_be_bytes());
        huge.extend_from_slice(b"a");
        huge.extend_from_slice(&0x4000_0000i32.to_be_bytes());
        assert_eq!(decode(&huge), None);
    }
}
