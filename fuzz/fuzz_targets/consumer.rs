//! The whole `Consumer` state machine, driven the way a driver and an application
//! drive it, by arbitrary operation sequences: assignment changes, seeks, pauses,
//! polls, timestamp queries, close; connections accepted, refused and dropped; time
//! steps (and a clock that jumps back); and, on live connections, answers to the
//! consumer's requests — valid ones built with the codec from a small broker model
//! (so the fuzzer gets past ApiVersions, Metadata and ListOffsets to fetching
//! records), arbitrary values of the right response type, corrupted or truncated
//! encodings, wrong correlation ids, error codes, and raw byte chunks.
//!
//! Oracle: no panic; a bounded drain (every input is followed by at most 10 000
//! drain iterations, else "livelock"); `poll_timeout()` is never before the last
//! `now`, and when it says "now", `handle_timeout` makes progress (else a driver
//! spins); transmits only on connections the driver has opened; connection ids
//! never reused; the consumer's own requests decode; records come back only for
//! assigned, unpaused partitions, in order, at or after the position.
//!
//! The broker model, the driver and these checks live in `consumer_common.rs`,
//! shared with the `group` target.
#![no_main]
#[path = "consumer_common.rs"]
mod consumer_common;

use arbitrary::Arbitrary;
use kasio_core::config::Config;
use kasio_core::consumer::TopicPartition;
use libfuzzer_sys::fuzz_target;

use consumer_common::*;

const MAX_OPS: usize = 200;

// ----- the fuzzer's input ---------------------------------------------------------

#[derive(Arbitrary, Debug)]
struct Input {
    cfg: Cfg,
    cluster: ClusterSpec,
    /// The first assignment (t-0 when empty).
    initial: Vec<Tp>,
    ops: Vec<Op>,
}

#[derive(Arbitrary, Debug)]
struct Cfg {
    seed: u64,
    reset: u8,
    read_committed: bool,
    check_crcs: bool,
    eof: bool,
    max_poll_records: u8,
    request_timeout: u8,
    small_queue: bool,
    rack: bool,
    metadata_max_age: u8,
}

#[derive(Arbitrary, Debug)]
enum Op {
    // application calls
    Assign(Vec<Tp>),
    Unassign,
    Seek(Tp, u16),
    SeekFar(Tp, i64),
    SeekToBeginning(Vec<Tp>),
    SeekToEnd(Vec<Tp>),
    Pause(Vec<Tp>),
    Resume(Vec<Tp>),
    Poll,
    OffsetsForTimes(Vec<(Tp, i64)>),
    WantMetadata(u8),
    Inspect(Tp),
    Close,
    // the driver: connections
    Accept(u8),
    Refuse(u8),
    Drop(u8),
    Stale(u8),
    // the brokers: answers and bytes
    Answer {
        conn: u8,
        how: Answer,
    },
    AnswerAll,
    /// A healthy cluster and driver for a while: connections accepted, every request
    /// answered validly, time moved to each deadline. Gets a run to fetching fast.
    Run(u8),
    Raw {
        conn: u8,
        bytes: Vec<u8>,
    },
    // time
    Advance(u16),
    AdvanceLong(u8),
    ToTimeout,
    Backwards(u16),
    // the cluster changes
    Cluster(Change),
}

fn config(cfg: &Cfg) -> Config {
    let reset = ["earliest", "latest", "none"][usize::from(cfg.reset % 3)];
    let max_poll = (u32::from(cfg.max_poll_records) % 20 + 1).to_string();
    let timeout = (u32::from(cfg.request_timeout) * 50 + 100).to_string();
    let age = (u32::from(cfg.metadata_max_age) * 100 + 100).to_string();
    let mut pairs = vec![
        ("bootstrap.servers", "b1:9092,b2:9092"),
        ("client.id", "fuzz"),
        ("auto.offset.reset", reset),
        (
            "isolation.level",
            if cfg.read_committed {
                "read_committed"
            } else {
                "read_uncommitted"
            },
        ),
        ("check.crcs", if cfg.check_crcs { "true" } else { "false" }),
        (
            "enable.partition.eof",
            if cfg.eof { "true" } else { "false" },
        ),
        ("max.poll.records", max_poll.as_str()),
        ("request.timeout.ms", timeout.as_str()),
        ("metadata.max.age.ms", age.as_str()),
        ("reconnect.backoff.ms", "20"),
        ("reconnect.backoff.max.ms", "500"),
        ("retry.backoff.ms", "20"),
        ("retry.backoff.max.ms", "500"),
        ("default.api.timeout.ms", "3000"),
        ("fetch.max.bytes", "1048576"),
        ("receive.message.max.bytes", "2097152"),
    ];
    if cfg.small_queue {
        pairs.push(("queued.max.messages.kbytes", "1"));
        pairs.push(("queued.min.messages", "3"));
    }
    if cfg.rack {
        pairs.push(("client.rack", "rack2"));
    }
    Config::from_pairs(pairs).expect("the harness's configurations are valid")
}

