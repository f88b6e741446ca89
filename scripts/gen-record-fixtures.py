#!/usr/bin/env python3
"""Record-batch fixtures from a real producer (librdkafka, via confluent-kafka).

    python3 -m venv /tmp/kasio-records-venv
    /tmp/kasio-records-venv/bin/pip install confluent-kafka==2.16.1
    /tmp/kasio-records-venv/bin/python scripts/gen-record-fixtures.py

The producer runs against librdkafka's built-in mock cluster, created through
the rig's ctypes wrapper (scripts/rig/mock_cluster.py), which stores the
batches exactly as the producer sent them. Capping the mock's Produce version
makes librdkafka write legacy message sets (Produce v2 -> magic 1, v1 -> magic
0). Raw Fetch v4 requests (read_uncommitted) read one partition back, and the
`records` bytes are written to core/tests/fixtures/records/NAME.bin, next to
NAME.json describing what was produced, record by record (the decoder tests
compare the two).

The mock writes its own transaction markers with a CRC of 0 (a shortcut of the
mock; a real broker computes it); the generator fills in the CRC32C so the
fixture is what a broker sends, and the JSON lists the batches it fixed.

Fixtures:
  v2-none, v2-gzip, v2-snappy, v2-lz4, v2-zstd   magic 2, one per codec, with
        headers (one with a null value), null keys, null and empty values
  v2-txn-abort      a transactional batch (lz4), the ABORT marker the mock's
        transaction coordinator writes, a committed batch and its COMMIT marker
  v1-gzip, v1-snappy, v1-lz4, v0-gzip, v0-snappy, v0-lz4, v1-none, v0-none
        legacy message sets (as far as the mock accepts them: it refuses
        compressed magic-0 produce requests, so v0 is uncompressed only)
"""

import json
import os
import socket
import struct
import sys
import time

from confluent_kafka import Producer, libversion, version

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts", "rig"))
import mock_cluster  # noqa: E402
import rdkafka_lib  # noqa: E402
OUT = os.path.join(ROOT, "core", "tests", "fixtures", "records")
BASE_TS = 1_700_000_000_000


def records_for(codec, n=12):
    """A varied set: null keys, null/empty values, headers with a null value,
    repetitive values so that compression has something to do."""
    out = []
    for i in range(n):
        key = None if i % 3 == 0 else ("key-%d" % i).encode()
        if i % 5 == 0:
            value = None
        elif i % 5 == 1:
            value = b""
        else:
            value = (("%s-value-%d-" % (codec, i)) * (1 + i * 3)).encode()
        headers = []
        if i % 2 == 0:
            headers = [("trace", ("t-%d" % i).encode()), ("null-header", None)]
        out.append({"key": key, "value": value, "headers": headers, "timestamp": BASE_TS + i * 7})
    return out


def hexer(b):
    return None if b is None else b.hex()


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def fix_zero_crcs(records):
    """Fills in the CRC32C of v2 batches stored with CRC 0; returns their offsets."""
    data = bytearray(records)
    fixed = []
    pos = 0
    while pos + 12 <= len(data):
        base, size = struct.unpack_from(">qi", data, pos)
        end = pos + 12 + size
        if data[pos + 16] == 2 and struct.unpack_from(">I", data, pos + 17)[0] == 0:
            struct.pack_into(">I", data, pos + 17, crc32c(data[pos + 21:end]))
            fixed.append(base)
        pos = end
    return bytes(data), fixed


def new_mock(produce_max=None):
    lib = rdkafka_lib.load()
    mock = mock_cluster.Mock(lib, 1, [("log_level", "3")])
    if produce_max is not None:
        mock.cmd_set_apiversion({"api": "Produce", "min": 0, "max": produce_max})
    return mock


def produce(bootstrap, topic, codec, recs, legacy=False, transactional=None):
    conf = {
        "bootstrap.servers": bootstrap,
        "compression.codec": codec,
        "linger.ms": 200,
        "batch.num.messages": 10000,
        "enable.idempotence": False,
        "acks": "all",
        "log_level": 3,
    }
    if transactional:
        conf.update({"transactional.id": transactional, "enable.idempotence": True})
    p = Producer(conf)
    if transactional:
        p.init_transactions(10)
        p.begin_transaction()
    errors = []

    def report(err, _msg):
        if err is not None:
            errors.append(str(err))

    for r in recs:
        kw = {"key": r["key"], "value": r["value"], "partition": 0, "timestamp": r["timestamp"],
              "on_delivery": report}
        if r["headers"] and not legacy:
            kw["headers"] = r["headers"]
        p.produce(topic, **kw)
    left = p.flush(10)
    if errors or left:
        raise RuntimeError("produce failed: %s (%d undelivered)" % (errors[:1], left))
    return p


# --- a raw Fetch v4 request -------------------------------------------------

def kstr(s):
    b = s.encode()
    return struct.pack(">h", len(b)) + b


