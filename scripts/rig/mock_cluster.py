#!/usr/bin/env python3
"""librdkafka's built-in mock Kafka cluster, driven through ctypes.

    .venv/bin/python scripts/rig/mock_cluster.py [--brokers N]
        [--topic NAME:PARTITIONS[:REPLICATION]]... [--conf KEY=VALUE]...
        [--group-initial-rebalance-delay-ms MS (default 0)] [--proxy]
        [--until-signal]

First stdout line (JSON):
    {"bootstrap": "127.0.0.1:P1,127.0.0.1:P2,...", "brokers": N,
     "librdkafka": "2.x.y", "pid": PID}

Then one JSON command per stdin line; each is applied and answered with
exactly one JSON line on stdout, in order:
    {"ok": true, "id": <id echoed>, "cmd": "...", ...}
    {"ok": false, "id": <id>, "error": "..."}
The answer is written after librdkafka's call returned, i.e. once the
fault is in effect (the mock API calls are synchronous ops on the cluster
thread).  See scripts/rig/README.md for the command list.

With --proxy every broker is fronted by an in-process forwarding proxy
(capture_proxy.py, not recording) that repairs the mock's malformed
ApiVersions error reply and hides the group API versions the mock cannot
parse, and the brokers advertise the proxies: the Java client needs it (see
java_compat_rewrite). "bootstrap" then lists the
proxies and "direct_bootstrap" the brokers' own listeners.

The process exits (destroying the cluster, closing all its ports) on
{"cmd": "quit"}, stdin EOF, SIGTERM or SIGINT.  With --until-signal stdin is
not read (no control channel) and only a signal stops it.
"""

import argparse
import ctypes
import json
import os
import signal
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kafka_apis  # noqa: E402
import rdkafka_lib  # noqa: E402
from capture_proxy import CaptureProxy  # noqa: E402

RD_KAFKA_PRODUCER = 0

API_VERSIONS = 18
UNSUPPORTED_VERSION = 35
FIND_COORDINATOR, JOIN_GROUP, SYNC_GROUP = 10, 11, 14
CONSUMER_GROUP_HEARTBEAT = 68
# The mock's group handlers read array counts as int32 and write no tagged
# fields: they only understand the non-flexible versions (the ones librdkafka
# itself sends), yet ApiVersions advertises more (JoinGroup 6, SyncGroup 4,
# Heartbeat 5, LeaveGroup 4, FindCoordinator 3). A client that picks the highest
# (Java) gets its connection closed ("JoinGroupRequest: ProtocolCnt 33976929 >
# max allowed 1000"). LeaveGroup v3+ carries a member array the mock does not
# read at all. --proxy lowers these maxima in ApiVersions replies.
GROUP_API_CAPS = {10: 2, 11: 5, 12: 3, 13: 2, 14: 3}  # FindCoordinator..SyncGroup
# A leader's SyncGroup (the one carrying assignments) is held this long by
# --proxy; see java_compat_request.
LEADER_SYNC_DELAY_S = 0.2


def _null_strings_to_empty(frame, at, count):
    """Rewrites `count` consecutive int16-length strings from offset `at`: a null
    (-1) becomes empty (0). Returns (frame, offset after them)."""
    out = bytearray(frame[:at])
    for _ in range(count):
        if at + 2 > len(frame):
            return frame, at
        (n,) = struct.unpack(">h", frame[at:at + 2])
        if n < 0:
            out += struct.pack(">h", 0)
            at += 2
        else:
            out += frame[at:at + 2 + n]
            at += 2 + n
    return bytes(out) + frame[at:], at


