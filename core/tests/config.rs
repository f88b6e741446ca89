//! The consumer configuration through its public API: Java's defaults, parsing of
//! every property, the rules between properties, the builder, and error messages.

use kasio_core::config::{
    AssignmentStrategy, BrokerAddress, ClientDnsLookup, Config, ConfigError, ConfigErrorKind,
    EndpointIdentification, GroupProtocol, IsolationLevel, JaasConfig, LoginModule, OffsetReset,
    SaslMechanism, SecurityProtocol,
};
use kasio_core::time::Duration;

const BOOTSTRAP: (&str, &str) = ("bootstrap.servers", "localhost:9092");

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn config(pairs: &[(&'static str, &'static str)]) -> Result<Config, ConfigError> {
    Config::from_pairs(core::iter::once(BOOTSTRAP).chain(pairs.iter().copied()))
}

/// The error's property and, for a conflict, the other property.
fn conflict(result: Result<Config, ConfigError>) -> (String, &'static str) {
    match result {
        Err(ConfigError {
            property,
            kind: ConfigErrorKind::Conflict { other, .. },
        }) => (property, other),
        other => panic!("expected a conflict, got {other:?}"),
    }
}

#[test]
fn defaults_are_javas() {
    let c = config(&[]).unwrap();
    assert_eq!(
        c.bootstrap_servers,
        vec![BrokerAddress::new("localhost", 9092)]
    );
    assert_eq!(c.client_id, "kasio");
    assert_eq!(c.client_rack, None);
    assert_eq!(c.group_id, None);
    assert_eq!(c.group_instance_id, None);
    assert_eq!(c.group_protocol, GroupProtocol::Classic);
    assert_eq!(c.group_remote_assignor, None);
    assert_eq!(
        c.partition_assignment_strategy,
        [
            AssignmentStrategy::Range,
            AssignmentStrategy::CooperativeSticky
        ]
    );
    assert!(c.enable_auto_commit);
    assert_eq!(c.auto_commit_interval, ms(5000));
    assert_eq!(c.auto_offset_reset, OffsetReset::Latest);
    assert_eq!(c.max_poll_records, 500);
    assert_eq!(c.max_poll_interval, ms(300_000));
    assert_eq!(c.session_timeout, ms(45_000));
    assert_eq!(c.heartbeat_interval, ms(3000));
    assert_eq!(c.fetch_min_bytes, 1);
    assert_eq!(c.fetch_max_bytes, 52_428_800);
    assert_eq!(c.fetch_max_wait, ms(500));
    assert_eq!(c.max_partition_fetch_bytes, 1_048_576);
    assert_eq!(c.isolation_level, IsolationLevel::ReadUncommitted);
    assert!(c.check_crcs);
    assert_eq!(c.request_timeout, ms(30_000));
    assert_eq!(c.default_api_timeout, ms(60_000));
    assert_eq!(c.reconnect_backoff, ms(50));
    assert_eq!(c.reconnect_backoff_max, ms(1000));
    assert_eq!(c.retry_backoff, ms(100));
    assert_eq!(c.retry_backoff_max, ms(1000));
    assert_eq!(c.socket_connection_setup_timeout, ms(10_000));
    assert_eq!(c.socket_connection_setup_timeout_max, ms(30_000));
    assert_eq!(c.metadata_max_age, ms(300_000));
    assert!(c.allow_auto_create_topics);
    assert!(c.exclude_internal_topics);
    assert_eq!(c.connections_max_idle, ms(540_000));
    assert_eq!(c.max_in_flight_requests_per_connection, 5);
    assert_eq!(c.receive_message_max_bytes, 100_000_000);
    assert_eq!(c.queued_min_messages, 100_000);
    assert_eq!(c.queued_max_messages_kbytes, 65_536);
    assert!(!c.enable_partition_eof);
    assert_eq!(c.security_protocol, SecurityProtocol::Plaintext);
    assert_eq!(c.sasl_mechanism, SaslMechanism::Plain);
    assert_eq!(c.sasl_username, None);
    assert_eq!(c.sasl_password, None);
    assert_eq!(c.ssl_ca_location, None);
    assert_eq!(
        c.ssl_endpoint_identification_algorithm,
        EndpointIdentification::Https
    );
    assert_eq!(c.client_dns_lookup, ClientDnsLookup::UseAllDnsIps);
    // The documented defaults are what `get` prints on a default configuration.
    for p in Config::properties() {
        if let Some(default) = p.default {
            assert_eq!(c.get(p.name).as_deref(), Some(default), "{}", p.name);
        }
        let explicit = p.name == "bootstrap.servers";
        assert_eq!(c.explicitly_set(p.name), explicit, "{}", p.name);
    }
    assert_eq!(
        Config::builder("localhost:9092").unwrap().build().unwrap(),
        c
    );
}

/// One property: context needed for a good value to validate, a good value, how `get`
/// prints it, and a value that does not parse (`None` for free text).
struct Case {
    name: &'static str,
    context: &'static [(&'static str, &'static str)],
    good: &'static str,
    printed: &'static str,
    bad: Option<&'static str>,
}

const SASL: &[(&str, &str)] = &[
    ("security.protocol", "SASL_SSL"),
    ("sasl.username", "u"),
    ("sasl.password", "p"),
];

const PLAIN_JAAS: &str = "org.apache.kafka.common.security.plain.PlainLoginModule required \
                          username=\"alice\" password=\"hunter2\";";

const fn case(
    name: &'static str,
    good: &'static str,
    printed: &'static str,
    bad: &'static str,
) -> Case {
    Case {
        name,
        context: &[],
        good,
        printed,
        bad: Some(bad),
    }
}

const fn text(name: &'static str, context: &'static [(&'static str, &'static str)]) -> Case {
    Case {
        name,
        context,
        good: " some text ",
        printed: "some text",
        bad: None,
    }
}

