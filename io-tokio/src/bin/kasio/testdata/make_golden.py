#!/usr/bin/env python3
"""Makes the kcat golden fixtures of the `kasio` CLI's output formatting.

    .venv/bin/python io-tokio/src/bin/kasio/testdata/make_golden.py [--out DIR] [--kcat PATH]

Starts librdkafka's mock cluster (scripts/rig/mock_cluster.py, 3 brokers),
creates topic `golden` with 5 partitions, produces the same records into every
partition, partition i with codec CODECS[i] (none, gzip, snappy, lz4, zstd), then
reads each partition with the real kcat (`-C -p P -o beginning -e`) under every
case of CASES and writes kcat's stdout to DIR/<case>.out (partitions 0..4 in
order, concatenated) and the cases' kcat arguments to DIR/cases.txt (a line a
case: its name, then each argument in hex). Also: DIR/records.txt (what was produced, from the delivery
reports), DIR/eof_stderr.txt (kcat's stderr for `-e` without `-q` on one
partition), DIR/metadata*.out (`-L`, `-L -J`) and DIR/query*.out (`-Q`).

records.txt, one line a record, fields separated by one space:
    partition offset timestamp leader key value headers
key/value: hex, `-` for null, `_` for empty; headers: `-` for none, else
comma-separated name_hex=value_hex with value `-` for null, `_` for empty.
The Rust side (io-tokio/src/bin/kasio/golden.rs) rebuilds the records from it,
renders them through kasio's formatter and compares with kcat's bytes.

Needs: .venv with confluent-kafka (scripts/setup-rig.sh) and kcat on PATH
(Debian: apt-get install kcat; these fixtures were made with kcat 1.7.1).
"""
import argparse
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", "..", "..", ".."))
MOCK = os.path.join(ROOT, "scripts", "rig", "mock_cluster.py")
TOPIC = "golden"
CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]
BASE_TS = 1_700_000_000_000

ALL_BYTES = bytes(range(256))


def records():
    """(key, value, headers) of every record, in produce order."""
    r = []
    r.append((b"k0", b"hello", [("a", b"1"), ("b", b"2")]))
    r.append((None, b"null key", None))
    r.append((b"k2", None, [("n", None)]))  # a tombstone with a null header
    r.append((None, None, None))
    r.append((b"", b"", [("empty", b"")]))  # empty, not null
    r.append((bytes(range(32)), ALL_BYTES, None))  # every byte value
    r.append((b"json", b'quote " backslash \\ slash / tab\t nl\n cr\r ff\f bs\b del\x7f', None))
    r.append(("ключ".encode(), "héllo wörld ☃ 😀".encode(), [("utf8", "☃".encode())]))
    r.append((b"\x80", b"\xff\xfe\xc3\x28 \xe2\x82", None))  # invalid UTF-8
    r.append((b"bin-headers", b"v",
              [("bin", b"\x00\x01\xff"), ("nul", b"ab\x00cd"), ('q"uote', b"x"),
               ("comma,eq=", b"v,=x"), ("ctl", b"\t\n")]))
    r.append((b"dup", b"dup headers", [("dup", b"1"), ("dup", b"2"), ("dup", None)]))
    r.append((b"big", (b"0123456789abcdef" * 128), None))  # compressible, 2 KiB
    r.append((b"%s%k", b"%s %k %% \\n", None))
    r.append((b"a\x00b", b"x\x00y", [("z", b"\x00")]))
    r.append((b"last", b"end", [("empty", b""), ("null", None), ("v", b"1")]))
    return r


# name -> kcat arguments (after -b, -t, -p, -o beginning, -e, -q)
CASES = {
    "default": [],
    "key_delim": ["-K", ":"],
    "null_str": ["-Z", "-K", "\\t"],
    "delims": ["-K", "\\x1f", "-D", "\\x1e"],
    "delim_empty": ["-D", ""],
    "delim_reparse": ["-D", "\\\\n|%%|\\x41\\n"],
    "fmt_example": ["-f", "Topic %t [%p] at offset %o: key %k: %s\\n"],
    "fmt_all": ["-f", "%t|%p|%o|%T|%K|%S|%h|%k|%s\\n"],
    "fmt_all_null": ["-Z", "-f", "%t|%p|%o|%T|%K|%S|%h|%k|%s\\n"],
    "fmt_binary": ["-f", "%R%s"],
    "fmt_escapes": ["-f", "\\x41\\101\\0101\\t%%\\\\\\q|%o\\r\\n"],
    "fmt_headers": ["-f", "%h\\n"],
    "json": ["-J"],
    "json_null": ["-J", "-Z"],
    "json_delim": ["-J", "-D", "\\r\\n"],
    "json_fmt": ["-J", "-f", "X%sY"],
    "json_fmt_token_first": ["-J", "-f", "%s\\n"],
}