def java_compat_rewrite(api_key, api_version, frame):
    """Response rewrite for --proxy (frame = correlation id + body; all these
    responses have header v0 at the versions left after GROUP_API_CAPS).

    1. ApiVersions: the mock answers a request version it does not support (v3+;
       it has v0-v2) with a 17-byte body that is neither v0 nor flexible:
       ``0023 01 0012 0000 0002 00000000``. librdkafka retries with v0 whatever
       the body says; the Java client parses it as its own (flexible) version,
       reads an empty ApiKeys array and throttle_time_ms = 0x00120000 =
       1179648, and throttles the connection for ~20 minutes. Replaced by what
       Kafka sends (KIP-511): a v0 body with error 35 and the ApiVersions range.
       In a successful (v0-v2) reply, GROUP_API_CAPS apply.
    2. Error replies with null where the protocol has a non-nullable field: the
       mock writes SyncGroup Assignment = null bytes, JoinGroup ProtocolName /
       Leader / MemberId = null strings, FindCoordinator Host = null. librdkafka
       reads them; the Java client throws "non-nullable field ... was serialized
       as null" out of poll(). Rewritten to empty values (what Kafka sends)."""
    if api_version is None or len(frame) < 6:
        return frame
    if api_key == API_VERSIONS:
        corr, err = struct.unpack(">ih", frame[:6])
        body = frame[4:]
        if err == UNSUPPORTED_VERSION and api_version >= 3:
            lo, hi = 0, 2
            if len(body) >= 9 and body[2] == 1:  # the mock's entry: count byte, key, min, max
                key, mn, mx = struct.unpack(">hhh", body[3:9])
                if key == API_VERSIONS:
                    lo, hi = mn, mx
            return struct.pack(">ihihhh", corr, UNSUPPORTED_VERSION, 1, API_VERSIONS, lo, hi)
        if err != 0 or api_version >= 3 or len(body) < 6:
            return frame
        (count,) = struct.unpack(">i", body[2:6])
        if len(body) < 6 + 6 * count:
            return frame
        out = bytearray(frame)
        for i in range(count):
            at = 4 + 6 + 6 * i
            key, mn, mx = struct.unpack(">hhh", out[at:at + 6])
            cap = GROUP_API_CAPS.get(key)
            if cap is not None and mx > cap:
                struct.pack_into(">h", out, at + 4, max(mn, cap))
        return bytes(out)
    if api_key == SYNC_GROUP and api_version <= 3:
        at = 4 + (4 if api_version >= 1 else 0) + 2  # throttle, error code
        if len(frame) >= at + 4 and struct.unpack(">i", frame[at:at + 4])[0] < 0:
            return frame[:at] + struct.pack(">i", 0) + frame[at + 4:]
        return frame
    if api_key == JOIN_GROUP and api_version <= 5:
        at = 4 + (4 if api_version >= 2 else 0)  # throttle
        if struct.unpack(">h", frame[at:at + 2])[0] == 0:
            return frame  # only the error path writes nulls
        return _null_strings_to_empty(frame, at + 2 + 4, 3)[0]  # after error, generation
    if api_key == FIND_COORDINATOR and api_version <= 2:
        at = 4 + 2  # error code
        if api_version >= 1:
            at += 4  # throttle (before the error code)
            if len(frame) < at + 2:
                return frame
            (n,) = struct.unpack(">h", frame[at:at + 2])  # error message (nullable)
            at += 2 + max(n, 0)
        return _null_strings_to_empty(frame, at + 4, 1)[0]  # host, after the node id
    return frame


def _uvarint(buf, at):
    val = shift = 0
    while True:
        b = buf[at]
        at += 1
        val |= (b & 0x7F) << shift
        if not b & 0x80:
            return val, at
        shift += 7


def _skip_compact_string(buf, at):
    n, at = _uvarint(buf, at)
    return at + max(n - 1, 0)


def _fix_848_heartbeat(frame):
    """ConsumerGroupHeartbeat v1: the mock asserts (and the whole process aborts,
    rdkafka_mock_cgrp.c validate_subscription) that the topic names and the regex
    are both null or both set ("(SubscribedTopicNames == NULL) ==
    (SubscribedTopicRegex->len == -1)"), and that set names are not empty unless
    the regex is. librdkafka sends both; the Java client sends the names with a
    null regex (and, leaving, an empty list). Rewritten in place (same length):
    names + null regex -> regex ""; empty names + null regex -> null names."""
    at = 8
    (n,) = struct.unpack(">h", frame[at:at + 2])  # client id (header v2: not compact)
    at += 2 + max(n, 0)
    ntags, at = _uvarint(frame, at)  # header tagged fields
    for _ in range(ntags):
        _, at = _uvarint(frame, at)
        size, at = _uvarint(frame, at)
        at += size
    at = _skip_compact_string(frame, at)  # group id
    at = _skip_compact_string(frame, at)  # member id
    at += 4  # member epoch
    at = _skip_compact_string(frame, at)  # instance id
    at = _skip_compact_string(frame, at)  # rack id
    at += 4  # rebalance timeout
    names_at = at
    n, at = _uvarint(frame, at)  # subscribed topic names (compact nullable array)
    if n == 0:
        return frame  # null names: nothing to fix
    for _ in range(n - 1):
        at = _skip_compact_string(frame, at)
    if frame[at] != 0:
        return frame  # the regex is set
    if n == 1:  # empty names
        return frame[:names_at] + b"\x00" + frame[names_at + 1:]
    return frame[:at] + b"\x01" + frame[at + 1:]


