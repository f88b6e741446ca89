#!/usr/bin/env python3
"""A librdkafka (confluent-kafka) consumer-group member for interop tests: the
same command line, JSON events and commands as the Java peer
(scripts/rig/java/GroupConsumer.java, started by group_consume_java.sh), so a
test drives either the same way. scripts/rig/README.md ("Group consumer peers")
is the reference.

    .venv/bin/python scripts/rig/group_consume.py --bootstrap B --group G --topic T
        [--topic T2 ...] [--assignor range|roundrobin|cooperative-sticky]
        [--remote-assignor uniform|range] [--instance-id ID]
        [--auto-commit true|false] [--auto-offset-reset earliest|latest|error]
        [--session-timeout-ms MS] [--heartbeat-interval-ms MS]
        [--max-poll-interval-ms MS] [--group-protocol classic|consumer]
        [--client-rack RACK] [--client-id ID] [--max-poll-records N]
        [--poll-ms MS] [--paused] [--set key=value ...]

stdout: the first line is {"peer": "rdkafka", ...}; then one JSON line per event
("ev": assigned / revoked / lost / record / commit / commit_failed / error) or
per answered stdin command ("ok": true|false, "id" echoed). The member closes
(commits nothing more, leaves the group unless static) and exits on
{"cmd": "stop"} or stdin EOF.
"""
import argparse
import ctypes
import json
import os
import queue
import sys
import threading

from confluent_kafka import Consumer, KafkaException, TopicPartition, libversion

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rdkafka_lib  # noqa: E402

OFFSET_INVALID = -1001
EOF = object()


def out(obj):
    sys.stdout.write(json.dumps(obj, separators=(",", ":")) + "\n")


def flush():
    sys.stdout.flush()


def tps(parts):
    return [[tp.topic, tp.partition] for tp in sorted(parts, key=lambda t: (t.topic, t.partition))]


def offsets(parts):
    return [[tp.topic, tp.partition, tp.offset if tp.offset >= 0 else None]
            for tp in sorted(parts, key=lambda t: (t.topic, t.partition))]


class GroupMetadata:
    """Generation and member id from consumer_group_metadata()'s serialized bytes,
    decoded by librdkafka itself (rd_kafka_consumer_group_metadata_read)."""

    def __init__(self):
        lib = rdkafka_lib.load()
        c = ctypes
        lib.rd_kafka_consumer_group_metadata_read.restype = c.c_void_p
        lib.rd_kafka_consumer_group_metadata_read.argtypes = [c.POINTER(c.c_void_p), c.c_void_p,
                                                              c.c_size_t]
        lib.rd_kafka_consumer_group_metadata_generation_id.restype = c.c_int32
        lib.rd_kafka_consumer_group_metadata_generation_id.argtypes = [c.c_void_p]
        lib.rd_kafka_consumer_group_metadata_member_id.restype = c.c_char_p
        lib.rd_kafka_consumer_group_metadata_member_id.argtypes = [c.c_void_p]
        lib.rd_kafka_consumer_group_metadata_destroy.restype = None
        lib.rd_kafka_consumer_group_metadata_destroy.argtypes = [c.c_void_p]
        lib.rd_kafka_error_destroy.restype = None
        lib.rd_kafka_error_destroy.argtypes = [c.c_void_p]
        self.lib = lib

    def decode(self, blob):
        """(generation, member id) of a consumer_group_metadata() blob."""
        buf = ctypes.create_string_buffer(bytes(blob), len(blob))
        md = ctypes.c_void_p()
        err = self.lib.rd_kafka_consumer_group_metadata_read(ctypes.byref(md), buf, len(blob))
        if err:
            self.lib.rd_kafka_error_destroy(err)
            return None, None
        try:
            gen = self.lib.rd_kafka_consumer_group_metadata_generation_id(md)
            mid = self.lib.rd_kafka_consumer_group_metadata_member_id(md)
            return gen, (mid.decode() if mid else "")
        finally:
            self.lib.rd_kafka_consumer_group_metadata_destroy(md)


