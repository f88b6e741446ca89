//! What the commands share beside the consumer: one request to one broker outside
//! the consumer (`-L` needs every topic, the ISRs, the controller and the broker
//! that answered, which the consumer's metadata does not keep), librdkafka's error
//! strings (kcat prints them), and the rule for a cluster that cannot be reached.

use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use kasio_core::config::Config;
use kasio_core::conn::{ConnId, ConnSettings, Connection, Incoming};
use kasio_core::consumer::{BrokerError, ConsumerError, LocalError};
use kasio_core::protocol::{ErrorCode, Message, Request};
use kasio_core::sasl::{Authenticator, SaslConfig};
use kasio_core::time::Instant;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::rustls::ClientConfig;
use tokio_rustls::TlsConnector;

/// The bootstrap list as `(host, port)` pairs (port 9092 when left out, as
/// librdkafka).
pub fn servers(bootstrap: &str) -> Vec<(String, u16)> {
    bootstrap
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            let s = s
                .strip_prefix("PLAINTEXT://")
                .or_else(|| s.strip_prefix("plaintext://"))
                .unwrap_or(s);
            match s.rsplit_once(':') {
                Some((h, p)) if p.parse::<u16>().is_ok() => (
                    h.trim_matches(['[', ']']).to_owned(),
                    p.parse().unwrap_or(9092),
                ),
                _ => (s.to_owned(), 9092),
            }
        })
        .collect()
}

/// The answer of a broker to one request, and which server answered.
pub struct Answer<R> {
    pub body: R,
    pub host: String,
    pub port: u16,
}

/// Sends `req` to the first bootstrap server that connects and answers within
/// `timeout` (each); the error names every address tried and why it failed.
pub async fn request<R: Request + Clone>(
    bootstrap: &str,
    config: &Config,
    req: &R,
    timeout: Duration,
) -> Result<Answer<R::Response>, String> {
    request_versioned(bootstrap, config, |_| req.clone(), timeout).await
}

/// [`request`] with the request built for the version the broker and kasio
/// agree on (fields exist only in some versions, and the codec refuses a field
/// set where its version cannot carry it).
pub async fn request_versioned<R: Request>(
    bootstrap: &str,
    config: &Config,
    build: impl Fn(i16) -> R,
    timeout: Duration,
) -> Result<Answer<R::Response>, String> {
    // Unusable TLS settings fail before any connection (never in clear instead).
    let tls = kasio_std::tls::client_config(config).map_err(|e| e.to_string())?;
    let mut failures = Vec::new();
    for (host, port) in servers(bootstrap) {
        match tokio::time::timeout(
            timeout,
            request_one(&host, port, config, tls.clone(), &build),
        )
        .await
        {
            Ok(Ok(body)) => return Ok(Answer { body, host, port }),
            Ok(Err(why)) => failures.push(format!("{host}:{port} ({why})")),
            Err(_) => failures.push(format!(
                "{host}:{port} (no answer within {} s, -m)",
                timeout.as_secs()
            )),
        }
    }
    Err(match failures.len() {
        1 => format!("cannot connect to broker {}", failures[0]),
        _ => format!("cannot reach any broker: {}", failures.join(", ")),
    })
}

fn ours(api: kasio_core::protocol::ApiKey) -> (i16, i16) {
    api.versions()
}

/// A plain or TLS stream.
trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