def java_compat_request(api_key, api_version, frame):
    """Request hook for --proxy. ConsumerGroupHeartbeat: see _fix_848_heartbeat.
    SyncGroup: holds a leader's SyncGroup for
    LEADER_SYNC_DELAY_S. The mock completes a sync as soon as the leader's
    assignments arrive and answers every SyncGroup that comes later with
    REBALANCE_IN_PROGRESS (Kafka hands the late follower its assignment). A
    follower that is a few milliseconds slower than the leader (the Java client,
    behind this proxy, usually is) then rejoins, and the group can rebalance over
    and over. Holding the leader's request lets the followers' arrive first."""
    if api_key == CONSUMER_GROUP_HEARTBEAT and api_version == 1:
        try:
            return _fix_848_heartbeat(frame)
        except (IndexError, struct.error):
            return frame
    if api_key != SYNC_GROUP or api_version is None or api_version > 3:
        return frame
    at = 8  # api key, version, correlation id
    (n,) = struct.unpack(">h", frame[at:at + 2])  # client id
    at += 2 + max(n, 0)
    (n,) = struct.unpack(">h", frame[at:at + 2])  # group id
    at += 2 + max(n, 0) + 4  # generation
    (n,) = struct.unpack(">h", frame[at:at + 2])  # member id
    at += 2 + max(n, 0)
    if api_version >= 3:
        (n,) = struct.unpack(">h", frame[at:at + 2])  # group instance id
        at += 2 + max(n, 0)
    if len(frame) >= at + 4 and struct.unpack(">i", frame[at:at + 4])[0] > 0:
        time.sleep(LEADER_SYNC_DELAY_S)
    return frame


class MockError(Exception):
    pass


