"""Kafka API key names and header-version rules used by the rig scripts."""

API_NAMES = {
    0: "Produce", 1: "Fetch", 2: "ListOffsets", 3: "Metadata", 4: "LeaderAndIsr",
    5: "StopReplica", 6: "UpdateMetadata", 7: "ControlledShutdown", 8: "OffsetCommit",
    9: "OffsetFetch", 10: "FindCoordinator", 11: "JoinGroup", 12: "Heartbeat",
    13: "LeaveGroup", 14: "SyncGroup", 15: "DescribeGroups", 16: "ListGroups",
    17: "SaslHandshake", 18: "ApiVersions", 19: "CreateTopics", 20: "DeleteTopics",
    21: "DeleteRecords", 22: "InitProducerId", 23: "OffsetForLeaderEpoch",
    24: "AddPartitionsToTxn", 25: "AddOffsetsToTxn", 26: "EndTxn", 27: "WriteTxnMarkers",
    28: "TxnOffsetCommit", 29: "DescribeAcls", 30: "CreateAcls", 31: "DeleteAcls",
    32: "DescribeConfigs", 33: "AlterConfigs", 34: "AlterReplicaLogDirs",
    35: "DescribeLogDirs", 36: "SaslAuthenticate", 37: "CreatePartitions",
    38: "CreateDelegationToken", 39: "RenewDelegationToken", 40: "ExpireDelegationToken",
    41: "DescribeDelegationToken", 42: "DeleteGroups", 43: "ElectLeaders",
    44: "IncrementalAlterConfigs", 45: "AlterPartitionReassignments",
    46: "ListPartitionReassignments", 47: "OffsetDelete", 48: "DescribeClientQuotas",
    49: "AlterClientQuotas", 50: "DescribeUserScramCredentials",
    51: "AlterUserScramCredentials", 52: "Vote", 53: "BeginQuorumEpoch",
    54: "EndQuorumEpoch", 55: "DescribeQuorum", 56: "AlterPartition", 57: "UpdateFeatures",
    58: "Envelope", 59: "FetchSnapshot", 60: "DescribeCluster", 61: "DescribeProducers",
    62: "BrokerRegistration", 63: "BrokerHeartbeat", 64: "UnregisterBroker",
    65: "DescribeTransactions", 66: "ListTransactions", 67: "AllocateProducerIds",
    68: "ConsumerGroupHeartbeat", 69: "ConsumerGroupDescribe", 70: "ControllerRegistration",
    71: "GetTelemetrySubscriptions", 72: "PushTelemetry", 73: "AssignReplicasToDirs",
    74: "ListClientMetricsResources", 75: "DescribeTopicPartitions",
    76: "ShareGroupHeartbeat", 77: "ShareGroupDescribe", 78: "ShareFetch",
    79: "ShareAcknowledge",
}
API_KEYS = {v.lower(): k for k, v in API_NAMES.items()}

# First flexible version (KIP-482 compact encodings + tagged fields) per API,
# for the APIs a consumer/producer client uses.  From the message schemas'
# "flexibleVersions"; None = never flexible.
FLEXIBLE_FROM = {
    0: 9, 1: 12, 2: 6, 3: 9, 8: 8, 9: 6, 10: 3, 11: 6, 12: 4, 13: 4, 14: 4, 15: 5,
    16: 3, 17: None, 18: 3, 19: 5, 20: 4, 22: 2, 23: 4, 32: 4, 36: 2, 42: 2,
    60: 0, 68: 0, 69: 0, 71: 0, 72: 0, 75: 0,
}


def api_name(key):
    return API_NAMES.get(key, "Unknown%d" % key)


def api_key(spec):
    """'Fetch' / 'fetch' / '1' / 1 -> 1"""
    if isinstance(spec, int):
        return spec
    s = str(spec).strip()
    if s.lstrip("-").isdigit():
        return int(s)
    try:
        return API_KEYS[s.lower()]
    except KeyError:
        raise ValueError("unknown api %r" % spec)


def is_flexible(key, version):
    first = FLEXIBLE_FROM.get(key, "unknown")
    if first == "unknown":
        return None
    return first is not None and version >= first


def header_versions(key, version):
    """(request header version, response header version) or (None, None).

    Request header v2 / response header v1 for flexible versions, else request
    header v1 / response header v0.  Exception: ApiVersions responses always use
    response header v0 (so a client can parse them before it knows versions).
    """
    flex = is_flexible(key, version)
    if flex is None:
        return None, None
    req = 2 if flex else 1
    resp = 1 if flex else 0
    if key == 18:
        resp = 0
    return req, resp
