//! What can go wrong, by whose doing: the application's ([`UsageError`], returned at
//! once), the consumer's own outcomes ([`LocalError`]), a broker's answer
//! ([`BrokerError`], an error code inside a response) and a broker or network that
//! broke the protocol or the connection ([`RemoteError`]).

use alloc::string::String;
use core::fmt;

use crate::conn::ConnError;
use crate::metadata::BrokerId;
use crate::protocol::ErrorCode;
use crate::records::RecordError;
use crate::sasl::oauthbearer::TokenError;
use crate::sasl::SaslError;

use super::event::{ResetReason, TopicPartition};
use crate::group::{GroupFailure, RebalanceToken};

/// An error reported through [`Event::Error`](super::Event::Error) or a query
/// result. The consumer keeps running; each variant says what it did.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ConsumerError {
    /// An outcome of the consumer's own settings or state.
    Local(LocalError),
    /// A broker answered with an error code.
    Broker(BrokerError),
    /// A broker broke the protocol, sent corrupt data, or the connection failed.
    Remote(RemoteError),
    /// SASL authentication with a broker failed. Reported as
    /// [`Event::Fatal`](super::Event::Fatal) when retrying cannot help (the broker
    /// rejected the credentials, see [`SaslErrorKind::is_fatal`]): the consumer then
    /// stops connecting. Otherwise as [`Event::Error`](super::Event::Error), and the
    /// connection is retried after the reconnect backoff.
    ///
    /// [`SaslErrorKind::is_fatal`]: crate::sasl::SaslErrorKind::is_fatal
    Authentication(AuthenticationError),
}

/// A failed SASL authentication: the broker, the mechanism and what went wrong
/// (with the broker's message, when it gave one). Never holds a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct AuthenticationError {
    /// The broker.
    pub broker: BrokerId,
    /// The mechanism and the failure.
    pub error: SaslError,
}

impl AuthenticationError {
    /// Whether the consumer stopped connecting over it.
    pub fn is_fatal(&self) -> bool {
        self.error.is_fatal()
    }
}

impl fmt::Display for AuthenticationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "broker {}: {}", self.broker.0, self.error)
    }
}

impl From<AuthenticationError> for ConsumerError {
    fn from(e: AuthenticationError) -> Self {
        Self::Authentication(e)
    }
}

/// An outcome of the consumer's own settings or state.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum LocalError {
    /// `auto.offset.reset` is `none` and the partition has no valid position: it is
    /// not fetched until the application seeks.
    NoOffsetForPartition {
        /// The partition.
        tp: TopicPartition,
        /// Why a position was needed.
        reason: ResetReason,
    },
    /// A query timed out (`default.api.timeout.ms`).
    Timeout,
    /// The consumer was closed before the query was answered.
    Closed,
    /// The driver cannot do what a property asks (e.g. `security.protocol=SSL`
    /// where TLS is not built): the consumer refuses to connect at all rather
    /// than connect otherwise (in clear).
    Unsupported {
        /// The property.
        property: &'static str,
        /// Its value.
        value: String,
        /// Who cannot, and why.
        reason: &'static str,
    },
    /// The TLS settings cannot be used (see [`Consumer::fail_tls_setup`]): the
    /// consumer never connects.
    ///
    /// [`Consumer::fail_tls_setup`]: crate::consumer::Consumer::fail_tls_setup
    Tls(crate::conn::TlsError),
}

/// A broker's error code, with what it was about.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum BrokerError {
    /// An error for one partition that retrying will not fix (authorization, for
    /// instance). The partition is not fetched until the application seeks or
    /// reassigns it.
    Partition {
        /// The partition.
        tp: TopicPartition,
        /// The broker's error.
        code: ErrorCode,
    },
    /// A topic's metadata carries an error (unknown topic, not authorized). Retried
    /// with the metadata refresh.
    Topic {
        /// The topic.
        topic: String,
        /// The broker's error.
        code: ErrorCode,
    },
    /// The group coordinator's answer to a group API.
    Group(GroupFailure),
}

impl BrokerError {
    /// The broker's error code.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Partition { code, .. } | Self::Topic { code, .. } => *code,
            Self::Group(f) => f.code,
        }
    }
}

/// A broker (or the network) broke the protocol or the connection.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum RemoteError {
    /// A connection failed or was closed for a protocol violation; it is
    /// re-established after `reconnect.backoff.ms`. Informational.
    Connection {
        /// The broker.
        broker: BrokerId,
        /// What happened.
        error: ConnError,
    },
    /// A record batch did not decode or failed its CRC. The records before it were
    /// delivered; the partition is fetched again from the failing offset after a
    /// backoff, so a transient corruption costs nothing and a persistent one repeats
    /// until the application seeks past it.
    CorruptRecords {
        /// The partition.
        tp: TopicPartition,
        /// What failed, with its offset.
        error: RecordError,
    },
    /// The broker speaks no version of an API the consumer needs with it.
    UnsupportedApi {
        /// The broker.
        broker: BrokerId,
        /// The API key.
        api: i16,
    },
}

