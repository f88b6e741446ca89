#!/usr/bin/env python3
"""Produces a deterministic workload with librdkafka (confluent-kafka), for the
end-to-end tests: every record's content follows from its sequence number, so a
consumer can check each record without the producer telling it anything.

    produce.py --bootstrap B --topic T --partitions P --count N
               [--compression none|gzip|snappy|lz4|zstd] [--value-size S]
               [--txn-size K] [--start I] [--set name=value ...]

Record i (global sequence number, from --start):
  partition  i % P
  key        null if i % 7 == 3, else b"key-<i>"
  value      null if i % 13 == 5, else b"value-<i>-" padded with b"." to S bytes
  headers    ("seq", b"<i>"), then ("null", null) if i % 5 == 0, then ("h2", b"xyz") if i % 2
  timestamp  1700000000000 + i (CreateTime)
With --txn-size K, records are produced in transactions of K records each (by
sequence number); transaction j = i // K is aborted when j % 3 == 2.

Prints one JSON line: {"produced": N, "committed": C, "aborted": A}.
The Rust side of this contract is tests/src/workload.rs.
"""
import argparse
import json
import sys

from confluent_kafka import KafkaException, Producer

BASE_TS = 1_700_000_000_000


def record(i, size):
    key = None if i % 7 == 3 else b"key-%d" % i
    value = None if i % 13 == 5 else (b"value-%d-" % i).ljust(size, b".")
    headers = [("seq", b"%d" % i)]
    if i % 5 == 0:
        headers.append(("null", None))
    if i % 2:
        headers.append(("h2", b"xyz"))
    return key, value, headers, BASE_TS + i


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--partitions", type=int, required=True)
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--compression", default="none")
    ap.add_argument("--value-size", type=int, default=100)
    ap.add_argument("--txn-size", type=int, default=0)
    ap.add_argument("--start", type=int, default=0)
    ap.add_argument("--set", action="append", default=[],
                    help="any librdkafka property, applied last (e.g. acks=0)")
    a = ap.parse_args()

    conf = {
        "bootstrap.servers": a.bootstrap,
        "compression.type": a.compression,
        "linger.ms": 10,
        "batch.num.messages": 2000,
        "queue.buffering.max.messages": 1000000,
        "enable.idempotence": True,
        "message.timeout.ms": 60000,
    }
    if a.txn_size:
        conf["transactional.id"] = "kasio-e2e-%s" % a.topic
    for kv in a.set:
        k, v = kv.split("=", 1)
        conf[k] = v
    p = Producer(conf)
    errors = []

    def on_delivery(err, _msg):
        if err is not None:
            errors.append(str(err))

    committed = aborted = 0
    if a.txn_size:
        p.init_transactions(30)
    i = a.start
    end = a.start + a.count
    while i < end:
        chunk_end = min(end, (i // a.txn_size + 1) * a.txn_size) if a.txn_size else end
        if a.txn_size:
            p.begin_transaction()
        for j in range(i, chunk_end):
            key, value, headers, ts = record(j, a.value_size)
            while True:
                try:
                    p.produce(a.topic, key=key, value=value, headers=headers, timestamp=ts,
                              partition=j % a.partitions, on_delivery=on_delivery)
                    break
                except BufferError:
                    p.poll(0.05)
            if j % 10000 == 0:
                p.poll(0)
        if a.txn_size:
            if (i // a.txn_size) % 3 == 2:
                # Deliver first, so that the aborted records are really in the log
                # (a read_committed consumer must skip them, not just never see them).
                p.flush(30)
                p.abort_transaction(30)
                aborted += chunk_end - i
            else:
                p.commit_transaction(30)
                committed += chunk_end - i
        else:
            committed += chunk_end - i
        i = chunk_end
    left = p.flush(60)
    if left or errors:
        print(json.dumps({"error": "undelivered %d, errors %s" % (left, errors[:5])}))
        sys.exit(1)
    print(json.dumps({"produced": a.count, "committed": committed, "aborted": aborted}))


if __name__ == "__main__":
    try:
        main()
    except KafkaException as e:
        print(json.dumps({"error": str(e)}))
        sys.exit(1)
