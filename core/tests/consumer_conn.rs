//! Connections: ApiVersions negotiation, request timeouts, reconnect backoff, and
//! what a misbehaving broker (garbage, wrong correlation ids, huge frames) does.

mod support;

use kasio_core::codec::DecodeErrorKind;
use kasio_core::conn::ConnError;
use kasio_core::consumer::{ConnCommand, ConnRole, ConsumerError, Event, RemoteError, Timer};
use kasio_core::metadata::BrokerId;
use kasio_core::protocol::messages::{
    ApiVersionsRequest, ApiVersionsResponse, FetchRequest, ListOffsetsRequest, MetadataRequest,
};
use kasio_core::protocol::{ApiKey, ErrorCode};
use kasio_core::time::Instant;
use support::*;

fn connection_errors(events: &[Event]) -> Vec<(i32, ConnError)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Error(ConsumerError::Remote(RemoteError::Connection { broker, error })) => {
                Some((broker.0, error.clone()))
            }
            _ => None,
        })
        .collect()
}

fn connects(commands: &[ConnCommand]) -> Vec<i32> {
    commands
        .iter()
        .filter_map(|e| match e {
            ConnCommand::Connect { broker, .. } => Some(broker.0),
            _ => None,
        })
        .collect()
}

fn answer_pending_metadata(h: &mut Harness) {
    h.answer_any_metadata();
}

#[test]
fn api_versions_unsupported_version_retries_lower() {
    let mut h = Harness::new(&[], 1, 1);
    h.c.assign([tp(0)]).unwrap();
    h.drain();
    h.accept(-1);
    let req = h.expect::<ApiVersionsRequest>(-1);
    assert_eq!(req.version, 4);
    assert_eq!(req.body.client_software_name, "kasio");
    // An old broker: "I speak ApiVersions up to v2", in a v0 body.
    let old = Versions::all().with(ApiKey::ApiVersions, 0, 2);
    h.respond_v0(
        &req,
        &ApiVersionsResponse {
            error_code: ErrorCode::UnsupportedVersion.code(),
            ..Versions(vec![(ApiKey::ApiVersions, 0, 2)]).response()
        },
    );
    let req = h.expect::<ApiVersionsRequest>(-1);
    assert_eq!(req.version, 2);
    h.respond(&req, &old.response());
    h.answer_metadata(-1);
    assert_eq!(
        h.trace,
        ["ApiVersions v4", "ApiVersions v2", "Metadata v12"]
    );
    assert!(connection_errors(&h.events).is_empty());
}

#[test]
fn broker_speaking_only_old_fetch_gets_it() {
    let versions = Versions::all().with(ApiKey::Fetch, 0, 11);
    let mut h = Harness::new(&[], 1, 1);
    let f = h.start_with(&[0], 0, &versions);
    assert_eq!(f.version, 11);
    assert_eq!(f.body.topics[0].topic, "t", "below v13 topics go by name");
    h.respond(&f, &fetch_resp(3, vec![pdata_with(0, 2, batch(0, 2, 5))]));
    let f = h.expect::<FetchRequest>(1);
    assert_eq!((f.version, f.body.session_epoch), (11, 1));
    assert_eq!(summarize(&h.poll()), [(0, 0), (0, 1)]);
}

#[test]
fn request_timeout_disconnects_and_reconnects_after_backoff() {
    let mut h = Harness::new(&[], 1, 1);
    let f = h.start(&[0], 0);
    let sent = h.now;
    // Not answered: request.timeout.ms (5 s) later the connection is dropped.
    h.run_until(sent + ms(4_999));
    assert!(connection_errors(&h.events).is_empty());
    h.run_until(sent + ms(5_000));
    let events = h.take_all_events();
    assert_eq!(
        connection_errors(&events),
        [(1, ConnError::RequestTimeout(ApiKey::Fetch))]
    );
    assert!(h
        .commands
        .contains(&ConnCommand::Disconnect { conn: f.conn }));
    assert!(h.conns_to(1).is_empty(), "{events:?}");
    // Metadata is refreshed (leadership may have moved).
    answer_pending_metadata(&mut h);
    // Reconnect after reconnect.backoff.ms = 50 ms ± 20 %.
    let failed_at = h.now;
    while h.conns_to(1).is_empty() {
        h.step();
        answer_pending_metadata(&mut h);
        assert!(h.now <= failed_at + ms(60), "{}", h.dump());
    }
    let waited = h.now - failed_at;
    assert!(waited >= ms(40) && waited <= ms(60), "{waited:?}");
    // Consumption continues: a fresh session from the same offset.
    h.connect_and_negotiate(1, &Versions::all());
    let f = h.expect::<FetchRequest>(1);
    assert_eq!((f.body.session_id, f.body.session_epoch), (0, 0));
    assert_eq!(fetch_parts(&f.body), [(0, 0)]);
}