const CASES: &[Case] = &[
    case(
        "bootstrap.servers",
        " a:1 , [::1]:9093,",
        "a:1,[::1]:9093",
        "a:0",
    ),
    text("client.id", &[]),
    text("client.rack", &[]),
    text("group.id", &[]),
    Case {
        name: "group.instance.id",
        context: &[("group.id", "g")],
        good: "pod-1",
        printed: "pod-1",
        bad: Some("pod 1"),
    },
    case("group.protocol", "CONSUMER", "consumer", "modern"),
    text("group.remote.assignor", &[("group.protocol", "consumer")]),
    case(
        "partition.assignment.strategy",
        "org.apache.kafka.clients.consumer.StickyAssignor, roundrobin",
        "sticky,roundrobin",
        "range,fair",
    ),
    case("enable.auto.commit", "FALSE", "false", "no"),
    case("auto.commit.interval.ms", "0", "0", "-1"),
    case("auto.offset.reset", "smallest", "earliest", "soon"),
    case("max.poll.records", "1", "1", "0"),
    case(
        "max.poll.interval.ms",
        "2147483647",
        "2147483647",
        "2147483648",
    ),
    case("session.timeout.ms", "10000", "10000", "0"),
    case("heartbeat.interval.ms", "44999", "44999", "1s"),
    case("fetch.min.bytes", "0", "0", "-5"),
    case("fetch.max.bytes", "1024", "1024", "1e6"),
    case("fetch.max.wait.ms", " 100 ", "100", "100ms"),
    case("max.partition.fetch.bytes", "65536", "65536", ""),
    case(
        "isolation.level",
        "Read_Committed",
        "read_committed",
        "serializable",
    ),
    case("check.crcs", "false", "false", "off"),
    case("request.timeout.ms", "5000", "5000", "-1"),
    case("default.api.timeout.ms", "0", "0", "x"),
    case("reconnect.backoff.ms", "0", "0", "-1"),
    case(
        "reconnect.backoff.max.ms",
        "9223372036854775807",
        "18446744073709551",
        "9223372036854775808",
    ),
    case("retry.backoff.ms", "1000", "1000", "1.5"),
    case("retry.backoff.max.ms", "60000", "60000", "+-1"),
    case(
        "socket.connection.setup.timeout.ms",
        "20000",
        "20000",
        "-20000",
    ),
    case(
        "socket.connection.setup.timeout.max.ms",
        "40000",
        "40000",
        "forever",
    ),
    case("metadata.max.age.ms", "0", "0", "-1"),
    case("allow.auto.create.topics", "false", "false", "0"),
    case("exclude.internal.topics", "False", "false", "n"),
    case("connections.max.idle.ms", "1", "1", "-1"),
    case("max.in.flight.requests.per.connection", "1", "1", "0"),
    case(
        "receive.message.max.bytes",
        "2147483647",
        "2147483647",
        "999",
    ),
    case("queued.min.messages", "10000000", "10000000", "10000001"),
    case(
        "queued.max.messages.kbytes",
        "2097151",
        "2097151",
        "2097152",
    ),
    case("enable.partition.eof", "true", "true", "yes"),
    case("security.protocol", "ssl", "SSL", "TLS"),
    Case {
        name: "sasl.mechanism",
        context: SASL,
        good: "scram-sha-512",
        printed: "SCRAM-SHA-512",
        bad: Some("SCRAM-SHA-1"),
    },
    text("sasl.username", SASL),
    Case {
        name: "sasl.password",
        context: SASL,
        good: " p w ",
        printed: " p w ",
        bad: None,
    },
    Case {
        name: "sasl.jaas.config",
        context: &[("security.protocol", "SASL_SSL")],
        good: PLAIN_JAAS,
        printed: PLAIN_JAAS,
        bad: Some("org.apache.kafka.common.security.plain.PlainLoginModule required password=\"hunter2\";"),
    },
    text("ssl.ca.location", &[]),
    text("ssl.ca.pem", &[]),
    text("ssl.certificate.location", &[]),
    text("ssl.certificate.pem", &[]),
    text("ssl.key.location", &[]),
    Case {
        name: "ssl.key.pem",
        context: &[],
        good: " k ",
        printed: " k ",
        bad: None,
    },
    Case {
        name: "ssl.key.password",
        context: &[],
        good: " p w ",
        printed: " p w ",
        bad: None,
    },
    text("ssl.keystore.location", &[]),
    case("enable.ssl.certificate.verification", "false", "false", "maybe"),
    case("ssl.endpoint.identification.algorithm", "", "none", "http"),
    case(
        "client.dns.lookup",
        "resolve_canonical_bootstrap_servers_only",
        "resolve_canonical_bootstrap_servers_only",
        "default",
    ),
];

#[test]
fn cases_cover_every_property() {
    let names: Vec<&str> = Config::properties().iter().map(|p| p.name).collect();
    let cased: Vec<&str> = CASES.iter().map(|c| c.name).collect();
    assert_eq!(cased, names);
    // Only free text has no bad value.
    let free: Vec<&str> = CASES
        .iter()
        .filter(|c| c.bad.is_none())
        .map(|c| c.name)
        .collect();
    assert_eq!(
        free,
        [
            "client.id",
            "client.rack",
            "group.id",
            "group.remote.assignor",
            "sasl.username",
            "sasl.password",
            "ssl.ca.location",
            "ssl.ca.pem",
            "ssl.certificate.location",
            "ssl.certificate.pem",
            "ssl.key.location",
            "ssl.key.pem",
            "ssl.key.password",
            "ssl.keystore.location"
        ]
    );
}

