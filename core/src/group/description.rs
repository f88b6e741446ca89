//! A classic group as its coordinator describes it (DescribeGroups): state,
//! protocol, members with their subscriptions and assignments. What `kafka-
//! consumer-groups --describe --members` shows, and what a lag report starts from.

use alloc::string::String;
use alloc::vec::Vec;

use crate::consumer::TopicPartition;
use crate::protocol::consumer_protocol::decode_versioned;
use crate::protocol::messages::describe_groups_response::DescribedGroup;
use crate::protocol::messages::{ConsumerProtocolAssignment, ConsumerProtocolSubscription};

/// A group as described by its coordinator.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct GroupDescription {
    /// The group id.
    pub group_id: String,
    /// The coordinator's name for the group's state: `Empty`, `PreparingRebalance`,
    /// `CompletingRebalance`, `Stable` or `Dead` (a group the coordinator does not
    /// know is described as `Dead` with no members).
    pub state: String,
    /// `consumer` for consumer groups (empty for an empty group).
    pub protocol_type: String,
    /// The protocol the members agreed on (the assignor's name for consumer
    /// groups); empty while rebalancing.
    pub protocol: String,
    /// The members, in the coordinator's order.
    pub members: Vec<MemberDescription>,
}

/// One member of a described group.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct MemberDescription {
    /// The member id the coordinator gave.
    pub member_id: String,
    /// `group.instance.id`, for a static member.
    pub instance_id: Option<String>,
    /// The member's `client.id`.
    pub client_id: String,
    /// The address the coordinator saw it connect from.
    pub client_host: String,
    /// The topics it subscribed to (`None`: not a consumer-protocol subscription,
    /// or one that does not decode).
    pub topics: Option<Vec<String>>,
    /// Its partitions in the current generation (empty while rebalancing, or when
    /// the assignment is not the consumer protocol's).
    pub assignment: Vec<TopicPartition>,
}

impl GroupDescription {
    /// From the coordinator's answer for one group (its error code already checked).
    /// Member metadata and assignments that are not the consumer protocol's are
    /// reported as unknown rather than failing the description.
    pub fn from_response(group: &DescribedGroup) -> Self {
        let consumer = group.protocol_type == "consumer";
        let members = group
            .members
            .iter()
            .map(|m| {
                let topics = consumer
                    .then(|| decode_versioned::<ConsumerProtocolSubscription>(&m.member_metadata))
                    .and_then(Result::ok)
                    .map(|(s, _)| s.topics);
                let assignment = consumer
                    .then(|| decode_versioned::<ConsumerProtocolAssignment>(&m.member_assignment))
                    .and_then(Result::ok)
                    .map(|(a, _)| {
                        a.assigned_partitions
                            .iter()
                            .flat_map(|t| {
                                t.partitions
                                    .iter()
                                    .map(|&p| TopicPartition::new(t.topic.clone(), p))
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                MemberDescription {
                    member_id: m.member_id.clone(),
                    instance_id: m.group_instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    topics,
                    assignment,
                }
            })
            .collect();
        Self {
            group_id: group.group_id.clone(),
            state: group.group_state.clone(),
            protocol_type: group.protocol_type.clone(),
            protocol: group.protocol_data.clone(),
            members,
        }
    }
}
