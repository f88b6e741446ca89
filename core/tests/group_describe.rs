//! `describe_group`: DescribeGroups on the group coordinator, for a consumer that
//! is not a member, through a moved coordinator and a timeout.

mod support;

use bytes::Bytes;
use kasio_core::consumer::{ConsumerError, Event, LocalError, RemoteError, UsageError};
use kasio_core::protocol::consumer_protocol::encode_versioned;
use kasio_core::protocol::messages::consumer_protocol_assignment::TopicPartition as AssignedTopic;
use kasio_core::protocol::messages::describe_groups_response::{
    DescribedGroup, DescribedGroupMember,
};
use kasio_core::protocol::messages::{
    ConsumerProtocolAssignment, ConsumerProtocolSubscription, DescribeGroupsRequest,
    DescribeGroupsResponse, FindCoordinatorRequest,
};
use kasio_core::protocol::{ApiKey, ErrorCode};
use support::*;

const GROUP: &str = "g";

fn harness() -> Harness {
    Harness::new(&[("group.id", GROUP)], 1, 2)
}

/// Waits for FindCoordinator (connecting to whichever broker the consumer asks
/// for on the way) and answers it: broker 1; then connects to it.
fn coordinator_is_b1(h: &mut Harness) {
    let mut found = None;
    for _ in 0..100 {
        found = [-1, 1].into_iter().find(|b| {
            h.conns_to(*b)
                .iter()
                .any(|c| h.next_api_on(*c) == Some(ApiKey::FindCoordinator))
        });
        if found.is_some() {
            break;
        }
        match h.connecting_broker() {
            Some(b) => {
                h.connect_and_negotiate(b, &Versions::all());
            }
            None => h.run_for(ms(100)),
        }
    }
    let find = h.expect_api::<FindCoordinatorRequest>(found.expect("a FindCoordinator"));
    assert_eq!(find.body.coordinator_keys, [GROUP]);
    h.respond(&find, &coordinator_answer(GROUP, 1));
    // A coordinator connection closed before may wait out its reconnect backoff.
    for _ in 0..20 {
        if h.is_connecting(1) {
            h.connect_and_negotiate(1, &Versions::all());
            return;
        }
        if h.conns_to(1).iter().any(|c| h.next_api_on(*c).is_some()) {
            return;
        }
        h.run_for(ms(100));
    }
}

fn member(id: &str, parts: &[i32]) -> DescribedGroupMember {
    let sub = ConsumerProtocolSubscription {
        topics: vec![TOPIC.into()],
        ..Default::default()
    };
    let assignment = ConsumerProtocolAssignment {
        assigned_partitions: vec![AssignedTopic {
            topic: TOPIC.into(),
            partitions: parts.to_vec(),
        }],
        user_data: None,
    };
    DescribedGroupMember {
        member_id: id.into(),
        group_instance_id: Some(format!("{id}-instance")),
        client_id: "rdkafka".into(),
        client_host: "/10.0.0.7".into(),
        member_metadata: encode_versioned(&sub, 1).unwrap(),
        member_assignment: encode_versioned(&assignment, 1).unwrap(),
    }
}

fn described(code: ErrorCode, members: Vec<DescribedGroupMember>) -> DescribeGroupsResponse {
    DescribeGroupsResponse {
        groups: vec![DescribedGroup {
            error_code: code.code(),
            group_id: GROUP.into(),
            group_state: "Stable".into(),
            protocol_type: "consumer".into(),
            protocol_data: "range".into(),
            members,
            ..Default::default()
        }],
        ..Default::default()
    }
}

