//! The consumer's configuration, named and defaulted as Kafka's Java `ConsumerConfig`,
//! with a few librdkafka properties where Java has none.
//!
//! One table lists every property with its Kafka name, default, documentation and
//! how its value parses and prints; [`Config`]'s fields, [`Config::from_pairs`],
//! [`Config::set`], [`Config::get`], [`Config::properties`] and the typed
//! [`ConfigBuilder`] are all generated from it. Every way of making a `Config` ends
//! in the same validation ([`Config::validate`]): each value on its own, then the
//! rules between properties.
//!
//! From Kafka property names, as in a `.properties` file:
//!
//! ```
//! use kasio_core::config::{Config, OffsetReset};
//! use kasio_core::time::Duration;
//!
//! let config = Config::from_pairs([
//!     ("bootstrap.servers", "kafka-1:9092, kafka-2:9092"),
//!     ("group.id", "billing"),
//!     ("auto.offset.reset", "earliest"),
//!     ("fetch.max.wait.ms", "100"),
//! ])?;
//! assert_eq!(config.bootstrap_servers.len(), 2);
//! assert_eq!(config.auto_offset_reset, OffsetReset::Earliest);
//! assert_eq!(config.fetch_max_wait, Duration::from_millis(100));
//! assert_eq!(config.get("session.timeout.ms").as_deref(), Some("45000")); // Java's default
//! # Ok::<(), kasio_core::config::ConfigError>(())
//! ```
//!
//! The same with the typed builder:
//!
//! ```
//! use kasio_core::config::{Config, OffsetReset};
//! use kasio_core::time::Duration;
//!
//! let config = Config::builder("kafka-1:9092,kafka-2:9092")?
//!     .group_id("billing")
//!     .auto_offset_reset(OffsetReset::Earliest)
//!     .fetch_max_wait(Duration::from_millis(100))
//!     .build()?;
//! assert_eq!(config.get("auto.offset.reset").as_deref(), Some("earliest"));
//!
//! // Cross-property rules hold however the configuration is made.
//! let err = Config::builder("kafka-1:9092")?
//!     .heartbeat_interval(Duration::from_secs(60))
//!     .build()
//!     .unwrap_err();
//! assert_eq!(err.property, "heartbeat.interval.ms");
//! # Ok::<(), kasio_core::config::ConfigError>(())
//! ```

mod error;
mod jaas;
#[macro_use]
mod kind;
mod values;

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

pub use error::{ConfigError, ConfigErrorKind};
pub use jaas::{JaasConfig, LoginModule};
pub use values::{
    AssignmentStrategy, BrokerAddress, ClientDnsLookup, EndpointIdentification, GroupProtocol,
    IsolationLevel, OffsetReset, SaslMechanism, SecurityProtocol,
};

use kind::{Bool, Brokers, Enum, Int, Jaas, Kind, List, Millis, OptText, Text};

use crate::time::Duration;

/// One property of [`Config::properties`].
#[derive(Clone, Copy)]
pub struct PropertyInfo {
    /// The Kafka name, e.g. `fetch.max.wait.ms`.
    pub name: &'static str,
    /// The default as Kafka prints it (`""` for an unset optional property), or
    /// `None` for a required property (only `bootstrap.servers`).
    pub default: Option<&'static str>,
    /// What the property means.
    pub doc: &'static str,
    set: fn(&mut Config, &str) -> Result<(), ConfigError>,
    get: fn(&Config) -> String,
    check: fn(&Config) -> Result<(), ConfigError>,
}

impl PropertyInfo {
    /// Whether the value holds a secret (`sasl.password`, `sasl.jaas.config`): a
    /// program that prints configurations (a dump for a ticket, a log line) should
    /// redact it. [`Config::get`] returns it as it is, and `Config`'s `Debug` hides it.
    pub fn is_secret(&self) -> bool {
        SECRETS.contains(&self.name)
    }
}

/// The properties whose values are secrets.
const SECRETS: &[&str] = &["sasl.password", "sasl.jaas.config"];

impl fmt::Debug for PropertyInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PropertyInfo")
            .field("name", &self.name)
            .field("default", &self.default)
            .field("doc", &self.doc)
            .finish_non_exhaustive()
    }
}

/// `required` or a default's text, for a field's documentation.
macro_rules! default_doc {
    ($name:literal, required) => {
        concat!("Kafka property `", $name, "`; required.")
    };
    ($name:literal, "") => {
        concat!("Kafka property `", $name, "`; unset by default.")
    };
    ($name:literal, $default:literal) => {
        concat!("Kafka property `", $name, "`; default `", $default, "`.")
    };
}