#[test]
fn reconnect_backoff_grows_exponentially_with_jitter() {
    let mut h = Harness::new(&[], 1, 1);
    let f = h.start(&[0], 0);
    h.take_all_events();
    h.disconnect(f.conn);
    answer_pending_metadata(&mut h);
    // Each attempt fails at once: 50, 100, 200, 400, 800, 1000, 1000 ms (± 20 %).
    for base in [50u64, 100, 200, 400, 800, 1000, 1000] {
        let failed_at = h.now;
        while !h.is_connecting(1) {
            h.step();
            answer_pending_metadata(&mut h);
        }
        let waited = (h.now - failed_at).as_micros() as f64 / 1000.0;
        let (lo, hi) = (base as f64 * 0.8, base as f64 * 1.2);
        assert!(
            waited >= lo - 0.001 && waited <= hi + 0.001,
            "base {base}: waited {waited} ms"
        );
        let conn = *h.conns_to(1).last().unwrap();
        h.disconnect(conn);
    }
    // A success resets the backoff: the next failure waits ~50 ms again.
    while !h.is_connecting(1) {
        h.step();
        answer_pending_metadata(&mut h);
    }
    let conn = h.connect_and_negotiate(1, &Versions::all());
    let f = h.expect::<FetchRequest>(1);
    assert_eq!(f.conn, conn);
    let failed_at = h.now;
    h.disconnect(conn);
    answer_pending_metadata(&mut h);
    while !h.is_connecting(1) {
        h.step();
        answer_pending_metadata(&mut h);
    }
    let waited = h.now - failed_at;
    assert!(waited >= ms(40) && waited <= ms(60), "{waited:?}");
}

#[test]
fn connection_setup_timeout_counts_as_a_failure() {
    let mut h = Harness::new(&[("socket.connection.setup.timeout.ms", "1000")], 1, 1);
    h.c.assign([tp(0)]).unwrap();
    h.drain();
    let start = h.now;
    assert!(h.is_connecting(-1));
    h.run_until(start + ms(1_000));
    assert_eq!(
        connection_errors(&h.events),
        [(-1, ConnError::SetupTimeout)],
        "{}",
        h.dump()
    );
    // Retried after the backoff, at the instant poll_timeout names.
    assert!(!h.is_connecting(-1));
    let next = h.c.poll_timeout().expect("a wake-up for the retry");
    assert!(
        next >= start + ms(1_040) && next <= start + ms(1_060),
        "{next:?}"
    );
    h.step();
    assert_eq!(connects(&h.commands), [-1, -1]);
}

#[test]
fn partition_missing_from_metadata_asks_again_at_once() {
    // A partition added to the topic after the last refresh.
    let mut h = Harness::new(&[], 1, 1);
    let f = h.start(&[0], 0);
    h.cluster.topics[0].partitions.push(PartMeta {
        index: 1,
        leader: 1,
        epoch: 5,
        error: 0,
    });
    h.c.assign([tp(0), tp(1)]).unwrap();
    h.drain();
    // Asked at once, of the broker (behind its long-poll Fetch), not of the idle
    // bootstrap connection.
    let (_, api, _) = h.try_next(1).expect("a metadata request at once");
    assert_eq!(api, ApiKey::Metadata);
    h.expect_nothing(-1);
    h.respond(&f, &fetch_resp(7, vec![]));
    h.answer_metadata(1);
    // The next Fetch went out with the empty answer, before the metadata's.
    h.expect::<FetchRequest>(1);
    let lo = h.expect::<kasio_core::protocol::messages::ListOffsetsRequest>(1);
    assert_eq!(list_parts(&lo.body), [(1, -2)]);
}

fn started_with_records(h: &mut Harness) -> kasio_core::conn::ConnId {
    let f = h.start(&[0], 0);
    h.respond(&f, &fetch_resp(4, vec![pdata_with(0, 2, batch(0, 2, 5))]));
    assert_eq!(summarize(&h.poll()), [(0, 0), (0, 1)]);
    let f = h.expect::<FetchRequest>(1);
    assert_eq!(f.body.session_epoch, 1);
    h.take_all_events();
    f.conn
}