#[test]
fn every_property_parses_a_good_value_and_rejects_a_bad_one() {
    for case in CASES {
        let with = |value: &'static str| {
            let mut pairs = vec![BOOTSTRAP];
            pairs.extend_from_slice(case.context);
            pairs.push((case.name, value));
            Config::from_pairs(pairs)
        };
        let kip848 =
            case.name == "group.protocol" || case.context.contains(&("group.protocol", "consumer"));
        if kip848 {
            // The value parses, and the configuration is refused as a whole with
            // an error naming group.protocol until KIP-848 is built.
            let err = with(case.good).unwrap_err();
            assert_eq!(err.property, "group.protocol", "{}", case.name);
            assert!(
                matches!(err.kind, ConfigErrorKind::Unsupported { .. }),
                "{}: {err}",
                case.name
            );
            if let Some(bad) = case.bad {
                let err = with(bad).unwrap_err();
                assert_eq!(err.property, case.name);
                assert!(matches!(err.kind, ConfigErrorKind::InvalidValue { .. }));
            }
            continue;
        }
        let c = with(case.good).unwrap_or_else(|e| panic!("{}: {e}", case.name));
        assert_eq!(
            c.get(case.name).as_deref(),
            Some(case.printed),
            "{}",
            case.name
        );
        assert!(c.explicitly_set(case.name), "{}", case.name);
        let default = config(&[]).unwrap().get(case.name).unwrap();
        assert_ne!(
            case.printed, default,
            "{}: the good value is the default",
            case.name
        );

        if let Some(bad) = case.bad {
            let err = with(bad).unwrap_err();
            assert_eq!(err.property, case.name);
            match err.kind {
                ConfigErrorKind::InvalidValue { value, expected } => {
                    assert!(bad.contains(value.trim()), "{}: {value:?}", case.name);
                    assert!(!expected.is_empty());
                }
                // A value that may hold a password is not repeated.
                ConfigErrorKind::InvalidSecret { expected } if case.name == "sasl.jaas.config" => {
                    assert!(!expected.is_empty());
                    assert!(!format!("{err}").contains("hunter2"));
                }
                kind => panic!("{}: {kind:?}", case.name),
            }
            // `set` rejects it too, and leaves the configuration as it was.
            let mut c2 = c.clone();
            assert_eq!(c2.set(case.name, bad).unwrap_err().property, case.name);
            assert_eq!(c2, c);
            assert_eq!(c2.get(case.name).as_deref(), Some(case.printed));
        }
    }
}

#[test]
fn unknown_property() {
    let err = config(&[("fetch.wait.max.ms", "100")]).unwrap_err();
    assert_eq!(
        err,
        ConfigError::new("fetch.wait.max.ms", ConfigErrorKind::Unknown)
    );
    assert_eq!(err.to_string(), "fetch.wait.max.ms: unknown property");
    let mut c = config(&[]).unwrap();
    assert_eq!(
        c.set("Group.Id", "g").unwrap_err().kind,
        ConfigErrorKind::Unknown
    );
    assert_eq!(c.get("no.such.property"), None);
    assert!(!c.explicitly_set("no.such.property"));
}

#[test]
fn bootstrap_servers_is_required() {
    let err = Config::from_pairs([("group.id", "g")]).unwrap_err();
    assert_eq!(
        err,
        ConfigError::new("bootstrap.servers", ConfigErrorKind::Missing)
    );
    assert_eq!(err.to_string(), "bootstrap.servers: required but not set");
    assert_eq!(
        Config::from_pairs([]).unwrap_err().kind,
        ConfigErrorKind::Missing
    );
    // Present but listing nothing is an invalid value, not a missing one.
    for empty in ["", " , ,"] {
        let err = Config::from_pairs([("bootstrap.servers", empty)]).unwrap_err();
        assert!(
            matches!(err.kind, ConfigErrorKind::InvalidValue { .. }),
            "{empty:?}"
        );
        assert!(Config::builder(empty).is_err());
    }
}

#[test]
fn bootstrap_servers_entries() {
    let c = Config::builder(" kafka-1.example.com:9092 ,10.0.0.1:1,[fe80::1%eth0]:65535 ")
        .unwrap()
        .build()
        .unwrap();
    assert_eq!(
        c.bootstrap_servers,
        [
            BrokerAddress::new("kafka-1.example.com", 9092),
            BrokerAddress::new("10.0.0.1", 1),
            BrokerAddress::new("fe80::1%eth0", 65535),
        ]
    );
    assert_eq!(
        c.get("bootstrap.servers").unwrap(),
        "kafka-1.example.com:9092,10.0.0.1:1,[fe80::1%eth0]:65535"
    );
    for bad in [
        "host",
        ":9092",
        "host:",
        "host:0",
        "host:65536",
        "host:-1",
        "::1:9092",
        "[::1]9092",
        "[]:1",
        "ho st:1",
        "[::1:1",
    ] {
        let err = Config::builder(&format!("ok:1,{bad}")).unwrap_err();
        assert_eq!(err.property, "bootstrap.servers");
        assert_eq!(
            err.kind,
            ConfigErrorKind::InvalidValue {
                value: bad.to_string(),
                expected: "host:port with a port in 1..=65535 (an IPv6 address as [::1]:9092)"
            },
            "{bad:?}"
        );
    }
    assert_eq!(
        "h:1".parse::<BrokerAddress>().unwrap(),
        BrokerAddress::new("h", 1)
    );
}

