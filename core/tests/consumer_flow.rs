//! The consumer's happy path and fetch sessions (KIP-227), pinned as sequences of
//! requests against a scripted broker.

mod support;

use kasio_core::consumer::{ConnCommand, Event, ResetReason};
use kasio_core::protocol::messages::{FetchRequest, ListOffsetsRequest};
use kasio_core::protocol::ErrorCode;
use support::*;

#[test]
fn bootstrap_reset_full_then_incremental_fetches() {
    let mut h = Harness::new(&[], 3, 2);
    h.c.assign([tp(0), tp(1)]).unwrap();
    h.drain();
    // The bootstrap server first.
    assert!(h.is_connecting(-1), "{}", h.dump());
    h.connect_and_negotiate(-1, &Versions::all());
    let meta = h.answer_metadata(-1);
    let names: Vec<_> = meta
        .body
        .topics
        .as_ref()
        .unwrap()
        .iter()
        .map(|t| t.name.clone().unwrap())
        .collect();
    assert_eq!(names, ["t"]);
    // Then the leader, for the reset.
    h.connect_and_negotiate(1, &Versions::all());
    let lo = h.expect::<ListOffsetsRequest>(1);
    assert_eq!(list_parts(&lo.body), [(0, -2), (1, -2)], "earliest is -2");
    assert_eq!(lo.body.isolation_level, 0);
    assert_eq!(lo.body.replica_id, -1);
    h.respond(&lo, &list_offsets_resp(&[(0, 10), (1, 20)]));
    assert_eq!(
        h.take_events(),
        [
            Event::OffsetReset {
                tp: tp(0),
                offset: 10,
                reason: ResetReason::NoPosition
            },
            Event::OffsetReset {
                tp: tp(1),
                offset: 20,
                reason: ResetReason::NoPosition
            },
        ]
    );
    assert_eq!(h.c.position(&tp(0)), Ok(Some(10)));

    let f = h.expect::<FetchRequest>(1);
    assert_eq!((f.body.session_id, f.body.session_epoch), (0, 0));
    assert_eq!(fetch_parts(&f.body), [(0, 10), (1, 20)]);
    assert_eq!(
        f.body.topics[0].topic_id, TOPIC_ID,
        "v13+ names topics by ID"
    );
    assert_eq!(f.body.topics[0].partitions[0].current_leader_epoch, 5);
    assert_eq!(f.body.replica_id, -1);
    // Records for partition 0 only; a session opens.
    h.respond(
        &f,
        &fetch_resp(77, vec![pdata_with(0, 13, batch(10, 3, 5)), pdata(1, 20)]),
    );
    assert!(h.events.contains(&Event::RecordsReady));

    // The next fetch goes out at once: incremental, only the partition that moved.
    let f2 = h.expect::<FetchRequest>(1);
    assert_eq!((f2.body.session_id, f2.body.session_epoch), (77, 1));
    assert_eq!(fetch_parts(&f2.body), [(0, 13)]);
    assert_eq!(f2.body.topics[0].partitions[0].last_fetched_epoch, 5);
    assert!(forgotten(&f2.body).is_empty());

    let recs = h.poll();
    assert_eq!(summarize(&recs), [(0, 10), (0, 11), (0, 12)]);
    let r = &recs.partitions()[0].records[1];
    assert_eq!(r.key.as_deref(), Some(&b"k11"[..]));
    assert_eq!(r.value.as_deref(), Some(&b"v11"[..]));
    let hdr: Vec<_> = r.headers().map(|h| (h.key, h.value)).collect();
    assert_eq!(hdr, [("h", Some(&b"x11"[..]))]);
    assert_eq!(h.c.position(&tp(0)), Ok(Some(13)));
    assert_eq!(h.c.lag(&tp(0)), Ok(Some(0)));

    // Nothing new: an empty incremental response, then an empty incremental request.
    h.respond(&f2, &fetch_resp(77, vec![]));
    let f3 = h.expect::<FetchRequest>(1);
    assert_eq!(f3.body.session_epoch, 2);
    assert!(fetch_parts(&f3.body).is_empty());
    h.respond(
        &f3,
        &fetch_resp(77, vec![pdata_with(1, 22, batch(20, 2, 5))]),
    );
    let f4 = h.expect::<FetchRequest>(1);
    assert_eq!(f4.body.session_epoch, 3);
    assert_eq!(fetch_parts(&f4.body), [(1, 22)]);
    assert_eq!(summarize(&h.poll()), [(1, 20), (1, 21)]);

    assert_eq!(
        h.trace,
        [
            "ApiVersions v4",
            "Metadata v12",
            "ApiVersions v4",
            "ListOffsets v10",
            "Fetch v17 full epoch=0",
            "Fetch v17 incr epoch=1",
            "Fetch v17 incr epoch=2",
            "Fetch v17 incr epoch=3",
        ]
    );
}