/// After a broken connection: reconnect, full fetch from the position, records flow.
fn recovers(h: &mut Harness, old: kasio_core::conn::ConnId) {
    assert!(
        h.commands.contains(&ConnCommand::Disconnect { conn: old }),
        "{}",
        h.dump()
    );
    answer_pending_metadata(h);
    while !h.is_connecting(1) {
        h.step();
        answer_pending_metadata(h);
    }
    h.connect_and_negotiate(1, &Versions::all());
    let f = h.expect::<FetchRequest>(1);
    assert_eq!((f.body.session_id, f.body.session_epoch), (0, 0));
    assert_eq!(fetch_parts(&f.body), [(0, 2)]);
    h.respond(&f, &fetch_resp(4, vec![pdata_with(0, 3, batch(2, 1, 5))]));
    assert_eq!(summarize(&h.poll()), [(0, 2)]);
}

#[test]
fn wrong_correlation_id_closes_and_reconnects() {
    let mut h = Harness::new(&[], 1, 1);
    let conn = started_with_records(&mut h);
    // A response to a request that was never sent.
    let mut frame = vec![0, 0, 0, 8];
    frame.extend_from_slice(&999i32.to_be_bytes());
    frame.extend_from_slice(&[0, 0, 0, 0]);
    h.deliver(conn, &frame);
    let errors = connection_errors(&h.events);
    assert!(
        matches!(
            errors.as_slice(),
            [(1, ConnError::CorrelationMismatch { got: 999, .. })]
        ),
        "{errors:?}"
    );
    recovers(&mut h, conn);
}

#[test]
fn garbage_bytes_close_and_reconnect() {
    let mut h = Harness::new(&[], 1, 1);
    let conn = started_with_records(&mut h);
    h.deliver(conn, &[0xff; 32]);
    let errors = connection_errors(&h.events);
    assert!(
        matches!(errors.as_slice(), [(1, ConnError::Decode(e))] if e.kind == DecodeErrorKind::NegativeLength),
        "{errors:?}"
    );
    recovers(&mut h, conn);
}

#[test]
fn undecodable_response_body_closes_and_reconnects() {
    let mut h = Harness::new(&[], 1, 1);
    let conn = started_with_records(&mut h);
    // The right correlation id (the fetch in flight has id 2 on this connection:
    // ApiVersions 0, ListOffsets 1, Fetch 2, Fetch 3), then a truncated body.
    let f_corr = 3i32;
    let mut frame = vec![0, 0, 0, 7];
    frame.extend_from_slice(&f_corr.to_be_bytes());
    frame.extend_from_slice(&[0, 0, 0]);
    h.deliver(conn, &frame);
    assert_eq!(connection_errors(&h.events).len(), 1, "{}", h.dump());
    recovers(&mut h, conn);
}

#[test]
fn frame_larger_than_receive_message_max_bytes_closes() {
    let mut h = Harness::new(
        &[
            ("receive.message.max.bytes", "1000"),
            ("fetch.max.bytes", "400"),
        ],
        1,
        1,
    );
    let f = h.start(&[0], 0);
    // A response over the limit (the broker ignored fetch.max.bytes).
    let big = batch(0, 100, 5);
    assert!(big.len() > 1000);
    h.respond(&f, &fetch_resp(4, vec![pdata_with(0, 100, big)]));
    let errors = connection_errors(&h.events);
    assert!(
        matches!(errors.as_slice(), [(1, ConnError::Decode(e))] if e.kind == DecodeErrorKind::FrameTooLarge),
        "{errors:?}"
    );
    assert!(h
        .commands
        .contains(&ConnCommand::Disconnect { conn: f.conn }));
    assert!(h.poll().is_empty());
}

#[test]
fn responses_in_one_byte_chunks_work() {
    let mut h = Harness::new(&[], 1, 2);
    h.chunk = Some(1);
    let f = h.start(&[0, 1], 0);
    h.respond(
        &f,
        &fetch_resp(
            8,
            vec![
                pdata_with(0, 3, batch(0, 3, 5)),
                pdata_with(1, 2, batch(0, 2, 5)),
            ],
        ),
    );
    let recs = h.poll();
    assert_eq!(summarize(&recs), [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1)]);
    let f = h.expect::<FetchRequest>(1);
    assert_eq!(f.body.session_epoch, 1);
    assert!(connection_errors(&h.events).is_empty());
}

#[test]
fn driver_reported_disconnect_fails_in_flight_requests() {
    let mut h = Harness::new(&[], 1, 1);
    h.c.assign([tp(0)]).unwrap();
    h.drain();
    h.connect_and_negotiate(-1, &Versions::all());
    let m = h.expect::<MetadataRequest>(-1);
    h.disconnect(m.conn);
    // No Disconnect event for a close the driver reported itself.
    assert!(!h
        .commands
        .contains(&ConnCommand::Disconnect { conn: m.conn }));
    // Metadata retried on a new bootstrap connection after retry.backoff.ms (100 ms
    // ± 20 % from when it was sent, as Java's metadata refresh backoff).
    let t0 = h.now;
    while !h.is_connecting(-1) {
        h.step();
        assert!(h.now <= t0 + ms(120), "{:?}", h.now);
    }
    assert!(h.now >= t0 + ms(80), "{:?}", h.now);
    h.connect_and_negotiate(-1, &Versions::all());
    h.answer_metadata(-1);
    assert!(h.is_connecting(1));
}

