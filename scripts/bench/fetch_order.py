#!/usr/bin/env python3
"""Reproduces the fetch-order starvation that the group benchmark ran into
(BENCHMARKS.md, "Found on the way"): tansu's memory storage lists every batch of
a partition on each fetch within the fetch's max wait, so partitions late in a
fetch request get empty answers once they hold tens of thousands of batches, and
a client that names the partitions in the same order in every fetch never gets
records from the last ones.

    .venv/bin/python scripts/bench/fetch_order.py [BATCHES] [CLIENTS] [SECONDS]

Writes BATCHES one-record batches (default 600000: 50,000 per partition) into a
12-partition topic on a fresh tansu, keeps 2400 records/s flowing, then runs a
group member of each client (default kasio,java,librdkafka: the group peers,
auto.offset.reset=latest) alone for SECONDS (15) and prints which partitions it
got records from. Seen 2026-12-06: kasio [0]; Java 11 of 12; librdkafka all 12.
Needs scripts/bench/build.sh first. About 2-3 minutes.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import group as g  # noqa: E402


def main():
    batches = int(sys.argv[1]) if len(sys.argv) > 1 else 600000
    clients = (sys.argv[2] if len(sys.argv) > 2 else "kasio,java,librdkafka").split(",")
    seconds = float(sys.argv[3]) if len(sys.argv) > 3 else 15
    from confluent_kafka import Producer

    os.makedirs(g.LOGS, exist_ok=True)
    broker = g.Broker("tansu", [("order", g.PARTITIONS)])
    try:
        p = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 0, "batch.num.messages": 1,
                      "queue.buffering.max.messages": 2000000, "enable.idempotence": False, "acks": "1"})
        t = time.monotonic()
        n = 0
        while n < batches:
            try:
                p.produce("order", value=b"v" * 100, partition=n % g.PARTITIONS)
                n += 1
            except BufferError:
                p.poll(0.01)
            if n % 10000 == 0:
                p.poll(0)
        if p.flush(300):
            sys.exit("records left undelivered")
        print("%d one-record batches in %.1f s" % (n, time.monotonic() - t), flush=True)
        flow = g.Child("flow-order", [g.PY, os.path.join(g.ROOT, "scripts", "bench", "flow.py"),
                                      broker.bootstrap, "order", str(g.PARTITIONS), str(g.RATE)])
        try:
            flow.first_line.wait(30)
            for client in clients:
                m = g.Member("order-%s" % client, client, broker.bootstrap, "order-%s-%d" % (client, os.getpid()),
                             "order", "range")
                try:
                    time.sleep(seconds)
                    owned, at = m.snapshot()
                    since = max(at.values()) if at else 0
                    seen = sorted(q for q in owned if m.first_record_after(q, since) is not None)
                    print("%s: owns %d partitions, got records from %s in %g s" % (
                        client, len(owned), seen, seconds), flush=True)
                finally:
                    m.close()
        finally:
            flow.close()
    finally:
        broker.stop()


if __name__ == "__main__":
    main()
