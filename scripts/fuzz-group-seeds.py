#!/usr/bin/env python3
"""Seeds for the `group` fuzz target (fuzz/corpus/group/seed-*), written as the
bytes `arbitrary` (1.x, derive) reads the target's `Input` from
(fuzz/fuzz_targets/group_common.rs): integers little-endian, a bool is a byte's
low bit, `Option` a bool then the value, `Vec` a `true` byte before each element
and a `false` after the last (the ops, last, run to the end of the input), an enum
variant a u32 `v` with `v * count >> 32` = its index.

Each seed is a scenario that reaches Stable and rebalances (check with
`KASIO_FUZZ_STATS=1 fuzz/target/<triple>/release/group <file>`); the fuzzer
mutates from there. Keep the layouts below in step with group_common.rs: a
changed `Input` makes these seeds decode into other inputs (still valid, less
useful).

    scripts/fuzz-group-seeds.py [out-dir]    # default fuzz/corpus/group
"""
import os
import struct
import sys


def u8(x):
    return bytes([x & 0xFF])


def boolean(x):
    return b"\x01" if x else b"\x00"


def u16(x):
    return struct.pack("<H", x)


def i16(x):
    return struct.pack("<h", x)


def u64(x):
    return struct.pack("<Q", x)


def variant(index, count):
    v = (index * 2**32 + count - 1) // count
    assert (v * count) >> 32 == index and v < 2**32
    return struct.pack("<I", v)


def option(x, enc):
    return b"\x00" if x is None else b"\x01" + enc(x)


def vec(items):
    return b"".join(b"\x01" + i for i in items) + b"\x00"


# --- the input ----------------------------------------------------------------------

def cfg(seed=1, reset=0, read_committed=False, static=False, strategy=0, auto_commit=True,
        session=100, heartbeat=20, poll_interval=100, auto_commit_interval=20,
        request_timeout=20, max_poll_records=5):
    # strategy: 0 range, 1 roundrobin, 2 sticky, 3 cooperative-sticky,
    # 4 range,cooperative-sticky, 5 cooperative-sticky,range
    return (u64(seed) + u8(reset) + boolean(read_committed) + boolean(static) + u8(strategy)
            + boolean(auto_commit) + u8(session) + u8(heartbeat) + u8(poll_interval)
            + u8(auto_commit_interval) + u8(request_timeout) + u8(max_poll_records))


def cluster(brokers=0, partitions=(1, 1), leaders=(0,) * 8, log_end=(20,) * 8):
    # brokers % 3 + 1 brokers; partitions % 4 + 1 per topic (t, u)
    return u8(brokers) + bytes(partitions) + bytes(leaders) + bytes(log_end)


def group(others=(), coordinator=0, committed=(None, None, None, None)):
    return vec([u8(o) for o in others]) + u8(coordinator) + b"".join(
        option(c, u8) for c in committed)


def topics(mask):  # bit i: t, u, gone, ""
    return variant(0, 2) + u8(mask)


def pattern(i):  # "t", "t|u", ".*", "u.*", "(", "gone|t", "x"
    return variant(1, 2) + u8(i)


OPS = ["Subscribe", "Unsubscribe", "Assign", "Commit", "CommitConsumed", "Committed", "Ack",
       "Pause", "Resume", "Seek", "Poll", "Close", "Accept", "Refuse", "Drop", "Stale",
       "Answer", "AnswerAll", "GroupError", "Run", "Raw", "Advance", "AdvanceLong",
       "ToTimeout", "Backwards", "Cluster", "Group"]


def op(name, payload=b""):
    return variant(OPS.index(name), len(OPS)) + payload


def tp(topic, partition):  # topic % 3: t, u, gone
    return u8(topic) + u8(partition)


def commit(offsets):
    return op("Commit", vec([tp(t, p) + i16(o) for (t, p, o) in offsets]))


def ack(kind, arg=0):
    if kind == "latest":
        return op("Ack", variant(0, 3))
    if kind == "earlier":
        return op("Ack", variant(1, 3) + u8(arg))
    return op("Ack", variant(2, 3) + u64(arg))


def group_change(kind, arg=0):
    return op("Group", {"rebalance": variant(0, 3), "expel": variant(1, 3),
                        "move": variant(2, 3) + u8(arg)}[kind])


def error(name):
    names = ["MemberIdRequired", "UnknownMemberId", "IllegalGeneration", "RebalanceInProgress",
             "CoordinatorLoadInProgress", "NotCoordinator", "CoordinatorNotAvailable",
             "FencedInstanceId", "InconsistentGroupProtocol", "InvalidSessionTimeout",
             "InvalidGroupId", "GroupAuthorizationFailed", "GroupMaxSizeReached",
             "UnknownTopicOrPartition", "OffsetMetadataTooLarge", "InvalidCommitOffsetSize",
             "UnstableOffsetCommit", "RequestTimedOut", "TopicAuthorizationFailed",
             "GroupIdNotFound", "UnsupportedVersion", "InvalidRequest", "UnknownServerError",
             "NotLeaderOrFollower"]
    return op("GroupError", u8(names.index(name)))


