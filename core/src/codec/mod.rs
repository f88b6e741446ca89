//! The Kafka wire codec: primitive types, framing, headers, and the machinery that
//! turns a message description (`kafka_struct!`) into an encoder and a nom decoder.

#[macro_use]
mod describe;
mod error;
mod field;
pub mod frame;
pub mod header;
pub mod primitives;
mod uuid;

pub use error::{DecodeError, DecodeErrorKind, EncodeError, PResult};
pub use field::{get_tagged_fields, put_tagged_field, Cx, Field, Nullable};
pub use frame::{encode_frame, encode_request_frame, encode_response_frame, FrameDecoder};
pub use header::{RequestHeader, ResponseHeader};
pub use uuid::Uuid;