/// `PropertyInfo::default` from the table's default.
macro_rules! default_value {
    (required) => {
        None
    };
    ($default:literal) => {
        Some($default)
    };
}

/// A field's initial value: the required value passed in, or the parsed default.
macro_rules! initial {
    ($required:ident, $kind:expr, required) => {
        $required
    };
    ($required:ident, $kind:expr, $default:literal) => {
        match Kind::parse(&$kind, $default) {
            Ok(value) => value,
            // Every default parses: `tests::defaults_parse_and_print_back`.
            Err(_) => unreachable!(),
        }
    };
}

/// Generates `Config`, its property table, its `Debug`/`PartialEq` and the builder's
/// setters from one list. Each entry: docs, `field: Type = "kafka.name", default,
/// kind, |builder argument| conversion to the field's type;`.
macro_rules! properties {
    ($(
        $(#[doc = $doc:literal])+
        $field:ident: $ty:ty = $name:literal, $default:tt, $kind:expr,
            |$arg:ident: $argty:ty| $conv:expr;
    )+) => {
        /// A validated consumer configuration.
        ///
        /// Make one with [`Config::from_pairs`] (Kafka property names) or
        /// [`Config::builder`] (typed). Fields are public for reading; a field changed
        /// directly is not checked until [`Config::validate`] is called, whereas
        /// [`Config::set`] checks at once.
        ///
        /// `Debug` shows `sasl.password`, `ssl.key.pem` and `ssl.key.password` as `[hidden]` and `sasl.jaas.config` without
        /// its options' values; equality compares values only, not which properties
        /// were set explicitly.
        #[derive(Clone)]
        pub struct Config {
            $(
                $(#[doc = $doc])+
                #[doc = ""]
                #[doc = default_doc!($name, $default)]
                pub $field: $ty,
            )+
            /// Bit `i` set: property `i` of the table was given explicitly.
            explicit: u64,
        }

        /// Table indices, named as the fields.
        #[allow(non_camel_case_types)]
        #[derive(Clone, Copy)]
        enum Field {
            $($field),+
        }

        const PROPERTY_COUNT: usize = [$($name),+].len();

        static PROPERTIES: &[PropertyInfo] = &[$(
            PropertyInfo {
                name: $name,
                default: default_value!($default),
                doc: concat!($($doc),+).trim_ascii(),
                set: |config, value| {
                    config.$field = Kind::parse(&$kind, value)
                        .map_err(|kind| ConfigError::new($name, kind))?;
                    Ok(())
                },
                get: |config| Kind::print(&$kind, &config.$field),
                check: |config| {
                    Kind::parse(&$kind, &Kind::print(&$kind, &config.$field))
                        .map(drop)
                        .map_err(|kind| ConfigError::new($name, kind))
                },
            },
        )+];

        impl Config {
            /// Every property at its default, `bootstrap.servers` as given; nothing
            /// marked explicit, nothing validated.
            fn with_defaults(bootstrap_servers: Vec<BrokerAddress>) -> Config {
                Config {
                    $($field: initial!(bootstrap_servers, $kind, $default),)+
                    explicit: 0,
                }
            }
        }

        impl PartialEq for Config {
            fn eq(&self, other: &Config) -> bool {
                $(self.$field == other.$field)&&+
            }
        }

        impl Eq for Config {}

        impl fmt::Debug for Config {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let mut s = f.debug_struct("Config");
                $(
                    if matches!(Field::$field, Field::sasl_password) {
                        s.field(stringify!($field), &self.sasl_password.as_ref().map(|_| Hidden));
                    } else if matches!(Field::$field, Field::ssl_key_pem) {
                        s.field(stringify!($field), &self.ssl_key_pem.as_ref().map(|_| Hidden));
                    } else if matches!(Field::$field, Field::ssl_key_password) {
                        s.field(stringify!($field), &self.ssl_key_password.as_ref().map(|_| Hidden));
                    } else if matches!(Field::$field, Field::sasl_jaas_config) {
                        // JaasConfig's own Debug shows the module and option names.
                        s.field(stringify!($field), &self.sasl_jaas_config);
                    } else {
                        s.field(stringify!($field), &self.$field);
                    }
                )+
                s.finish()
            }
        }

        impl ConfigBuilder {
            $(
                #[doc = concat!("Sets `", $name, "`: see [`Config::", stringify!($field), "`].")]
                pub fn $field(mut self, $arg: $argty) -> Self {
                    self.config.$field = $conv;
                    self.config.mark(Field::$field);
                    self
                }
            )+
        }
    };
}

/// Stands for a secret in `Debug` output.
struct Hidden;

impl fmt::Debug for Hidden {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[hidden]")
    }
}

