#!/usr/bin/env python3
"""confluent-kafka producer + group consumer run used to capture fixtures.

    .venv/bin/python scripts/rig/capture_client.py --bootstrap HOST:PORT
        --topic T --partitions N --group G --produced-json FILE

1. Producer (idempotent, so InitProducerId is sent): a fixed set of small
   records with explicit partitions and CreateTime timestamps, mostly null
   keys, with headers; linger so each partition gets one record batch.
2. Consumer in group G: subscribe, consume every record, commit
   synchronously, get_watermark_offsets + offsets_for_times (ListOffsets),
   committed() (OffsetFetch), close (LeaveGroup).
Writes FILE: the produced records as delivered (partition, offset,
timestamp, key, value, headers; bytes as hex and, when printable, as text)
plus what the consumer saw, and fails if the two differ.
Timeouts are tuned down so a run takes a few seconds.
"""

import argparse
import json
import sys
import time

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka import __version__ as ck_version, libversion

DR_TIMESTAMPS = []
BASE_TS = 1700000000000  # 2023-11-14T22:13:20Z, fixed so fixtures are reproducible

# (partition, key, value, headers, timestamp offset ms)
RECORDS = [
    (0, None, b"hello-0", [("h1", b"v1")], 0),
    (0, None, b"hello-1", [("h1", b"v1"), ("trace", b"\x00\x01\xff")], 1),
    (0, b"k2", None, [("tombstone", b"yes")], 2),
    (1, None, b"", [("empty", b"")], 3),
    (1, None, b"hello-4", [("nullhdr", None), ("h1", b"v4")], 4),
]


def enc(b):
    if b is None:
        return None
    d = {"hex": b.hex()}
    try:
        s = b.decode("ascii")
        if s.isprintable():
            d["text"] = s
    except UnicodeDecodeError:
        pass
    return d


def rec_json(partition, offset, ts, key, value, headers):
    return {"partition": partition, "offset": offset, "timestamp": ts,
            "key": enc(key), "value": enc(value),
            "headers": [{"key": k, "value": enc(v)} for k, v in (headers or [])]}


def common(bootstrap):
    return {
        "bootstrap.servers": bootstrap,
        "client.id": "kasio-capture",
        "topic.metadata.refresh.interval.ms": 60000,
        "socket.connection.setup.timeout.ms": 5000,
        "reconnect.backoff.ms": 50,
        "reconnect.backoff.max.ms": 500,
        "retry.backoff.ms": 50,
    }


def produce(bootstrap, topic):
    delivered = {}
    errors = []

    def dr_for(i):
        def dr(err, msg):
            if err:
                errors.append(str(err))
            else:
                delivered[i] = msg
        return dr

    p = Producer(dict(common(bootstrap), **{
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 200,
        "compression.type": "none",
        "message.timeout.ms": 15000,
    }))
    for i, (part, key, value, headers, dts) in enumerate(RECORDS):
        p.produce(topic, value=value, key=key, partition=part, headers=headers,
                  timestamp=BASE_TS + dts, on_delivery=dr_for(i))
    left = p.flush(20)
    if left or errors:
        raise SystemExit("produce failed: %d undelivered, errors %s" % (left, errors))
    out = []
    # Delivery reports do not carry headers: take the content from the input and
    # the offset from the delivery report.  The report's timestamp is the
    # broker's (LogAppendTime) when it sets one -- the librdkafka mock answers
    # log_append_time_ms=1234 -- so it is kept apart.
    for i, (part, key, value, headers, dts) in enumerate(RECORDS):
        m = delivered[i]
        if m.partition() != part:
            raise SystemExit("record %d delivered to partition %d" % (i, m.partition()))
        r = rec_json(part, m.offset(), BASE_TS + dts, key, value, headers)
        out.append(r)
        DR_TIMESTAMPS.append({"partition": part, "offset": m.offset(),
                              "timestamp_type": m.timestamp()[0],
                              "timestamp": m.timestamp()[1]})
    return sorted(out, key=lambda r: (r["partition"], r["offset"]))


def consume(bootstrap, topic, partitions, group, want):
    c = Consumer(dict(common(bootstrap), **{
        "group.id": group,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "session.timeout.ms": 2000,
        "heartbeat.interval.ms": 300,
        "max.poll.interval.ms": 10000,
        "fetch.wait.max.ms": 100,
        "partition.assignment.strategy": "range",
    }))
    seen = []
    t0 = time.monotonic()
    try:
        c.subscribe([topic])
        while len(seen) < want:
            if time.monotonic() - t0 > 60:
                raise SystemExit("consume timed out with %d/%d records" % (len(seen), want))
            m = c.poll(0.5)
            if m is None:
                continue
            if m.error():
                sys.stderr.write("consumer error: %s\n" % m.error())
                continue
            seen.append(rec_json(m.partition(), m.offset(), m.timestamp()[1], m.key(),
                                 m.value(), m.headers()))
        joined_after = round(time.monotonic() - t0, 2)
        c.commit(asynchronous=False)
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        committed = c.committed(tps, timeout=10)
        watermarks = {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
                      for p in range(partitions)}
        by_time = c.offsets_for_times(
            [TopicPartition(topic, p, BASE_TS + 1) for p in range(partitions)], timeout=10)
    finally:
        c.close()
    return {
        "records": sorted(seen, key=lambda r: (r["partition"], r["offset"])),
        "first_record_after_s": joined_after,
        "committed": {tp.partition: tp.offset for tp in committed},
        "watermarks": {p: list(w) for p, w in watermarks.items()},
        "offsets_for_times": {"timestamp": BASE_TS + 1,
                              "offsets": {tp.partition: tp.offset for tp in by_time}},
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", default="kasio-fixtures")
    ap.add_argument("--partitions", type=int, default=2)
    ap.add_argument("--group", default="kasio-fixtures-group")
    ap.add_argument("--produced-json", required=True)
    args = ap.parse_args()

    t0 = time.monotonic()
    produced = produce(args.bootstrap, args.topic)
    t1 = time.monotonic()
    consumed = consume(args.bootstrap, args.topic, args.partitions, args.group, len(produced))
    t2 = time.monotonic()
    doc = {
        "topic": args.topic,
        "partitions": args.partitions,
        "group": args.group,
        "client": {"confluent_kafka": ck_version, "librdkafka": libversion()[0]},
        "timestamp_type": "CreateTime (set by the producer, as stored in the batches)",
        "note": "bytes are given as hex (and as text when printable ASCII); "
                "key/value null means a null key/value; header value null is a null header",
        "produced": produced,
        "delivery_reports": DR_TIMESTAMPS,
        "consumer": consumed,
        "timings_s": {"produce": round(t1 - t0, 2), "consume": round(t2 - t1, 2)},
    }
    same = [dict(r) for r in produced] == consumed["records"]
    doc["consumed_matches_produced"] = same
    with open(args.produced_json, "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")
    print(json.dumps({"produced": len(produced), "consumed": len(consumed["records"]),
                      "match": same, "timings_s": doc["timings_s"]}))
    if not same:
        sys.stderr.write("consumed records differ from produced ones\n")
        return 1
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KafkaException as e:
        sys.stderr.write("capture_client: %s\n" % e)
        sys.exit(1)