#[test]
fn topic_without_an_id_is_fetched_by_name() {
    // Metadata from a broker without topic IDs: Fetch stays below v13.
    let mut h = Harness::new(&[], 1, 1);
    h.cluster.topics[0].id = kasio_core::codec::Uuid::ZERO;
    let f = h.start(&[0], 0);
    assert_eq!(f.version, 12);
    assert_eq!(f.body.topics[0].topic, "t");
    h.respond(&f, &fetch_resp(4, vec![pdata_with(0, 1, batch(0, 1, 5))]));
    assert_eq!(summarize(&h.poll()), [(0, 0)]);
}

/// `max.in.flight.requests.per.connection` bounds what is outstanding on one
/// connection: with 1, a ListOffsets waits for the long-poll Fetch to come back.
#[test]
fn in_flight_requests_are_bounded_per_connection() {
    let mut h = Harness::new(&[("max.in.flight.requests.per.connection", "1")], 1, 1);
    let f = h.start(&[0], 0);
    h.c.seek_to_end(&[tp(0)]).unwrap();
    h.drain();
    assert!(
        h.try_next(1).is_none(),
        "nothing else may go out while the fetch is in flight"
    );
    h.respond(&f, &fetch_resp(7, vec![]));
    let lo = h.expect::<ListOffsetsRequest>(1);
    assert_eq!(list_parts(&lo.body), [(0, -1)]);
}

#[test]
fn every_wait_is_a_timer_in_the_table_and_a_fired_one_is_gone() {
    let mut h = Harness::new(&[], 1, 1);
    let f = h.start(&[0], 0);
    let sent = h.now;
    let timers = |h: &Harness| -> Vec<(Timer, Instant)> {
        h.c.timers().map(|(t, at)| (t.clone(), at)).collect()
    };
    let table = timers(&h);
    // The fetch in flight times out with its connection; metadata is refreshed
    // every metadata.max.age.ms.
    assert!(
        table.contains(&(Timer::Connection(f.conn), sent + ms(5_000))),
        "{table:?}"
    );
    assert!(
        table.iter().any(|(t, _)| *t == Timer::Metadata),
        "{table:?}"
    );
    assert_eq!(
        h.c.poll_timeout(),
        table.iter().map(|(_, at)| *at).min(),
        "poll_timeout is the table's minimum"
    );
    // The request times out: that timer fires and is gone with its connection, and
    // the broker's reconnect backoff takes its place.
    h.run_until(sent + ms(5_000));
    let table = timers(&h);
    assert!(
        !table.iter().any(|(t, _)| *t == Timer::Connection(f.conn)),
        "{table:?}"
    );
    assert!(
        table
            .iter()
            .any(|(t, _)| *t == Timer::Reconnect(BrokerId(1), ConnRole::Data)),
        "{table:?}"
    );
}

/// Metadata goes to a real broker even when its connection is busy and the
/// bootstrap connection sits idle: a bootstrap placeholder is a fallback for when
/// no real broker's connection is ready, never a choice for being idle (Java's
/// `leastLoadedNode` only considers the brokers metadata named). An idle connection
/// is also what a half-open one looks like: sim seed 929637 parked Metadata on a
/// hung bootstrap connection for a whole `request.timeout.ms` while the leader's
/// live connection, busy with validations, could have answered at once.
#[test]
fn metadata_prefers_a_busy_broker_to_an_idle_bootstrap_connection() {
    let mut h = Harness::new(&[("metadata.max.age.ms", "1000")], 1, 1);
    let f = h.start(&[0], 0);
    assert_eq!(
        h.conns_to(-1).len(),
        1,
        "the bootstrap connection stays open"
    );
    // The periodic refresh comes due while the long-poll Fetch is in flight.
    let until = h.now + ms(1_000);
    h.run_until(until);
    let m = h.expect::<MetadataRequest>(1);
    assert_eq!(
        m.conn, f.conn,
        "behind the Fetch, on the broker's connection"
    );
    h.expect_nothing(-1);
    // With the broker's connection gone, the bootstrap connection is the fallback.
    h.disconnect(m.conn);
    let lost = h.now;
    while h.try_next(-1).is_none() {
        h.step();
        assert!(h.now <= lost + ms(1_000), "{}", h.dump());
    }
    h.expect::<MetadataRequest>(-1);
}
