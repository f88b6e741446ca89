//! Unit tests of the table and the value kinds; behaviour through the public API is in
//! `core/tests/config.rs`.

use alloc::string::ToString;
use alloc::vec;

use super::kind::{Bool, Kind, Millis, OptText};
use super::values::KafkaEnum;
use super::*;

fn base() -> Config {
    Config::with_defaults(vec![BrokerAddress::new("localhost", 9092)])
}

#[test]
fn defaults_parse_and_print_back() {
    // `with_defaults` parses every default (and would hit `unreachable!` otherwise);
    // printing gives the table's text back.
    let config = base();
    for p in PROPERTIES {
        match p.default {
            Some(default) => assert_eq!((p.get)(&config), default, "{}", p.name),
            None => assert_eq!(p.name, "bootstrap.servers"),
        }
    }
    assert_eq!(config.explicit, 0);
}

#[test]
fn table_is_well_formed() {
    assert_eq!(PROPERTIES.len(), PROPERTY_COUNT);
    for (i, p) in PROPERTIES.iter().enumerate() {
        assert!(!p.doc.is_empty() && !p.doc.starts_with(' '), "{}", p.name);
        assert!(
            PROPERTIES[..i].iter().all(|q| q.name != p.name),
            "duplicate {}",
            p.name
        );
    }
    // `Field` indexes the table in the same order.
    assert_eq!(Field::bootstrap_servers.info().name, "bootstrap.servers");
    assert_eq!(Field::session_timeout.info().name, "session.timeout.ms");
    assert_eq!(Field::sasl_password.info().name, "sasl.password");
    assert_eq!(Field::client_dns_lookup.info().name, "client.dns.lookup");
}

#[test]
fn int_kinds_say_their_range() {
    assert_eq!(INT_1.expected, "an integer in 1..=2147483647");
    assert_eq!((INT_1.min, INT_1.max), (1, 2147483647));
    assert_eq!(LONG_MS_0.expected, "an integer in 0..=9223372036854775807");
    assert_eq!(LONG_MS_0.max, i64::MAX as u64);
}

#[test]
fn integers_parse_like_java() {
    assert_eq!(INT_0.parse(" 42 "), Ok(42));
    assert_eq!(INT_0.parse("+7"), Ok(7));
    assert_eq!(INT_0.parse("2147483647"), Ok(2147483647));
    for bad in [
        "-1",
        "2147483648",
        "1.5",
        "0x10",
        "",
        "1_000",
        "99999999999999999999999999",
    ] {
        assert!(
            matches!(INT_0.parse(bad), Err(ConfigErrorKind::InvalidValue { ref value, .. }) if value == bad),
            "{bad:?}"
        );
    }
    assert!(INT_1.parse("0").is_err());
    let ms: &Millis = &LONG_MS_0;
    assert_eq!(
        ms.parse("9223372036854775807")
            .map(|d| d > Duration::from_secs(1 << 40)),
        Ok(true)
    );
    assert!(ms.parse("9223372036854775808").is_err());
    assert_eq!(ms.parse("18446744073709551"), Ok(Duration::MAX));
    assert_eq!(
        ms.parse("18446744073709550"),
        Ok(Duration::from_millis(18446744073709550))
    );
    assert_eq!(ms.print(&Duration::MAX), "18446744073709551");
    // Printing drops sub-millisecond parts.
    assert_eq!(MS_0.print(&Duration::from_micros(1_999)), "1");
}

#[test]
fn booleans_and_text() {
    assert_eq!(Bool.parse(" TRUE "), Ok(true));
    assert_eq!(Bool.parse("False"), Ok(false));
    assert!(Bool.parse("yes").is_err());
    assert!(Bool.parse("1").is_err());
    assert_eq!(OptText::ANY.parse("  "), Ok(None));
    assert_eq!(OptText::ANY.parse(" g "), Ok(Some("g".to_string())));
    assert_eq!(
        OptText::SECRET.parse(" p w "),
        Ok(Some(" p w ".to_string()))
    );
    assert!(INSTANCE_ID.parse("ok-id_1.x").is_ok());
    assert!(INSTANCE_ID.parse("no spaces").is_err());
    assert!(INSTANCE_ID.parse(&"x".repeat(250)).is_err());
}

#[test]
fn enum_expectations_list_every_value() {
    assert_eq!(
        <OffsetReset as KafkaEnum>::EXPECTED,
        "one of earliest, latest, none"
    );
    assert_eq!(
        <AssignmentStrategy as KafkaEnum>::LIST_EXPECTED,
        "a non-empty comma-separated list of range, roundrobin, sticky, cooperative-sticky"
    );
    assert_eq!(
        <SaslMechanism as KafkaEnum>::EXPECTED,
        "one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER"
    );
}

#[test]
fn explicit_bits_follow_apply_and_builder() {
    let mut config = base();
    config.apply("fetch.min.bytes", "1").unwrap();
    assert!(config.is_explicit(Field::fetch_min_bytes));
    assert!(!config.is_explicit(Field::fetch_max_bytes));
    let built = Config::builder("h:1").unwrap().fetch_max_bytes(10).config;
    assert!(
        built.is_explicit(Field::fetch_max_bytes) && built.is_explicit(Field::bootstrap_servers)
    );
    assert!(!built.is_explicit(Field::fetch_min_bytes));
    // A failed apply marks nothing.
    assert!(config.apply("fetch.max.bytes", "x").is_err());
    assert!(!config.is_explicit(Field::fetch_max_bytes));
}

#[test]
fn check_catches_values_no_text_could_give() {
    let mut config = base();
    config.max_poll_records = 0;
    let err = config.validate().unwrap_err();
    assert_eq!(err.property, "max.poll.records");
    assert!(
        matches!(err.kind, ConfigErrorKind::InvalidValue { ref value, expected } if value == "0" && expected == INT_1.expected)
    );

    let mut config = base();
    config.bootstrap_servers = vec![BrokerAddress::new("a,b", 1)];
    assert_eq!(config.validate().unwrap_err().property, "bootstrap.servers");
    config.bootstrap_servers = vec![BrokerAddress::new("a", 0)];
    assert_eq!(config.validate().unwrap_err().property, "bootstrap.servers");
    config.bootstrap_servers = vec![];
    assert_eq!(config.validate().unwrap_err().property, "bootstrap.servers");
    config.bootstrap_servers = vec![BrokerAddress::new("fe80::1%eth0", 9092)];
    assert_eq!(config.validate(), Ok(()));

    let mut config = base();
    config.session_timeout = Duration::from_millis(1 << 31);
    assert_eq!(
        config.validate().unwrap_err().property,
        "session.timeout.ms"
    );
}