#[test]
fn latest_reset_asks_for_timestamp_minus_one() {
    let mut h = Harness::new(&[("auto.offset.reset", "latest")], 1, 1);
    h.c.assign([tp(0)]).unwrap();
    h.drain();
    h.connect_and_negotiate(-1, &Versions::all());
    h.answer_metadata(-1);
    h.connect_and_negotiate(1, &Versions::all());
    let lo = h.answer_list_offsets(1, 500);
    assert_eq!(list_parts(&lo.body), [(0, -1)]);
    let f = h.expect::<FetchRequest>(1);
    assert_eq!(fetch_parts(&f.body), [(0, 500)]);
}

#[test]
fn read_committed_lists_offsets_with_isolation_level() {
    let mut h = Harness::new(&[("isolation.level", "read_committed")], 1, 1);
    h.c.assign([tp(0)]).unwrap();
    h.drain();
    h.connect_and_negotiate(-1, &Versions::all());
    h.answer_metadata(-1);
    h.connect_and_negotiate(1, &Versions::all());
    let lo = h.answer_list_offsets(1, 0);
    assert_eq!(lo.body.isolation_level, 1);
    let f = h.expect::<FetchRequest>(1);
    assert_eq!(f.body.isolation_level, 1);
}

#[test]
fn session_errors_restart_with_a_full_fetch() {
    for code in [
        ErrorCode::FetchSessionIdNotFound,
        ErrorCode::InvalidFetchSessionEpoch,
    ] {
        let mut h = Harness::new(&[], 1, 2);
        let f = h.start(&[0, 1], 0);
        h.respond(
            &f,
            &fetch_resp(9, vec![pdata_with(0, 2, batch(0, 2, 5)), pdata(1, 0)]),
        );
        let f = h.expect::<FetchRequest>(1);
        assert_eq!((f.body.session_id, f.body.session_epoch), (9, 1));
        let mut err = fetch_resp(0, vec![]);
        err.error_code = code.code();
        h.respond(&f, &err);
        // At once (no backoff): a full fetch of every partition, from where it was.
        let f = h.expect::<FetchRequest>(1);
        assert_eq!(
            (f.body.session_id, f.body.session_epoch),
            (0, 0),
            "{code:?}"
        );
        let mut parts = fetch_parts(&f.body);
        parts.sort_unstable();
        assert_eq!(parts, [(0, 2), (1, 0)]);
        h.respond(&f, &fetch_resp(10, vec![]));
        let f = h.expect::<FetchRequest>(1);
        assert_eq!((f.body.session_id, f.body.session_epoch), (10, 1));
        assert!(
            h.take_events().is_empty(),
            "session errors are not the user's"
        );
        assert_eq!(summarize(&h.poll()), [(0, 0), (0, 1)]);
    }
}

#[test]
fn sessionless_broker_gets_full_fetches() {
    let mut h = Harness::new(&[], 1, 2);
    let f = h.start(&[0, 1], 0);
    h.respond(&f, &fetch_resp(0, vec![pdata_with(0, 2, batch(0, 2, 5))]));
    let mut firsts = Vec::new();
    for _ in 0..3 {
        let f = h.expect::<FetchRequest>(1);
        assert_eq!((f.body.session_id, f.body.session_epoch), (0, 0));
        let parts = fetch_parts(&f.body);
        firsts.push(parts[0].0);
        let mut sorted = parts.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, [(0, 2), (1, 0)], "full: every partition");
        h.respond(&f, &fetch_resp(0, vec![]));
    }
    // Each full request starts one partition further: a broker that stops serving
    // once its wait is over starves none of them for good.
    assert_ne!(firsts[0], firsts[1]);
    assert_ne!(firsts[1], firsts[2]);
}