async fn request_one<R: Request>(
    host: &str,
    port: u16,
    config: &Config,
    tls: Option<Arc<ClientConfig>>,
    build: &impl Fn(i16) -> R,
) -> Result<R::Response, String> {
    let tcp = TcpStream::connect((host, port))
        .await
        .map_err(|e| io_reason(&e))?;
    let _ = tcp.set_nodelay(true);
    let mut stream: Box<dyn Stream> = match tls {
        None => Box::new(tcp),
        Some(tls) => {
            let name = kasio_std::tls::server_name(host).map_err(|e| e.to_string())?;
            let stream = TlsConnector::from(tls)
                .connect(name, tcp)
                .await
                .map_err(|e| io_reason_at(&e, host))?;
            Box::new(stream)
        }
    };
    let settings = ConnSettings {
        client_id: Some(config.client_id.clone()),
        max_frame: 100 << 20,
        request_timeout: Duration::from_secs(3600).into(),
        versions: ours,
    };
    let now = Instant::ZERO;
    let mut conn: Connection<()> = Connection::new(ConnId(1), &settings, Instant::FAR_FUTURE);
    if let Some(sasl) = SaslConfig::from_config(config) {
        // The nonce of a SCRAM exchange must not be predictable.
        use std::hash::{BuildHasher, RandomState};
        let seed = RandomState::new().hash_one(std::process::id());
        conn = conn.with_sasl(
            Authenticator::new(sasl, seed),
            Duration::from_secs(10).into(),
        );
    }
    conn.on_connected(now).map_err(|e| e.to_string())?;
    let mut buf = BytesMut::with_capacity(64 * 1024);
    let mut version = None;
    loop {
        while let Some(out) = conn.poll_transmit() {
            stream.write_all(&out).await.map_err(|e| io_reason(&e))?;
        }
        stream.flush().await.map_err(|e| io_reason(&e))?;
        loop {
            match conn.next_incoming(now).map_err(|e| e.to_string())? {
                None => break,
                Some(Incoming::Ready) => {
                    let v = conn.versions().version(R::API_KEY).ok_or_else(|| {
                        format!("the broker speaks no version of {}", R::API_KEY.name())
                    })?;
                    conn.send(&build(v), v, (), now)
                        .map_err(|e| e.to_string())?;
                    version = Some(v);
                }
                Some(Incoming::Response(c)) => {
                    let v = version.unwrap_or(c.version);
                    let (body, _) = <R::Response as Message>::decode_prefix(v, &c.body)
                        .map_err(|e| format!("undecodable answer: {e}"))?;
                    return Ok(body);
                }
            }
        }
        if conn.has_transmit() {
            continue;
        }
        buf.reserve(64 * 1024);
        match stream.read_buf(&mut buf).await {
            Ok(0) => return Err("the broker closed the connection".into()),
            Ok(_) => conn.on_input_bytes(buf.split().freeze()),
            Err(e) => return Err(io_reason_at(&e, host)),
        }
    }
}

/// [`io_reason`], or what a TLS failure means (unknown CA, name mismatch, …).
fn io_reason_at(e: &std::io::Error, host: &str) -> String {
    if kasio_std::tls::is_tls_io_error(e) {
        kasio_std::tls::classify_io(e, host).to_string()
    } else {
        io_reason(e)
    }
}

/// An I/O error as a short phrase (`connection refused`).
pub fn io_reason(e: &std::io::Error) -> String {
    use std::io::ErrorKind::*;
    match e.kind() {
        ConnectionRefused => "connection refused".into(),
        ConnectionReset => "connection reset".into(),
        TimedOut => "timed out".into(),
        _ => {
            let s = e.to_string();
            match s.find(" (os error") {
                Some(i) => s[..i].to_lowercase(),
                None => s,
            }
        }
    }
}

/// librdkafka's `rd_kafka_err2str` for a broker error code, which kcat prints
/// (`Broker: Unknown topic or partition`).
pub fn rdkafka_broker_error(code: ErrorCode) -> String {
    let text = match code.code() {
        1 => "Offset out of range",
        3 => "Unknown topic or partition",
        5 => "Leader not available",
        6 => "Not leader for partition",
        7 => "Request timed out",
        9 => "Replica not available",
        14 => "Coordinator load in progress",
        15 => "Coordinator not available",
        16 => "Not coordinator",
        17 => "Invalid topic",
        29 => "Topic authorization failed",
        30 => "Group authorization failed",
        31 => "Cluster authorization failed",
        35 => "Unsupported version",
        74 => "Fenced leader epoch",
        75 => "Unknown leader epoch",
        100 => "Unknown topic id",
        _ => return format!("Broker: {}", code.message()),
    };
    format!("Broker: {text}")
}

/// A consumer error as kcat would print it for a partition (`-Q`).
pub fn rdkafka_error(e: &ConsumerError) -> String {
    match e {
        ConsumerError::Broker(b) => match b {
            BrokerError::Partition { code, .. } | BrokerError::Topic { code, .. } => {
                rdkafka_broker_error(*code)
            }
            other => other.to_string(),
        },
        ConsumerError::Local(LocalError::Timeout) => "Local: Timed out".into(),
        other => other.to_string(),
    }
}