const INT_0: Int = int_kind!(Int, 0, 2147483647);
const INT_1: Int = int_kind!(Int, 1, 2147483647);
const MS_0: Millis = int_kind!(Millis, 0, 2147483647);
const MS_1: Millis = int_kind!(Millis, 1, 2147483647);
const LONG_MS_0: Millis = int_kind!(Millis, 0, 9223372036854775807);

/// `group.instance.id` as Java's `JoinGroupRequest.validateGroupInstanceId`.
const INSTANCE_ID: OptText = OptText {
    trim: true,
    valid: Some(valid_instance_id),
    expected: "at most 249 characters of a-z, A-Z, 0-9, '.', '_' and '-'",
};

fn valid_instance_id(id: &str) -> bool {
    id.len() <= 249
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// Empty text means unset, whichever way it arrives.
fn non_empty(s: String) -> Option<String> {
    if s.is_empty() {
        None
    } else {
        Some(s)
    }
}

properties! {
    /// The brokers to contact first, to learn the cluster from their metadata;
    /// a comma-separated list of `host:port`, an IPv6 address as `[::1]:9092`.
    bootstrap_servers: Vec<BrokerAddress> = "bootstrap.servers", required, Brokers,
        |servers: impl IntoIterator<Item = BrokerAddress>| servers.into_iter().collect();

    /// The client id sent with every request, for the brokers' logs and quotas.
    client_id: String = "client.id", "kasio", Text,
        |id: impl Into<String>| id.into();

    /// The rack this consumer runs in, for fetching from the closest replica
    /// (KIP-392); empty for none.
    client_rack: Option<String> = "client.rack", "", OptText::ANY,
        |rack: impl Into<String>| non_empty(rack.into());

    /// The consumer group to join and commit offsets for; unset (empty) for a
    /// consumer that only assigns partitions by hand and does not commit.
    group_id: Option<String> = "group.id", "", OptText::ANY,
        |id: impl Into<String>| non_empty(id.into());

    /// A stable member id for static membership (KIP-345): a restart within the
    /// session timeout keeps the assignment. Requires `group.id`.
    group_instance_id: Option<String> = "group.instance.id", "", INSTANCE_ID,
        |id: impl Into<String>| non_empty(id.into());

    /// The group protocol: `classic` (client-side assignment) or `consumer`
    /// (KIP-848, broker-side assignment). Case-insensitive.
    group_protocol: GroupProtocol = "group.protocol", "classic", Enum::<GroupProtocol>::new(),
        |protocol: GroupProtocol| protocol;

    /// The broker-side assignor to ask for under `group.protocol=consumer`; unset
    /// lets the broker choose. Only with `group.protocol=consumer`.
    group_remote_assignor: Option<String> = "group.remote.assignor", "", OptText::ANY,
        |assignor: impl Into<String>| non_empty(assignor.into());

    /// The client-side assignors offered under `group.protocol=classic`, most
    /// preferred first: `range`, `roundrobin`, `sticky`, `cooperative-sticky` (Java
    /// class names also accepted).
    partition_assignment_strategy: Vec<AssignmentStrategy> = "partition.assignment.strategy",
        "range,cooperative-sticky", List::<AssignmentStrategy>::new(),
        |strategies: impl IntoIterator<Item = AssignmentStrategy>| strategies.into_iter().collect();

    /// Whether consumed offsets are committed automatically: every
    /// `auto.commit.interval.ms`, what polls before the latest handed out (the
    /// application polled again, so it is done with those, as Java assumes); when
    /// the application acknowledges a revocation, what it was handed of those
    /// partitions; on close and unsubscribe, everything handed out. Has no effect
    /// without `group.id`: see [`Config::auto_commit_enabled`].
    enable_auto_commit: bool = "enable.auto.commit", "true", Bool,
        |enabled: bool| enabled;

    /// How often offsets are auto-committed.
    auto_commit_interval: Duration = "auto.commit.interval.ms", "5000", MS_0,
        |interval: Duration| interval;

    /// Where to start when a partition has no committed offset or the offset is
    /// out of range: `earliest`, `latest` or `none` (fail). librdkafka's
    /// `smallest`/`beginning`, `largest`/`end` and `error` are accepted.
    auto_offset_reset: OffsetReset = "auto.offset.reset", "latest", Enum::<OffsetReset>::new(),
        |reset: OffsetReset| reset;

    /// The most records one poll returns.
    max_poll_records: u32 = "max.poll.records", "500", INT_1,
        |records: u32| records;

    /// The longest time between polls before the consumer leaves its group so the
    /// partitions can be reassigned.
    max_poll_interval: Duration = "max.poll.interval.ms", "300000", MS_1,
        |interval: Duration| interval;

    /// How long the group coordinator waits for a heartbeat before it removes the
    /// member (classic protocol; set on the broker under `group.protocol=consumer`).
    session_timeout: Duration = "session.timeout.ms", "45000", MS_1,
        |timeout: Duration| timeout;

    /// How often heartbeats are sent (classic protocol); below `session.timeout.ms`,
    /// usually a third of it.
    heartbeat_interval: Duration = "heartbeat.interval.ms", "3000", MS_1,
        |interval: Duration| interval;

    /// The least data, in bytes, a fetch response should hold; the broker waits up
    /// to `fetch.max.wait.ms` for that much.
    fetch_min_bytes: u32 = "fetch.min.bytes", "1", INT_0,
        |bytes: u32| bytes;

    /// The most data, in bytes, a fetch response should hold (a first batch larger
    /// than this is still returned, so progress is always possible).
    fetch_max_bytes: u32 = "fetch.max.bytes", "52428800", INT_0,
        |bytes: u32| bytes;

    /// How long the broker may hold a fetch waiting for `fetch.min.bytes`.
    fetch_max_wait: Duration = "fetch.max.wait.ms", "500", MS_0,
        |wait: Duration| wait;

    /// The most data, in bytes, a fetch response holds per partition (again, a
    /// larger first batch is still returned).
    max_partition_fetch_bytes: u32 = "max.partition.fetch.bytes", "1048576", INT_0,
        |bytes: u32| bytes;

    /// Whether records of open and aborted transactions are read:
    /// `read_uncommitted` or `read_committed`.
    isolation_level: IsolationLevel = "isolation.level", "read_uncommitted",
        Enum::<IsolationLevel>::new(),
        |level: IsolationLevel| level;

    /// Whether the CRC of every record batch is checked.
    check_crcs: bool = "check.crcs", "true", Bool,
        |check: bool| check;

    /// How long to wait for the response to a request before giving up on it (and
    /// the connection).
    request_timeout: Duration = "request.timeout.ms", "30000", MS_0,
        |timeout: Duration| timeout;

    /// The timeout of application calls that take no explicit one (commits, offset
    /// lookups).
    default_api_timeout: Duration = "default.api.timeout.ms", "60000", MS_0,
        |timeout: Duration| timeout;

    /// The first wait before reconnecting to a broker; doubles (with jitter) per
    /// failure up to `reconnect.backoff.max.ms`.
    reconnect_backoff: Duration = "reconnect.backoff.ms", "50", LONG_MS_0,
        |backoff: Duration| backoff;

    /// The longest wait before reconnecting to a broker.
    reconnect_backoff_max: Duration = "reconnect.backoff.max.ms", "1000", LONG_MS_0,
        |backoff: Duration| backoff;

    /// The first wait before retrying a failed request; doubles (with jitter) per
    /// failure up to `retry.backoff.max.ms`.
    retry_backoff: Duration = "retry.backoff.ms", "100", LONG_MS_0,
        |backoff: Duration| backoff;

    /// The longest wait before retrying a failed request.
    retry_backoff_max: Duration = "retry.backoff.max.ms", "1000", LONG_MS_0,
        |backoff: Duration| backoff;

    /// How long a connection may take to be established; doubles (with jitter) per
    /// consecutive failure up to `socket.connection.setup.timeout.max.ms`.
    socket_connection_setup_timeout: Duration = "socket.connection.setup.timeout.ms", "10000",
        LONG_MS_0,
        |timeout: Duration| timeout;

    /// The longest time a connection may take to be established.
    socket_connection_setup_timeout_max: Duration = "socket.connection.setup.timeout.max.ms",
        "30000", LONG_MS_0,
        |timeout: Duration| timeout;

    /// How old metadata may get before it is refreshed even without a reason.
    metadata_max_age: Duration = "metadata.max.age.ms", "300000", LONG_MS_0,
        |age: Duration| age;

    /// Whether subscribing to a missing topic asks the broker to create it (if the
    /// broker allows auto-creation).
    allow_auto_create_topics: bool = "allow.auto.create.topics", "true", Bool,
        |allow: bool| allow;

    /// Whether pattern subscriptions leave out internal topics such as
    /// `__consumer_offsets`.
    exclude_internal_topics: bool = "exclude.internal.topics", "true", Bool,
        |exclude: bool| exclude;

    /// How long an idle connection is kept open.
    connections_max_idle: Duration = "connections.max.idle.ms", "540000", LONG_MS_0,
        |idle: Duration| idle;

    /// The most requests in flight on one connection.
    max_in_flight_requests_per_connection: u32 = "max.in.flight.requests.per.connection",
        "5", INT_1,
        |requests: u32| requests;

    /// (librdkafka) The largest response frame accepted, in bytes; a larger one
    /// closes the connection. At least `fetch.max.bytes` + 512.
    receive_message_max_bytes: u32 = "receive.message.max.bytes", "100000000",
        int_kind!(Int, 1000, 2147483647),
        |bytes: u32| bytes;

    /// (librdkafka) Per-partition prefetch: a partition with this many records
    /// buffered is not fetched until the application consumes some.
    queued_min_messages: u32 = "queued.min.messages", "100000",
        int_kind!(Int, 1, 10000000),
        |records: u32| records;

    /// (librdkafka) The most fetched data buffered across all partitions, in KiB;
    /// no partition is fetched while the buffer is over it.
    queued_max_messages_kbytes: u32 = "queued.max.messages.kbytes", "65536",
        int_kind!(Int, 1, 2097151),
        |kbytes: u32| kbytes;

    /// (librdkafka) Whether reaching the end of a partition is reported as an event.
    enable_partition_eof: bool = "enable.partition.eof", "false", Bool,
        |enabled: bool| enabled;

    /// How connections are made: `PLAINTEXT`, `SSL`, `SASL_PLAINTEXT` or `SASL_SSL`.
    security_protocol: SecurityProtocol = "security.protocol", "PLAINTEXT",
        Enum::<SecurityProtocol>::new(),
        |protocol: SecurityProtocol| protocol;

    /// The SASL mechanism under a `SASL_*` protocol: `PLAIN`, `SCRAM-SHA-256`,
    /// `SCRAM-SHA-512` or `OAUTHBEARER` (a token the application supplies, see
    /// [`Consumer::set_oauthbearer_token`](crate::consumer::Consumer::set_oauthbearer_token)).
    /// librdkafka's name `sasl.mechanisms` is accepted too. Java's default, `GSSAPI`
    /// (Kerberos), is not supported.
    sasl_mechanism: SaslMechanism = "sasl.mechanism", "PLAIN", Enum::<SaslMechanism>::new(),
        |mechanism: SaslMechanism| mechanism;

    /// (librdkafka) The SASL user name for PLAIN and SCRAM; required under a `SASL_*`
    /// protocol unless `sasl.jaas.config` gives it.
    sasl_username: Option<String> = "sasl.username", "", OptText::ANY,
        |username: impl Into<String>| non_empty(username.into());

    /// (librdkafka) The SASL password for PLAIN and SCRAM; required under a `SASL_*`
    /// protocol unless `sasl.jaas.config` gives it. Not trimmed; hidden in `Debug`
    /// output.
    sasl_password: Option<String> = "sasl.password", "", OptText::SECRET,
        |password: impl Into<String>| non_empty(password.into());

    /// (Java) The credentials as a JAAS login module entry, e.g.
    /// `org.apache.kafka.common.security.scram.ScramLoginModule required
    /// username="alice" password="…";` (`PlainLoginModule` for PLAIN,
    /// `ScramLoginModule` for SCRAM, with `tokenauth="true"` for delegation tokens,
    /// `OAuthBearerLoginModule` for OAUTHBEARER). An alternative to `sasl.username`
    /// and `sasl.password`, not a complement. Hidden in `Debug` output and errors.
    sasl_jaas_config: Option<JaasConfig> = "sasl.jaas.config", "", Jaas,
        |config: JaasConfig| Some(config);

    /// (librdkafka) A file or directory of CA certificates (PEM) to verify brokers
    /// with; unset for the system's trust store.
    ssl_ca_location: Option<String> = "ssl.ca.location", "", OptText::ANY,
        |location: impl Into<String>| non_empty(location.into());

    /// (librdkafka) CA certificates (PEM text) to verify brokers with, instead of
    /// or besides `ssl.ca.location`.
    ssl_ca_pem: Option<String> = "ssl.ca.pem", "", OptText::ANY,
        |pem: impl Into<String>| non_empty(pem.into());

    /// (librdkafka) The client's certificate chain (PEM file) for mutual TLS, with
    /// `ssl.key.location` or `ssl.key.pem`. A PKCS#12 or JKS keystore is refused
    /// with a request to convert it to PEM.
    ssl_certificate_location: Option<String> = "ssl.certificate.location", "", OptText::ANY,
        |location: impl Into<String>| non_empty(location.into());

    /// (librdkafka) The client's certificate chain (PEM text) for mutual TLS.
    ssl_certificate_pem: Option<String> = "ssl.certificate.pem", "", OptText::ANY,
        |pem: impl Into<String>| non_empty(pem.into());

    /// (librdkafka) The client's private key (PEM file: PKCS#8, encrypted PKCS#8
    /// with `ssl.key.password`, PKCS#1 RSA or SEC1 EC) for mutual TLS.
    ssl_key_location: Option<String> = "ssl.key.location", "", OptText::ANY,
        |location: impl Into<String>| non_empty(location.into());

    /// (librdkafka) The client's private key (PEM text). Hidden in `Debug` output.
    ssl_key_pem: Option<String> = "ssl.key.pem", "", OptText::SECRET,
        |pem: impl Into<String>| non_empty(pem.into());

    /// The password of an encrypted PKCS#8 private key (`ENCRYPTED PRIVATE KEY`).
    /// Hidden in `Debug` output.
    ssl_key_password: Option<String> = "ssl.key.password", "", OptText::SECRET,
        |password: impl Into<String>| non_empty(password.into());

    /// (Java, librdkafka) A PKCS#12 or JKS keystore: not supported; setting it
    /// fails the TLS setup with a request to convert it to PEM
    /// (`ssl.certificate.location` and `ssl.key.location`).
    ssl_keystore_location: Option<String> = "ssl.keystore.location", "", OptText::ANY,
        |location: impl Into<String>| non_empty(location.into());

    /// (librdkafka) Whether the broker's certificate chain is verified at all.
    /// `false` accepts any certificate: for tests only.
    enable_ssl_certificate_verification: bool = "enable.ssl.certificate.verification", "true",
        Bool,
        |enabled: bool| enabled;

    /// Whether the broker's certificate must match its host name: `https` or `none`.
    ssl_endpoint_identification_algorithm: EndpointIdentification =
        "ssl.endpoint.identification.algorithm", "https", Enum::<EndpointIdentification>::new(),
        |algorithm: EndpointIdentification| algorithm;

    /// How host names are resolved: `use_all_dns_ips` or
    /// `resolve_canonical_bootstrap_servers_only`.
    client_dns_lookup: ClientDnsLookup = "client.dns.lookup", "use_all_dns_ips",
        Enum::<ClientDnsLookup>::new(),
        |lookup: ClientDnsLookup| lookup;
}

// The set of explicitly given properties is a `u64`.
const _: () = assert!(PROPERTY_COUNT <= 64);

/// A typed way to a [`Config`]: one method per property, then [`build`], which
/// validates exactly as [`Config::from_pairs`] does. Made by [`Config::builder`].
///
/// [`build`]: ConfigBuilder::build
#[derive(Clone, Debug)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct ConfigBuilder {
    config: Config,
}

