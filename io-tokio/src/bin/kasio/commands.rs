//! `-L`, `-Q` and `kasio group describe|lag`.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::{Duration, Instant};

use kasio_core::config::Config;
use kasio_core::consumer::TopicPartition;
use kasio_core::group::GroupDescription;
use kasio_core::protocol::messages::metadata_request::MetadataRequestTopic;
use kasio_core::protocol::messages::MetadataRequest;
use kasio_core::protocol::ErrorCode;
use kasio_tokio::Consumer;

use crate::args::{GroupArgs, Metadata, QueryOffsets};
use crate::consume::{check_reachable, CLOSE_TIMEOUT};
use crate::kafka::{group_committed_partitions, rdkafka_broker_error, rdkafka_error, request};
use crate::metadata::{
    metadata_json, metadata_text, query_json, query_text, BrokerInfo, MetadataInfo, OffsetAnswer,
    PartitionInfo, TopicInfo,
};
use crate::{json, Failure};

fn runtime(msg: impl Into<String>) -> Failure {
    Failure::Runtime(msg.into())
}

fn written(r: std::io::Result<()>) -> Result<(), Failure> {
    r.map_err(|e| runtime(format!("writing to stdout: {e}")))
}

/// `-L`: one Metadata request to the first bootstrap server that answers.
pub async fn metadata(
    m: &Metadata,
    config: &Config,
    bootstrap: &str,
    out: &mut dyn Write,
) -> Result<(), Failure> {
    let req = MetadataRequest {
        topics: m.topic.as_ref().map(|t| {
            vec![MetadataRequestTopic {
                name: Some(t.clone()),
                ..Default::default()
            }]
        }),
        allow_auto_topic_creation: false,
        ..Default::default()
    };
    let answer = request(bootstrap, config, &req, m.common.request_timeout)
        .await
        .map_err(runtime)?;
    let resp = &answer.body;
    let orig = resp
        .brokers
        .iter()
        .find(|b| b.host == answer.host && b.port == i32::from(answer.port));
    let orig_id = orig.map_or(-1, |b| b.node_id);
    let orig_name = match orig {
        Some(b) => format!("{}:{}/{}", b.host, b.port, b.node_id),
        None => format!("{}:{}/bootstrap", answer.host, answer.port),
    };
    let error = |code: i16| (code != 0).then(|| rdkafka_broker_error(ErrorCode::from_code(code)));
    let topic_errors: Vec<Option<String>> =
        resp.topics.iter().map(|t| error(t.error_code)).collect();
    let partition_errors: Vec<Vec<Option<String>>> = resp
        .topics
        .iter()
        .map(|t| t.partitions.iter().map(|p| error(p.error_code)).collect())
        .collect();
    let info = MetadataInfo {
        orig_broker_id: orig_id,
        orig_broker_name: &orig_name,
        controller_id: resp.controller_id,
        brokers: resp
            .brokers
            .iter()
            .map(|b| BrokerInfo {
                id: b.node_id,
                host: &b.host,
                port: u16::try_from(b.port).unwrap_or(0),
            })
            .collect(),
        topics: resp
            .topics
            .iter()
            .enumerate()
            .map(|(i, t)| TopicInfo {
                name: t.name.as_deref().unwrap_or(""),
                error: topic_errors[i].as_deref(),
                leader_not_available: t.error_code == ErrorCode::LeaderNotAvailable.code(),
                partitions: t
                    .partitions
                    .iter()
                    .enumerate()
                    .map(|(j, p)| PartitionInfo {
                        id: p.partition_index,
                        leader: p.leader_id,
                        replicas: &p.replica_nodes,
                        isrs: &p.isr_nodes,
                        error: partition_errors[i][j].as_deref(),
                    })
                    .collect(),
            })
            .collect(),
    };
    let bytes = if m.json {
        metadata_json(&info, m.topic.as_deref())
    } else {
        metadata_text(&info, m.topic.as_deref()).into_bytes()
    };
    written(out.write_all(&bytes))
}

