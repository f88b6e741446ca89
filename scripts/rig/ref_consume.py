#!/usr/bin/env python3
"""librdkafka's consumer as the reference peer: reads partitions 0..P-1 of a topic
from the beginning up to their end (manual assignment) and prints one JSON line
{"records": N, "seqs": [sorted seq header values]} so tests can compare what kasio
read with what librdkafka reads from the same broker. An error, an authentication
failure included, is printed as {"error": "..."} (exit status 1).

    ref_consume.py --bootstrap B --topic T --partitions P [--isolation read_committed]
                   [--timeout-s 60] [--min-records N] [--set name=value ...]

--min-records N: go on past the end of the partitions until N records were read
(for topics that grow while it reads).
"""
import argparse
import json
import sys
import time

from confluent_kafka import Consumer, KafkaError, TopicPartition


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--partitions", type=int, required=True)
    ap.add_argument("--isolation", default="read_uncommitted")
    ap.add_argument("--timeout-s", type=float, default=60)
    ap.add_argument("--min-records", type=int, default=0)
    ap.add_argument("--set", action="append", default=[])
    a = ap.parse_args()
    conf = {
        "bootstrap.servers": a.bootstrap,
        "group.id": "kasio-ref",
        "enable.auto.commit": False,
        "isolation.level": a.isolation,
        "enable.partition.eof": True,
        "auto.offset.reset": "earliest",
    }
    for kv in a.set:
        k, v = kv.split("=", 1)
        conf[k] = v
    # An authentication failure (SASL, or a TLS handshake the broker refuses) is
    # an error event, not a message: it ends the run at once with that error
    # instead of the timeout.
    auth_errors = []

    def on_error(err):
        if err.code() in (KafkaError._AUTHENTICATION, KafkaError._SSL):
            auth_errors.append(str(err))

    conf["error_cb"] = on_error
    c = Consumer(conf)
    c.assign([TopicPartition(a.topic, p, 0) for p in range(a.partitions)])
    at_eof = set()
    seqs = []
    deadline = time.time() + a.timeout_s
    while (len(at_eof) < a.partitions or len(seqs) < a.min_records) and time.time() < deadline:
        m = c.poll(0.2)
        if auth_errors:
            print(json.dumps({"error": auth_errors[0]}))
            sys.exit(1)
        if m is None:
            continue
        if m.error():
            if m.error().code() == KafkaError._PARTITION_EOF:
                at_eof.add(m.partition())
                continue
            print(json.dumps({"error": str(m.error())}))
            sys.exit(1)
        at_eof.discard(m.partition())
        h = dict(m.headers() or [])
        seqs.append(int(h["seq"]))
    c.close()
    if len(at_eof) < a.partitions or len(seqs) < a.min_records:
        print(json.dumps({"error": "timed out before the end of every partition"}))
        sys.exit(1)
    print(json.dumps({"records": len(seqs), "seqs": sorted(seqs)}))


if __name__ == "__main__":
    main()