impl ConfigBuilder {
    /// Validates and returns the configuration.
    pub fn build(self) -> Result<Config, ConfigError> {
        self.config.validate()?;
        Ok(self.config)
    }
}

impl Config {
    /// A builder with every property at its default and the required
    /// `bootstrap.servers` parsed from `bootstrap` (`host:port`, comma-separated).
    pub fn builder(bootstrap: &str) -> Result<ConfigBuilder, ConfigError> {
        let mut config = Config::with_defaults(Vec::new());
        config.apply(Field::bootstrap_servers.info().name, bootstrap)?;
        Ok(ConfigBuilder { config })
    }

    /// A configuration from `(Kafka property name, value)` pairs, values parsed as
    /// Java does: booleans `true`/`false` in any case, decimal integers within each
    /// property's range, comma-separated lists, surrounding spaces ignored. A later
    /// pair overrides an earlier one with the same name. An unknown name is an
    /// error; `bootstrap.servers` is required.
    pub fn from_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Config, ConfigError> {
        let mut config = Config::with_defaults(Vec::new());
        for (name, value) in pairs {
            config.apply(name, value)?;
        }
        if !config.is_explicit(Field::bootstrap_servers) {
            return Err(ConfigError::new(
                Field::bootstrap_servers.info().name,
                ConfigErrorKind::Missing,
            ));
        }
        config.validate()?;
        Ok(config)
    }

