//! Shared by the message targets: the list of message types, indexed by the fuzzer's
//! first input byte.

/// Runs `$body` with `$ty` bound to the message type number `$index` (mod the count).
macro_rules! with_message {
    ($index:expr, |$ty:ident| $body:block) => {{
        use kasio_core::protocol::messages::*;
        macro_rules! __arm {
            ($t:ident) => {{
                type $ty = $t;
                $body
            }};
        }
        match $index % 34 {
            0 => __arm!(ApiVersionsRequest),
            1 => __arm!(ApiVersionsResponse),
            2 => __arm!(MetadataRequest),
            3 => __arm!(MetadataResponse),
            4 => __arm!(FindCoordinatorRequest),
            5 => __arm!(FindCoordinatorResponse),
            6 => __arm!(JoinGroupRequest),
            7 => __arm!(JoinGroupResponse),
            8 => __arm!(SyncGroupRequest),
            9 => __arm!(SyncGroupResponse),
            10 => __arm!(HeartbeatRequest),
            11 => __arm!(HeartbeatResponse),
            12 => __arm!(LeaveGroupRequest),
            13 => __arm!(LeaveGroupResponse),
            14 => __arm!(OffsetCommitRequest),
            15 => __arm!(OffsetCommitResponse),
            16 => __arm!(OffsetFetchRequest),
            17 => __arm!(OffsetFetchResponse),
            18 => __arm!(ListOffsetsRequest),
            19 => __arm!(ListOffsetsResponse),
            20 => __arm!(FetchRequest),
            21 => __arm!(FetchResponse),
            22 => __arm!(OffsetForLeaderEpochRequest),
            23 => __arm!(OffsetForLeaderEpochResponse),
            24 => __arm!(ConsumerGroupHeartbeatRequest),
            25 => __arm!(ConsumerGroupHeartbeatResponse),
            26 => __arm!(SaslHandshakeRequest),
            27 => __arm!(SaslHandshakeResponse),
            28 => __arm!(SaslAuthenticateRequest),
            29 => __arm!(SaslAuthenticateResponse),
            30 => __arm!(DescribeGroupsRequest),
            31 => __arm!(DescribeGroupsResponse),
            32 => __arm!(ConsumerProtocolSubscription),
            _ => __arm!(ConsumerProtocolAssignment),
        }
    }};
}