impl From<LocalError> for ConsumerError {
    fn from(e: LocalError) -> Self {
        Self::Local(e)
    }
}

impl From<BrokerError> for ConsumerError {
    fn from(e: BrokerError) -> Self {
        Self::Broker(e)
    }
}

impl From<RemoteError> for ConsumerError {
    fn from(e: RemoteError) -> Self {
        Self::Remote(e)
    }
}

impl fmt::Display for ConsumerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Local(e) => e.fmt(f),
            Self::Broker(e) => e.fmt(f),
            Self::Remote(e) => e.fmt(f),
            Self::Authentication(e) => e.fmt(f),
        }
    }
}

impl fmt::Display for LocalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoOffsetForPartition { tp, .. } => {
                write!(f, "{tp}: no valid position and auto.offset.reset is none")
            }
            Self::Timeout => f.write_str("timed out (default.api.timeout.ms)"),
            Self::Closed => f.write_str("the consumer was closed"),
            Self::Unsupported {
                property,
                value,
                reason,
            } => write!(f, "{property}={value} is not supported: {reason}"),
            Self::Tls(e) => e.fmt(f),
        }
    }
}

impl fmt::Display for BrokerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Partition { tp, code } => write!(f, "{tp}: {} ({})", code.name(), code.message()),
            Self::Topic { topic, code } => {
                write!(f, "topic {topic}: {} ({})", code.name(), code.message())
            }
            Self::Group(failure) => failure.fmt(f),
        }
    }
}

impl fmt::Display for RemoteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Connection { broker, error } => write!(f, "broker {}: {error}", broker.0),
            Self::CorruptRecords { tp, error } => write!(f, "{tp}: {error}"),
            Self::UnsupportedApi { broker, api } => write!(
                f,
                "broker {} speaks no usable version of API {api}",
                broker.0
            ),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for ConsumerError {}
#[cfg(feature = "std")]
impl std::error::Error for LocalError {}
#[cfg(feature = "std")]
impl std::error::Error for BrokerError {}
#[cfg(feature = "std")]
impl std::error::Error for RemoteError {}
#[cfg(feature = "std")]
impl std::error::Error for AuthenticationError {}

/// The application misused the API; returned at once, nothing changed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum UsageError {
    /// The partition is not assigned to this consumer.
    NotAssigned(TopicPartition),
    /// An offset below zero.
    NegativeOffset(i64),
    /// The consumer is closing or closed.
    Closed,
    /// Groups need `group.id`.
    NoGroupId,
    /// `subscribe` after `assign`: manual assignment and a subscription exclude
    /// each other (`unassign` first).
    AssignedManually,
    /// `assign` while subscribed (`unsubscribe` first).
    Subscribed,
    /// An empty topic name.
    EmptyTopicName,
    /// `group.protocol=consumer` (KIP-848) is not built yet.
    UnsupportedGroupProtocol,
    /// A commit of a partition this consumer does not own.
    NotOwned(TopicPartition),
    /// The token of a rebalance that is over (or never was).
    StaleToken(RebalanceToken),
    /// The group failed for good (see the `Fatal` event); close the consumer.
    GroupFailed(GroupFailure),
    /// `subscribe_pattern` got something that is not a regular expression.
    InvalidPattern(String),
    /// An OAUTHBEARER token, but `sasl.mechanism` is not OAUTHBEARER (or
    /// `security.protocol` is not `SASL_*`).
    NotOAuthBearer,
    /// The OAUTHBEARER token was refused: why (the token itself is not repeated).
    InvalidOAuthBearerToken(TokenError),
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotAssigned(tp) => write!(f, "{tp} is not assigned to this consumer"),
            Self::NegativeOffset(o) => write!(f, "offset {o} is negative"),
            Self::Closed => f.write_str("the consumer is closed"),
            Self::NoGroupId => f.write_str("consumer groups need group.id"),
            Self::AssignedManually => {
                f.write_str("partitions are assigned by hand: unassign before subscribing")
            }
            Self::Subscribed => {
                f.write_str("the consumer is subscribed: unsubscribe before assigning")
            }
            Self::EmptyTopicName => f.write_str("a topic name is empty"),
            Self::UnsupportedGroupProtocol => {
                f.write_str("group.protocol=consumer (KIP-848) is not supported yet")
            }
            Self::NotOwned(tp) => write!(f, "{tp} is not owned by this consumer"),
            Self::StaleToken(t) => write!(f, "{t} is over"),
            Self::GroupFailed(failure) => write!(f, "the group failed: {failure}"),
            Self::InvalidPattern(p) => write!(f, "{p:?} is not a valid regular expression"),
            Self::NotOAuthBearer => f.write_str(
                "an OAUTHBEARER token, but sasl.mechanism is not OAUTHBEARER under a SASL_* \
                 security.protocol",
            ),
            Self::InvalidOAuthBearerToken(e) => write!(f, "invalid OAUTHBEARER token: {e}"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for UsageError {}