class Member:
    def __init__(self, a):
        self.a = a
        self.classic = a.group_protocol == "classic"
        if self.classic and a.assignor is None:
            a.assignor = "range"
        # cooperative-sticky and KIP-848 hand out incremental assignments.
        self.incremental = (not self.classic) or a.assignor == "cooperative-sticky"
        self.paused = a.paused
        self.records = 0
        # Manual mode: offsets read but not committed yet (a failed commit is retried).
        self.pending = {}
        # The assignment, as this member made it in its rebalance callbacks (the
        # client's own assignment() fails while close() runs them).
        self.owned = set()
        self.gmd = GroupMetadata()
        conf = {
            "bootstrap.servers": a.bootstrap,
            "group.id": a.group,
            "enable.auto.commit": a.auto_commit,
            "auto.offset.reset": a.auto_offset_reset,
            "group.protocol": a.group_protocol,
            "error_cb": self.on_error,
        }
        # Classic-only settings are passed on with group.protocol=consumer as well, so
        # that librdkafka refuses them (a startup error) instead of them being ignored.
        for key, val in (("partition.assignment.strategy", a.assignor),
                         ("group.remote.assignor", a.remote_assignor),
                         ("group.instance.id", a.instance_id),
                         ("session.timeout.ms", a.session_timeout_ms),
                         ("heartbeat.interval.ms", a.heartbeat_interval_ms),
                         ("max.poll.interval.ms", a.max_poll_interval_ms),
                         ("client.rack", a.client_rack),
                         ("client.id", a.client_id)):
            if val is not None:
                conf[key] = val
        if (self.classic and a.session_timeout_ms is not None
                and a.heartbeat_interval_ms is None):
            conf["heartbeat.interval.ms"] = max(1, a.session_timeout_ms // 3)  # as the Java peer
        if a.auto_commit:
            # Auto-commits are reported through this callback; manual ones where made.
            conf["on_commit"] = self.on_auto_commit
        for kv in a.set:
            k, v = kv.split("=", 1)
            conf[k] = v
        self.c = Consumer(conf)

    # -- group state -------------------------------------------------------------
    def generation(self):
        try:
            return self.gmd.decode(self.c.consumer_group_metadata())
        except Exception:
            return None, None

    def rebalance(self, ev, parts):
        gen, mid = self.generation()
        out({"ev": ev, "gen": gen, "member_id": mid, "partitions": tps(parts),
             "assignment": [list(tp) for tp in sorted(self.owned)]})
        flush()

    def callback(self, what, fn):
        """Runs a rebalance callback's body; an exception is reported, never raised
        into librdkafka (it would come out of consume() or close())."""
        try:
            fn()
        except Exception as e:
            out({"ev": "error", "fatal": False, "code": type(e).__name__,
                 "error": "in %s: %s" % (what, e)})
            flush()

    def on_assign(self, c, parts):
        def body():
            if self.incremental:
                c.incremental_assign(parts)
                self.owned |= {(tp.topic, tp.partition) for tp in parts}
            else:
                c.assign(parts)
                self.owned = {(tp.topic, tp.partition) for tp in parts}
            if self.paused and parts:
                c.pause(parts)
            self.rebalance("assigned", parts)
        self.callback("on_assign", body)

    def on_revoke(self, c, parts):
        def body():
            # Manual mode: what was read from them is committed before they go.
            last = [TopicPartition(tp.topic, tp.partition,
                                   self.pending.pop((tp.topic, tp.partition)))
                    for tp in parts if (tp.topic, tp.partition) in self.pending]
            if last:
                self.commit("revoke", last)
            self.drop(c, parts)
            self.rebalance("revoked", parts)
        self.callback("on_revoke", body)

    def on_lost(self, c, parts):
        def body():
            for tp in parts:
                self.pending.pop((tp.topic, tp.partition), None)
            self.drop(c, parts)
            self.rebalance("lost", parts)
        self.callback("on_lost", body)

    def drop(self, c, parts):
        if self.incremental:
            self.owned -= {(tp.topic, tp.partition) for tp in parts}
            c.incremental_unassign(parts)
        else:
            self.owned = set()
            c.unassign()

    def on_error(self, err):
        out({"ev": "error", "fatal": bool(err.fatal()), "code": err.name(), "error": err.str()})
        flush()

    def on_auto_commit(self, err, parts):
        if err is None:
            gen, _ = self.generation()
            out({"ev": "commit", "mode": "auto", "gen": gen, "offsets": offsets(parts)})
        elif err.code() != -191:  # _NO_OFFSET: nothing to commit
            out({"ev": "commit_failed", "mode": "auto", "error": str(err),
                 "offsets": offsets(parts or [])})

    def commit(self, mode, parts):
        """Synchronous commit, reported as a commit or commit_failed event."""
        # The records are out before their offsets are committed: a peer killed right
        # after the commit must not take reported-to-be-read records with it.
        flush()
        try:
            res = self.c.commit(offsets=parts, asynchronous=False)
            bad = [tp for tp in (res or []) if tp.error is not None]
            if bad:
                out({"ev": "commit_failed", "mode": mode, "error": str(bad[0].error),
                     "offsets": offsets(parts)})
                return False
            gen, _ = self.generation()
            out({"ev": "commit", "mode": mode, "gen": gen, "offsets": offsets(parts)})
            return True
        except KafkaException as e:
            out({"ev": "commit_failed", "mode": mode, "error": str(e), "offsets": offsets(parts)})
            return False

    def commit_pending(self, mode):
        """Commits the pending offsets (of partitions still assigned); kept if it fails."""
        for key in [k for k in self.pending if k not in self.owned]:
            del self.pending[key]
        if not self.pending:
            return
        sent = dict(self.pending)
        if self.commit(mode, [TopicPartition(t, p, o) for (t, p), o in sent.items()]):
            for key, o in sent.items():
                if self.pending.get(key) == o:
                    del self.pending[key]

    def close(self):
        try:
            self.c.close()
        except KafkaException as e:
            out({"ev": "error", "fatal": False, "code": "close", "error": str(e)})

    # -- commands ----------------------------------------------------------------
    def handle(self, cmd):
        """Answers one command; False when the member should exit."""
        cid, op = cmd.get("id"), cmd.get("cmd")
        ans = {"ok": True, "id": cid, "cmd": op}
        if op == "ping":
            pass
        elif op == "status":
            gen, mid = self.generation()
            ans.update(gen=gen, member_id=mid, assignment=tps(self.c.assignment()),
                       paused=self.paused, records=self.records)
        elif op == "pause":
            self.paused = True
            self.c.pause(self.c.assignment())
        elif op == "resume":
            self.paused = False
            self.c.resume(self.c.assignment())
        elif op == "committed":
            want = cmd.get("partitions")
            parts = ([TopicPartition(t, int(p)) for t, p in want] if want is not None
                     else self.c.assignment())
            ans["offsets"] = offsets(self.c.committed(parts, timeout=10) if parts else [])
        elif op == "commit":
            parts = self.c.position(self.c.assignment())
            parts = [tp for tp in parts if tp.offset >= 0]
            if parts:
                self.commit("command", parts)
            ans["offsets"] = offsets(parts)
        elif op == "stop":
            if cmd.get("leave") is not None:
                raise ValueError("librdkafka cannot choose: dynamic members leave, static "
                                 "members stay")
            self.close()
            ans["records"] = self.records
            out(ans)
            flush()
            return False
        else:
            ans = {"ok": False, "id": cid, "error": "unknown cmd %r" % op}
        out(ans)
        flush()
        return True

    # -- main loop ---------------------------------------------------------------
    def run(self, commands):
        a = self.a
        self.c.subscribe(a.topic, on_assign=self.on_assign, on_revoke=self.on_revoke,
                         on_lost=self.on_lost)
        out({"peer": "rdkafka", "client": "librdkafka " + libversion()[0], "group": a.group,
             "pid": os.getpid(), "group_protocol": a.group_protocol, "assignor": a.assignor,
             "instance_id": a.instance_id, "auto_commit": a.auto_commit, "paused": self.paused})
        flush()
        batch = a.max_poll_records or 500
        timeout = a.poll_ms / 1000.0
        while True:
            while True:
                try:
                    cmd = commands.get_nowait()
                except queue.Empty:
                    break
                if cmd is EOF:
                    self.close()
                    return 0
                try:
                    if not self.handle(cmd):
                        return 0
                except Exception as e:  # answer every line, keep running
                    out({"ok": False, "id": cmd.get("id"), "error": str(e)})
                    flush()
            msgs = self.c.consume(num_messages=batch, timeout=timeout)
            last = {}
            for m in msgs:
                err = m.error()
                if err is not None:
                    out({"ev": "error", "fatal": bool(err.fatal()), "code": err.name(),
                         "error": err.str()})
                    if err.fatal():
                        flush()
                        self.close()
                        return 1
                    continue
                k, v = m.key(), m.value()
                out({"ev": "record", "topic": m.topic(), "partition": m.partition(),
                     "offset": m.offset(), "key": None if k is None else k.hex(),
                     "value_len": None if v is None else len(v)})
                self.records += 1
                last[(m.topic(), m.partition())] = m.offset()
            if not a.auto_commit:
                if last:
                    for key, o in last.items():
                        self.pending[key] = o + 1
                    self.commit_pending("sync")
                elif self.pending:
                    self.commit_pending("retry")
            flush()


def parse_bool(v):
    if v not in ("true", "false"):
        raise argparse.ArgumentTypeError("true or false, not %r" % v)
    return v == "true"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--group", required=True)
    ap.add_argument("--topic", action="append", required=True,
                    type=lambda s: [t for t in s.split(",") if t])
    ap.add_argument("--assignor", choices=["range", "roundrobin", "cooperative-sticky", "sticky"],
                    help="default: range (classic protocol)")
    ap.add_argument("--remote-assignor")
    ap.add_argument("--instance-id")
    ap.add_argument("--auto-commit", type=parse_bool, default=False)
    ap.add_argument("--auto-offset-reset", default="earliest")
    ap.add_argument("--session-timeout-ms", type=int)
    ap.add_argument("--heartbeat-interval-ms", type=int)
    ap.add_argument("--max-poll-interval-ms", type=int)
    ap.add_argument("--group-protocol", default="classic", choices=["classic", "consumer"])
    ap.add_argument("--client-rack")
    ap.add_argument("--client-id")
    ap.add_argument("--max-poll-records", type=int)
    ap.add_argument("--poll-ms", type=int, default=100)
    ap.add_argument("--paused", action="store_true",
                    help="start paused: assigned partitions are not fetched until resume")
    ap.add_argument("--set", action="append", default=[], help="any librdkafka property")
    a = ap.parse_args()
    a.topic = [t for ts in a.topic for t in ts]
    try:
        if a.assignor == "sticky" and a.group_protocol == "classic":
            raise ValueError("librdkafka has no eager 'sticky' assignor (only cooperative-sticky)")
        member = Member(a)
    except Exception as e:
        out({"error": str(e)})
        flush()
        return 2

    commands = queue.Queue()

    def reader():
        for line in sys.stdin:
            line = line.strip()
            if not line:
                continue
            try:
                cmd = json.loads(line)
                if not isinstance(cmd, dict):
                    raise ValueError("not a JSON object")
                commands.put(cmd)
            except ValueError as e:
                out({"ok": False, "id": None, "error": "bad command %s: %s" % (line, e)})
                flush()
        commands.put(EOF)

    threading.Thread(target=reader, daemon=True).start()
    try:
        rc = member.run(commands)
    except Exception as e:
        out({"ev": "error", "fatal": True, "code": type(e).__name__, "error": str(e)})
        rc = 1
    flush()
    return rc


if __name__ == "__main__":
    sys.exit(main())
