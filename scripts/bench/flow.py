#!/usr/bin/env python3
"""A steady flow of records for the rebalance benchmark (scripts/bench/group.py):
RATE records/s of 100 B, spread round-robin over the topic's PARTITIONS (explicit
partitions, so every partition gets RATE/PARTITIONS records/s), until stdin closes.

    .venv/bin/python scripts/bench/flow.py BOOTSTRAP TOPIC PARTITIONS RATE

stdout: {"flowing": true} once the first records are acknowledged, every 2 s
{"acked": N, "failed": F, "sent": S}, then at the end {"produced": N, "failed": F}. librdkafka (confluent-kafka), linger 5 ms.
"""
import json
import sys
import threading
import time

from confluent_kafka import Producer


def main():
    bootstrap, topic, partitions, rate = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    stop = threading.Event()

    def watch_stdin():
        sys.stdin.read()
        stop.set()

    threading.Thread(target=watch_stdin, daemon=True).start()
    state = {"acked": 0, "failed": 0}

    def on_delivery(err, _msg):
        if err is None:
            state["acked"] += 1
        else:
            state["failed"] += 1

    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "compression.type": "none",
                  "acks": "1", "enable.idempotence": False})
    value = b"v" * 100
    sent = 0
    flowing = False
    start = time.monotonic()
    tick = 0.01
    while not stop.is_set():
        due = int((time.monotonic() - start) * rate)
        while sent < due:
            try:
                p.produce(topic, value=value, partition=sent % partitions, on_delivery=on_delivery)
            except BufferError:
                break
            sent += 1
        p.poll(0)
        if not flowing and state["acked"] > 0:
            flowing = True
            print(json.dumps({"flowing": True}), flush=True)
            last_report = time.monotonic()
        elif flowing and time.monotonic() - last_report >= 2:
            last_report = time.monotonic()
            print(json.dumps({"acked": state["acked"], "failed": state["failed"], "sent": sent}), flush=True)
        time.sleep(tick)
    p.flush(30)
    print(json.dumps({"produced": state["acked"], "failed": state["failed"]}), flush=True)


if __name__ == "__main__":
    main()