def enc(b):
    if b is None:
        return "-"
    if b == b"":
        return "_"
    return b.hex()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=HERE)
    ap.add_argument("--kcat", default="kcat")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)

    mock = subprocess.Popen(
        [sys.executable, MOCK, "--brokers", "3", "--topic", "%s:%d:1" % (TOPIC, len(CODECS))],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        bootstrap = json.loads(mock.stdout.readline())["bootstrap"]
        run(a, bootstrap)
    finally:
        mock.stdin.close()
        mock.wait(10)


def run(a, bootstrap):
    md = AdminClient({"bootstrap.servers": bootstrap}).list_topics(TOPIC, timeout=10)
    leaders = {p.id: p.leader for p in md.topics[TOPIC].partitions.values()}

    lines = []
    recs = records()
    for part, codec in enumerate(CODECS):
        p = Producer({"bootstrap.servers": bootstrap, "compression.type": codec,
                      "linger.ms": 50, "enable.idempotence": True})
        got = []

        def dr(err, msg):
            if err is not None:
                raise SystemExit("delivery failed: %s" % err)
            got.append(msg.offset())

        for i, (k, v, h) in enumerate(recs):
            kw = {"key": k, "value": v, "partition": part, "timestamp": BASE_TS + i,
                  "on_delivery": dr}
            if h is not None:
                kw["headers"] = h
            p.produce(TOPIC, **kw)
        if p.flush(30) != 0:
            raise SystemExit("flush timed out")
        for i, (k, v, h) in enumerate(recs):
            hs = "-" if not h else ",".join(
                "%s=%s" % (n.encode().hex(), enc(val)) for n, val in h)
            lines.append("%d %d %d %d %s %s %s" % (
                part, got[i], BASE_TS + i, leaders[part], enc(k), enc(v), hs))
    with open(os.path.join(a.out, "records.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")

    def consume(job):
        name, part = job
        cmd = [a.kcat, "-b", bootstrap, "-C", "-t", TOPIC, "-p", str(part),
               "-o", "beginning", "-e", "-q"] + CASES[name]
        return subprocess.run(cmd, check=True, stdout=subprocess.PIPE, timeout=60).stdout

    # kcat's -e exit takes ~0.5 s a run, mostly waiting: run them side by side.
    # The cases for the Rust side: name, then each kcat argument in hex.
    with open(os.path.join(a.out, "cases.txt"), "w") as f:
        for name, extra in CASES.items():
            f.write(" ".join([name] + [x.encode().hex() for x in extra]) + "\n")

    jobs = [(name, part) for name in CASES for part in range(len(CODECS))]
    with ThreadPoolExecutor(8) as pool:
        outs = dict(zip(jobs, pool.map(consume, jobs)))
    for name in CASES:
        with open(os.path.join(a.out, name + ".out"), "wb") as f:
            f.write(b"".join(outs[(name, part)] for part in range(len(CODECS))))

    r = subprocess.run([a.kcat, "-b", bootstrap, "-C", "-t", TOPIC, "-p", "1",
                        "-o", "-3", "-e", "-f", "%o\\n"], check=True,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    with open(os.path.join(a.out, "eof_stderr.txt"), "wb") as f:
        f.write(r.stderr)

    # -L and -Q: for the wiring later (broker ports differ per run: the records
    # above do not depend on them, these outputs do).
    for name, extra in {"metadata": ["-L"], "metadata_json": ["-L", "-J"],
                        "metadata_topic": ["-L", "-t", TOPIC],
                        "query": ["-Q", "-t", TOPIC + ":0:-1", "-t", TOPIC + ":1:-2",
                                  "-t", TOPIC + ":2:%d" % (BASE_TS + 5)],
                        "query_json": ["-Q", "-J", "-t", TOPIC + ":0:-1",
                                       "-t", TOPIC + ":3:-2"]}.items():
        r = subprocess.run([a.kcat, "-b", bootstrap] + extra, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=60)
        with open(os.path.join(a.out, name + ".out"), "wb") as f:
            f.write(r.stdout)
    with open(os.path.join(a.out, "bootstrap.txt"), "w") as f:
        f.write(bootstrap + "\n")


if __name__ == "__main__":
    main()
