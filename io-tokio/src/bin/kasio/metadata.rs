//! `-L` (metadata) and `-Q` (offsets by time) output, as kcat 1.7.1 prints them
//! (`metadata_print`, `metadata_print_json`, `partition_list_print[_json]`), checked
//! against kcat's output on the mock cluster in `testdata/metadata*.out` and
//! `testdata/query*.out`.
//!
//! Errors are given as text: kcat prints librdkafka's `rd_kafka_err2str` (e.g.
//! `Broker: Unknown topic or partition`), which the wiring has to reproduce from the
//! Kafka error code.

use crate::json;

/// A broker of the metadata.
#[derive(Debug, Clone)]
pub struct BrokerInfo<'a> {
    pub id: i32,
    pub host: &'a str,
    pub port: u16,
}

/// A partition of the metadata.
#[derive(Debug, Clone)]
pub struct PartitionInfo<'a> {
    pub id: i32,
    pub leader: i32,
    pub replicas: &'a [i32],
    pub isrs: &'a [i32],
    pub error: Option<&'a str>,
}

/// A topic of the metadata.
#[derive(Debug, Clone)]
pub struct TopicInfo<'a> {
    pub name: &'a str,
    pub error: Option<&'a str>,
    /// kcat adds ` (try again)` after the error for LEADER_NOT_AVAILABLE.
    pub leader_not_available: bool,
    pub partitions: Vec<PartitionInfo<'a>>,
}

/// What `-L` shows.
#[derive(Debug, Clone)]
pub struct MetadataInfo<'a> {
    /// The broker that answered, and its name as librdkafka gives it
    /// (`host:port/id`).
    pub orig_broker_id: i32,
    pub orig_broker_name: &'a str,
    /// -1 when unknown.
    pub controller_id: i32,
    pub brokers: Vec<BrokerInfo<'a>>,
    pub topics: Vec<TopicInfo<'a>>,
}

/// `-L`: kcat's text listing. `topic` is `-t`.
pub fn metadata_text(m: &MetadataInfo<'_>, topic: Option<&str>) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    // Writing into a String cannot fail.
    let _ = writeln!(
        s,
        "Metadata for {} (from broker {}: {}):",
        topic.unwrap_or("all topics"),
        m.orig_broker_id,
        m.orig_broker_name
    );
    let _ = writeln!(s, " {} brokers:", m.brokers.len());
    for b in &m.brokers {
        let _ = writeln!(
            s,
            "  broker {} at {}:{}{}",
            b.id,
            b.host,
            b.port,
            if b.id == m.controller_id {
                " (controller)"
            } else {
                ""
            }
        );
    }
    let _ = writeln!(s, " {} topics:", m.topics.len());
    for t in &m.topics {
        let _ = write!(
            s,
            "  topic \"{}\" with {} partitions:",
            t.name,
            t.partitions.len()
        );
        if let Some(e) = t.error {
            let _ = write!(s, " {e}");
            if t.leader_not_available {
                s.push_str(" (try again)");
            }
        }
        s.push('\n');
        for p in &t.partitions {
            let _ = write!(
                s,
                "    partition {}, leader {}, replicas: {}, isrs: {}",
                p.id,
                p.leader,
                join(p.replicas),
                join(p.isrs)
            );
            match p.error {
                Some(e) => {
                    let _ = writeln!(s, ", {e}");
                }
                None => s.push('\n'),
            }
        }
    }
    s
}

fn join(ids: &[i32]) -> String {
    ids.iter().map(i32::to_string).collect::<Vec<_>>().join(",")
}

/// `-L -J`: one object, no newline after it (kcat prints none).
pub fn metadata_json(m: &MetadataInfo<'_>, topic: Option<&str>) -> Vec<u8> {
    let mut o = Vec::new();
    o.push(b'{');
    json::key(&mut o, "originating_broker");
    o.push(b'{');
    json::key(&mut o, "id");
    json::int(&mut o, i64::from(m.orig_broker_id));
    o.push(b',');
    json::key(&mut o, "name");
    json::c_string(&mut o, m.orig_broker_name.as_bytes());
    o.extend_from_slice(b"},");
    json::key(&mut o, "query");
    o.push(b'{');
    json::key(&mut o, "topic");
    json::c_string(&mut o, topic.unwrap_or("*").as_bytes());
    o.extend_from_slice(b"},");
    json::key(&mut o, "controllerid");
    json::int(&mut o, i64::from(m.controller_id));
    o.push(b',');
    json::key(&mut o, "brokers");
    o.push(b'[');
    for (i, b) in m.brokers.iter().enumerate() {
        if i > 0 {
            o.push(b',');
        }
        o.push(b'{');
        json::key(&mut o, "id");
        json::int(&mut o, i64::from(b.id));
        o.push(b',');
        json::key(&mut o, "name");
        json::c_string(&mut o, format!("{}:{}", b.host, b.port).as_bytes());
        o.push(b'}');
    }
    o.extend_from_slice(b"],");
    json::key(&mut o, "topics");
    o.push(b'[');
    for (i, t) in m.topics.iter().enumerate() {
        if i > 0 {
            o.push(b',');
        }
        o.push(b'{');
        json::key(&mut o, "topic");
        json::c_string(&mut o, t.name.as_bytes());
        o.push(b',');
        if let Some(e) = t.error {
            json::key(&mut o, "error");
            json::c_string(&mut o, e.as_bytes());
            o.push(b',');
        }
        json::key(&mut o, "partitions");
        o.push(b'[');
        for (j, p) in t.partitions.iter().enumerate() {
            if j > 0 {
                o.push(b',');
            }
            o.push(b'{');
            json::key(&mut o, "partition");
            json::int(&mut o, i64::from(p.id));
            o.push(b',');
            if let Some(e) = p.error {
                json::key(&mut o, "error");
                json::c_string(&mut o, e.as_bytes());
                o.push(b',');
            }
            json::key(&mut o, "leader");
            json::int(&mut o, i64::from(p.leader));
            for (name, ids) in [("replicas", p.replicas), ("isrs", p.isrs)] {
                o.push(b',');
                json::key(&mut o, name);
                o.push(b'[');
                for (k, id) in ids.iter().enumerate() {
                    if k > 0 {
                        o.push(b',');
                    }
                    o.push(b'{');
                    json::key(&mut o, "id");
                    json::int(&mut o, i64::from(*id));
                    o.push(b'}');
                }
                o.push(b']');
            }
            o.push(b'}');
        }
        o.extend_from_slice(b"]}");
    }
    o.extend_from_slice(b"]}");
    o
}

