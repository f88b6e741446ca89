//! When to ask for metadata: at start, when something needs it (a missing leader,
//! a leadership error, an unknown topic ID, a lost broker), and every
//! `metadata.max.age.ms`; one request at a time, retried after a growing backoff
//! while the answer is not good enough.

use alloc::collections::BTreeSet;
use alloc::string::String;
use alloc::vec::Vec;

use crate::backoff::Backoff;
use crate::protocol::messages::metadata_request::MetadataRequestTopic;
use crate::protocol::messages::{MetadataRequest, MetadataResponse};
use crate::protocol::{ApiKey, ErrorCode};
use crate::rng::Rng;
use crate::time::{Duration, Instant};

use super::error::{BrokerError, RemoteError};
use super::event::{ConnRole, TopicPartition};
use super::partition::FetchState;
use super::purpose::Purpose;
use super::timer::{Timer, Timers};
use super::Consumer;

#[derive(Debug)]
pub(crate) struct MetadataRefresh {
    needed: bool,
    in_flight: bool,
    last_success: Option<Instant>,
    backoff: Backoff,
    max_age: Duration,
}

impl MetadataRefresh {
    pub fn new(backoff: Backoff, max_age: Duration) -> Self {
        Self {
            needed: false,
            in_flight: false,
            last_success: None,
            backoff,
            max_age,
        }
    }

    /// Something needs fresh metadata.
    pub fn request(&mut self) {
        self.needed = true;
    }

    /// Whether a refresh was asked for and not yet satisfied.
    pub fn is_needed(&self) -> bool {
        self.needed
    }

    /// Whether metadata ever arrived.
    pub fn ever_succeeded(&self) -> bool {
        self.last_success.is_some()
    }

    /// Whether a request should go out at `now` (given something is interested in
    /// metadata at all): needed or stale, none in flight, not backing off.
    pub fn due(&self, now: Instant) -> bool {
        let stale = self.last_success.is_none_or(|t| now >= t + self.max_age);
        (self.needed || stale) && !self.in_flight && self.backoff.ready(now)
    }

    /// A request went out. Until an answer proves good enough, the next one waits
    /// for the backoff.
    pub fn on_sent(&mut self, now: Instant, rng: &mut Rng, timers: &mut Timers) {
        self.in_flight = true;
        let until = self.backoff.fail(now, rng);
        timers.set(Timer::Metadata, until);
    }

    /// The request was lost (connection closed) or answered with garbage.
    pub fn on_lost(&mut self) {
        self.in_flight = false;
        self.needed = true;
    }

    /// An answer arrived; `needed` is cleared and may be set again by whoever
    /// reads the answer.
    pub fn on_answer(&mut self, now: Instant) {
        self.in_flight = false;
        self.needed = false;
        self.last_success = Some(now);
    }

    /// The answer left nothing wanting: the next refresh is the periodic one.
    pub fn on_complete(&mut self, timers: &mut Timers) {
        self.backoff.succeed();
        if let Some(t) = self.last_success {
            timers.set(Timer::Metadata, t + self.max_age);
        }
    }
}

impl Consumer {
    /// Whether anything assigned or asked for needs metadata at all.
    fn metadata_interested(&self) -> bool {
        !self.assignment.is_empty()
            || !self.queries.is_empty()
            || !self.extra_topics.is_empty()
            || self.group_topics().next().is_some()
            || self.wants_all_topics()
    }

    /// Sends a Metadata request if one is due, connecting somewhere first if no
    /// connection is ready.
    pub(super) fn drive_metadata(&mut self) {
        if !self.metadata_interested() || !self.refresh.due(self.now) {
            return;
        }
        let Some(broker) = self.brokers.least_loaded() else {
            if !self.brokers.any_pending() {
                if let Some(b) = self.brokers.pick_to_connect(self.now, &mut self.rng) {
                    self.brokers
                        .connect(b, ConnRole::Data, self.now, &mut self.timers);
                }
            }
            return;
        };
        let Some(versions) = self.brokers.ready(broker, ConnRole::Data) else {
            return;
        };
        let Some(version) = versions.version(ApiKey::Metadata).filter(|&v| v >= 1) else {
            let api = ApiKey::Metadata.key();
            self.report(RemoteError::UnsupportedApi { broker, api });
            return;
        };
        // A pattern subscription needs every topic (as Java's consumer asks).
        let topics = if self.wants_all_topics() {
            None
        } else {
            Some(
                self.interesting_topics()
                    .into_iter()
                    .map(|name| MetadataRequestTopic {
                        name: Some(name),
                        ..Default::default()
                    })
                    .collect(),
            )
        };
        let req = MetadataRequest {
            topics,
            allow_auto_topic_creation: self.config.allow_auto_create_topics,
            ..Default::default()
        };
        let all_topics = req.topics.is_none();
        if self.send(broker, &req, version, Purpose::Metadata { all_topics }) {
            self.refresh
                .on_sent(self.now, &mut self.rng, &mut self.timers);
        }
    }