class Mock:
    def __init__(self, lib, brokers, conf):
        self.lib = lib
        self._err_by_name = self._build_err_names()
        errstr = ctypes.create_string_buffer(512)
        c = lib.rd_kafka_conf_new()
        for k, v in conf:
            if lib.rd_kafka_conf_set(c, k.encode(), v.encode(), errstr, len(errstr)) != 0:
                raise MockError("conf %s=%s: %s" % (k, v, errstr.value.decode()))
        self.rk = lib.rd_kafka_new(RD_KAFKA_PRODUCER, c, errstr, len(errstr))
        if not self.rk:
            raise MockError("rd_kafka_new: " + errstr.value.decode())
        self.mc = lib.rd_kafka_mock_cluster_new(self.rk, brokers)
        if not self.mc:
            lib.rd_kafka_destroy(self.rk)
            raise MockError("rd_kafka_mock_cluster_new failed")
        self.proxy = None

    def direct_bootstraps(self):
        return self.lib.rd_kafka_mock_cluster_bootstraps(self.mc).decode()

    def bootstraps(self):
        if self.proxy is not None:
            return ",".join(self.proxy.listen_addrs)
        return self.direct_bootstraps()

    def start_proxy(self):
        """Fronts broker i (ids 1..N, in the order of the bootstrap list, checked
        against Metadata) with proxy listener i, and makes it advertise that."""
        targets = self.direct_bootstraps().split(",")
        self.proxy = CaptureProxy(targets, None, rewrite=java_compat_rewrite,
                                  on_request=java_compat_request).start()
        for broker_id, addr in enumerate(self.proxy.listen_addrs, start=1):
            host, _, port = addr.rpartition(":")
            self.fn("rd_kafka_mock_broker_set_host_port")(self.mc, broker_id, host.encode(),
                                                          int(port))

    def destroy(self):
        if self.proxy is not None:
            self.proxy.close()
            self.proxy = None
        if self.mc:
            self.lib.rd_kafka_mock_cluster_destroy(self.mc)
            self.mc = None
        if self.rk:
            self.lib.rd_kafka_destroy(self.rk)
            self.rk = None

    # -- helpers -------------------------------------------------------------
    def _build_err_names(self):
        names = {}
        for code in range(-200, 200):
            n = self.lib.rd_kafka_err2name(code)
            if n:
                n = n.decode()
                if n and not n.startswith("ERR_") and "Unknown" not in n:
                    names[n.upper()] = code
        # Kafka's names where librdkafka uses older/shorter ones.
        for alias, code in (("UNKNOWN_SERVER_ERROR", -1), ("CORRUPT_MESSAGE", 2),
                            ("UNKNOWN_TOPIC_OR_PARTITION", 3), ("INVALID_FETCH_SIZE", 4),
                            ("NOT_LEADER_OR_FOLLOWER", 6), ("MESSAGE_TOO_LARGE", 10),
                            ("STALE_CONTROLLER_EPOCH", 11), ("INVALID_TOPIC_EXCEPTION", 17)):
            names.setdefault(alias, code)
        return names

    def err_code(self, e):
        if isinstance(e, int):
            return e
        s = str(e).strip().upper()
        if s.lstrip("-").isdigit():
            return int(s)
        for prefix in ("RD_KAFKA_RESP_ERR_", "ERR_"):
            if s.startswith(prefix):
                s = s[len(prefix):]
        if s in self._err_by_name:
            return self._err_by_name[s]
        raise MockError("unknown error code %r" % e)

    def err_name(self, code):
        return self.lib.rd_kafka_err2name(code).decode()

    def check(self, rc, what):
        if rc:
            raise MockError("%s: %s (%d)" % (what, self.err_name(rc), rc))

    def fn(self, name):
        f = getattr(self.lib, name, None)
        if f is None:
            raise MockError("%s not exported by this librdkafka (%s)" % (
                name, self.lib.rd_kafka_version_str().decode()))
        return f

    # -- commands --------------------------------------------------------------
    def apply(self, cmd):
        op = cmd.get("cmd")
        h = getattr(self, "cmd_" + str(op), None)
        if h is None:
            raise MockError("unknown cmd %r" % op)
        return h(cmd) or {}

    def cmd_ping(self, c):
        return {"bootstrap": self.bootstraps()}

    cmd_bootstrap = cmd_ping

    def cmd_create_topic(self, c):
        self.check(self.fn("rd_kafka_mock_topic_create")(
            self.mc, c["topic"].encode(), int(c.get("partitions", 1)),
            int(c.get("replication_factor", 1))), "topic_create")

    def cmd_delete_topic(self, c):
        self.check(self.fn("rd_kafka_mock_topic_delete")(self.mc, c["topic"].encode()),
                   "topic_delete")

    def cmd_topic_set_error(self, c):
        self.fn("rd_kafka_mock_topic_set_error")(self.mc, c["topic"].encode(),
                                                 self.err_code(c["error"]))

    def cmd_partition_set_leader(self, c):
        self.check(self.fn("rd_kafka_mock_partition_set_leader")(
            self.mc, c["topic"].encode(), int(c["partition"]), int(c["broker"])),
            "partition_set_leader")

    def cmd_partition_set_follower(self, c):
        self.check(self.fn("rd_kafka_mock_partition_set_follower")(
            self.mc, c["topic"].encode(), int(c["partition"]), int(c["broker"])),
            "partition_set_follower")

    def cmd_partition_set_follower_wmarks(self, c):
        self.check(self.fn("rd_kafka_mock_partition_set_follower_wmarks")(
            self.mc, c["topic"].encode(), int(c["partition"]), int(c.get("lo", -1)),
            int(c.get("hi", -1))), "partition_set_follower_wmarks")

    def cmd_partition_push_leader_response(self, c):
        self.check(self.fn("rd_kafka_mock_partition_push_leader_response")(
            self.mc, c["topic"].encode(), int(c["partition"]), int(c["leader"]),
            int(c["leader_epoch"])), "partition_push_leader_response")

    def cmd_partition_delete_records(self, c):
        self.check(self.fn("rd_kafka_mock_partition_delete_records")(
            self.mc, c["topic"].encode(), int(c["partition"]), int(c["offset"])),
            "partition_delete_records")

    def cmd_partition_push_request_errors(self, c):
        errs = [self.err_code(e) for e in c["errors"]]
        f = self.fn("rd_kafka_mock_partition_push_request_errors")
        self.check(f(ctypes.c_void_p(self.mc), ctypes.c_char_p(c["topic"].encode()),
                     ctypes.c_int32(int(c["partition"])),
                     ctypes.c_int16(kafka_apis.api_key(c["api"])),
                     ctypes.c_size_t(len(errs)), *[ctypes.c_int(e) for e in errs]),
                   "partition_push_request_errors")

    def _broker(self, c):
        # Required on purpose: -1 (all brokers) must be asked for explicitly.
        return int(c["broker"])

    def cmd_broker_set_down(self, c):
        self.check(self.fn("rd_kafka_mock_broker_set_down")(self.mc, self._broker(c)),
                   "broker_set_down")

    def cmd_broker_set_up(self, c):
        self.check(self.fn("rd_kafka_mock_broker_set_up")(self.mc, self._broker(c)),
                   "broker_set_up")

    def cmd_broker_set_rtt(self, c):
        self.check(self.fn("rd_kafka_mock_broker_set_rtt")(
            self.mc, self._broker(c), int(c["rtt_ms"])), "broker_set_rtt")

    def cmd_broker_set_rack(self, c):
        self.check(self.fn("rd_kafka_mock_broker_set_rack")(
            self.mc, self._broker(c), c["rack"].encode()), "broker_set_rack")

    def cmd_broker_set_host_port(self, c):
        # Changes only what Metadata/FindCoordinator advertise, not the listener.
        self.fn("rd_kafka_mock_broker_set_host_port")(
            self.mc, int(c["broker"]), c["host"].encode(), int(c["port"]))

    def cmd_broker_add(self, c):
        self.check(self.fn("rd_kafka_mock_broker_add")(self.mc, int(c["broker"])),
                   "broker_add")
        return {"bootstrap": self.bootstraps()}

    def cmd_broker_decommission(self, c):
        self.check(self.fn("rd_kafka_mock_broker_decommission")(self.mc, int(c["broker"])),
                   "broker_decommission")

    def cmd_broker_push_request_errors(self, c):
        """errors: [code | name | [code, rtt_ms], ...] for one broker."""
        pairs = []
        for e in c["errors"]:
            if isinstance(e, (list, tuple)):
                pairs.append((self.err_code(e[0]), int(e[1])))
            else:
                pairs.append((self.err_code(e), int(c.get("rtt_ms", 0))))
        flat = []
        for err, rtt in pairs:
            flat += [ctypes.c_int(err), ctypes.c_int(rtt)]
        f = self.fn("rd_kafka_mock_broker_push_request_error_rtts")
        self.check(f(ctypes.c_void_p(self.mc), ctypes.c_int32(int(c["broker"])),
                     ctypes.c_int16(kafka_apis.api_key(c["api"])),
                     ctypes.c_size_t(len(pairs)), *flat),
                   "broker_push_request_error_rtts")

    def cmd_broker_error_stack_cnt(self, c):
        n = ctypes.c_size_t(0)
        self.check(self.fn("rd_kafka_mock_broker_error_stack_cnt")(
            self.mc, int(c["broker"]), kafka_apis.api_key(c["api"]), ctypes.byref(n)),
            "broker_error_stack_cnt")
        return {"count": n.value}

    def cmd_coordinator_set(self, c):
        self.check(self.fn("rd_kafka_mock_coordinator_set")(
            self.mc, c.get("key_type", "group").encode(), c["key"].encode(),
            int(c["broker"])), "coordinator_set")

    def cmd_set_apiversion(self, c):
        self.check(self.fn("rd_kafka_mock_set_apiversion")(
            self.mc, kafka_apis.api_key(c["api"]), int(c["min"]), int(c["max"])),
            "set_apiversion")

    def cmd_set_controller_id(self, c):
        self.fn("rd_kafka_mock_set_controller_id")(self.mc, int(c["broker"]))

    def cmd_group_initial_rebalance_delay_ms(self, c):
        self.fn("rd_kafka_mock_group_initial_rebalance_delay_ms")(self.mc, int(c["delay_ms"]))

    def cmd_push_request_errors(self, c):
        """Cluster-wide: the next len(errors) requests of `api` (any broker) fail."""
        errs = [self.err_code(e) for e in c["errors"]]
        arr = (ctypes.c_int * len(errs))(*errs)
        self.fn("rd_kafka_mock_push_request_errors_array")(
            self.mc, kafka_apis.api_key(c["api"]), len(errs), arr)

    def cmd_clear_request_errors(self, c):
        self.fn("rd_kafka_mock_clear_request_errors")(self.mc, kafka_apis.api_key(c["api"]))

    def cmd_error_codes(self, c):
        return {"codes": self._err_by_name}