/// `-Q`: offsets by time through the consumer's ListOffsets.
pub async fn query(
    q: &QueryOffsets,
    config: Config,
    bootstrap: &str,
    out: &mut dyn Write,
) -> Result<(), Failure> {
    let consumer = Consumer::new(config);
    let timeout = q.common.request_timeout;
    let pending = consumer.offsets_for_times(
        q.queries
            .iter()
            .map(|(t, p, ts)| (TopicPartition::new(t.clone(), *p), *ts)),
    );
    let answers = within(&consumer, timeout, bootstrap, pending).await?;
    let answers = answers.map_err(|e| runtime(format!("offsets by time: {e}")))?;
    let errors: Vec<Option<String>> = answers
        .iter()
        .map(|(_, r)| r.as_ref().err().map(rdkafka_error))
        .collect();
    let list: Vec<OffsetAnswer<'_>> = answers
        .iter()
        .zip(&errors)
        .map(|((tp, r), e)| OffsetAnswer {
            topic: &tp.topic,
            partition: tp.partition,
            offset: match r {
                Ok(Some(o)) => o.offset,
                _ => -1,
            },
            error: e.as_deref(),
        })
        .collect();
    let bytes = if q.json {
        query_json(&list)
    } else {
        query_text(&list).into_bytes()
    };
    let _ = consumer.close(CLOSE_TIMEOUT).await;
    written(out.write_all(&bytes))
}

/// Awaits `fut`, failing if no broker could be reached within `timeout`, or if
/// there is no answer within twice that.
async fn within<T>(
    consumer: &Consumer,
    timeout: Duration,
    bootstrap: &str,
    fut: impl std::future::Future<Output = T>,
) -> Result<T, Failure> {
    let started = Instant::now();
    let mut fut = std::pin::pin!(fut);
    loop {
        tokio::select! {
            v = &mut fut => return Ok(v),
            _ = tokio::time::sleep(Duration::from_millis(100)) => {
                check_reachable(consumer, started, timeout, bootstrap)?;
                if started.elapsed() > timeout * 2 {
                    return Err(runtime(format!(
                        "no answer within {} s (-m)", (timeout * 2).as_secs()
                    )));
                }
            }
        }
    }
}

/// One partition of a group: committed offset, end, lag, owner.
struct Row {
    tp: TopicPartition,
    committed: Option<i64>,
    end: Option<i64>,
    member: Option<usize>,
}

impl Row {
    fn lag(&self) -> Option<i64> {
        Some((self.end? - self.committed?).max(0))
    }
}

/// What `kasio group describe|lag` gathers: the description, then committed and
/// end offsets of every assigned partition.
async fn gather(
    g: &GroupArgs,
    config: Config,
    bootstrap: &str,
) -> Result<(GroupDescription, Vec<Row>), Failure> {
    let consumer = Consumer::new(config);
    let timeout = g.common.request_timeout;
    let described = within(&consumer, timeout, bootstrap, consumer.describe_group()).await?;
    let group = described
        .map_err(|e| runtime(format!("describing group {}: {e}", g.group)))?
        .map_err(|e| runtime(format!("describing group {}: {e}", g.group)))?;
    let mut owners: BTreeMap<TopicPartition, usize> = BTreeMap::new();
    for (i, m) in group.members.iter().enumerate() {
        for tp in &m.assignment {
            owners.insert(tp.clone(), i);
        }
    }
    // Also the partitions nobody owns now but the group committed (every one of
    // them when the group has no members).
    let committed_ones = group_committed_partitions(
        bootstrap,
        &consumer.with_core(|c| c.config().clone()),
        &g.group,
        timeout,
    )
    .await
    .map_err(runtime)?;
    let mut tps: Vec<TopicPartition> = owners.keys().cloned().collect();
    tps.extend(
        committed_ones
            .into_iter()
            .map(|(t, p)| TopicPartition::new(t, p))
            .filter(|tp| !owners.contains_key(tp)),
    );
    tps.sort();
    let mut rows: Vec<Row> = tps
        .iter()
        .map(|tp| Row {
            tp: tp.clone(),
            committed: None,
            end: None,
            member: owners.get(tp).copied(),
        })
        .collect();
    if !tps.is_empty() {
        let committed = within(
            &consumer,
            timeout,
            bootstrap,
            consumer.committed(tps.clone()),
        )
        .await?
        .map_err(|e| runtime(format!("committed offsets: {e}")))?;
        let ends = within(
            &consumer,
            timeout,
            bootstrap,
            consumer.offsets_for_times(tps.iter().map(|tp| (tp.clone(), -1))),
        )
        .await?
        .map_err(|e| runtime(format!("end offsets: {e}")))?;
        let committed: BTreeMap<_, _> = committed.into_iter().collect();
        let ends: BTreeMap<_, _> = ends.into_iter().collect();
        for row in &mut rows {
            row.committed = committed
                .get(&row.tp)
                .and_then(|r| r.as_ref().ok().cloned().flatten())
                .map(|o| o.offset);
            row.end = ends
                .get(&row.tp)
                .and_then(|r| r.as_ref().ok().copied().flatten())
                .map(|o| o.offset);
        }
    }
    let _ = consumer.close(CLOSE_TIMEOUT).await;
    Ok((group, rows))
}

