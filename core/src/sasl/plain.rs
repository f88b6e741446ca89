//! PLAIN (RFC 4616): one message, `authzid NUL authcid NUL passwd`, with an empty
//! authorization id as Kafka's clients send it. The password goes in clear: use it
//! under `SASL_SSL`.

use alloc::vec::Vec;

/// The PLAIN message for `username` and `password`.
///
/// ```
/// assert_eq!(kasio_core::sasl::plain::message("alice", "s3cret"), b"\0alice\0s3cret");
/// ```
pub fn message(username: &str, password: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(2 + username.len() + password.len());
    out.push(0);
    out.extend_from_slice(username.as_bytes());
    out.push(0);
    out.extend_from_slice(password.as_bytes());
    out
}