def parse_topic(s):
    parts = s.split(":")
    if not 1 <= len(parts) <= 3 or not parts[0]:
        raise argparse.ArgumentTypeError("expected NAME:PARTITIONS[:REPLICATION], got %r" % s)
    return (parts[0], int(parts[1]) if len(parts) > 1 else 1,
            int(parts[2]) if len(parts) > 2 else 1)


def parse_kv(s):
    if "=" not in s:
        raise argparse.ArgumentTypeError("expected KEY=VALUE, got %r" % s)
    return tuple(s.split("=", 1))


def out(obj):
    try:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()
    except BrokenPipeError:
        raise SystemExit(0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--brokers", type=int, default=1)
    ap.add_argument("--topic", type=parse_topic, action="append", default=[],
                    metavar="NAME:PARTITIONS[:REPLICATION]")
    ap.add_argument("--conf", type=parse_kv, action="append", default=[],
                    metavar="KEY=VALUE", help="librdkafka property for the owning handle "
                    "(e.g. debug=mock,protocol; logs go to stderr)")
    ap.add_argument("--group-initial-rebalance-delay-ms", type=int, default=0,
                    help="mock broker's group.initial.rebalance.delay.ms; default 0 here "
                    "(librdkafka's own default, 3000 like Kafka, slows every first join "
                    "and never completes it when session.timeout.ms < the delay); "
                    "-1 keeps librdkafka's default")
    ap.add_argument("--proxy", action="store_true",
                    help="front each broker with a proxy that repairs the mock's ApiVersions "
                    "error reply (needed by the Java client); brokers advertise the proxies")
    ap.add_argument("--until-signal", action="store_true",
                    help="ignore stdin (no control channel); run until SIGTERM/SIGINT")
    args = ap.parse_args()

    def on_signal(signum, frame):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    # SIGPIPE stays ignored (Python's default): the proxy's threads write to
    # client sockets a peer may have reset, and with SIG_DFL the first such write
    # killed the whole cluster (seen under load as "connection refused" in CI).
    # A closed stdout ends the process through BrokenPipeError in out().

    lib = rdkafka_lib.load()
    # log_level 4 hides the harmless "No bootstrap.servers configured" notice
    # of the owning handle (it never connects anywhere).
    conf = [("client.id", "kasio-rig-mock"), ("log_level", "4")] + list(args.conf)
    # librdkafka's threads inherit this mask, so SIGTERM/SIGINT are delivered
    # to the main thread (which may be blocked reading stdin) and act at once.
    sigs = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, sigs)
    try:
        mock = Mock(lib, args.brokers, conf)
    except MockError as e:
        sys.stderr.write("mock_cluster: %s\n" % e)
        return 1
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, sigs)
    try:
        if args.group_initial_rebalance_delay_ms >= 0:
            mock.cmd_group_initial_rebalance_delay_ms(
                {"delay_ms": args.group_initial_rebalance_delay_ms})
        for name, parts, rf in args.topic:
            mock.cmd_create_topic({"topic": name, "partitions": parts,
                                   "replication_factor": rf})
        if args.proxy:
            mock.start_proxy()
        info = {"bootstrap": mock.bootstraps(), "brokers": args.brokers,
                "librdkafka": lib.rd_kafka_version_str().decode(), "pid": os.getpid()}
        if args.proxy:
            info["direct_bootstrap"] = mock.direct_bootstraps()
        out(info)
        if args.until_signal:
            while True:
                signal.pause()  # the handlers raise SystemExit
        for line in sys.stdin:
            line = line.strip()
            if not line:
                continue
            cid = None
            try:
                cmd = json.loads(line)
                if not isinstance(cmd, dict):
                    raise MockError("command must be a JSON object")
                cid = cmd.get("id")
                if cmd.get("cmd") == "quit":
                    out({"ok": True, "id": cid, "cmd": "quit"})
                    break
                res = mock.apply(cmd)
                out(dict({"ok": True, "id": cid, "cmd": cmd.get("cmd")}, **res))
            except (MockError, KeyError, ValueError, TypeError) as e:
                msg = ("missing field %s" % e) if isinstance(e, KeyError) else str(e)
                out({"ok": False, "id": cid, "error": msg})
    except MockError as e:
        sys.stderr.write("mock_cluster: %s\n" % e)
        return 1
    finally:
        mock.destroy()
    return 0


if __name__ == "__main__":
    sys.exit(main())