fn opt(v: Option<i64>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

/// Left-aligned columns, two spaces apart.
fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let mut s = String::new();
    let line = |cells: Vec<&str>, s: &mut String| {
        let n = cells.len();
        for (i, c) in cells.into_iter().enumerate() {
            s.push_str(c);
            if i + 1 < n {
                s.push_str(&" ".repeat(widths[i] - c.chars().count() + 2));
            }
        }
        s.push('\n');
    };
    line(header.to_vec(), &mut s);
    for r in rows {
        line(r.iter().map(String::as_str).collect(), &mut s);
    }
    s
}

fn lag_rows(group: &GroupDescription, rows: &[Row]) -> Vec<Vec<String>> {
    rows.iter()
        .map(|r| {
            let m = r.member.map(|i| &group.members[i]);
            vec![
                r.tp.topic.clone(),
                r.tp.partition.to_string(),
                opt(r.committed),
                opt(r.end),
                opt(r.lag()),
                m.map_or("-".into(), |m| m.member_id.clone()),
                m.map_or("-".into(), |m| m.client_host.clone()),
                m.map_or("-".into(), |m| m.client_id.clone()),
            ]
        })
        .collect()
}

const LAG_HEADER: [&str; 8] = [
    "TOPIC",
    "PARTITION",
    "COMMITTED",
    "END",
    "LAG",
    "MEMBER-ID",
    "HOST",
    "CLIENT-ID",
];

fn rows_json(group: &GroupDescription, rows: &[Row], o: &mut Vec<u8>) {
    let opt_int = |o: &mut Vec<u8>, v: Option<i64>| match v {
        Some(v) => json::int(o, v),
        None => o.extend_from_slice(b"null"),
    };
    o.push(b'[');
    for (i, r) in rows.iter().enumerate() {
        if i > 0 {
            o.push(b',');
        }
        o.push(b'{');
        json::key(o, "topic");
        json::string(o, r.tp.topic.as_bytes());
        o.push(b',');
        json::key(o, "partition");
        json::int(o, i64::from(r.tp.partition));
        o.push(b',');
        json::key(o, "committed");
        opt_int(o, r.committed);
        o.push(b',');
        json::key(o, "end");
        opt_int(o, r.end);
        o.push(b',');
        json::key(o, "lag");
        opt_int(o, r.lag());
        o.push(b',');
        json::key(o, "member_id");
        match r.member {
            Some(m) => json::string(o, group.members[m].member_id.as_bytes()),
            None => o.extend_from_slice(b"null"),
        }
        o.push(b'}');
    }
    o.push(b']');
}