#[test]
fn synonyms_and_case() {
    for (value, reset) in [
        ("earliest", OffsetReset::Earliest),
        ("Beginning", OffsetReset::Earliest),
        ("smallest", OffsetReset::Earliest),
        ("LATEST", OffsetReset::Latest),
        ("largest", OffsetReset::Latest),
        ("end", OffsetReset::Latest),
        ("none", OffsetReset::None),
        ("error", OffsetReset::None),
    ] {
        let c = Config::from_pairs([BOOTSTRAP, ("auto.offset.reset", value)]).unwrap();
        assert_eq!(c.auto_offset_reset, reset, "{value}");
        assert_eq!(value.parse::<OffsetReset>(), Ok(reset));
    }
    for (class, strategy) in [
        (
            "org.apache.kafka.clients.consumer.RangeAssignor",
            AssignmentStrategy::Range,
        ),
        (
            "org.apache.kafka.clients.consumer.RoundRobinAssignor",
            AssignmentStrategy::RoundRobin,
        ),
        (
            "org.apache.kafka.clients.consumer.StickyAssignor",
            AssignmentStrategy::Sticky,
        ),
        (
            "org.apache.kafka.clients.consumer.CooperativeStickyAssignor",
            AssignmentStrategy::CooperativeSticky,
        ),
    ] {
        assert_eq!(class.parse::<AssignmentStrategy>(), Ok(strategy));
    }
    assert_eq!(
        "sasl_plaintext".parse::<SecurityProtocol>(),
        Ok(SecurityProtocol::SaslPlaintext)
    );
    assert_eq!(
        "Classic".parse::<GroupProtocol>(),
        Ok(GroupProtocol::Classic)
    );
    let err = "later".parse::<OffsetReset>().unwrap_err();
    assert_eq!(err.property, "auto.offset.reset");
}

#[test]
fn enum_spellings() {
    assert_eq!(OffsetReset::None.as_str(), "none");
    assert_eq!(IsolationLevel::ReadCommitted.as_str(), "read_committed");
    assert_eq!(IsolationLevel::ReadUncommitted.as_i8(), 0);
    assert_eq!(IsolationLevel::ReadCommitted.as_i8(), 1);
    assert_eq!(
        AssignmentStrategy::CooperativeSticky.to_string(),
        "cooperative-sticky"
    );
    assert!(AssignmentStrategy::CooperativeSticky.is_cooperative());
    assert!(!AssignmentStrategy::Sticky.is_cooperative());
    assert_eq!(SecurityProtocol::SaslSsl.as_str(), "SASL_SSL");
    assert!(SecurityProtocol::SaslSsl.uses_tls() && SecurityProtocol::SaslSsl.uses_sasl());
    assert!(!SecurityProtocol::Ssl.uses_sasl() && !SecurityProtocol::SaslPlaintext.uses_tls());
    assert_eq!(SaslMechanism::ScramSha256.as_str(), "SCRAM-SHA-256");
    assert_eq!(GroupProtocol::Consumer.as_str(), "consumer");
    assert_eq!(
        ClientDnsLookup::ResolveCanonicalBootstrapServersOnly.as_str(),
        "resolve_canonical_bootstrap_servers_only"
    );
    // Every value prints and parses back.
    for v in OffsetReset::ALL {
        assert_eq!(v.as_str().parse::<OffsetReset>().as_ref(), Ok(v));
    }
    for v in AssignmentStrategy::ALL {
        assert_eq!(v.as_str().parse::<AssignmentStrategy>().as_ref(), Ok(v));
    }
    for v in EndpointIdentification::ALL {
        assert_eq!(v.as_str().parse::<EndpointIdentification>().as_ref(), Ok(v));
    }
}

#[test]
fn gssapi_is_named_but_not_supported() {
    let err = config(&[("sasl.mechanism", "gssapi")]).unwrap_err();
    assert_eq!(err.property, "sasl.mechanism");
    let ConfigErrorKind::Unsupported { reason } = err.kind else {
        panic!("{err:?}")
    };
    assert!(reason.contains("Kerberos"));
    assert!(err
        .to_string()
        .starts_with("sasl.mechanism: not supported: GSSAPI (Kerberos)"));
    assert_eq!(
        "oauthbearer".parse::<SaslMechanism>(),
        Ok(SaslMechanism::OAuthBearer)
    );
}

#[test]
fn heartbeat_must_be_below_session_timeout() {
    assert!(config(&[
        ("session.timeout.ms", "6000"),
        ("heartbeat.interval.ms", "5999")
    ])
    .is_ok());
    for heartbeat in ["6000", "7000"] {
        let r = config(&[
            ("session.timeout.ms", "6000"),
            ("heartbeat.interval.ms", heartbeat),
        ]);
        assert_eq!(
            conflict(r),
            ("heartbeat.interval.ms".into(), "session.timeout.ms")
        );
    }
    // Against the default session timeout too.
    let r = config(&[("heartbeat.interval.ms", "45000")]);
    assert_eq!(
        conflict(r),
        ("heartbeat.interval.ms".into(), "session.timeout.ms")
    );
}

#[test]
fn fetch_min_must_not_exceed_fetch_max() {
    assert!(config(&[("fetch.min.bytes", "100"), ("fetch.max.bytes", "100")]).is_ok());
    let r = config(&[("fetch.min.bytes", "101"), ("fetch.max.bytes", "100")]);
    assert_eq!(conflict(r), ("fetch.min.bytes".into(), "fetch.max.bytes"));
}

#[test]
fn fetch_max_must_fit_in_a_frame() {
    assert!(config(&[("fetch.max.bytes", "99999488")]).is_ok());
    let r = config(&[("fetch.max.bytes", "99999489")]);
    assert_eq!(
        conflict(r),
        ("fetch.max.bytes".into(), "receive.message.max.bytes")
    );
    let r = config(&[("receive.message.max.bytes", "52429311")]);
    assert_eq!(
        conflict(r),
        ("fetch.max.bytes".into(), "receive.message.max.bytes")
    );
}

