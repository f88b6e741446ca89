//! Describing the consumer's group (`group.id`) as its coordinator sees it:
//! DescribeGroups, for tools (`kasio group describe`, lag reports) and for
//! applications that want to see their peers. Works whether or not this consumer
//! is a member: it only needs `group.id`.

use alloc::vec;

use crate::group::description::GroupDescription;
use crate::group::GroupFailure;
use crate::metadata::BrokerId;
use crate::protocol::messages::{DescribeGroupsRequest, DescribeGroupsResponse};
use crate::protocol::{ApiKey, ErrorCode};

use super::error::{BrokerError, ConsumerError, LocalError, RemoteError, UsageError};
use super::event::ConnRole;
use super::event::{Event, QueryId};
use super::purpose::Purpose;
use super::timer::Timer;
use super::Consumer;

impl Consumer {
    /// Asks the group coordinator to describe the group named by `group.id`
    /// (state, protocol, members with their subscriptions and assignments). The
    /// answer comes as [`Event::GroupDescribed`] with the returned id, or an error
    /// once `default.api.timeout.ms` passes. The coordinator is found (again) as
    /// for commits; this consumer need not be a member.
    pub fn describe_group(&mut self) -> Result<QueryId, UsageError> {
        self.check_open()?;
        if self.group.is_none() {
            return Err(UsageError::NoGroupId);
        }
        let id = QueryId(self.queries_next_id());
        self.group_mut().describes.insert(id, false);
        self.timers
            .set(Timer::Query(id), self.now + self.config.default_api_timeout);
        self.drive();
        Ok(id)
    }

    /// Sends the describe queries not sent yet (the coordinator is connected).
    pub(super) fn drive_describes(&mut self, coordinator: BrokerId) {
        let g = self.group.as_ref().expect("a group");
        let unsent: vec::Vec<QueryId> = g
            .describes
            .iter()
            .filter(|(_, sent)| !**sent)
            .map(|(id, _)| *id)
            .collect();
        // A coordinator that speaks no DescribeGroups (librdkafka's mock cluster,
        // for one) is said at once rather than left to the query's timeout.
        let speaks = self
            .brokers
            .ready(coordinator, ConnRole::Coordinator)
            .map(|v| v.version(ApiKey::DescribeGroups).is_some());
        if speaks == Some(false) {
            for id in unsent {
                let error = RemoteError::UnsupportedApi {
                    broker: coordinator,
                    api: ApiKey::DescribeGroups.key(),
                };
                self.finish_describe(id, Err(error.into()));
            }
            return;
        }
        for id in unsent {
            let req = DescribeGroupsRequest {
                groups: vec![self.group.as_ref().expect("a group").group_id.clone()],
                include_authorized_operations: false,
            };
            if self.send_to_coordinator(
                coordinator,
                &req,
                Purpose::DescribeGroup { query: id },
                None,
            ) {
                self.group_mut().describes.insert(id, true);
            }
        }
    }

    pub(super) fn on_describe_response(&mut self, id: QueryId, resp: DescribeGroupsResponse) {
        let Some(g) = self.group.as_ref() else {
            return;
        };
        if !g.describes.contains_key(&id) {
            return; // timed out or closed meanwhile
        }
        let group_id = g.group_id.clone();
        let answer = resp.groups.into_iter().find(|d| d.group_id == group_id);
        let code = answer
            .as_ref()
            .map_or(ErrorCode::CoordinatorNotAvailable, |d| {
                ErrorCode::from_code(d.error_code)
            });
        let result = match code {
            ErrorCode::None => Ok(GroupDescription::from_response(
                answer.as_ref().expect("an answer without error"),
            )),
            // The coordinator moved, is not there yet, or is still loading the
            // group: find it again (with backoff) and ask again, as Java's admin
            // client does.
            ErrorCode::NotCoordinator
            | ErrorCode::CoordinatorNotAvailable
            | ErrorCode::CoordinatorLoadInProgress => {
                self.group_mut().describes.insert(id, false);
                self.coordinator_unknown();
                return;
            }
            code => Err(ConsumerError::Broker(BrokerError::Group(GroupFailure {
                api: ApiKey::DescribeGroups.key(),
                code,
            }))),
        };
        self.finish_describe(id, result);
    }

    /// `default.api.timeout.ms` passed for a describe query; false if `id` is not
    /// one.
    pub(super) fn expire_describe(&mut self, id: QueryId) -> bool {
        if !self
            .group
            .as_ref()
            .is_some_and(|g| g.describes.contains_key(&id))
        {
            return false;
        }
        self.finish_describe(id, Err(LocalError::Timeout.into()));
        true
    }

    /// Ends every describe query on close.
    pub(super) fn end_describes(&mut self) {
        let ids: vec::Vec<QueryId> = self
            .group
            .as_ref()
            .map(|g| g.describes.keys().copied().collect())
            .unwrap_or_default();
        for id in ids {
            self.finish_describe(id, Err(LocalError::Closed.into()));
        }
    }

    fn finish_describe(&mut self, id: QueryId, result: Result<GroupDescription, ConsumerError>) {
        self.group_mut().describes.remove(&id);
        self.timers.clear(&Timer::Query(id));
        self.events.push_back(Event::GroupDescribed { id, result });
    }
}