#[test]
fn unassigned_partition_is_forgotten() {
    let mut h = Harness::new(&[], 1, 3);
    let f = h.start(&[0, 1, 2], 0);
    h.respond(&f, &fetch_resp(5, vec![]));
    let f = h.expect::<FetchRequest>(1);
    assert_eq!(f.body.session_epoch, 1);
    h.c.assign([tp(0), tp(2)]).unwrap();
    h.drain();
    // The in-flight fetch still covers partition 1: its data is dropped.
    h.respond(&f, &fetch_resp(5, vec![pdata_with(1, 3, batch(0, 3, 5))]));
    let f = h.expect::<FetchRequest>(1);
    assert_eq!(f.body.session_epoch, 2);
    assert_eq!(forgotten(&f.body), [1]);
    assert!(fetch_parts(&f.body).is_empty());
    assert!(h.poll().is_empty());
    assert_eq!(f.body.forgotten_topics_data[0].topic_id, TOPIC_ID);
}

#[test]
fn unassigning_everything_closes_the_session() {
    let mut h = Harness::new(&[], 1, 1);
    let f = h.start(&[0], 0);
    h.respond(&f, &fetch_resp(5, vec![]));
    let f = h.expect::<FetchRequest>(1);
    h.c.unassign().unwrap();
    h.drain();
    h.respond(&f, &fetch_resp(5, vec![]));
    let close = h.expect::<FetchRequest>(1);
    assert_eq!((close.body.session_id, close.body.session_epoch), (5, -1));
    assert!(close.body.topics.is_empty());
    h.respond(&close, &fetch_resp(0, vec![]));
    h.run_for(ms(10_000));
    h.expect_nothing(1);
    assert_eq!(
        h.trace,
        ["Fetch v17 incr epoch=1", "Fetch v17 close epoch=-1"]
    );
}

#[test]
fn close_closes_sessions_then_emits_closed() {
    let mut h = Harness::new(&[], 2, 2);
    h.cluster.set_leader(1, 2, 5);
    h.c.assign([tp(0), tp(1)]).unwrap();
    h.drain();
    h.connect_and_negotiate(-1, &Versions::all());
    h.answer_metadata(-1);
    h.connect_and_negotiate(1, &Versions::all());
    h.connect_and_negotiate(2, &Versions::all());
    h.answer_list_offsets(1, 0);
    h.answer_list_offsets(2, 0);
    let f1 = h.expect::<FetchRequest>(1);
    let f2 = h.expect::<FetchRequest>(2);
    h.respond(&f1, &fetch_resp(11, vec![]));
    h.respond(&f2, &fetch_resp(22, vec![]));
    let f1 = h.expect::<FetchRequest>(1);
    let _f2 = h.expect::<FetchRequest>(2);
    h.take_all_events();
    h.c.close();
    h.drain();
    assert!(
        !h.events.contains(&Event::Closed),
        "waits for the session closes"
    );
    // Broker 1 answers its long poll, then the close.
    h.respond(&f1, &fetch_resp(11, vec![]));
    let c1 = h.expect::<FetchRequest>(1);
    assert_eq!((c1.body.session_id, c1.body.session_epoch), (11, -1));
    let c2 = h.expect::<FetchRequest>(2);
    assert_eq!((c2.body.session_id, c2.body.session_epoch), (22, -1));
    h.respond(&c1, &fetch_resp(0, vec![]));
    assert!(!h.events.contains(&Event::Closed));
    // Broker 2 never answers: close gives up after request.timeout.ms.
    h.run_for(ms(5_000));
    let events = h.take_all_events();
    assert_eq!(events.last(), Some(&Event::Closed), "{events:?}");
    let disconnects = h
        .commands
        .iter()
        .filter(|e| matches!(e, ConnCommand::Disconnect { .. }))
        .count();
    assert_eq!(disconnects, 3, "bootstrap + two brokers: {:?}", h.commands);
    assert!(h.c.is_closed());
    assert_eq!(h.c.poll_timeout(), None);
    let _ = h.c.poll_records(h.now);
    assert_eq!(h.c.poll_event(), None);
}

#[test]
fn close_without_sessions_is_immediate() {
    let mut h = Harness::new(&[], 1, 1);
    let _f = h.start(&[0], 0);
    // The first fetch is still in flight: no session to close yet.
    h.take_all_events();
    h.c.close();
    h.drain();
    let events = h.take_all_events();
    assert_eq!(events.last(), Some(&Event::Closed), "{events:?}");
    assert!(h.c.seek(&tp(0), 1).is_err(), "closed");
    assert!(h.trace.is_empty(), "{:?}", h.trace);
}