#[test]
fn backoffs_must_not_exceed_their_maximum() {
    assert!(config(&[
        ("reconnect.backoff.ms", "1000"),
        ("retry.backoff.ms", "1000")
    ])
    .is_ok());
    let r = config(&[("reconnect.backoff.ms", "1001")]);
    assert_eq!(
        conflict(r),
        ("reconnect.backoff.ms".into(), "reconnect.backoff.max.ms")
    );
    let r = config(&[("reconnect.backoff.max.ms", "10")]);
    assert_eq!(
        conflict(r),
        ("reconnect.backoff.ms".into(), "reconnect.backoff.max.ms")
    );
    let r = config(&[
        ("retry.backoff.ms", "2000"),
        ("retry.backoff.max.ms", "1999"),
    ]);
    assert_eq!(
        conflict(r),
        ("retry.backoff.ms".into(), "retry.backoff.max.ms")
    );
}

#[test]
fn group_instance_id_needs_group_id() {
    let r = config(&[("group.instance.id", "pod-1")]);
    assert_eq!(conflict(r), ("group.instance.id".into(), "group.id"));
    // An empty group.id is no group.
    let r = config(&[("group.id", " "), ("group.instance.id", "pod-1")]);
    assert_eq!(conflict(r), ("group.instance.id".into(), "group.id"));
    let c = config(&[("group.id", "g"), ("group.instance.id", "pod-1")]).unwrap();
    assert_eq!(c.group_instance_id.as_deref(), Some("pod-1"));
}

#[test]
fn auto_commit_needs_a_group() {
    let c = config(&[("enable.auto.commit", "true")]).unwrap();
    assert!(c.enable_auto_commit, "the user's value is kept");
    assert!(!c.auto_commit_enabled());
    let c = config(&[("group.id", "g")]).unwrap();
    assert!(c.auto_commit_enabled());
    let c = config(&[("group.id", "g"), ("enable.auto.commit", "false")]).unwrap();
    assert!(!c.auto_commit_enabled());
}

#[test]
fn sasl_settings_need_a_sasl_protocol() {
    for (name, value) in [
        ("sasl.mechanism", "PLAIN"),
        ("sasl.mechanisms", "PLAIN"),
        ("sasl.username", "u"),
        ("sasl.password", "p"),
        ("sasl.jaas.config", PLAIN_JAAS),
    ] {
        for protocol in ["PLAINTEXT", "SSL"] {
            let r = config(&[("security.protocol", protocol), (name, value)]);
            let name = if name == "sasl.mechanisms" {
                "sasl.mechanism"
            } else {
                name
            };
            assert_eq!(
                conflict(r),
                (name.to_string(), "security.protocol"),
                "{name} {protocol}"
            );
        }
    }
    // And a SASL protocol needs credentials.
    let err = config(&[("security.protocol", "SASL_SSL")]).unwrap_err();
    assert_eq!(
        err,
        ConfigError::new("sasl.username", ConfigErrorKind::Missing)
    );
    let err = config(&[
        ("security.protocol", "SASL_PLAINTEXT"),
        ("sasl.username", "u"),
    ])
    .unwrap_err();
    assert_eq!(
        err,
        ConfigError::new("sasl.password", ConfigErrorKind::Missing)
    );
    let c = config(&[
        ("security.protocol", "SASL_PLAINTEXT"),
        ("sasl.mechanism", "SCRAM-SHA-256"),
        ("sasl.username", "u"),
        ("sasl.password", "p"),
    ])
    .unwrap();
    assert_eq!(c.sasl_mechanism, SaslMechanism::ScramSha256);
}

#[test]
fn remote_assignor_only_with_consumer_protocol() {
    let r = config(&[("group.remote.assignor", "uniform")]);
    assert_eq!(
        conflict(r),
        ("group.remote.assignor".into(), "group.protocol")
    );
    // Accepted with group.protocol=consumer, which is itself refused until KIP-848
    // is built.
    let e = config(&[
        ("group.protocol", "consumer"),
        ("group.remote.assignor", "uniform"),
    ])
    .unwrap_err();
    assert_eq!(e.property, "group.protocol");
    assert!(matches!(e.kind, ConfigErrorKind::Unsupported { .. }), "{e}");
    // Empty is unset, as in Java.
    assert!(config(&[("group.remote.assignor", "")]).is_ok());
}

#[test]
fn consumer_protocol_rejects_classic_only_settings() {
    for (name, value) in [
        ("partition.assignment.strategy", "range"),
        ("session.timeout.ms", "45000"),
        ("heartbeat.interval.ms", "3000"),
    ] {
        // Explicitly set, even to the default: an error.
        let r = config(&[("group.protocol", "consumer"), (name, value)]);
        assert_eq!(conflict(r), (name.to_string(), "group.protocol"), "{name}");
        assert!(config(&[(name, value)]).is_ok());
    }
    // Left at their defaults: the protocol itself is refused, clearly, until
    // KIP-848 is built.
    let e = config(&[("group.protocol", "consumer"), ("group.id", "g")]).unwrap_err();
    assert_eq!(e.property, "group.protocol");
    assert!(e.to_string().contains("not built yet"), "{e}");
    // The builder tracks explicit settings too.
    let r = Config::builder("h:1")
        .unwrap()
        .group_protocol(GroupProtocol::Consumer)
        .session_timeout(ms(45_000))
        .build();
    assert_eq!(conflict(r), ("session.timeout.ms".into(), "group.protocol"));
    // `set` checks at once and changes nothing on error.
    let mut c = config(&[("session.timeout.ms", "30000")]).unwrap();
    assert_eq!(
        c.set("group.protocol", "consumer").unwrap_err().property,
        "session.timeout.ms"
    );
    assert_eq!(c.group_protocol, GroupProtocol::Classic);
}

