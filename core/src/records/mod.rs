//! Record batches: what a Fetch response's `records` field holds.
//!
//! The bytes of one partition's fetched data are a sequence of *batches*. Modern
//! brokers store [v2 record batches] (magic 2); old topics may still hold legacy
//! *message sets* (magic 0 and 1, see [`legacy`]). Both decode into the same
//! [`Record`] view.
//!
//! Everything here is zero-copy over [`bytes::Bytes`]: a record's key, value and
//! headers are slices of the fetched buffer (or, for a compressed batch, of the one
//! buffer the batch was decompressed into). Iterating the records and headers of an
//! uncompressed batch allocates nothing.
//!
//! The entry points:
//! - [`batches`] walks a `records` blob batch by batch, checks each batch's CRC and
//!   recognises the truncated tail a broker leaves when it cuts a response at the byte
//!   limit ([`Batches::truncated`]).
//! - [`Batch::records`] iterates one batch's records (decompressing first if needed):
//!   as owned [`Record`]s through [`Iterator`] (key, value and headers are `Bytes`,
//!   a reference-count bump each), or as borrowed [`RecordRef`]s through
//!   [`Records::next_ref`], the fast path (no reference counts at all; 4-5× faster
//!   for small records, see `BENCHMARKS.md`), turned into a [`Record`] on demand.
//! - [`PartitionRecords`] does both for one partition's fetched data, skips records
//!   before the fetch offset, reports control markers instead of handing them out as
//!   records, and says where the next fetch starts.
//! - [`BatchBuilder`] encodes v2 batches with any codec (for the simulated broker
//!   and for tests).
//!
//! ```
//! use bytes::BytesMut;
//! use kasio_core::records::{BatchBuilder, Compression, DecodeOptions, PartitionRecords, Fetched};
//!
//! let mut builder = BatchBuilder::new(100);
//! builder.push(1_700_000_000_000, Some(&b"k"[..]), Some(&b"hello"[..]), &[("h", Some(&b"v"[..]))]);
//! let mut buf = BytesMut::new();
//! builder.encode(&mut buf).unwrap();
//!
//! let mut fetched = PartitionRecords::new(buf.freeze(), 100, DecodeOptions::default());
//! match fetched.next() {
//!     Some(Ok(Fetched::Record(r))) => {
//!         assert_eq!(r.offset, 100);
//!         assert_eq!(r.value.as_deref(), Some(&b"hello"[..]));
//!         let h = r.headers().next().unwrap();
//!         assert_eq!((h.key, h.value), ("h", Some(&b"v"[..])));
//!     }
//!     other => panic!("{other:?}"),
//! }
//! assert!(fetched.next().is_none());
//! assert_eq!(fetched.next_fetch_offset(), 101);
//! ```
//!
//! [v2 record batches]: https://kafka.apache.org/documentation/#recordbatch

mod batch;
mod batches;
pub mod compression;
mod control;
pub mod crc;
mod encode;
mod error;
pub mod legacy;
mod options;
mod reader;
mod record;

pub use batch::{Batch, BatchHeader, TimestampType};
pub use batches::{batches, Batches, Truncated};
pub use compression::Compression;
pub use control::{ControlMarker, ControlType};
pub use encode::{BatchBuilder, EncodeRecordError};
pub use error::{RecordError, RecordErrorKind};
pub use options::DecodeOptions;
pub use reader::{Fetched, PartitionRecords};
pub use record::{Header, HeaderIter, Headers, Record, RecordRef, Records};

/// Bytes before a batch's size field ends: `baseOffset` (8) and `batchLength` (4).
/// Every format (magic 0, 1 and 2) starts with these two fields.
pub(crate) const LOG_OVERHEAD: usize = 12;
/// The offset of the magic byte, the same in every format.
pub(crate) const MAGIC_OFFSET: usize = 16;