    fn interesting_topics(&self) -> Vec<String> {
        let mut topics: BTreeSet<String> = self.assignment.topics().map(String::from).collect();
        topics.extend(self.extra_topics.iter().cloned());
        topics.extend(self.queries.topics().map(String::from));
        topics.extend(self.group_topics().map(String::from));
        topics.into_iter().collect()
    }

    pub(super) fn on_metadata(&mut self, resp: &MetadataResponse, all_topics: bool) {
        self.refresh.on_answer(self.now);
        let changes = self.metadata.apply(resp);
        self.brokers.update(&self.metadata);
        for t in &resp.topics {
            let code = ErrorCode::from_code(t.error_code);
            let Some(name) = &t.name else { continue };
            if code != ErrorCode::None && self.assignment.contains_topic(name) {
                // Unknown topics are retried with the next refresh (they may be being
                // created); the application hears about it each time.
                self.refresh.request();
                self.report(BrokerError::Topic {
                    topic: name.clone(),
                    code,
                });
            } else if code != ErrorCode::None && self.group_topics().any(|g| g == name) {
                // A subscribed topic in error too: a group leader assigns only
                // what metadata shows, and nothing else would ask again before
                // metadata.max.age.ms.
                self.refresh.request();
            }
        }
        for change in changes {
            let tp = TopicPartition::new(change.topic, change.partition);
            self.on_leader_change(&tp, change.leader_epoch);
        }
        self.on_epochless_metadata(resp);
        if all_topics {
            let all: Vec<(String, bool)> = resp
                .topics
                .iter()
                .filter(|t| ErrorCode::from_code(t.error_code) == ErrorCode::None)
                .filter_map(|t| t.name.clone().map(|n| (n, t.is_internal)))
                .collect();
            self.match_pattern(&all);
        }
        // An answer that leaves an assigned partition without a leader (or its topic
        // in error) keeps the backoff set when the request went out, so the retry
        // waits `retry.backoff.ms` (growing) instead of following at once.
        let incomplete = self.refresh.is_needed()
            || self
                .assignment
                .iter()
                .any(|(tp, _)| self.leader_of(tp).is_none());
        if !incomplete {
            self.refresh.on_complete(&mut self.timers);
        }
        self.group_metadata_changed();
    }

    /// The leader of a partition changed: fetched-ahead data is dropped and the
    /// position is validated against the new leader before fetching resumes.
    pub(super) fn on_leader_change(&mut self, tp: &TopicPartition, epoch: i32) {
        self.assignment.update(tp, |s| {
            let first_sight = s.leader_epoch < 0;
            s.leader_epoch = epoch;
            s.fenced = false;
            s.epoch_unknown = false;
            s.preferred_replica = None;
            // A retry that waited for new leadership need not wait longer (as in the
            // Java client, which fetches from the new leader as soon as metadata
            // names it).
            s.backoff.succeed();
            if first_sight || s.state != FetchState::Fetching {
                return;
            }
            s.revalidate();
        });
    }

    /// A broker before Metadata v7 names no leader epochs. Where a broker has
    /// fenced our epoch, such metadata can never tell us the newer one, and
    /// insisting on ours would fence us forever: fall back to no epoch (as the
    /// Java client does with such metadata), but validate the position first, so
    /// a truncation is still caught by the epoch of the last record we read.
    fn on_epochless_metadata(&mut self, resp: &MetadataResponse) {
        for t in &resp.topics {
            let Some(name) = &t.name else { continue };
            let mut tp = TopicPartition::new(name.clone(), 0);
            for p in t.partitions.iter().filter(|p| p.leader_epoch < 0) {
                tp.partition = p.partition_index;
                self.assignment.update(&tp, |s| {
                    if !s.fenced || s.epoch_unknown {
                        return;
                    }
                    s.fenced = false;
                    s.epoch_unknown = true;
                    s.preferred_replica = None;
                    s.backoff.succeed();
                    if s.state == FetchState::Fetching {
                        s.revalidate();
                    }
                });
            }
        }
    }
}
