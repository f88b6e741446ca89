//! Shared by the codec's integration tests.
#![allow(dead_code, unused_macros)]

/// Deterministic pseudo-random bytes (splitmix64), so a failure replays from its seed.
pub fn random_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        out.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Calls `$m!(Type)` for every message type of the codec.
macro_rules! for_each_message {
    ($m:ident) => {
        $m!(ApiVersionsRequest);
        $m!(ApiVersionsResponse);
        $m!(MetadataRequest);
        $m!(MetadataResponse);
        $m!(FindCoordinatorRequest);
        $m!(FindCoordinatorResponse);
        $m!(JoinGroupRequest);
        $m!(JoinGroupResponse);
        $m!(SyncGroupRequest);
        $m!(SyncGroupResponse);
        $m!(HeartbeatRequest);
        $m!(HeartbeatResponse);
        $m!(LeaveGroupRequest);
        $m!(LeaveGroupResponse);
        $m!(OffsetCommitRequest);
        $m!(OffsetCommitResponse);
        $m!(OffsetFetchRequest);
        $m!(OffsetFetchResponse);
        $m!(ListOffsetsRequest);
        $m!(ListOffsetsResponse);
        $m!(FetchRequest);
        $m!(FetchResponse);
        $m!(OffsetForLeaderEpochRequest);
        $m!(OffsetForLeaderEpochResponse);
        $m!(ConsumerGroupHeartbeatRequest);
        $m!(ConsumerGroupHeartbeatResponse);
        $m!(SaslHandshakeRequest);
        $m!(SaslHandshakeResponse);
        $m!(SaslAuthenticateRequest);
        $m!(SaslAuthenticateResponse);
        $m!(DescribeGroupsRequest);
        $m!(DescribeGroupsResponse);
        $m!(ConsumerProtocolSubscription);
        $m!(ConsumerProtocolAssignment);
    };
}
#[allow(unused_imports)]
pub(crate) use for_each_message;
