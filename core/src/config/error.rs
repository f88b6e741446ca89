//! The one error type of configuration: which property, and what was wrong with it.

use alloc::string::String;
use core::fmt;

/// A property that could not be accepted. Local error: the application's
/// configuration is wrong, and the message says which property and why.
///
/// ```
/// use kasio_core::config::{Config, ConfigErrorKind};
///
/// let err = Config::from_pairs([
///     ("bootstrap.servers", "localhost:9092"),
///     ("auto.offset.reset", "soon"),
/// ])
/// .unwrap_err();
/// assert_eq!(err.property, "auto.offset.reset");
/// assert!(matches!(err.kind, ConfigErrorKind::InvalidValue { .. }));
/// assert_eq!(
///     err.to_string(),
///     r#"auto.offset.reset: invalid value "soon": expected one of earliest, latest, none"#
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ConfigError {
    /// The Kafka name of the property at fault (as given, for an unknown property).
    pub property: String,
    /// What was wrong with it.
    pub kind: ConfigErrorKind,
}

/// What was wrong with a property.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ConfigErrorKind {
    /// No property has this name.
    Unknown,
    /// A required property was not given.
    Missing,
    /// The value does not parse or is out of range.
    InvalidValue {
        /// The value as given (for a list, the offending element).
        value: String,
        /// What would have been accepted, e.g. `one of earliest, latest, none` or
        /// `an integer in 1..=2147483647`.
        expected: &'static str,
    },
    /// The value of a property that holds a secret (`sasl.jaas.config`) does not
    /// parse. The value is not repeated: it may hold a password.
    InvalidSecret {
        /// What would have been accepted, or what is missing.
        expected: &'static str,
    },
    /// The value is valid on its own but not together with another property's.
    Conflict {
        /// The Kafka name of the other property.
        other: &'static str,
        /// Why the two do not go together.
        reason: &'static str,
    },
    /// A value Kafka knows but kasio does not implement (e.g. `sasl.mechanism=GSSAPI`).
    Unsupported {
        /// Why, and what to use instead.
        reason: &'static str,
    },
}

impl ConfigError {
    /// An error about `property`.
    pub fn new(property: impl Into<String>, kind: ConfigErrorKind) -> Self {
        Self {
            property: property.into(),
            kind,
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.property)?;
        match &self.kind {
            ConfigErrorKind::Unknown => f.write_str("unknown property"),
            ConfigErrorKind::Missing => f.write_str("required but not set"),
            ConfigErrorKind::InvalidValue { value, expected } => {
                write!(f, "invalid value {value:?}: expected {expected}")
            }
            ConfigErrorKind::InvalidSecret { expected } => {
                write!(
                    f,
                    "invalid value (not shown: it holds a secret): expected {expected}"
                )
            }
            ConfigErrorKind::Conflict { other, reason } => {
                write!(f, "conflicts with {other}: {reason}")
            }
            ConfigErrorKind::Unsupported { reason } => write!(f, "not supported: {reason}"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for ConfigError {}