#[test]
fn builder_equals_from_pairs() {
    let pairs = [
        ("bootstrap.servers", "a:9092,[::1]:9093"),
        ("client.id", "billing-1"),
        ("client.rack", "eu-west-1a"),
        ("group.id", "billing"),
        ("group.instance.id", "pod-3"),
        ("partition.assignment.strategy", "cooperative-sticky"),
        ("enable.auto.commit", "false"),
        ("auto.commit.interval.ms", "1000"),
        ("auto.offset.reset", "earliest"),
        ("max.poll.records", "100"),
        ("max.poll.interval.ms", "60000"),
        ("session.timeout.ms", "10000"),
        ("heartbeat.interval.ms", "2000"),
        ("fetch.min.bytes", "1024"),
        ("fetch.max.bytes", "10485760"),
        ("fetch.max.wait.ms", "100"),
        ("max.partition.fetch.bytes", "262144"),
        ("isolation.level", "read_committed"),
        ("check.crcs", "false"),
        ("request.timeout.ms", "20000"),
        ("default.api.timeout.ms", "40000"),
        ("reconnect.backoff.ms", "100"),
        ("reconnect.backoff.max.ms", "10000"),
        ("retry.backoff.ms", "200"),
        ("retry.backoff.max.ms", "5000"),
        ("socket.connection.setup.timeout.ms", "5000"),
        ("socket.connection.setup.timeout.max.ms", "20000"),
        ("metadata.max.age.ms", "60000"),
        ("allow.auto.create.topics", "false"),
        ("exclude.internal.topics", "false"),
        ("connections.max.idle.ms", "60000"),
        ("max.in.flight.requests.per.connection", "1"),
        ("receive.message.max.bytes", "20000000"),
        ("queued.min.messages", "1000"),
        ("queued.max.messages.kbytes", "1024"),
        ("enable.partition.eof", "true"),
        ("security.protocol", "SASL_SSL"),
        ("sasl.mechanism", "SCRAM-SHA-512"),
        ("sasl.username", "alice"),
        ("sasl.password", "s3cret"),
        ("ssl.ca.location", "/etc/ssl/ca.pem"),
        ("ssl.endpoint.identification.algorithm", "none"),
        (
            "client.dns.lookup",
            "resolve_canonical_bootstrap_servers_only",
        ),
    ];
    let from_pairs = Config::from_pairs(pairs).unwrap();
    let built = Config::builder("a:9092,[::1]:9093")
        .unwrap()
        .client_id("billing-1")
        .client_rack("eu-west-1a")
        .group_id("billing")
        .group_instance_id("pod-3")
        .partition_assignment_strategy([AssignmentStrategy::CooperativeSticky])
        .enable_auto_commit(false)
        .auto_commit_interval(ms(1000))
        .auto_offset_reset(OffsetReset::Earliest)
        .max_poll_records(100)
        .max_poll_interval(ms(60_000))
        .session_timeout(ms(10_000))
        .heartbeat_interval(ms(2000))
        .fetch_min_bytes(1024)
        .fetch_max_bytes(10_485_760)
        .fetch_max_wait(ms(100))
        .max_partition_fetch_bytes(262_144)
        .isolation_level(IsolationLevel::ReadCommitted)
        .check_crcs(false)
        .request_timeout(ms(20_000))
        .default_api_timeout(ms(40_000))
        .reconnect_backoff(ms(100))
        .reconnect_backoff_max(ms(10_000))
        .retry_backoff(ms(200))
        .retry_backoff_max(ms(5000))
        .socket_connection_setup_timeout(ms(5000))
        .socket_connection_setup_timeout_max(ms(20_000))
        .metadata_max_age(ms(60_000))
        .allow_auto_create_topics(false)
        .exclude_internal_topics(false)
        .connections_max_idle(ms(60_000))
        .max_in_flight_requests_per_connection(1)
        .receive_message_max_bytes(20_000_000)
        .queued_min_messages(1000)
        .queued_max_messages_kbytes(1024)
        .enable_partition_eof(true)
        .security_protocol(SecurityProtocol::SaslSsl)
        .sasl_mechanism(SaslMechanism::ScramSha512)
        .sasl_username("alice")
        .sasl_password("s3cret")
        .ssl_ca_location("/etc/ssl/ca.pem")
        .ssl_endpoint_identification_algorithm(EndpointIdentification::None)
        .client_dns_lookup(ClientDnsLookup::ResolveCanonicalBootstrapServersOnly)
        .build()
        .unwrap();
    assert_eq!(built, from_pairs);
    for (name, value) in pairs {
        assert!(
            built.explicitly_set(name) && from_pairs.explicitly_set(name),
            "{name}"
        );
        assert_eq!(built.get(name).as_deref(), Some(value), "{name}");
    }
    // Neither matches the defaults, so the comparison above can fail.
    assert_ne!(
        from_pairs,
        Config::builder("a:9092,[::1]:9093")
            .unwrap()
            .build()
            .unwrap()
    );
}

#[test]
fn builder_validates_values_like_from_pairs() {
    let b = || Config::builder("h:1").unwrap();
    let err = b().max_poll_records(0).build().unwrap_err();
    assert_eq!(err.property, "max.poll.records");
    assert_eq!(
        err.to_string(),
        r#"max.poll.records: invalid value "0": expected an integer in 1..=2147483647"#
    );
    let err = b().fetch_max_wait(ms(1 << 31)).build().unwrap_err();
    assert_eq!(err.property, "fetch.max.wait.ms");
    let err = b().partition_assignment_strategy([]).build().unwrap_err();
    assert_eq!(err.property, "partition.assignment.strategy");
    let err = b()
        .bootstrap_servers([BrokerAddress::new("", 1)])
        .build()
        .unwrap_err();
    assert_eq!(err.property, "bootstrap.servers");
    let err = b()
        .group_id("g")
        .group_instance_id("not valid")
        .build()
        .unwrap_err();
    assert_eq!(err.property, "group.instance.id");
    // Empty optional text is unset, as from text.
    assert_eq!(b().group_id("").build().unwrap().group_id, None);
}

