//! The APIs kasio speaks, and which header version goes with each message version.

use super::messages::*;
use super::Message;

macro_rules! api_keys {
    ($(($variant:ident, $key:literal, $request:ty, $response:ty)),* $(,)?) => {
        /// The API keys of the requests a consumer sends.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[cfg_attr(feature = "defmt", derive(defmt::Format))]
        #[repr(i16)]
        pub enum ApiKey {
            $(
                #[doc = concat!("`", stringify!($variant), "` (", stringify!($key), ").")]
                $variant = $key,
            )*
        }

        impl ApiKey {
            /// Every API key kasio speaks.
            pub const ALL: &'static [ApiKey] = &[$(Self::$variant,)*];

            /// The API for a wire key, if kasio speaks it.
            pub const fn from_i16(key: i16) -> Option<Self> {
                match key {
                    $($key => Some(Self::$variant),)*
                    _ => None,
                }
            }

            /// The wire key.
            pub const fn key(self) -> i16 {
                self as i16
            }

            /// Kafka's name of the API.
            pub const fn name(self) -> &'static str {
                match self {
                    $(Self::$variant => stringify!($variant),)*
                }
            }

            /// The versions kasio's codec speaks for this API.
            pub fn versions(self) -> (i16, i16) {
                match self {
                    $(Self::$variant => <$request as Message>::VERSIONS,)*
                }
            }

            /// Whether `version` of this API is flexible (compact encodings, tagged fields).
            pub fn is_flexible(self, version: i16) -> bool {
                match self {
                    $(Self::$variant => <$request as Message>::is_flexible(version),)*
                }
            }
        }
    };
}

api_keys! {
    (Fetch, 1, FetchRequest, FetchResponse),
    (ListOffsets, 2, ListOffsetsRequest, ListOffsetsResponse),
    (Metadata, 3, MetadataRequest, MetadataResponse),
    (OffsetCommit, 8, OffsetCommitRequest, OffsetCommitResponse),
    (OffsetFetch, 9, OffsetFetchRequest, OffsetFetchResponse),
    (FindCoordinator, 10, FindCoordinatorRequest, FindCoordinatorResponse),
    (JoinGroup, 11, JoinGroupRequest, JoinGroupResponse),
    (Heartbeat, 12, HeartbeatRequest, HeartbeatResponse),
    (LeaveGroup, 13, LeaveGroupRequest, LeaveGroupResponse),
    (SyncGroup, 14, SyncGroupRequest, SyncGroupResponse),
    (DescribeGroups, 15, DescribeGroupsRequest, DescribeGroupsResponse),
    (SaslHandshake, 17, SaslHandshakeRequest, SaslHandshakeResponse),
    (ApiVersions, 18, ApiVersionsRequest, ApiVersionsResponse),
    (OffsetForLeaderEpoch, 23, OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse),
    (SaslAuthenticate, 36, SaslAuthenticateRequest, SaslAuthenticateResponse),
    (ConsumerGroupHeartbeat, 68, ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse),
}

impl ApiKey {
    /// Request header version for `version` of this API: 2 for flexible versions, else 1.
    pub fn request_header_version(self, version: i16) -> i16 {
        if self.is_flexible(version) {
            2
        } else {
            1
        }
    }

    /// Response header version for `version` of this API: 1 for flexible versions,
    /// else 0 — except ApiVersions, whose response header is always v0 so that a
    /// client can read it before it knows what the broker supports.
    pub fn response_header_version(self, version: i16) -> i16 {
        if self != ApiKey::ApiVersions && self.is_flexible(version) {
            1
        } else {
            0
        }
    }
}