def fetch(addr, topic, partition=0, offset=0, max_bytes=1 << 20):
    host, port = addr.rsplit(":", 1)
    body = struct.pack(">iiiib", -1, 100, 1, max_bytes, 0)  # replica, wait, min, max, read_uncommitted
    body += struct.pack(">i", 1) + kstr(topic) + struct.pack(">i", 1)
    body += struct.pack(">iqi", partition, offset, max_bytes)
    header = struct.pack(">hhi", 1, 4, 42) + kstr("kasio-fixtures")
    msg = header + body
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(struct.pack(">i", len(msg)) + msg)
        size = struct.unpack(">i", recv(s, 4))[0]
        resp = recv(s, size)
    pos = 4  # correlation id
    pos += 4  # throttle
    (ntopics,) = struct.unpack_from(">i", resp, pos)
    pos += 4
    assert ntopics == 1
    (tlen,) = struct.unpack_from(">h", resp, pos)
    pos += 2 + tlen
    (nparts,) = struct.unpack_from(">i", resp, pos)
    pos += 4
    assert nparts == 1
    part, err, hw, lso = struct.unpack_from(">ihqq", resp, pos)
    pos += 4 + 2 + 8 + 8
    (naborted,) = struct.unpack_from(">i", resp, pos)
    pos += 4
    aborted = []
    for _ in range(max(naborted, 0)):
        pid, first = struct.unpack_from(">qq", resp, pos)
        aborted.append({"producer_id": pid, "first_offset": first})
        pos += 16
    (rlen,) = struct.unpack_from(">i", resp, pos)
    pos += 4
    records = resp[pos:pos + max(rlen, 0)]
    return {"error_code": err, "high_watermark": hw, "last_stable_offset": lso,
            "aborted_transactions": aborted}, records


def next_offset(records):
    """One past the last offset in `records` (complete entries only)."""
    pos, last = 0, None
    while pos + 12 <= len(records):
        base, size = struct.unpack_from(">qi", records, pos)
        if pos + 12 + size > len(records):
            break
        if records[pos + 16] == 2:
            (delta,) = struct.unpack_from(">i", records, pos + 23)
            last = base + delta
        else:
            last = base
        pos += 12 + size
    return None if last is None else last + 1


def fetch_all(addr, topic):
    """Fetch until the high watermark: the mock returns one produced message set
    per Fetch, so the partition's bytes are the concatenation of several."""
    offset, data, meta = 0, b"", None
    while True:
        meta, chunk = fetch(addr, topic, offset=offset)
        nxt = next_offset(chunk)
        if nxt is None:
            return meta, data
        data += chunk
        offset = nxt
        if offset >= meta["high_watermark"]:
            return meta, data


def recv(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise EOFError("connection closed")
        buf += chunk
    return buf


def write(name, meta, records, produced, extra=None):
    doc = {
        "producer": {"confluent_kafka": version()[0], "librdkafka": libversion()[0]},
        "fetch": meta,
        "records": [
            {
                "offset": r.get("offset", i),
                "timestamp": r["timestamp"],
                "key": hexer(r["key"]),
                "value": hexer(r["value"]),
                "headers": [[k, hexer(v)] for k, v in r["headers"]],
            }
            for i, r in enumerate(produced)
        ],
    }
    if extra:
        doc.update(extra)
    with open(os.path.join(OUT, name + ".bin"), "wb") as f:
        f.write(records)
    with open(os.path.join(OUT, name + ".json"), "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    print("%-14s %6d bytes, %d records" % (name, len(records), len(produced)), file=sys.stderr)


def main():
    os.makedirs(OUT, exist_ok=True)
    mock = new_mock()
    addr = mock.bootstraps()
    print("mock broker at", addr, file=sys.stderr)
    for codec in ["none", "gzip", "snappy", "lz4", "zstd"]:
        topic = "v2-" + codec
        recs = records_for(codec)
        produce(addr, topic, codec, recs)
        meta, data = fetch_all(addr, topic)
        write(topic, meta, data, recs)

    # A transaction that is aborted, then one that is committed.
    topic = "v2-txn-abort"
    aborted = records_for("txn", 3)
    committed = records_for("ok", 2)
    for i, r in enumerate(committed):
        r["offset"] = 4 + i
    p = Producer({"bootstrap.servers": addr, "transactional.id": "kasio-fixtures",
                  "linger.ms": 50, "compression.codec": "lz4", "log_level": 3})
    p.init_transactions(10)
    for recs, end in [(aborted, p.abort_transaction), (committed, p.commit_transaction)]:
        p.begin_transaction()
        for r in recs:
            p.produce(topic, key=r["key"], value=r["value"], headers=r["headers"],
                      partition=0, timestamp=r["timestamp"])
        p.flush(10)
        end(10)
    meta, data = fetch_all(addr, topic)
    data, fixed = fix_zero_crcs(data)
    write(topic, meta, data, aborted + committed,
          {"transaction": "records at offsets 0-2 aborted, ABORT marker at 3, "
                          "records at 4-5 committed, COMMIT marker at 6",
           "markers": [{"offset": 3, "type": "abort"}, {"offset": 6, "type": "commit"}],
           "crc_filled_in_for_mock_markers_at": fixed})
    del p
    mock.destroy()

    # Legacy formats: the mock capped at Produce v2 (magic 1) and v1 (magic 0).
    for magic, produce_max in [(1, 2), (0, 1)]:
        mock = new_mock(produce_max)
        addr = mock.bootstraps()
        for codec in ["none", "gzip", "snappy", "lz4"]:
            topic = "v%d-%s" % (magic, codec)
            recs = records_for(codec, 8)
            for r in recs:
                r["headers"] = []
            try:
                produce(addr, topic, codec, recs, legacy=True)
                meta, data = fetch_all(addr, topic)
            except Exception as e:  # the mock refuses some old formats
                print("%s: skipped: %s" % (topic, e), file=sys.stderr)
                continue
            if data[16] != magic:
                print("%s: skipped: the producer wrote magic %d" % (topic, data[16]),
                      file=sys.stderr)
                continue
            write(topic, meta, data, recs, {"magic": magic})
        mock.destroy()


if __name__ == "__main__":
    main()