#[test]
fn get_round_trips_through_set() {
    let c = Config::from_pairs([
        ("bootstrap.servers", "a:1,[::1]:2"),
        ("group.id", "g"),
        ("group.instance.id", "i"),
        ("partition.assignment.strategy", "roundrobin,sticky"),
        ("auto.offset.reset", "none"),
        ("session.timeout.ms", "20000"),
        ("reconnect.backoff.max.ms", "9223372036854775807"),
        ("security.protocol", "SASL_PLAINTEXT"),
        ("sasl.username", "u"),
        ("sasl.password", " pass "),
    ])
    .unwrap();
    for p in Config::properties() {
        let value = c.get(p.name).unwrap();
        let mut d = c.clone();
        d.set(p.name, &value).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(d, c, "{}", p.name);
        assert_eq!(d.get(p.name), Some(value), "{}", p.name);
        assert!(d.explicitly_set(p.name));
    }
    // All at once through from_pairs, too.
    let printed: Vec<(&str, String)> = Config::properties()
        .iter()
        .map(|p| (p.name, c.get(p.name).unwrap()))
        .collect();
    let again = Config::from_pairs(printed.iter().map(|(n, v)| (*n, v.as_str()))).unwrap();
    assert_eq!(again, c);
}

#[test]
fn set_changes_one_property_and_validates() {
    let mut c = config(&[]).unwrap();
    c.set("fetch.max.wait.ms", "250").unwrap();
    assert_eq!(c.fetch_max_wait, ms(250));
    assert!(c.explicitly_set("fetch.max.wait.ms"));
    // Order matters for dependent properties: raise the session timeout first.
    assert_eq!(
        c.set("heartbeat.interval.ms", "50000")
            .unwrap_err()
            .property,
        "heartbeat.interval.ms"
    );
    assert_eq!(c.heartbeat_interval, ms(3000));
    c.set("session.timeout.ms", "60000").unwrap();
    c.set("heartbeat.interval.ms", "50000").unwrap();
    assert_eq!(c.heartbeat_interval, ms(50_000));
}

#[test]
fn error_display() {
    let cases = [
        (
            ConfigError::new("foo", ConfigErrorKind::Unknown),
            "foo: unknown property",
        ),
        (
            ConfigError::new("bootstrap.servers", ConfigErrorKind::Missing),
            "bootstrap.servers: required but not set",
        ),
        (
            ConfigError::new(
                "auto.offset.reset",
                ConfigErrorKind::InvalidValue {
                    value: "soon".into(),
                    expected: "one of earliest, latest, none",
                },
            ),
            r#"auto.offset.reset: invalid value "soon": expected one of earliest, latest, none"#,
        ),
        (
            ConfigError::new(
                "fetch.min.bytes",
                ConfigErrorKind::Conflict {
                    other: "fetch.max.bytes",
                    reason: "the minimum exceeds the maximum",
                },
            ),
            "fetch.min.bytes: conflicts with fetch.max.bytes: the minimum exceeds the maximum",
        ),
        (
            ConfigError::new(
                "sasl.mechanism",
                ConfigErrorKind::Unsupported { reason: "no" },
            ),
            "sasl.mechanism: not supported: no",
        ),
    ];
    for (err, text) in cases {
        assert_eq!(err.to_string(), text);
    }
    // Real errors read the same way.
    let err = config(&[("auto.offset.reset", "soon")]).unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"auto.offset.reset: invalid value "soon": expected one of earliest, latest, none"#
    );
    let err = config(&[("heartbeat.interval.ms", "50000")]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "heartbeat.interval.ms: conflicts with session.timeout.ms: \
         the heartbeat interval must be shorter than the session timeout"
    );
    let err = config(&[("max.poll.records", "many")]).unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"max.poll.records: invalid value "many": expected an integer in 1..=2147483647"#
    );
    let err = config(&[("partition.assignment.strategy", " ")]).unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"partition.assignment.strategy: invalid value " ": expected a non-empty comma-separated list of range, roundrobin, sticky, cooperative-sticky"#
    );
    // A std error.
    let boxed: Box<dyn std::error::Error> = Box::new(err);
    assert!(boxed
        .to_string()
        .starts_with("partition.assignment.strategy"));
}

#[test]
fn debug_hides_the_password() {
    let c = config(&[
        ("security.protocol", "SASL_SSL"),
        ("sasl.username", "alice"),
        ("sasl.password", "hunter2"),
    ])
    .unwrap();
    let debug = format!("{c:?}");
    assert!(!debug.contains("hunter2"), "{debug}");
    assert!(
        debug.contains("[hidden]") && debug.contains("alice") && debug.contains("fetch_max_wait")
    );
    assert_eq!(c.get("sasl.password").as_deref(), Some("hunter2"));
}

#[test]
fn properties_are_documented() {
    let props = Config::properties();
    assert_eq!(props.len(), 54);
    let p = props
        .iter()
        .find(|p| p.name == "fetch.max.wait.ms")
        .unwrap();
    assert_eq!(p.default, Some("500"));
    assert!(
        p.doc.starts_with("How long the broker may hold a fetch"),
        "{}",
        p.doc
    );
    let bootstrap = props
        .iter()
        .find(|p| p.name == "bootstrap.servers")
        .unwrap();
    assert_eq!(bootstrap.default, None);
    assert!(props
        .iter()
        .all(|p| p.doc.len() > 20 && p.doc.ends_with('.')));
}

