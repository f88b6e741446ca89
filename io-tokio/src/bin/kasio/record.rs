//! The record as the output formats see it: one consumed record plus where it came
//! from (topic, partition, the broker that served it).
//!
//! The fields are those of kasio-core's [`RecordRef`] (borrowed key, value and
//! encoded headers: no copy, no allocation), so [`RecordView::from_ref`] is the whole
//! of the wiring between the driver and the formatter.

use kasio_core::records::{Header, HeaderIter, Record, RecordRef, TimestampType};

/// Who set the timestamp, as librdkafka reports it to kcat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TsType {
    /// A magic-0 message: no timestamp field at all. kcat's `-J` then leaves out
    /// `tstype` and `ts`, and `%T` prints -1.
    NotAvailable,
    /// The producer set it (`"create"` in `-J`).
    CreateTime,
    /// The broker set it when appending (`"logappend"` in `-J`).
    LogAppendTime,
}

impl TsType {
    /// librdkafka says "not available" only for magic-0 messages; from magic 1 on the
    /// batch attribute decides, even when the timestamp itself is -1.
    pub fn from_core(t: TimestampType, magic: i8) -> Self {
        match (magic, t) {
            (0, _) => Self::NotAvailable,
            (_, TimestampType::CreateTime) => Self::CreateTime,
            (_, TimestampType::LogAppendTime) => Self::LogAppendTime,
        }
    }
}

/// A record's headers: either as kasio-core decoded them (the lazy iterator over the
/// batch's bytes) or a list (tests, the simulated cluster).
#[derive(Debug, Clone)]
pub enum HeadersView<'a> {
    /// The encoded headers of a [`RecordRef`].
    Encoded(HeaderIter<'a>),
    /// Headers in a slice.
    #[cfg_attr(not(test), allow(dead_code))]
    List(&'a [Header<'a>]),
}

impl<'a> HeadersView<'a> {
    /// No headers.
    #[cfg_attr(not(test), allow(dead_code))]
    pub const NONE: HeadersView<'static> = HeadersView::List(&[]);

    /// The headers in order; allocates nothing.
    pub fn iter(&self) -> HeadersIter<'a> {
        match self {
            Self::Encoded(it) => HeadersIter::Encoded(it.clone()),
            Self::List(l) => HeadersIter::List(l.iter()),
        }
    }

    /// Whether there is at least one header. librdkafka reports a record without
    /// headers as having none at all (`RD_KAFKA_RESP_ERR__NOENT`), and kcat's `-J`
    /// then leaves out the `headers` field rather than printing `[]`.
    pub fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }
}

/// Iterator of [`HeadersView::iter`].
pub enum HeadersIter<'a> {
    Encoded(HeaderIter<'a>),
    List(core::slice::Iter<'a, Header<'a>>),
}

impl<'a> Iterator for HeadersIter<'a> {
    type Item = Header<'a>;

    fn next(&mut self) -> Option<Header<'a>> {
        match self {
            Self::Encoded(it) => it.next(),
            Self::List(it) => it.next().copied(),
        }
    }
}

/// One consumed record and its provenance: what every output format takes.
#[derive(Debug, Clone)]
pub struct RecordView<'a> {
    pub topic: &'a str,
    pub partition: i32,
    pub offset: i64,
    pub ts_type: TsType,
    /// Milliseconds since the epoch; -1 when there is none.
    pub timestamp: i64,
    /// The id of the broker whose fetch response held the record (kcat's `broker`,
    /// librdkafka's `rd_kafka_message_broker_id`): the leader, or the preferred read
    /// replica when fetching from a follower; -1 when unknown.
    pub broker: i32,
    /// `None` is a null key; `Some(b"")` an empty one (kcat tells them apart in `%K`
    /// and `-J`, not in `%k`).
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
    pub headers: HeadersView<'a>,
}

impl<'a> RecordView<'a> {
    /// The view of one record the consumer handed out; `broker` is its
    /// `PartitionBatch`'s.
    pub fn from_record(topic: &'a str, partition: i32, broker: i32, r: &'a Record) -> Self {
        Self {
            topic,
            partition,
            offset: r.offset,
            ts_type: TsType::from_core(r.timestamp_type, r.magic),
            timestamp: if r.magic == 0 { -1 } else { r.timestamp },
            broker,
            key: r.key.as_deref(),
            value: r.value.as_deref(),
            headers: HeadersView::Encoded(r.headers()),
        }
    }

    /// The view of one record of a fetched batch. `magic` is the batch header's.
    #[cfg_attr(not(test), allow(dead_code))]
    pub fn from_ref(
        topic: &'a str,
        partition: i32,
        broker: i32,
        magic: i8,
        r: &RecordRef<'a>,
    ) -> Self {
        Self {
            topic,
            partition,
            offset: r.offset,
            ts_type: TsType::from_core(r.timestamp_type, magic),
            timestamp: if magic == 0 { -1 } else { r.timestamp },
            broker,
            key: r.key,
            value: r.value,
            headers: HeadersView::Encoded(r.headers()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ts_type_from_core() {
        assert_eq!(
            TsType::from_core(TimestampType::CreateTime, 0),
            TsType::NotAvailable
        );
        assert_eq!(
            TsType::from_core(TimestampType::LogAppendTime, 1),
            TsType::LogAppendTime
        );
        assert_eq!(
            TsType::from_core(TimestampType::CreateTime, 2),
            TsType::CreateTime
        );
    }

    #[test]
    fn headers_view_list() {
        let hs = [
            Header {
                key: "a",
                value: Some(b"1"),
            },
            Header {
                key: "n",
                value: None,
            },
        ];
        let v = HeadersView::List(&hs);
        assert!(!v.is_empty());
        assert_eq!(v.iter().collect::<Vec<_>>(), hs);
        assert!(HeadersView::NONE.is_empty());
    }
}
