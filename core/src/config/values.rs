//! The typed values of properties: one enum per enumerated property, and broker
//! addresses.

use alloc::string::{String, ToString};
use core::fmt;
use core::str::FromStr;

use super::error::{ConfigError, ConfigErrorKind};

/// What the parsing machinery needs from an enumerated value.
pub(crate) trait KafkaEnum: Copy + 'static {
    /// `one of a, b, c`.
    const EXPECTED: &'static str;
    /// `a non-empty comma-separated list of a, b, c`.
    const LIST_EXPECTED: &'static str;
    /// The Kafka spelling.
    fn name(self) -> &'static str;
    /// Parses one value (trimmed, ASCII case-insensitive, synonyms accepted).
    fn parse_kind(s: &str) -> Result<Self, ConfigErrorKind>;
}

/// `one of a, b, c` from the spellings, at compile time.
macro_rules! one_of {
    ($first:literal $(, $rest:literal)*) => {
        concat!("one of ", $first $(, ", ", $rest)*)
    };
}

/// `a non-empty comma-separated list of a, b, c`, at compile time.
macro_rules! list_of {
    ($first:literal $(, $rest:literal)*) => {
        concat!("a non-empty comma-separated list of ", $first $(, ", ", $rest)*)
    };
}

/// An enum whose values are Kafka spellings, with `as_str`, `Display`, `FromStr`
/// (errors name the property) and the parsing hooks; matching is ASCII
/// case-insensitive, as Java's `CaseInsensitiveValidString`.
macro_rules! kafka_enum {
    (
        $(#[$meta:meta])*
        pub enum $ty:ident for $prop:literal {
            $(
                $(#[doc = $vdoc:literal])*
                $variant:ident = $s:literal $(| $alias:literal)*
            ),+ $(,)?
        }
        $(unsupported { $($bad:literal => $why:literal),+ $(,)? })?
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[cfg_attr(feature = "defmt", derive(defmt::Format))]
        pub enum $ty {
            $($(#[doc = $vdoc])* $variant),+
        }

        impl $ty {
            /// Every value, in declaration order.
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];

            /// The Kafka spelling of this value.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($ty::$variant => $s),+
                }
            }
        }

        impl KafkaEnum for $ty {
            const EXPECTED: &'static str = one_of!($($s),+);
            const LIST_EXPECTED: &'static str = list_of!($($s),+);
            fn name(self) -> &'static str {
                self.as_str()
            }
            fn parse_kind(s: &str) -> Result<Self, ConfigErrorKind> {
                let t = s.trim();
                $(
                    if t.eq_ignore_ascii_case($s) $(|| t.eq_ignore_ascii_case($alias))* {
                        return Ok($ty::$variant);
                    }
                )+
                $($(
                    if t.eq_ignore_ascii_case($bad) {
                        return Err(ConfigErrorKind::Unsupported { reason: $why });
                    }
                )+)?
                Err(ConfigErrorKind::InvalidValue {
                    value: s.to_string(),
                    expected: <$ty as KafkaEnum>::EXPECTED,
                })
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $ty {
            type Err = ConfigError;
            #[doc = concat!("Parses a value of `", $prop, "`; errors name that property.")]
            fn from_str(s: &str) -> Result<Self, ConfigError> {
                <$ty as KafkaEnum>::parse_kind(s).map_err(|kind| ConfigError::new($prop, kind))
            }
        }
    };
}

kafka_enum! {
    /// `auto.offset.reset`: where to start reading a partition that has no committed
    /// offset, or whose offset is out of range.
    pub enum OffsetReset for "auto.offset.reset" {
        /// The oldest offset still in the log (librdkafka synonyms `smallest`,
        /// `beginning`).
        Earliest = "earliest" | "smallest" | "beginning",
        /// The end of the log: only records produced from now on (librdkafka
        /// synonyms `largest`, `end`).
        Latest = "latest" | "largest" | "end",
        /// Report an error to the application instead (librdkafka synonym `error`).
        None = "none" | "error",
    }
}

kafka_enum! {
    /// `isolation.level`: whether records of open or aborted transactions are returned.
    pub enum IsolationLevel for "isolation.level" {
        /// Every record, including those of open and aborted transactions.
        ReadUncommitted = "read_uncommitted",
        /// Only records of committed transactions (and non-transactional ones), up to
        /// the last stable offset.
        ReadCommitted = "read_committed",
    }
}

impl IsolationLevel {
    /// The value of the `IsolationLevel` field of Fetch and ListOffsets requests.
    pub const fn as_i8(self) -> i8 {
        match self {
            IsolationLevel::ReadUncommitted => 0,
            IsolationLevel::ReadCommitted => 1,
        }
    }
}

kafka_enum! {
    /// `group.protocol`: which consumer group protocol to speak.
    pub enum GroupProtocol for "group.protocol" {
        /// The classic protocol: JoinGroup/SyncGroup/Heartbeat, assignment on a client.
        Classic = "classic",
        /// The KIP-848 protocol: ConsumerGroupHeartbeat, assignment on the broker.
        Consumer = "consumer",
    }
}

kafka_enum! {
    /// One entry of `partition.assignment.strategy`: a client-side assignor of the
    /// classic group protocol. [`as_str`](Self::as_str) is also the protocol name sent
    /// in JoinGroup. The Java class names (`org.apache.kafka.clients.consumer.RangeAssignor`
    /// and so on) are accepted as synonyms.
    pub enum AssignmentStrategy for "partition.assignment.strategy" {
        /// Per topic, consecutive partition ranges to members in order.
        Range = "range" | "org.apache.kafka.clients.consumer.RangeAssignor",
        /// All partitions dealt round-robin over members.
        RoundRobin = "roundrobin" | "org.apache.kafka.clients.consumer.RoundRobinAssignor",
        /// Balanced, and keeps previous assignments where it can (eager rebalancing).
        Sticky = "sticky" | "org.apache.kafka.clients.consumer.StickyAssignor",
        /// Sticky with incremental (cooperative) rebalancing.
        CooperativeSticky = "cooperative-sticky"
            | "org.apache.kafka.clients.consumer.CooperativeStickyAssignor",
    }
}

impl AssignmentStrategy {
    /// Whether members keep their partitions during a rebalance (the cooperative
    /// protocol) rather than revoking everything first (eager).
    pub const fn is_cooperative(self) -> bool {
        matches!(self, AssignmentStrategy::CooperativeSticky)
    }
}

kafka_enum! {
    /// `security.protocol`: how connections to brokers are made.
    pub enum SecurityProtocol for "security.protocol" {
        /// Plain TCP, no authentication.
        Plaintext = "PLAINTEXT",
        /// TLS.
        Ssl = "SSL",
        /// SASL authentication over plain TCP.
        SaslPlaintext = "SASL_PLAINTEXT",
        /// SASL authentication over TLS.
        SaslSsl = "SASL_SSL",
    }
}

impl SecurityProtocol {
    /// Whether connections use TLS.
    pub const fn uses_tls(self) -> bool {
        matches!(self, SecurityProtocol::Ssl | SecurityProtocol::SaslSsl)
    }
    /// Whether connections authenticate with SASL.
    pub const fn uses_sasl(self) -> bool {
        matches!(
            self,
            SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl
        )
    }
}

kafka_enum! {
    /// `sasl.mechanism` (librdkafka: `sasl.mechanisms`): the SASL mechanism, when
    /// `security.protocol` is `SASL_*`.
    pub enum SaslMechanism for "sasl.mechanism" {
        /// Username and password in clear (RFC 4616; use with TLS).
        Plain = "PLAIN",
        /// SCRAM with SHA-256 (RFC 5802, RFC 7677).
        ScramSha256 = "SCRAM-SHA-256",
        /// SCRAM with SHA-512.
        ScramSha512 = "SCRAM-SHA-512",
        /// A bearer token the application supplies (RFC 7628, KIP-255).
        OAuthBearer = "OAUTHBEARER",
    }
    unsupported {
        "GSSAPI" => "GSSAPI (Kerberos) is not implemented by kasio; use PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER",
    }
}

kafka_enum! {
    /// `ssl.endpoint.identification.algorithm`: whether the broker's certificate must
    /// name the host connected to. Java's empty value is accepted for `none`.
    pub enum EndpointIdentification for "ssl.endpoint.identification.algorithm" {
        /// Check the host name against the certificate (RFC 2818).
        Https = "https",
        /// Do not check the host name (the chain is still verified).
        None = "none" | "",
    }
}

kafka_enum! {
    /// `client.dns.lookup`: how broker host names are resolved.
    pub enum ClientDnsLookup for "client.dns.lookup" {
        /// Try every address a name resolves to, in order, until one connects.
        UseAllDnsIps = "use_all_dns_ips",
        /// Resolve each bootstrap name to its canonical names first, then as above.
        ResolveCanonicalBootstrapServersOnly = "resolve_canonical_bootstrap_servers_only",
    }
}

/// One entry of `bootstrap.servers`: a host name or IP address and a port. Written
/// `host:port`, or `[addr]:port` for an IPv6 address.
///
/// ```
/// use kasio_core::config::BrokerAddress;
///
/// let a: BrokerAddress = "[::1]:9092".parse().unwrap();
/// assert_eq!((a.host.as_str(), a.port), ("::1", 9092));
/// assert_eq!(a.to_string(), "[::1]:9092");
/// assert!("::1:9092".parse::<BrokerAddress>().is_err()); // IPv6 needs brackets
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct BrokerAddress {
    /// Host name, IPv4 address or IPv6 address (without brackets).
    pub host: String,
    /// TCP port, 1–65535.
    pub port: u16,
}

impl BrokerAddress {
    /// What an entry must look like.
    pub(crate) const EXPECTED: &'static str =
        "host:port with a port in 1..=65535 (an IPv6 address as [::1]:9092)";

    /// An address; not validated until the configuration is built.
    pub fn new(host: impl Into<String>, port: u16) -> Self {
        Self {
            host: host.into(),
            port,
        }
    }

    /// Parses one trimmed entry, or says nothing about why it failed.
    pub(crate) fn parse_entry(entry: &str) -> Option<Self> {
        let (host, port, bracketed) = match entry.strip_prefix('[') {
            Some(rest) => {
                let (host, after) = rest.split_once(']')?;
                (host, after.strip_prefix(':')?, true)
            }
            None => {
                let (host, port) = entry.rsplit_once(':')?;
                (host, port, false)
            }
        };
        if !valid_host(host, bracketed) {
            return None;
        }
        let port: u16 = port.parse().ok().filter(|&p| p != 0)?;
        Some(Self::new(host, port))
    }
}

/// Characters Java's address parser accepts in a host, `:` only between brackets.
fn valid_host(host: &str, bracketed: bool) -> bool {
    !host.is_empty()
        && host.chars().all(|c| {
            c.is_ascii_alphanumeric()
                || matches!(c, '-' | '.' | '_' | '%')
                || (bracketed && c == ':')
        })
}

impl fmt::Display for BrokerAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

impl FromStr for BrokerAddress {
    type Err = ConfigError;
    /// Parses one `bootstrap.servers` entry; errors name that property.
    fn from_str(s: &str) -> Result<Self, ConfigError> {
        Self::parse_entry(s.trim()).ok_or_else(|| {
            ConfigError::new(
                "bootstrap.servers",
                ConfigErrorKind::InvalidValue {
                    value: s.to_string(),
                    expected: Self::EXPECTED,
                },
            )
        })
    }
}