/// `kasio group describe GROUP`
pub async fn describe(
    g: &GroupArgs,
    config: Config,
    bootstrap: &str,
    out: &mut dyn Write,
) -> Result<(), Failure> {
    let (group, rows) = gather(g, config, bootstrap).await?;
    if g.json {
        let mut o = Vec::new();
        o.push(b'{');
        for (k, v) in [
            ("group", &group.group_id),
            ("state", &group.state),
            ("protocol_type", &group.protocol_type),
            ("protocol", &group.protocol),
        ] {
            json::key(&mut o, k);
            json::string(&mut o, v.as_bytes());
            o.push(b',');
        }
        json::key(&mut o, "members");
        o.push(b'[');
        for (i, m) in group.members.iter().enumerate() {
            if i > 0 {
                o.push(b',');
            }
            o.push(b'{');
            json::key(&mut o, "member_id");
            json::string(&mut o, m.member_id.as_bytes());
            o.push(b',');
            json::key(&mut o, "instance_id");
            match &m.instance_id {
                Some(id) => json::string(&mut o, id.as_bytes()),
                None => o.extend_from_slice(b"null"),
            }
            o.push(b',');
            json::key(&mut o, "client_id");
            json::string(&mut o, m.client_id.as_bytes());
            o.push(b',');
            json::key(&mut o, "client_host");
            json::string(&mut o, m.client_host.as_bytes());
            o.push(b',');
            json::key(&mut o, "topics");
            match &m.topics {
                Some(ts) => {
                    o.push(b'[');
                    for (j, t) in ts.iter().enumerate() {
                        if j > 0 {
                            o.push(b',');
                        }
                        json::string(&mut o, t.as_bytes());
                    }
                    o.push(b']');
                }
                None => o.extend_from_slice(b"null"),
            }
            o.push(b',');
            json::key(&mut o, "assignment");
            o.push(b'[');
            for (j, tp) in m.assignment.iter().enumerate() {
                if j > 0 {
                    o.push(b',');
                }
                o.push(b'{');
                json::key(&mut o, "topic");
                json::string(&mut o, tp.topic.as_bytes());
                o.push(b',');
                json::key(&mut o, "partition");
                json::int(&mut o, i64::from(tp.partition));
                o.push(b'}');
            }
            o.extend_from_slice(b"]}");
        }
        o.extend_from_slice(b"],");
        json::key(&mut o, "partitions");
        rows_json(&group, &rows, &mut o);
        o.extend_from_slice(b"}\n");
        return written(out.write_all(&o));
    }
    let mut s = format!(
        "Group {} ({}, protocol {}, {} member{})\n",
        group.group_id,
        group.state,
        if group.protocol.is_empty() {
            "-"
        } else {
            &group.protocol
        },
        group.members.len(),
        if group.members.len() == 1 { "" } else { "s" }
    );
    if !group.members.is_empty() {
        s.push('\n');
        let members: Vec<Vec<String>> = group
            .members
            .iter()
            .map(|m| {
                vec![
                    m.member_id.clone(),
                    m.instance_id.clone().unwrap_or_else(|| "-".into()),
                    m.client_id.clone(),
                    m.client_host.clone(),
                    m.topics.as_ref().map_or("-".into(), |t| t.join(",")),
                    if m.assignment.is_empty() {
                        "-".into()
                    } else {
                        m.assignment
                            .iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join(",")
                    },
                ]
            })
            .collect();
        s.push_str(&table(
            &[
                "MEMBER-ID",
                "INSTANCE-ID",
                "CLIENT-ID",
                "HOST",
                "TOPICS",
                "ASSIGNMENT",
            ],
            &members,
        ));
    }
    if !rows.is_empty() {
        s.push('\n');
        s.push_str(&table(&LAG_HEADER, &lag_rows(&group, &rows)));
    }
    written(out.write_all(s.as_bytes()))
}

/// `kasio group lag GROUP`
pub async fn lag(
    g: &GroupArgs,
    config: Config,
    bootstrap: &str,
    out: &mut dyn Write,
) -> Result<(), Failure> {
    let (group, rows) = gather(g, config, bootstrap).await?;
    let total: i64 = rows.iter().filter_map(Row::lag).sum();
    if g.json {
        let mut o = Vec::new();
        o.push(b'{');
        json::key(&mut o, "group");
        json::string(&mut o, group.group_id.as_bytes());
        o.push(b',');
        json::key(&mut o, "state");
        json::string(&mut o, group.state.as_bytes());
        o.push(b',');
        json::key(&mut o, "partitions");
        rows_json(&group, &rows, &mut o);
        o.push(b',');
        json::key(&mut o, "total_lag");
        json::int(&mut o, total);
        o.extend_from_slice(b"}\n");
        return written(out.write_all(&o));
    }
    let mut s = table(&LAG_HEADER, &lag_rows(&group, &rows));
    s.push_str(&format!(
        "\nGroup {} ({}): total lag {total}\n",
        group.group_id, group.state
    ));
    written(out.write_all(s.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align() {
        assert_eq!(
            table(&["A", "BB"], &[vec!["xyz".into(), "1".into()]]),
            "A    BB\nxyz  1\n"
        );
    }
}