/// Every partition `group` has a committed offset for: FindCoordinator, then
/// OffsetFetch with all topics (null, v2+) on the coordinator, as Kafka's
/// `kafka-consumer-groups --describe` does, so a group without members (the
/// usual case when checking a stopped application's lag) still shows its
/// offsets. A coordinator still loading or moving is asked again, up to three
/// times.
pub async fn group_committed_partitions(
    bootstrap: &str,
    config: &Config,
    group: &str,
    timeout: Duration,
) -> Result<Vec<(String, i32)>, String> {
    use kasio_core::protocol::messages::offset_fetch_request::OffsetFetchRequestGroup;
    use kasio_core::protocol::messages::{
        FindCoordinatorRequest, OffsetFetchRequest, OffsetFetchResponse,
    };

    let retriable = [
        ErrorCode::CoordinatorLoadInProgress,
        ErrorCode::CoordinatorNotAvailable,
        ErrorCode::NotCoordinator,
    ];
    let mut last = String::new();
    for attempt in 0..3 {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let find = |v: i16| FindCoordinatorRequest {
            key: if v <= 3 {
                group.to_owned()
            } else {
                String::new()
            },
            key_type: 0,
            coordinator_keys: if v >= 4 {
                vec![group.to_owned()]
            } else {
                vec![]
            },
        };
        let found = request_versioned(bootstrap, config, find, timeout)
            .await?
            .body;
        let (code, host, port) = match found.coordinators.first() {
            Some(c) => (c.error_code, c.host.clone(), c.port),
            None => (found.error_code, found.host.clone(), found.port),
        };
        let code = ErrorCode::from_code(code);
        if code != ErrorCode::None {
            last = format!(
                "finding the coordinator of group {group}: {}",
                rdkafka_broker_error(code)
            );
            if retriable.contains(&code) {
                continue;
            }
            return Err(last);
        }
        let Ok(port) = u16::try_from(port) else {
            return Err(format!("the coordinator of group {group} has port {port}"));
        };
        let fetch = |v: i16| OffsetFetchRequest {
            group_id: if v <= 7 {
                group.to_owned()
            } else {
                String::new()
            },
            // null: every topic (v2+); from v8 the groups carry it.
            topics: if v <= 7 { None } else { Some(vec![]) },
            groups: if v >= 8 {
                vec![OffsetFetchRequestGroup {
                    group_id: group.to_owned(),
                    member_id: None,
                    member_epoch: -1,
                    topics: None,
                }]
            } else {
                vec![]
            },
            require_stable: false,
        };
        let coordinator = format!("{host}:{port}");
        let answer: OffsetFetchResponse = request_versioned(&coordinator, config, fetch, timeout)
            .await?
            .body;
        // A partition listed with offset -1 has no commit.
        let (code, committed): (i16, Vec<(String, i32)>) = match answer.groups.first() {
            Some(g) => (
                g.error_code,
                g.topics
                    .iter()
                    .flat_map(|t| {
                        t.partitions
                            .iter()
                            .filter(|p| p.committed_offset >= 0)
                            .map(|p| (t.name.clone(), p.partition_index))
                    })
                    .collect(),
            ),
            None => (
                answer.error_code,
                answer
                    .topics
                    .iter()
                    .flat_map(|t| {
                        t.partitions
                            .iter()
                            .filter(|p| p.committed_offset >= 0)
                            .map(|p| (t.name.clone(), p.partition_index))
                    })
                    .collect(),
            ),
        };
        let code = ErrorCode::from_code(code);
        if code != ErrorCode::None {
            last = format!(
                "committed offsets of group {group}: {}",
                rdkafka_broker_error(code)
            );
            if retriable.contains(&code) {
                continue;
            }
            return Err(last);
        }
        return Ok(committed);
    }
    Err(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bootstrap_servers() {
        assert_eq!(
            servers("a:1, b ,[::1]:3,PLAINTEXT://c:4"),
            vec![
                ("a".to_string(), 1),
                ("b".to_string(), 9092),
                ("::1".to_string(), 3),
                ("c".to_string(), 4)
            ]
        );
    }

    #[test]
    fn error_strings_like_librdkafka() {
        assert_eq!(
            rdkafka_broker_error(ErrorCode::from_code(3)),
            "Broker: Unknown topic or partition"
        );
    }

    #[tokio::test]
    async fn unreachable_broker_is_named() {
        let config = Config::from_pairs([("bootstrap.servers", "127.0.0.1:1")]).unwrap();
        let e = request(
            "127.0.0.1:1",
            &config,
            &kasio_core::protocol::messages::MetadataRequest::default(),
            Duration::from_secs(2),
        )
        .await
        .err()
        .unwrap();
        assert_eq!(
            e,
            "cannot connect to broker 127.0.0.1:1 (connection refused)"
        );
    }
}