/// One answer of `-Q`.
#[derive(Debug, Clone)]
pub struct OffsetAnswer<'a> {
    pub topic: &'a str,
    pub partition: i32,
    /// The offset found; -1 when there is none (no record at or after the time).
    pub offset: i64,
    pub error: Option<&'a str>,
}

/// kcat sorts the list by topic, then partition, before printing it.
fn sorted<'a, 'b>(answers: &'b [OffsetAnswer<'a>]) -> Vec<&'b OffsetAnswer<'a>> {
    let mut v: Vec<_> = answers.iter().collect();
    v.sort_by(|a, b| (a.topic, a.partition).cmp(&(b.topic, b.partition)));
    v
}

/// `-Q`: `topic [partition] offset N`, a line each.
pub fn query_text(answers: &[OffsetAnswer<'_>]) -> String {
    let mut s = String::new();
    for a in sorted(answers) {
        s.push_str(&format!(
            "{} [{}] offset {}",
            a.topic, a.partition, a.offset
        ));
        match a.error {
            Some(e) => s.push_str(&format!(": {e}\n")),
            None => s.push('\n'),
        }
    }
    s
}

/// `-Q -J`: `{"topic":{"topic":"topic","0":{"partition":0,"offset":N},...},...}`, no
/// newline after it.
pub fn query_json(answers: &[OffsetAnswer<'_>]) -> Vec<u8> {
    let mut o = vec![b'{'];
    let mut last: Option<&str> = None;
    for a in sorted(answers) {
        if last != Some(a.topic) {
            if last.is_some() {
                o.extend_from_slice(b"},");
            }
            json::c_string(&mut o, a.topic.as_bytes());
            o.extend_from_slice(b":{");
            json::key(&mut o, "topic");
            json::c_string(&mut o, a.topic.as_bytes());
            last = Some(a.topic);
        }
        o.push(b',');
        json::key(&mut o, &a.partition.to_string());
        o.push(b'{');
        json::key(&mut o, "partition");
        json::int(&mut o, i64::from(a.partition));
        o.push(b',');
        json::key(&mut o, "offset");
        json::int(&mut o, a.offset);
        if let Some(e) = a.error {
            o.push(b',');
            json::key(&mut o, "error");
            json::c_string(&mut o, e.as_bytes());
        }
        o.push(b'}');
    }
    if last.is_some() {
        o.push(b'}');
    }
    o.push(b'}');
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn testdata(name: &str) -> Vec<u8> {
        let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("src/bin/kasio/testdata")
            .join(name);
        std::fs::read(p).unwrap()
    }

    /// The mock cluster of the fixtures: brokers 1..3 at the ports of
    /// `bootstrap.txt`, topic `golden` with 5 single-replica partitions led by
    /// 1,2,3,1,2. The answering broker differs per kcat run: taken from the fixture.
    fn check(fixture: &str, render: impl Fn(&MetadataInfo<'_>) -> Vec<u8>, json: bool) {
        let want = testdata(fixture);
        let text = String::from_utf8(want.clone()).unwrap();
        let (orig_id, orig_name): (i32, String) = if json {
            let id = text.split("\"id\":").nth(1).unwrap();
            let name = text.split("\"name\":\"").nth(1).unwrap();
            (
                id[..id.find(',').unwrap()].parse().unwrap(),
                name[..name.find('"').unwrap()].to_owned(),
            )
        } else {
            let from = text.split("(from broker ").nth(1).unwrap();
            let (id, rest) = from.split_once(": ").unwrap();
            (
                id.parse().unwrap(),
                rest[..rest.find("):").unwrap()].to_owned(),
            )
        };
        let controller: i32 = if json {
            let c = text.split("\"controllerid\":").nth(1).unwrap();
            c[..c.find(',').unwrap()].parse().unwrap()
        } else {
            -1
        };
        let bootstrap = String::from_utf8(testdata("bootstrap.txt")).unwrap();
        let brokers: Vec<BrokerInfo<'_>> = bootstrap
            .trim()
            .split(',')
            .enumerate()
            .map(|(i, hp)| {
                let (host, port) = hp.rsplit_once(':').unwrap();
                BrokerInfo {
                    id: i as i32 + 1,
                    host,
                    port: port.parse().unwrap(),
                }
            })
            .collect();
        let ids = [[1], [2], [3], [1], [2]];
        let m = MetadataInfo {
            orig_broker_id: orig_id,
            orig_broker_name: &orig_name,
            controller_id: controller,
            brokers,
            topics: vec![TopicInfo {
                name: "golden",
                error: None,
                leader_not_available: false,
                partitions: (0..5)
                    .map(|p| PartitionInfo {
                        id: p as i32,
                        leader: ids[p][0],
                        replicas: &ids[p],
                        isrs: &ids[p],
                        error: None,
                    })
                    .collect(),
            }],
        };
        assert_eq!(
            String::from_utf8_lossy(&render(&m)),
            String::from_utf8_lossy(&want),
            "{fixture}"
        );
    }

    #[test]
    fn metadata_like_kcat() {
        check(
            "metadata.out",
            |m| metadata_text(m, None).into_bytes(),
            false,
        );
        check(
            "metadata_topic.out",
            |m| metadata_text(m, Some("golden")).into_bytes(),
            false,
        );
        check("metadata_json.out", |m| metadata_json(m, None), true);
    }

    #[test]
    fn metadata_errors_and_controller() {
        let m = MetadataInfo {
            orig_broker_id: 1,
            orig_broker_name: "h:1/1",
            controller_id: 1,
            brokers: vec![BrokerInfo {
                id: 1,
                host: "h",
                port: 1,
            }],
            topics: vec![TopicInfo {
                name: "t",
                error: Some("Broker: Leader not available"),
                leader_not_available: true,
                partitions: vec![PartitionInfo {
                    id: 0,
                    leader: -1,
                    replicas: &[1, 2],
                    isrs: &[],
                    error: Some("Broker: Leader not available"),
                }],
            }],
        };
        assert_eq!(
            metadata_text(&m, Some("t")),
            "Metadata for t (from broker 1: h:1/1):\n 1 brokers:\n  broker 1 at h:1 (controller)\n \
             1 topics:\n  topic \"t\" with 1 partitions: Broker: Leader not available (try again)\n    \
             partition 0, leader -1, replicas: 1,2, isrs: , Broker: Leader not available\n"
        );
        assert_eq!(
            String::from_utf8(metadata_json(&m, Some("t"))).unwrap(),
            "{\"originating_broker\":{\"id\":1,\"name\":\"h:1/1\"},\"query\":{\"topic\":\"t\"},\
             \"controllerid\":1,\"brokers\":[{\"id\":1,\"name\":\"h:1\"}],\"topics\":[{\"topic\":\"t\",\
             \"error\":\"Broker: Leader not available\",\"partitions\":[{\"partition\":0,\
             \"error\":\"Broker: Leader not available\",\"leader\":-1,\"replicas\":[{\"id\":1},\
             {\"id\":2}],\"isrs\":[]}]}]}"
        );
    }

    #[test]
    fn query_like_kcat() {
        // Given out of order: kcat sorts.
        let answers = [
            OffsetAnswer {
                topic: "golden",
                partition: 2,
                offset: -1,
                error: None,
            },
            OffsetAnswer {
                topic: "golden",
                partition: 0,
                offset: 15,
                error: None,
            },
            OffsetAnswer {
                topic: "golden",
                partition: 1,
                offset: 0,
                error: None,
            },
        ];
        assert_eq!(query_text(&answers).into_bytes(), testdata("query.out"));
        let answers = [
            OffsetAnswer {
                topic: "golden",
                partition: 3,
                offset: 0,
                error: None,
            },
            OffsetAnswer {
                topic: "golden",
                partition: 0,
                offset: 15,
                error: None,
            },
        ];
        assert_eq!(query_json(&answers), testdata("query_json.out"));
        let two = [
            OffsetAnswer {
                topic: "b",
                partition: 0,
                offset: 1,
                error: Some("Broker: Unknown topic or partition"),
            },
            OffsetAnswer {
                topic: "a",
                partition: 1,
                offset: 2,
                error: None,
            },
        ];
        assert_eq!(
            query_text(&two),
            "a [1] offset 2\nb [0] offset 1: Broker: Unknown topic or partition\n"
        );
        assert_eq!(
            String::from_utf8(query_json(&two)).unwrap(),
            "{\"a\":{\"topic\":\"a\",\"1\":{\"partition\":1,\"offset\":2}},\"b\":{\"topic\":\"b\",\
             \"0\":{\"partition\":0,\"offset\":1,\"error\":\"Broker: Unknown topic or partition\"}}}"
        );
        assert_eq!(query_json(&[]), b"{}");
    }
}
