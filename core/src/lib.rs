//! # kasio-core
//!
//! The sans-IO heart of kasio, a Kafka consumer. This crate takes bytes and the current
//! time in and hands request bytes, timers and events out; it never touches a socket, a
//! clock, a thread or global randomness, and it builds without `std` (only `alloc`).
//!
//! What is here:
//! - [`codec`]: Kafka's primitive types, framing (decoder and encoder),
//!   request/response headers and the machinery that derives a nom decoder and an
//!   encoder from each message description.
//! - [`protocol`]: every message a consumer speaks, at every version in its range,
//!   the complete error-code table and API version negotiation.
//! - [`records`]: record batches (v2 and legacy), zero-copy, every codec, CRCs,
//!   read_committed filtering, and an encoder.
//! - [`config`]: [`Config`](config::Config) from Kafka's property names.
//! - [`conn`]: one broker connection: framing, correlation ids, timeouts, ApiVersions
//!   and SASL authentication.
//! - [`sasl`]: SASL mechanisms (PLAIN, SCRAM-SHA-256/512, OAUTHBEARER) and the
//!   authentication state machine a connection runs before its first request.
//! - [`metadata`], [`fetch`]: cluster metadata and KIP-227 fetch sessions.
//! - [`consumer`]: the [`Consumer`](consumer::Consumer) state machine for manually
//!   assigned partitions; see its module documentation for how to drive it.
//! - [`group`]: the classic group's partition assignors (range, roundrobin, sticky,
//!   cooperative-sticky, rack-aware per KIP-881) and the coordinator's protocol choice.
//! - [`time`], [`rng`], [`backoff`]: time as a value, a seeded RNG, jittered backoff.
//!
//! ```
//! use bytes::BytesMut;
//! use kasio_core::protocol::{Message, messages::HeartbeatRequest};
//!
//! let req = HeartbeatRequest {
//!     group_id: "g".into(),
//!     generation_id: 3,
//!     member_id: "m-1".into(),
//!     ..Default::default()
//! };
//! let mut buf = BytesMut::new();
//! req.encode(4, &mut buf).unwrap();
//! let back = HeartbeatRequest::decode(4, &buf.freeze()).unwrap();
//! assert_eq!(back, req);
//! ```
#![cfg_attr(not(any(test, feature = "std")), no_std)]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

#[cfg(all(feature = "defmt", feature = "log"))]
compile_error!(
    "the `defmt` and `log` features are mutually exclusive: enable one logging back-end"
);

#[macro_use]
mod macros;

#[macro_use]
pub mod codec;
pub mod backoff;
pub mod config;
pub mod conn;
pub mod consumer;
pub mod fetch;
pub mod group;
pub mod metadata;
pub mod protocol;
pub mod records;
pub mod rng;
pub mod sasl;
pub mod time;