#[test]
fn librdkafkas_sasl_mechanisms_is_an_alias() {
    let c = config(&[
        ("security.protocol", "SASL_PLAINTEXT"),
        ("sasl.mechanisms", "scram-sha-512"),
        ("sasl.username", "u"),
        ("sasl.password", "p"),
    ])
    .unwrap();
    assert_eq!(c.sasl_mechanism, SaslMechanism::ScramSha512);
    assert!(c.explicitly_set("sasl.mechanisms") && c.explicitly_set("sasl.mechanism"));
    assert_eq!(c.get("sasl.mechanisms").as_deref(), Some("SCRAM-SHA-512"));
    // The alias is not a property of its own.
    assert!(Config::properties()
        .iter()
        .all(|p| p.name != "sasl.mechanisms"));
    // An error names the property as the user spelled it, with the allowed values.
    let err = config(&[("sasl.mechanisms", "SCRAM-SHA-1")]).unwrap_err();
    assert_eq!(err.property, "sasl.mechanisms");
    assert_eq!(
        err.to_string(),
        "sasl.mechanisms: invalid value \"SCRAM-SHA-1\": expected one of PLAIN, SCRAM-SHA-256, \
         SCRAM-SHA-512, OAUTHBEARER"
    );
}

#[test]
fn jaas_config_gives_the_credentials_as_java_writes_them() {
    let scram = "org.apache.kafka.common.security.scram.ScramLoginModule required \
                 username=\"alice\" password=\"hunter2\";";
    let c = config(&[
        ("security.protocol", "SASL_SSL"),
        ("sasl.mechanism", "SCRAM-SHA-256"),
        ("sasl.jaas.config", scram),
    ])
    .unwrap();
    let jaas = c.sasl_jaas_config.as_ref().unwrap();
    assert_eq!(jaas.module(), LoginModule::Scram);
    assert_eq!(jaas.option("username"), Some("alice"));
    let sasl = kasio_core::sasl::SaslConfig::from_config(&c).unwrap();
    assert_eq!(sasl.username(), Some("alice"));
    assert_eq!(sasl.mechanism(), SaslMechanism::ScramSha256);
    // Neither Debug of the config nor of its SASL settings shows the password.
    for shown in [format!("{c:?}"), format!("{sasl:?}"), format!("{jaas:?}")] {
        assert!(!shown.contains("hunter2"), "{shown}");
    }
    // The builder takes a parsed entry.
    let built = Config::builder("localhost:9092")
        .unwrap()
        .security_protocol(SecurityProtocol::SaslSsl)
        .sasl_mechanism(SaslMechanism::ScramSha256)
        .sasl_jaas_config(scram.parse::<JaasConfig>().unwrap())
        .build()
        .unwrap();
    assert_eq!(built, c);

    // The module must fit the mechanism.
    let r = config(&[
        ("security.protocol", "SASL_SSL"),
        ("sasl.mechanism", "PLAIN"),
        ("sasl.jaas.config", scram),
    ]);
    assert_eq!(conflict(r), ("sasl.jaas.config".into(), "sasl.mechanism"));
    // One way of giving credentials, not two.
    let r = config(&[
        ("security.protocol", "SASL_SSL"),
        ("sasl.jaas.config", PLAIN_JAAS),
        ("sasl.username", "bob"),
    ]);
    assert_eq!(conflict(r), ("sasl.username".into(), "sasl.jaas.config"));
    // A broken entry: an error naming the property and what was expected, without
    // the text.
    let err = config(&[
        ("security.protocol", "SASL_SSL"),
        (
            "sasl.jaas.config",
            "org.apache.kafka.common.security.plain.PlainLoginModule required \
             username=\"alice\" password=\"hunter2\"",
        ),
    ])
    .unwrap_err();
    assert_eq!(err.property, "sasl.jaas.config");
    let shown = format!("{err} {err:?}");
    assert!(
        shown.contains("';'") && !shown.contains("hunter2"),
        "{shown}"
    );
    // Kerberos is named as unsupported.
    let err = config(&[
        ("security.protocol", "SASL_SSL"),
        (
            "sasl.jaas.config",
            "com.sun.security.auth.module.Krb5LoginModule required useKeyTab=true;",
        ),
    ])
    .unwrap_err();
    assert!(
        matches!(err.kind, ConfigErrorKind::Unsupported { .. }),
        "{err}"
    );
}

#[test]
fn oauthbearer_needs_no_password() {
    let c = config(&[
        ("security.protocol", "SASL_SSL"),
        ("sasl.mechanism", "OAUTHBEARER"),
    ])
    .unwrap();
    assert!(c.security_protocol.uses_tls());
    assert_eq!(
        kasio_core::sasl::SaslConfig::from_config(&c)
            .unwrap()
            .mechanism(),
        SaslMechanism::OAuthBearer
    );
    assert!(config(&[
        ("security.protocol", "SASL_SSL"),
        ("sasl.mechanism", "OAUTHBEARER"),
        (
            "sasl.jaas.config",
            "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required;"
        ),
    ])
    .is_ok());
    let r = config(&[
        ("security.protocol", "SASL_SSL"),
        ("sasl.mechanism", "OAUTHBEARER"),
        ("sasl.username", "u"),
    ]);
    assert_eq!(conflict(r), ("sasl.username".into(), "sasl.mechanism"));
    let r = config(&[
        ("security.protocol", "SASL_SSL"),
        ("sasl.mechanism", "OAUTHBEARER"),
        ("sasl.jaas.config", PLAIN_JAAS),
    ]);
    assert_eq!(conflict(r), ("sasl.jaas.config".into(), "sasl.mechanism"));
    // Without SASL, nothing to resolve.
    assert!(kasio_core::sasl::SaslConfig::from_config(&config(&[]).unwrap()).is_none());
}

#[test]
fn secret_properties_are_marked() {
    let secrets: Vec<&str> = Config::properties()
        .iter()
        .filter(|p| p.is_secret())
        .map(|p| p.name)
        .collect();
    assert_eq!(secrets, ["sasl.password", "sasl.jaas.config"]);
}
