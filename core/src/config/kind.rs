//! How each sort of property value is parsed and printed. The property table pairs
//! every property with one of these.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::marker::PhantomData;

use super::error::ConfigErrorKind;
use super::jaas::JaasConfig;
use super::values::{BrokerAddress, KafkaEnum};
use crate::time::Duration;

/// A sort of value: parses Kafka's text form and prints it back.
pub(crate) trait Kind {
    /// The typed value, the type of the `Config` field.
    type Value;
    /// Parses a value as Kafka would.
    fn parse(&self, s: &str) -> Result<Self::Value, ConfigErrorKind>;
    /// Prints a value as Kafka would; parsing the result gives the value back.
    fn print(&self, value: &Self::Value) -> String;
}

fn invalid(value: &str, expected: &'static str) -> ConfigErrorKind {
    ConfigErrorKind::InvalidValue {
        value: value.to_string(),
        expected,
    }
}

/// Java's BOOLEAN: `true` or `false`, case-insensitive, surrounding spaces ignored.
pub(crate) struct Bool;

impl Kind for Bool {
    type Value = bool;
    fn parse(&self, s: &str) -> Result<bool, ConfigErrorKind> {
        match s.trim() {
            t if t.eq_ignore_ascii_case("true") => Ok(true),
            t if t.eq_ignore_ascii_case("false") => Ok(false),
            _ => Err(invalid(s, "true or false")),
        }
    }
    fn print(&self, value: &bool) -> String {
        value.to_string()
    }
}

/// A decimal integer in `min..=max` (Java's INT with a range).
pub(crate) struct Int {
    pub min: u32,
    pub max: u32,
    pub expected: &'static str,
}

/// An `Int` whose `expected` is built from the same literals as its range.
macro_rules! int_kind {
    ($kind:ident, $min:literal, $max:literal) => {
        $kind {
            min: $min,
            max: $max,
            expected: concat!("an integer in ", $min, "..=", $max),
        }
    };
}

fn parse_int(s: &str, min: u64, max: u64, expected: &'static str) -> Result<u64, ConfigErrorKind> {
    match s.trim().parse::<i128>() {
        Ok(n) if n >= i128::from(min) && n <= i128::from(max) => Ok(n as u64),
        _ => Err(invalid(s, expected)),
    }
}

impl Kind for Int {
    type Value = u32;
    fn parse(&self, s: &str) -> Result<u32, ConfigErrorKind> {
        let n = parse_int(s, self.min.into(), self.max.into(), self.expected)?;
        u32::try_from(n).map_err(|_| invalid(s, self.expected))
    }
    fn print(&self, value: &u32) -> String {
        value.to_string()
    }
}

/// Milliseconds, a decimal integer in `min..=max`, held as a [`Duration`]. Printing
/// drops any sub-millisecond part. [`Duration`] counts microseconds in a `u64`, so
/// `u64::MAX / 1000` ms (about 584 000 years) or more is [`Duration::MAX`], which
/// prints as that many milliseconds and so parses back to itself.
pub(crate) struct Millis {
    pub min: u64,
    pub max: u64,
    pub expected: &'static str,
}

/// The milliseconds from which a [`Duration`] saturates.
const FOREVER_MS: u64 = u64::MAX / 1000;

impl Kind for Millis {
    type Value = Duration;
    fn parse(&self, s: &str) -> Result<Duration, ConfigErrorKind> {
        parse_int(s, self.min, self.max, self.expected).map(|n| {
            if n >= FOREVER_MS {
                Duration::MAX
            } else {
                Duration::from_millis(n)
            }
        })
    }
    fn print(&self, value: &Duration) -> String {
        value.as_millis().to_string()
    }
}

/// Free text (Java's STRING, trimmed).
pub(crate) struct Text;

impl Kind for Text {
    type Value = String;
    fn parse(&self, s: &str) -> Result<String, ConfigErrorKind> {
        Ok(s.trim().to_string())
    }
    fn print(&self, value: &String) -> String {
        value.clone()
    }
}