    /// Sets one property by its Kafka name and marks it explicitly set. The whole
    /// configuration is validated again; on error nothing changes, so properties
    /// that depend on each other must be set in an order that stays valid.
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), ConfigError> {
        let mut next = self.clone();
        next.apply(name, value)?;
        next.validate()?;
        *self = next;
        Ok(())
    }

    /// A property's value as Kafka would print it (milliseconds for times,
    /// comma-separated lists, `""` for an unset optional property), or `None` for an
    /// unknown name. [`set`](Config::set) accepts what this returns. Secrets come
    /// back as they are (see [`PropertyInfo::is_secret`] to redact them).
    pub fn get(&self, name: &str) -> Option<String> {
        lookup(name).map(|p| (p.get)(self))
    }

    /// Whether the property was given explicitly (to `from_pairs`, `set` or a
    /// builder method) rather than left at its default.
    pub fn explicitly_set(&self, name: &str) -> bool {
        index_of(name).is_some_and(|i| self.explicit & (1 << i) != 0)
    }

    /// Every property: Kafka name, default and documentation, in a stable order.
    pub fn properties() -> &'static [PropertyInfo] {
        PROPERTIES
    }

    /// Whether offsets are auto-committed: `enable.auto.commit` and a `group.id`.
    /// Without a group there is nothing to commit to, so, as in Java, auto-commit is
    /// off whatever `enable.auto.commit` says.
    pub fn auto_commit_enabled(&self) -> bool {
        self.enable_auto_commit && self.group_id.is_some()
    }

    /// Checks every property's value, then every rule between properties:
    ///
    /// - `heartbeat.interval.ms` < `session.timeout.ms`;
    /// - `fetch.min.bytes` ≤ `fetch.max.bytes`, and `fetch.max.bytes` + 512 ≤
    ///   `receive.message.max.bytes`;
    /// - `reconnect.backoff.ms` ≤ `reconnect.backoff.max.ms`, `retry.backoff.ms` ≤
    ///   `retry.backoff.max.ms`;
    /// - `group.instance.id` needs `group.id`;
    /// - `sasl.*` needs a `SASL_*` `security.protocol`, which needs credentials:
    ///   for PLAIN and SCRAM `sasl.username` and `sasl.password`, or instead a
    ///   `sasl.jaas.config` whose login module fits `sasl.mechanism`; for
    ///   OAUTHBEARER neither user name nor password (the application supplies
    ///   tokens);
    /// - `group.remote.assignor` only with `group.protocol=consumer`, and under it
    ///   `partition.assignment.strategy`, `session.timeout.ms` and
    ///   `heartbeat.interval.ms` may not be set explicitly (the broker owns them,
    ///   KIP-848), as in Java 4.
    ///
    /// [`from_pairs`](Config::from_pairs), [`set`](Config::set) and
    /// [`ConfigBuilder::build`] call this; call it again after changing fields
    /// directly.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for property in PROPERTIES {
            (property.check)(self)?;
        }
        self.check_rules()
    }

    /// The rules between properties, all in one place.
    fn check_rules(&self) -> Result<(), ConfigError> {
        use Field::*;
        let conflict = |field: Field, other: Field, reason: &'static str| {
            Err(ConfigError::new(
                field.info().name,
                ConfigErrorKind::Conflict {
                    other: other.info().name,
                    reason,
                },
            ))
        };

        if self.heartbeat_interval >= self.session_timeout {
            return conflict(
                heartbeat_interval,
                session_timeout,
                "the heartbeat interval must be shorter than the session timeout",
            );
        }
        if self.fetch_min_bytes > self.fetch_max_bytes {
            return conflict(
                fetch_min_bytes,
                fetch_max_bytes,
                "the minimum exceeds the maximum",
            );
        }
        if u64::from(self.fetch_max_bytes) + 512 > u64::from(self.receive_message_max_bytes) {
            return conflict(
                fetch_max_bytes,
                receive_message_max_bytes,
                "a fetch response must fit in the largest frame accepted, \
                 which must be at least fetch.max.bytes + 512",
            );
        }
        if self.reconnect_backoff > self.reconnect_backoff_max {
            return conflict(
                reconnect_backoff,
                reconnect_backoff_max,
                "the initial backoff exceeds the maximum",
            );
        }
        if self.retry_backoff > self.retry_backoff_max {
            return conflict(
                retry_backoff,
                retry_backoff_max,
                "the initial backoff exceeds the maximum",
            );
        }
        if self.group_instance_id.is_some() && self.group_id.is_none() {
            return conflict(
                group_instance_id,
                group_id,
                "static membership needs a group: set group.id",
            );
        }

        self.check_sasl()?;

        match self.group_protocol {
            GroupProtocol::Classic => {
                if self.group_remote_assignor.is_some() {
                    return conflict(
                        group_remote_assignor,
                        group_protocol,
                        "the remote assignor is used only with group.protocol=consumer",
                    );
                }
            }
            GroupProtocol::Consumer => {
                let reason = "not supported with group.protocol=consumer: \
                              the broker decides it (KIP-848)";
                for field in [
                    partition_assignment_strategy,
                    session_timeout,
                    heartbeat_interval,
                ] {
                    if self.is_explicit(field) {
                        return conflict(field, group_protocol, reason);
                    }
                }
                // The settings above are checked as KIP-848 will need them; the
                // protocol itself is not built yet.
                return Err(ConfigError::new(
                    group_protocol.info().name,
                    ConfigErrorKind::Unsupported {
                        reason: "KIP-848 (group.protocol=consumer) is not built yet; \
                                 use group.protocol=classic",
                    },
                ));
            }
        }
        Ok(())
    }

    /// The SASL rules of [`validate`](Self::validate).
    fn check_sasl(&self) -> Result<(), ConfigError> {
        use Field::*;
        let conflict = |field: Field, other: Field, reason: &'static str| {
            Err(ConfigError::new(
                field.info().name,
                ConfigErrorKind::Conflict {
                    other: other.info().name,
                    reason,
                },
            ))
        };
        if !self.security_protocol.uses_sasl() {
            let reason = "SASL settings need security.protocol SASL_PLAINTEXT or SASL_SSL";
            if self.is_explicit(sasl_mechanism) {
                return conflict(sasl_mechanism, security_protocol, reason);
            }
            if self.sasl_username.is_some() {
                return conflict(sasl_username, security_protocol, reason);
            }
            if self.sasl_password.is_some() {
                return conflict(sasl_password, security_protocol, reason);
            }
            if self.sasl_jaas_config.is_some() {
                return conflict(sasl_jaas_config, security_protocol, reason);
            }
            return Ok(());
        }
        let mechanism = self.sasl_mechanism;
        if let Some(jaas) = &self.sasl_jaas_config {
            let fits = match jaas.module() {
                LoginModule::Plain => mechanism == SaslMechanism::Plain,
                LoginModule::Scram => matches!(
                    mechanism,
                    SaslMechanism::ScramSha256 | SaslMechanism::ScramSha512
                ),
                LoginModule::OAuthBearer => mechanism == SaslMechanism::OAuthBearer,
            };
            if !fits {
                return conflict(
                    sasl_jaas_config,
                    sasl_mechanism,
                    "the login module does not match the mechanism: PlainLoginModule for PLAIN, \
                     ScramLoginModule for SCRAM-SHA-256 and SCRAM-SHA-512, \
                     OAuthBearerLoginModule for OAUTHBEARER",
                );
            }
        }
        if mechanism == SaslMechanism::OAuthBearer {
            let reason = "OAUTHBEARER authenticates with a token the application supplies \
                          (Consumer::set_oauthbearer_token), not a user name and password";
            if self.sasl_username.is_some() {
                return conflict(sasl_username, sasl_mechanism, reason);
            }
            if self.sasl_password.is_some() {
                return conflict(sasl_password, sasl_mechanism, reason);
            }
            return Ok(());
        }
        if self.sasl_jaas_config.is_some() {
            let reason = "give the credentials either in sasl.jaas.config or in sasl.username \
                          and sasl.password, not both";
            if self.sasl_username.is_some() {
                return conflict(sasl_username, sasl_jaas_config, reason);
            }
            if self.sasl_password.is_some() {
                return conflict(sasl_password, sasl_jaas_config, reason);
            }
            // The parser made sure the entry has both.
            return Ok(());
        }
        if self.sasl_username.is_none() {
            return Err(ConfigError::new(
                sasl_username.info().name,
                ConfigErrorKind::Missing,
            ));
        }
        if self.sasl_password.is_none() {
            return Err(ConfigError::new(
                sasl_password.info().name,
                ConfigErrorKind::Missing,
            ));
        }
        Ok(())
    }

    /// Parses and stores one property and marks it explicit; no cross-checks. An
    /// error names the property as the caller spelled it (an alias stays an alias).
    fn apply(&mut self, name: &str, value: &str) -> Result<(), ConfigError> {
        let index =
            index_of(name).ok_or_else(|| ConfigError::new(name, ConfigErrorKind::Unknown))?;
        (PROPERTIES[index].set)(self, value).map_err(|mut e| {
            e.property = name.into();
            e
        })?;
        self.explicit |= 1 << index;
        Ok(())
    }

    fn mark(&mut self, field: Field) {
        self.explicit |= 1 << field as usize;
    }

    fn is_explicit(&self, field: Field) -> bool {
        self.explicit & (1 << field as usize) != 0
    }
}

impl Field {
    fn info(self) -> &'static PropertyInfo {
        &PROPERTIES[self as usize]
    }
}

/// Other names of properties, as librdkafka spells them: `(alias, Kafka name)`.
/// [`Config::properties`] lists only the Kafka names.
const ALIASES: &[(&str, &str)] = &[("sasl.mechanisms", "sasl.mechanism")];

/// The table index of a property, by its Kafka name or an alias.
fn index_of(name: &str) -> Option<usize> {
    let name = ALIASES
        .iter()
        .find(|(alias, _)| *alias == name)
        .map_or(name, |(_, kafka)| kafka);
    PROPERTIES.iter().position(|p| p.name == name)
}

fn lookup(name: &str) -> Option<&'static PropertyInfo> {
    index_of(name).map(|i| &PROPERTIES[i])
}

#[cfg(test)]
mod tests;