fuzz_target!(|input: Input| {
    if std::env::var_os("KASIO_FUZZ_DEBUG").is_some() {
        eprintln!("{input:#?}");
    }
    let mut h = Harness::new(
        config(&input.cfg),
        input.cfg.seed,
        &input.cluster,
        input.cfg.read_committed,
        (),
    );
    h.drain();
    if input.initial.is_empty() {
        h.c.assign([TopicPartition::new("t", 0)])
            .expect("a new consumer takes an assignment");
    } else {
        h.c.assign(tps(&input.initial))
            .expect("a new consumer takes an assignment");
    }
    h.drain();
    for op in input.ops.into_iter().take(MAX_OPS) {
        match op {
            // Refused only once closed.
            Op::Assign(v) => {
                let r = h.c.assign(tps(&v));
                assert!(r.is_ok() || h.close_called, "{r:?}");
            }
            Op::Unassign => {
                let r = h.c.unassign();
                assert!(r.is_ok() || h.close_called, "{r:?}");
            }
            Op::Seek(tp, o) => {
                let _ = h.c.seek(&tp.get(), i64::from(o % 64));
            }
            Op::SeekFar(tp, o) => {
                let _ = h.c.seek(&tp.get(), o);
            }
            Op::SeekToBeginning(v) => {
                let _ = h.c.seek_to_beginning(&tps(&v));
            }
            Op::SeekToEnd(v) => {
                let _ = h.c.seek_to_end(&tps(&v));
            }
            Op::Pause(v) => {
                let _ = h.c.pause(&tps(&v));
            }
            Op::Resume(v) => {
                let _ = h.c.resume(&tps(&v));
            }
            Op::Poll => {
                h.poll();
            }
            Op::OffsetsForTimes(q) => {
                let _ =
                    h.c.offsets_for_times(q.into_iter().take(8).map(|(tp, ts)| (tp.get(), ts)));
            }
            Op::WantMetadata(t) => h.c.want_metadata(TOPICS[usize::from(t) % 3].0),
            Op::Inspect(tp) => {
                let tp = tp.get();
                let _ = (h.c.position(&tp), h.c.watermarks(&tp), h.c.lag(&tp));
                let _ = h.c.partitions_for(&tp.topic);
            }
            Op::Close => {
                h.close_called = true;
                h.c.close();
            }
            Op::Accept(i) => h.accept(i),
            Op::Refuse(i) => h.refuse(i, false),
            Op::Drop(i) => h.refuse(i, true),
            Op::Stale(k) => h.stale(k),
            Op::Answer { conn, how } => h.answer(conn, how),
            Op::AnswerAll => h.answer_all(),
            Op::Run(n) => h.run(n),
            Op::Raw { conn, bytes } => h.raw(conn, &bytes),
            Op::Advance(ms) => h.advance(ms),
            Op::AdvanceLong(s) => h.advance_long(s),
            Op::ToTimeout => h.jump_to_timeout(),
            Op::Backwards(ms) => h.backwards(ms),
            Op::Cluster(change) => h.cluster.change(change),
        }
        h.drain();
    }
    h.finish();
    if std::env::var_os("KASIO_FUZZ_STATS").is_some() {
        eprintln!(
            "stats: polled {} records; requests {:?}",
            h.polled, h.requests
        );
    }
});