/// Optional text: empty means unset. `trim` is off for secrets, whose spaces may
/// matter; `valid` restricts the characters.
pub(crate) struct OptText {
    pub trim: bool,
    pub valid: Option<fn(&str) -> bool>,
    pub expected: &'static str,
}

impl OptText {
    pub const ANY: OptText = OptText {
        trim: true,
        valid: None,
        expected: "any text",
    };
    pub const SECRET: OptText = OptText {
        trim: false,
        valid: None,
        expected: "any text",
    };
}

impl Kind for OptText {
    type Value = Option<String>;
    fn parse(&self, s: &str) -> Result<Option<String>, ConfigErrorKind> {
        let t = if self.trim { s.trim() } else { s };
        if t.is_empty() {
            return Ok(None);
        }
        match self.valid {
            Some(valid) if !valid(t) => Err(invalid(s, self.expected)),
            _ => Ok(Some(t.to_string())),
        }
    }
    fn print(&self, value: &Option<String>) -> String {
        value.clone().unwrap_or_default()
    }
}

/// One value of an enumeration.
pub(crate) struct Enum<T>(PhantomData<T>);

impl<T> Enum<T> {
    pub const fn new() -> Self {
        Enum(PhantomData)
    }
}

impl<T: KafkaEnum> Kind for Enum<T> {
    type Value = T;
    fn parse(&self, s: &str) -> Result<T, ConfigErrorKind> {
        T::parse_kind(s)
    }
    fn print(&self, value: &T) -> String {
        value.name().to_string()
    }
}

/// The non-empty elements of a comma-separated list, trimmed (as Java's LIST).
fn elements(s: &str) -> impl Iterator<Item = &str> {
    s.split(',').map(str::trim).filter(|e| !e.is_empty())
}

fn join<T>(values: &[T], mut print: impl FnMut(&T) -> String) -> String {
    let mut out = String::new();
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&print(v));
    }
    out
}

/// A non-empty comma-separated list of enumeration values. An unknown element is
/// reported on its own.
pub(crate) struct List<T>(PhantomData<T>);

impl<T> List<T> {
    pub const fn new() -> Self {
        List(PhantomData)
    }
}

impl<T: KafkaEnum> Kind for List<T> {
    type Value = Vec<T>;
    fn parse(&self, s: &str) -> Result<Vec<T>, ConfigErrorKind> {
        let list = elements(s)
            .map(T::parse_kind)
            .collect::<Result<Vec<T>, _>>()?;
        if list.is_empty() {
            return Err(invalid(s, T::LIST_EXPECTED));
        }
        Ok(list)
    }
    fn print(&self, value: &Vec<T>) -> String {
        join(value, |v| v.name().to_string())
    }
}

/// `bootstrap.servers`: a non-empty comma-separated list of `host:port`.
pub(crate) struct Brokers;

impl Kind for Brokers {
    type Value = Vec<BrokerAddress>;
    fn parse(&self, s: &str) -> Result<Vec<BrokerAddress>, ConfigErrorKind> {
        let list = elements(s)
            .map(|e| {
                BrokerAddress::parse_entry(e).ok_or_else(|| invalid(e, BrokerAddress::EXPECTED))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if list.is_empty() {
            return Err(invalid(s, "a comma-separated list of host:port"));
        }
        Ok(list)
    }
    fn print(&self, value: &Vec<BrokerAddress>) -> String {
        join(value, |a| a.to_string())
    }
}

/// `sasl.jaas.config`: empty for unset, else one JAAS entry. Not trimmed before
/// parsing (the parser skips spaces itself); errors never quote the value.
pub(crate) struct Jaas;

impl Kind for Jaas {
    type Value = Option<JaasConfig>;
    fn parse(&self, s: &str) -> Result<Option<JaasConfig>, ConfigErrorKind> {
        if s.trim().is_empty() {
            return Ok(None);
        }
        JaasConfig::parse_kind(s).map(Some)
    }
    fn print(&self, value: &Option<JaasConfig>) -> String {
        value
            .as_ref()
            .map(|j| j.as_str().to_string())
            .unwrap_or_default()
    }
}