#[test]
fn a_consumer_outside_the_group_describes_it_after_the_coordinator_moved() {
    let mut h = harness();
    let id = h.c.describe_group().unwrap();
    h.drain();
    h.connect_and_negotiate(-1, &Versions::all());
    coordinator_is_b1(&mut h);
    let req = h.expect_api::<DescribeGroupsRequest>(1);
    assert_eq!(req.body.groups, [GROUP]);
    h.respond(&req, &described(ErrorCode::NotCoordinator, vec![]));
    assert!(h.take_events().is_empty(), "NOT_COORDINATOR is retried");
    // Found again (after the lookup's backoff), asked again.
    h.run_for(ms(1_000));
    coordinator_is_b1(&mut h);
    let req = h.expect_api::<DescribeGroupsRequest>(1);
    h.respond(
        &req,
        &described(ErrorCode::None, vec![member("a", &[0]), member("b", &[1])]),
    );
    let events = h.take_events();
    let [Event::GroupDescribed { id: got, result }] = events.as_slice() else {
        panic!("{events:?}")
    };
    assert_eq!(*got, id);
    let d = result.as_ref().unwrap();
    assert_eq!((d.state.as_str(), d.protocol.as_str()), ("Stable", "range"));
    assert_eq!(d.members.len(), 2);
    assert_eq!(d.members[0].member_id, "a");
    assert_eq!(d.members[0].instance_id.as_deref(), Some("a-instance"));
    assert_eq!(d.members[0].client_host, "/10.0.0.7");
    assert_eq!(d.members[0].topics, Some(vec![TOPIC.to_string()]));
    assert_eq!(d.members[0].assignment, [tp(0)]);
    assert_eq!(d.members[1].assignment, [tp(1)]);
    // The consumer never joined the group.
    assert!(!h.unread().iter().any(|(_, r)| r.starts_with("JoinGroup")));
}

#[test]
fn an_unanswered_describe_times_out_and_a_group_error_is_reported() {
    let mut h = harness();
    let id = h.c.describe_group().unwrap();
    h.drain();
    h.connect_and_negotiate(-1, &Versions::all());
    coordinator_is_b1(&mut h);
    let _req = h.expect_api::<DescribeGroupsRequest>(1);
    // default.api.timeout.ms (60 s) passes without an answer (the request's own
    // timeout, 30 s, sends the consumer looking for the coordinator again).
    h.run_for(ms(61_000));
    let events = h.take_events();
    assert!(
        events.iter().any(|e| matches!(
            e,
            Event::GroupDescribed { id: i, result: Err(ConsumerError::Local(LocalError::Timeout)) } if *i == id
        )),
        "{events:?}"
    );

    let id = h.c.describe_group().unwrap();
    h.drain();
    coordinator_is_b1(&mut h);
    let req = h.expect_api::<DescribeGroupsRequest>(1);
    h.respond(
        &req,
        &described(ErrorCode::GroupAuthorizationFailed, vec![]),
    );
    let events = h.take_events();
    let [Event::GroupDescribed {
        id: got,
        result: Err(ConsumerError::Broker(e)),
    }] = events.as_slice()
    else {
        panic!("{events:?}")
    };
    assert_eq!(*got, id);
    assert_eq!(e.code(), ErrorCode::GroupAuthorizationFailed);
}

#[test]
fn a_member_whose_bytes_are_not_the_consumer_protocol_is_described_without_them() {
    let mut h = harness();
    h.c.describe_group().unwrap();
    h.drain();
    h.connect_and_negotiate(-1, &Versions::all());
    coordinator_is_b1(&mut h);
    let req = h.expect_api::<DescribeGroupsRequest>(1);
    let mut odd = member("x", &[0]);
    odd.member_metadata = Bytes::from_static(&[0xff; 3]);
    odd.member_assignment = Bytes::from_static(&[0, 0, 0x7f, 0xff, 0xff, 0xff]);
    h.respond(&req, &described(ErrorCode::None, vec![odd]));
    let events = h.take_events();
    let [Event::GroupDescribed { result: Ok(d), .. }] = events.as_slice() else {
        panic!("{events:?}")
    };
    assert_eq!(d.members[0].topics, None);
    assert!(d.members[0].assignment.is_empty());
}

#[test]
fn describe_needs_a_group_id() {
    let mut h = Harness::new(&[], 1, 1);
    assert_eq!(h.c.describe_group(), Err(UsageError::NoGroupId));
}

#[test]
fn a_coordinator_without_describe_groups_is_said_at_once() {
    // librdkafka's mock cluster has no DescribeGroups: the query fails when the
    // coordinator's versions are known, not after default.api.timeout.ms.
    let mut h = harness();
    let id = h.c.describe_group().unwrap();
    h.drain();
    h.connect_and_negotiate(-1, &Versions::all());
    let find = h.expect_api::<FindCoordinatorRequest>(-1);
    h.respond(&find, &coordinator_answer(GROUP, 1));
    h.connect_and_negotiate(1, &Versions::all().without(ApiKey::DescribeGroups));
    let events = h.take_events();
    assert!(
        events.iter().any(|e| matches!(
            e,
            Event::GroupDescribed {
                id: i,
                result: Err(ConsumerError::Remote(RemoteError::UnsupportedApi { api: 15, .. })),
            } if *i == id
        )),
        "{events:?}"
    );
}
