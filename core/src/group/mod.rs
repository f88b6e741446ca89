//! Consumer groups.
//!
//! The classic group protocol (JoinGroup, SyncGroup, Heartbeat, LeaveGroup — see
//! issue 12) and the KIP-848 protocol will live here. For now this holds the
//! client-side [`assignor`]s the leader of a classic group runs: plain functions from
//! the members' subscriptions and the topic metadata to an assignment.

pub mod assignor;
