//! Fetch-side protocol state that does not depend on the rest of the consumer.

pub mod session;