def run(n=7):
    return op("Run", u8(n))


def seed(c, cl, g, initial, ops):
    data = c + cl + g + initial
    for o in ops:
        data += b"\x01" + o
    return data


def to_stable():
    return [run(), run(), run()]


SEEDS = {
    # Eager (range): stable, records, a commit, another member joins: revoke,
    # acknowledge, rejoin, stable again; the member leaves.
    "range-rebalance": seed(
        cfg(), cluster(partitions=(1, 0)), group(), topics(1),
        to_stable() + [op("Poll"), op("CommitConsumed"), run(3), group_change("rebalance"),
                       op("AdvanceLong", u8(1)), run(2), ack("latest"), run(), run(), op("Poll"),
                       commit([(0, 0, 3), (0, 1, 2), (1, 0, 1)]), run(2), op("Unsubscribe"),
                       run(2)]),
    # Cooperative-sticky with another member: the leader moves partitions away in a
    # first round, a follow-up round follows the acknowledgement.
    "cooperative-follow-up": seed(
        cfg(strategy=3, auto_commit=True), cluster(partitions=(3, 1)), group(others=[1]),
        topics(3),
        to_stable() + [op("Poll"), group_change("rebalance"), op("AdvanceLong", u8(1)), run(),
                       run(), ack("latest"), run(), run(), op("Poll"), ack("earlier", 0),
                       ack("made-up", 99), run()]),
    # A static member (roundrobin, no auto-commit) is expelled: UNKNOWN_MEMBER_ID,
    # partitions lost, acknowledged, rejoined.
    "static-expelled": seed(
        cfg(static=True, strategy=1, auto_commit=False), cluster(brokers=1, partitions=(1, 1)),
        group(coordinator=1), topics(3),
        to_stable() + [op("Poll"), commit([(0, 0, 5)]), run(2), group_change("expel"),
                       op("AdvanceLong", u8(1)), run(2), ack("latest"), run(), run(),
                       op("Poll"), op("Committed", vec([tp(0, 0), tp(1, 0)])), run(2)]),
    # The coordinator moves: NOT_COORDINATOR, found again, the membership kept; a
    # sticky member rebalances after that.
    "coordinator-moves": seed(
        cfg(strategy=2), cluster(brokers=2, partitions=(1, 1)), group(), topics(1),
        to_stable() + [op("Poll"), group_change("move", 1), op("AdvanceLong", u8(1)), run(),
                       run(), op("Poll"), group_change("rebalance"), op("AdvanceLong", u8(1)),
                       run(), ack("latest"), run(), run(), op("Poll")]),
    # A pattern subscription; the coordinator says a rebalance is in progress, then
    # moves (NOT_COORDINATOR); a fatal error at last: no group request after it,
    # unsubscribe and close leave nothing.
    "pattern-then-fatal": seed(
        cfg(strategy=4), cluster(partitions=(1, 1)), group(others=[2]), pattern(1),
        to_stable() + [op("Poll"), op("AdvanceLong", u8(1)),
                       error("RebalanceInProgress"), run(), ack("latest"), run(), run(),
                       op("AdvanceLong", u8(1)), error("GroupAuthorizationFailed"), run(),
                       op("Unsubscribe"), run()]),
    "coordinator-errors": seed(
        cfg(strategy=5, auto_commit=False), cluster(partitions=(2, 1)), group(), topics(3),
        to_stable() + [op("Poll"), op("AdvanceLong", u8(1)), error("NotCoordinator"), run(),
                       run(), op("AdvanceLong", u8(1)), error("CoordinatorLoadInProgress"),
                       run(), commit([(0, 0, 1)]), error("RebalanceInProgress"), run(),
                       ack("latest"), run(), run(), op("Poll")]),
    # Poll interval expiry (no poll for max.poll.interval.ms): LeaveGroup, Lost,
    # rejoin on the next poll.
    "poll-timeout": seed(
        cfg(poll_interval=0, session=200), cluster(), group(), topics(1),
        to_stable() + [op("Poll"), op("AdvanceLong", u8(1)), run(), op("AdvanceLong", u8(1)),
                       run(), ack("latest"), op("Poll"), run(), run(), op("Poll")]),
}


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(__file__), "..", "fuzz", "corpus", "group")
    os.makedirs(out, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(out, "seed-" + name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
