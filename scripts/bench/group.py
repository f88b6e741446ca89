#!/usr/bin/env python3
"""Consumer-group benchmarks: kasio vs librdkafka vs the Java client, in one run.

* rebalance: a group of one member consumes a 12-partition topic while a producer
  keeps RATE records/s flowing into it (scripts/bench/flow.py; a new topic and
  producer for every run, see rebalance_bench); a second member of
  the same client joins at T0 (the moment it has subscribed: its first stdout
  line). Measured: until every one of the 12 partitions has been fetched again
  (for every partition, a record handed to the member that owns it in the new
  balanced assignment, after T0 and after it was given that partition), until the
  new assignment is in both members' hands, and the first member's longest stretch
  without a record from T0 on (its gap). For each client (kasio's group peer,
  librdkafka's, Java's: scripts/rig/README.md, "Group consumer peers") x
  (range, cooperative-sticky) x broker: tansu, and kasio-sim's serve mode
  (kasio_sim_serve), whose coordinator completes a join round once every member
  has rejoined, as Kafka does, so that the clients' own share shows. Median of RUNS.
* scale-out: 1, 2 and 4 processes of one client in one group over 12 partitions
  holding a fixed backlog (SCALE_RECORDS records of 100 B, the same number in
  every partition), started together with their assigned partitions paused
  (--wait-go) and told to go once the group has handed out all 12: aggregate
  records/s from the first record any of them was handed to the last (and while all
  n consume), CPU seconds of the consumers and of tansu in that window and how busy
  the machine's 2 cores were (sampled from /proc), for
  kasio (`consume --group`), librdkafka (`ref_consumer group:ID`) and Java
  (`JavaConsumerBench --group`).

Writes a section into BENCHMARKS.md between the group markers; the raw numbers go
to target/bench/group-results.json, the clients' stderr to target/bench/logs/.
Run through scripts/bench-group.sh (which installs and builds what this needs).

Environment: BENCH_RUNS (3), BENCH_SIM_RUNS (max(BENCH_RUNS, 5)), BENCH_PARTS
(rebalance,scaleout), BENCH_CLIENTS (kasio,librdkafka,java), BENCH_BROKERS
(tansu,kasio-sim), BENCH_ASSIGNORS (range,cooperative-sticky), BENCH_FLOW_RATE
(2400), BENCH_SCALE_RECORDS (4000000), BENCH_SESSION_MS (6000), BENCH_HEARTBEAT_MS
(1000). A run that fails says why and exits non-zero; every process it started
stops with it (their stdin closes).
"""
import bisect
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PY = os.path.join(ROOT, ".venv", "bin", "python")
REL = os.path.join(ROOT, "target", "release")
BENCH = os.path.join(ROOT, "target", "bench")
LOGS = os.path.join(BENCH, "logs")
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
# kasio-sim's rebalances take about a second: more runs there, for a steadier median.
SIM_RUNS = int(os.environ.get("BENCH_SIM_RUNS", str(max(RUNS, 5))))
PARTS = os.environ.get("BENCH_PARTS", "rebalance,scaleout").split(",")
CLIENTS = os.environ.get("BENCH_CLIENTS", "kasio,librdkafka,java").split(",")
BROKERS = os.environ.get("BENCH_BROKERS", "tansu,kasio-sim").split(",")
ASSIGNORS = os.environ.get("BENCH_ASSIGNORS", "range,cooperative-sticky").split(",")
RATE = int(os.environ.get("BENCH_FLOW_RATE", "2400"))
SCALE_RECORDS = int(os.environ.get("BENCH_SCALE_RECORDS", "4000000"))
SESSION_MS = int(os.environ.get("BENCH_SESSION_MS", "6000"))
HEARTBEAT_MS = int(os.environ.get("BENCH_HEARTBEAT_MS", "1000"))
PARTITIONS = 12
SCALE_SIZES = [1, 2, 4]
BEGIN, END = "<!-- group:begin -->", "<!-- group:end -->"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(msg):
    print("[%s] %s" % (time.strftime("%H:%M:%S"), msg), file=sys.stderr, flush=True)


class Failure(Exception):
    pass


class SetupFailure(Failure):
    """The first member did not get going: no measurement was taken yet."""


# ---- brokers ----------------------------------------------------------------------

class Broker:
    """tansu (scripts/rig/tansu.py) or kasio-sim's serve mode (kasio_sim_serve),
    with the given topics; `pid` is the broker process (for its CPU time)."""

    def __init__(self, kind, topics):
        self.kind = kind
        if kind == "tansu":
            cmd = [PY, os.path.join(ROOT, "scripts", "rig", "tansu.py")]
        elif kind == "kasio-sim":
            cmd = [os.path.join(REL, "kasio_sim_serve")]
        else:
            raise Failure("unknown broker %s" % kind)
        for name, n in topics:
            cmd += ["--topic", "%s:%d" % (name, n)]
        self.log = open(os.path.join(LOGS, "broker-%s.log" % kind), "a")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log,
                                     text=True)
        line = self.proc.stdout.readline()
        info = json.loads(line) if line.strip() else {"error": "no output"}
        if "bootstrap" not in info:
            self.stop()
            raise Failure("%s did not start: %s" % (kind, info))
        self.bootstrap = info["bootstrap"]
        self.pid = info["pid"]

    def stop(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def produce_backlog(bootstrap, topic, count):
    """count records of 100 B, the same number in every partition."""
    from confluent_kafka import Producer

    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20, "batch.num.messages": 10000,
                  "batch.size": 1000000, "queue.buffering.max.messages": 2000000, "compression.type": "none"})
    value = b"x" * 100
    failed = []
    for i in range(count):
        while True:
            try:
                p.produce(topic, value=value, partition=i % PARTITIONS,
                          on_delivery=lambda err, _m: err is not None and failed.append(err))
                break
            except BufferError:
                p.poll(0.05)
        if i % 50000 == 0:
            p.poll(0)
    if p.flush(120) != 0 or failed:
        raise Failure("backlog: %d undelivered records (%s)" % (len(p) + len(failed), failed[:1]))


# ---- processes ----------------------------------------------------------------------

def proc_cpu(pid):
    """CPU seconds (user+sys) of a live process and its reaped children, or None."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return sum(int(x) for x in fields[11:15]) / CLK_TCK
    except (OSError, ValueError, IndexError):
        return None


def machine_busy():
    """(busy, total) jiffies of all CPUs (/proc/stat)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]
    return sum(v[:8]) - idle, sum(v[:8])


class Child:
    """A process whose stdout lines are read by a thread, each with its arrival time
    (time.monotonic and time.time); stderr goes to a log file."""

    def __init__(self, name, cmd, on_line=None):
        self.name = name
        self.cmd = cmd
        self.lines = []
        self.on_line = on_line
        self.first_line = threading.Event()
        self.err_path = os.path.join(LOGS, "%s.err" % name)
        self.err = open(self.err_path, "w")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.err,
                                     text=True, bufsize=1)
        self.pid = self.proc.pid
        self.rusage = None
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            now = time.monotonic()
            try:
                obj = json.loads(line)
            except ValueError:
                obj = {"raw": line.rstrip()}
            self.lines.append((now, obj))
            if self.on_line:
                self.on_line(self, now, obj)
            self.first_line.set()
        self.first_line.set()

    def stderr_tail(self, n=15):
        try:
            with open(self.err_path) as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def close(self, timeout=20):
        """Closes stdin (the process stops and leaves its group), waits, reaps it
        with its resource usage; kills it if it does not end in time."""
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid, status, ru = os.wait4(self.pid, os.WNOHANG)
            if pid:
                self.rusage = ru
                self.proc.returncode = os.waitstatus_to_exitcode(status)
                break
            time.sleep(0.02)
        else:
            self.proc.kill()
            _, status, self.rusage = os.wait4(self.pid, 0)
            self.proc.returncode = os.waitstatus_to_exitcode(status)
            log("%s did not stop within %ds: killed" % (self.name, timeout))
        self.reader.join(timeout=5)
        self.err.close()
        return self.proc.returncode

    def cpu(self):
        return self.rusage.ru_utime + self.rusage.ru_stime if self.rusage else None


# ---- rebalance ----------------------------------------------------------------------

def peer_cmd(client):
    return {
        "kasio": [os.path.join(REL, "kasio_group_peer")],
        "librdkafka": [PY, os.path.join(ROOT, "scripts", "rig", "group_consume.py")],
        "java": [os.path.join(ROOT, "scripts", "rig", "group_consume_java.sh")],
    }[client]


class Member(Child):
    """A group peer (scripts/rig/README.md, "Group consumer peers"): its records
    (arrival time, partition, offset) and rebalance events as they arrive."""

    def __init__(self, name, client, bootstrap, group, topic, assignor):
        self.lock = threading.Lock()
        self.records = []
        self.times = {}  # partition -> arrival times of its records, in order
        self.owned = set()
        self.assigned_at = {}
        self.events = []
        self.fatal = None
        cmd = peer_cmd(client) + [
            "--bootstrap", bootstrap, "--group", group, "--topic", topic, "--assignor", assignor,
            "--auto-commit", "true", "--auto-offset-reset", "latest",
            "--session-timeout-ms", str(SESSION_MS), "--heartbeat-interval-ms", str(HEARTBEAT_MS)]
        super().__init__(name, cmd, self._event)

    def _event(self, _child, now, ev):
        kind = ev.get("ev")
        with self.lock:
            if kind == "record":
                self.records.append((now, ev["partition"], ev["offset"]))
                self.times.setdefault(ev["partition"], []).append(now)
            elif kind in ("assigned", "revoked", "lost"):
                parts = {p for _t, p in ev["partitions"]}
                if kind == "assigned":
                    self.owned |= parts
                    for p in parts:
                        self.assigned_at[p] = now
                else:
                    self.owned -= parts
                self.events.append((now, kind, ev.get("gen"), sorted(parts)))
            elif kind == "error" and ev.get("fatal"):
                self.fatal = ev.get("error")
            elif "error" in ev and "ev" not in ev and "ok" not in ev:
                self.fatal = ev["error"]

    def snapshot(self):
        """(owned, assigned_at) as they are now."""
        with self.lock:
            return set(self.owned), dict(self.assigned_at)

    def diagnosis(self):
        """What the member did, for a failure message (times: time.monotonic)."""
        now = time.monotonic()
        with self.lock:
            last = {p: "%d records, last %.1f s ago" % (len(ts), now - ts[-1]) for p, ts in sorted(self.times.items())}
            return "now %.3f; owns %s; events %s; per partition: %s" % (
                now, sorted(self.owned), [(round(t, 3), k, g, p) for t, k, g, p in self.events], last)

    def first_record_after(self, p, since):
        with self.lock:
            ts = self.times.get(p, [])
            k = bisect.bisect_left(ts, since)
            return ts[k] if k < len(ts) else None


def settled(a, b, t0):
    """When every partition was fetched again by its owner in the new balanced
    assignment (None if not yet), and when that assignment was complete."""
    half = PARTITIONS // 2
    (ao, aat), (bo, bat) = a.snapshot(), b.snapshot()
    if len(ao) != half or len(bo) != half or ao & bo:
        return None, None
    done, assigned = t0, t0
    for m, owned, at in ((a, ao, aat), (b, bo, bat)):
        for p in owned:
            since = max(t0, at.get(p, t0))
            assigned = max(assigned, at.get(p, t0))
            t = m.first_record_after(p, since)
            if t is None:
                return None, None
            done = max(done, t)
    return done, assigned


def rebalance_run(broker, client, assignor, topic, i):
    group = "reb-%s-%s-%d-%d" % (client, assignor, os.getpid(), i)
    tag = "%s-%s-%s-%d" % (broker.kind, client, assignor, i)
    a = Member("reb-%s-A" % tag, client, broker.bootstrap, group, topic, assignor)
    b = None
    try:
        # A alone: all 12 partitions, records from each of them.
        deadline = time.monotonic() + 40
        while True:
            check_member(a)
            owned, at = a.snapshot()
            if len(owned) == PARTITIONS:
                since = max(at.values())
                if all(a.first_record_after(p, since) is not None for p in owned):
                    break
            if time.monotonic() > deadline:
                raise SetupFailure("%s: the first member did not consume all %d partitions in 40 s\n%s\n%s"
                              % (tag, PARTITIONS, a.diagnosis(), a.stderr_tail()))
            time.sleep(0.05)
        # Steady state, then B joins at a random phase of A's heartbeats: how soon A
        # hears of the rebalance (its next heartbeat, within heartbeat.interval.ms)
        # is then drawn alike for every client, not set by this script's timing.
        time.sleep(1.0 + random.uniform(0, HEARTBEAT_MS / 1000))
        b = Member("reb-%s-B" % tag, client, broker.bootstrap, group, topic, assignor)
        if not b.first_line.wait(30):
            raise Failure("%s: the second member did not start\n%s" % (tag, b.stderr_tail()))
        t0 = b.lines[0][0]
        deadline = t0 + 60
        done = None
        while True:
            check_member(a)
            check_member(b)
            done, assigned = settled(a, b, t0)
            if done is not None:
                # No further rebalance in the next second: this was the final one.
                owned = (a.snapshot()[0], b.snapshot()[0])
                time.sleep(1.0)
                if (a.snapshot()[0], b.snapshot()[0]) == owned and settled(a, b, t0)[0] == done:
                    break
                continue
            if time.monotonic() > deadline:
                raise Failure("%s: no balanced assignment with every partition fetched again within 60 s "
                              "(T0 = %.3f)\nA: %s\n%s\nB: %s\n%s" % (
                                  tag, t0, a.diagnosis(), a.stderr_tail(), b.diagnosis(), b.stderr_tail()))
            time.sleep(0.05)
        # A's longest stretch without a record, from its last record before T0.
        times = [t for t, _p, _o in a.records if t <= done]
        before = [t for t in times if t <= t0]
        start = before[-1] if before else t0
        after = [start] + [t for t in times if t > start] + [done]
        gap, gap_at = max((y - x, x - t0) for x, y in zip(after, after[1:]))
        steady = [t for t in times if t0 - 1.0 <= t <= t0]
        steady_gap = max((y - x for x, y in zip(steady, steady[1:])), default=0.0)
        gens = sorted({e[2] for m in (a, b) for e in m.events if e[0] >= t0 and e[1] == "assigned"},
                      key=lambda g: (g is None, g))
        result = {"rebalance_s": done - t0, "assigned_s": assigned - t0, "gap_s": gap, "gap_at_s": gap_at,
                  "steady_gap_s": steady_gap, "generations": gens,
                  "a_events": [(round(t - t0, 3), k, g, p) for t, k, g, p in a.events],
                  "b_events": [(round(t - t0, 3), k, g, p) for t, k, g, p in b.events]}
    finally:
        for m in (b, a):
            if m is not None:
                rc = m.close()
                if rc not in (0, None) and m.fatal is None:
                    log("%s exited %s" % (m.name, rc))
    result.update(check_records(tag, a, b))
    return result


def check_member(m):
    if m.fatal:
        raise Failure("%s: %s\n%s" % (m.name, m.fatal, m.stderr_tail()))
    if m.proc.poll() is not None and not m.reader.is_alive():
        raise Failure("%s exited (%s)\n%s" % (m.name, m.proc.returncode, m.stderr_tail()))


def check_records(tag, a, b):
    """Every partition's offsets, from the first one A was handed on, without a
    hole (records may come twice after a rebalance: counted)."""
    seen = {}
    total = 0
    for m in (a, b):
        for _t, p, o in m.records:
            seen.setdefault(p, set()).add(o)
            total += 1
    holes = []
    for p, offs in sorted(seen.items()):
        lo, hi = min(offs), max(offs)
        if hi - lo + 1 != len(offs):
            holes.append((p, hi - lo + 1 - len(offs)))
    if holes:
        raise Failure("%s: records missing (partition, count): %s" % (tag, holes))
    distinct = sum(len(v) for v in seen.values())
    return {"records": total, "duplicates": total - distinct}


def rebalance_bench(results):
    for kind in BROKERS:
        runs = SIM_RUNS if kind == "kasio-sim" else RUNS
        plan = [(i, client, assignor) for i in range(runs) for client in CLIENTS for assignor in ASSIGNORS]
        # A topic of its own for every run, with its own producer: tansu's memory
        # storage lists every batch of a partition on each fetch, within the fetch's
        # max wait, so a topic that grows run after run (the producer's batches hold
        # one or two records) slows every fetch down, and kasio, which names the
        # partitions in the same order in every (sessionless) fetch, stopped getting
        # records from the last ones after some 50,000 batches per partition.
        topics = ["reb%d" % k for k in range(len(plan))]
        broker = Broker(kind, [(t, PARTITIONS) for t in topics])
        try:
            for (i, client, assignor), topic in zip(plan, topics):
                flow = Child("flow-%s-%s" % (kind, topic), [
                    PY, os.path.join(ROOT, "scripts", "bench", "flow.py"), broker.bootstrap, topic,
                    str(PARTITIONS), str(RATE)])
                try:
                    if not flow.first_line.wait(30) or not flow.lines:
                        raise Failure("the producer did not start\n%s" % flow.stderr_tail())
                    try:
                        try:
                            r = rebalance_run(broker, client, assignor, topic, i)
                        except SetupFailure as e:
                            # Once: said in the log, the results and BENCHMARKS.md.
                            log("RETRY (the run is taken again): %s\nproducer: %s" % (
                                e, [o for _t, o in flow.lines[-3:]]))
                            results.setdefault("retries", []).append(str(e).splitlines()[0])
                            r = rebalance_run(broker, client, assignor, topic, i)
                    except Failure as e:
                        raise Failure("%s\nproducer: %s" % (e, [o for _t, o in flow.lines[-3:]])) from e
                finally:
                    flow.close()
                produced = [o for _t, o in flow.lines if "produced" in o]
                if not produced or produced[-1]["failed"]:
                    raise Failure("%s: the producer failed: %s\n%s" % (topic, produced, flow.stderr_tail()))
                r["produced"] = produced[-1]["produced"]
                log("rebalance %s %s %s #%d: %.2f s (assigned %.2f s), gap %.2f s, generations %s, "
                    "%d duplicates" % (kind, client, assignor, i, r["rebalance_s"], r["assigned_s"],
                                       r["gap_s"], r["generations"], r["duplicates"]))
                results.setdefault("rebalance", {}).setdefault(
                    "%s|%s|%s" % (kind, client, assignor), []).append(r)
        finally:
            broker.stop()


# ---- scale-out ----------------------------------------------------------------------

def scale_cmd(client, bootstrap, topic, group):
    conf = {"session.timeout.ms": SESSION_MS, "heartbeat.interval.ms": HEARTBEAT_MS}
    if client == "kasio":
        cmd = [os.path.join(REL, "examples", "consume"), "--bootstrap", bootstrap, "--topic", topic,
               "--group", group, "--from-beginning", "--quiet", "--json", "--until-eof", "--wait-go",
               "--set", "check.crcs=true"]
        for k, v in conf.items():
            cmd += ["--set", "%s=%d" % (k, v)]
        return cmd
    if client == "librdkafka":
        return [os.path.join(BENCH, "ref_consumer"), bootstrap, topic, "group:" + group, "0", "--json",
                "--until-eof", "--wait-go"] + ["%s=%d" % kv for kv in conf.items()]
    if client == "java":
        cp = ":".join([os.path.join(BENCH, "java"), os.path.join(ROOT, ".rig", "java", "lib", "*")])
        cmd = ["java", "-Dslf4j.internal.verbosity=ERROR", "-cp", cp, "JavaConsumerBench",
               "--bootstrap", bootstrap, "--topic", topic, "--group", group, "--json", "--until-eof",
               "--wait-go"]
        for kv in conf.items():
            cmd += ["--set", "%s=%d" % kv]
        return cmd
    raise Failure("unknown client %s" % client)


class Sampler:
    """Samples, every 50 ms, the CPU seconds of some processes and the machine's
    busy jiffies, with wall-clock times; `over(t1, t2)` interpolates."""

    def __init__(self, pids):
        self.pids = pids
        self.samples = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stop.is_set():
            busy, total = machine_busy()
            self.samples.append((time.time(), busy / CLK_TCK, total / CLK_TCK,
                                 {name: proc_cpu(pid) for name, pid in self.pids.items()}))
            time.sleep(0.05)

    def finish(self):
        self.stop.set()
        self.thread.join()

    def at(self, t, key):
        """Cumulative value of key ("busy", "total" or a pid name) at wall time t."""
        def val(s):
            return {"busy": s[1], "total": s[2]}.get(key, s[3].get(key))
        prev = None
        for s in self.samples:
            if s[0] >= t and val(s) is not None:
                if prev is None or val(prev) is None:
                    return val(s)
                f = (t - prev[0]) / (s[0] - prev[0]) if s[0] > prev[0] else 1.0
                return val(prev) + f * (val(s) - val(prev))
            prev = s
        return val(prev) if prev else None

    def over(self, t1, t2, key):
        a, b = self.at(t1, key), self.at(t2, key)
        return None if a is None or b is None else b - a


def scale_run(broker, client, n, topic, count, i):
    group = "scale-%s-%d-%d-%d" % (client, n, os.getpid(), i)
    tag = "%s-%d-%d" % (client, n, i)
    latest = {}
    lock = threading.Lock()
    done_ev = threading.Event()

    owned = {}

    def on_line(child, _now, obj):
        if "owned" in obj:
            with lock:
                owned[child.name] = obj["owned"]
        if "records" in obj and "done" not in obj:
            with lock:
                latest[child.name] = obj["records"]
                if sum(latest.values()) >= count:
                    done_ev.set()

    started = time.time()
    kids = [Child("scale-%s-p%d" % (tag, k), scale_cmd(client, broker.bootstrap, topic, group), on_line)
            for k in range(n)]
    pids = {"tansu": broker.pid}
    pids.update({k.name: k.pid for k in kids})
    sampler = Sampler(pids)
    try:
        # Every partition handed out (each process paused on what it got), then all
        # start at once: tansu's join holds and its once-a-second SyncGroup
        # re-checks would otherwise start them up to a second apart.
        deadline = time.monotonic() + 60
        stable_since = None
        while True:
            for k in kids:
                if k.proc.poll() is not None:
                    raise Failure("%s exited (%s) before the group formed\n%s" % (
                        k.name, k.proc.returncode, k.stderr_tail()))
            with lock:
                formed = len(owned) == n and all(v > 0 for v in owned.values()) \
                    and sum(owned.values()) == PARTITIONS
            if not formed:
                stable_since = None
            elif stable_since is None:
                stable_since = time.monotonic()
            elif time.monotonic() - stable_since >= 0.3:
                break
            if time.monotonic() > deadline:
                raise Failure("%s: the group did not hand out all %d partitions in 60 s: %s" % (
                    tag, PARTITIONS, owned))
            time.sleep(0.02)
        went = time.time()
        for k in kids:
            k.proc.stdin.write("go\n")
            k.proc.stdin.flush()
        deadline = time.monotonic() + 180
        while not done_ev.wait(0.1):
            for k in kids:
                if k.proc.poll() is not None:
                    raise Failure("%s exited (%s) before the backlog was read\n%s" % (
                        k.name, k.proc.returncode, k.stderr_tail()))
            if time.monotonic() > deadline:
                raise Failure("%s: %s of %d records after 180 s" % (tag, latest, count))
    finally:
        for k in kids:
            k.close()
        sampler.finish()
    summaries = []
    for k in kids:
        if k.proc.returncode != 0:
            raise Failure("%s exited %s\n%s" % (k.name, k.proc.returncode, k.stderr_tail()))
        d = [o for _t, o in k.lines if o.get("done")]
        if not d:
            raise Failure("%s printed no summary\n%s" % (k.name, k.stderr_tail()))
        summaries.append(d[-1])
    total = sum(s["records"] for s in summaries)
    if total < count:
        raise Failure("%s: %d records consumed, not %d" % (tag, total, count))
    firsts = [s["first_us"] / 1e6 for s in summaries if s["records"] > 0 and s["first_us"] >= 0]
    lasts = [s["last_us"] / 1e6 for s in summaries if s["records"] > 0 and s["last_us"] >= 0]
    t1, t2 = min(firsts), max(lasts)
    window = t2 - t1
    consumers_cpu = sum(sampler.over(t1, t2, k.name) or 0.0 for k in kids)
    # While all n consume: from the last process's first record to the first
    # process's last one, each process's count interpolated from its progress lines.
    ta, tb = max(firsts), min(lasts)
    all_rate = None
    if n > 1 and tb - ta >= 0.2:
        got = 0.0
        for k, smry in zip(kids, summaries):
            series = [(smry["first_us"] / 1e6, 0)]
            series += [(o["t_us"] / 1e6, o["records"]) for _t, o in k.lines if "t_us" in o and "done" not in o]
            series.append((smry["last_us"] / 1e6, smry["records"]))
            series.sort()
            got += interpolate(series, tb) - interpolate(series, ta)
        all_rate = got / (tb - ta)
    elif n == 1:
        all_rate = count / window
    return {
        "records": total, "duplicates": total - count, "split": [s["records"] for s in summaries],
        "join_s": went - started, "go_to_first_s": t1 - went,
        "window_s": window, "rate": count / window, "start_to_first_s": t1 - started,
        "first_spread_s": max(firsts) - t1, "all_consuming_s": tb - ta, "all_consuming_rate": all_rate,
        "cpu_s": sum(k.cpu() for k in kids), "cpu_window_s": consumers_cpu,
        "tansu_cpu_window_s": sampler.over(t1, t2, "tansu"),
        "machine_busy_cores": sampler.over(t1, t2, "busy") / window if window > 0 else None,
    }


def interpolate(series, t):
    """The count at time t of a sorted [(time, count)] series."""
    prev = series[0]
    if t <= prev[0]:
        return prev[1]
    for cur in series[1:]:
        if t <= cur[0]:
            f = (t - prev[0]) / (cur[0] - prev[0]) if cur[0] > prev[0] else 1.0
            return prev[1] + f * (cur[1] - prev[1])
        prev = cur
    return prev[1]


def scale_bench(results):
    topic = "scale"
    count = SCALE_RECORDS - SCALE_RECORDS % PARTITIONS
    broker = Broker("tansu", [(topic, PARTITIONS)])
    try:
        t = time.monotonic()
        produce_backlog(broker.bootstrap, topic, count)
        log("scale-out backlog: %d records in %.1f s" % (count, time.monotonic() - t))
        results["scale_records"] = count
        for i in range(RUNS):
            for n in SCALE_SIZES:
                for client in CLIENTS:
                    r = scale_run(broker, client, n, topic, count, i)
                    log("scale-out %s x%d #%d: %.0f records/s over %.2f s (split %s), consumers %.2f CPU s, "
                        "tansu %.2f CPU s, machine %.2f cores busy" % (
                            client, n, i, r["rate"], r["window_s"], r["split"], r["cpu_window_s"],
                            r["tansu_cpu_window_s"] or 0, r["machine_busy_cores"] or 0))
                    results.setdefault("scaleout", {}).setdefault("%s|%d" % (client, n), []).append(r)
    finally:
        broker.stop()


# ---- report -------------------------------------------------------------------------

def median_by(runs, key):
    return sorted(runs, key=lambda r: r[key])[len(runs) // 2]


def med(runs, key):
    vals = [r[key] for r in runs if r.get(key) is not None]
    return statistics.median(vals) if vals else None


CLIENT_LABEL = {"kasio": "kasio", "librdkafka": "librdkafka", "java": "Java"}


def report(results, load_start, load_end, elapsed):
    lines = [BEGIN, "## Consumer groups: rebalance time and scale-out (kasio vs librdkafka vs Java)", ""]
    lines.append(
        "Measured by `scripts/bench-group.sh` (`scripts/bench/group.py`) on %s, %s (%d cores), in one run of "
        "%.0f s: load average (1 min) %.2f at the start, %.2f at the end (other work shares the machine). "
        "Clients: kasio-std, librdkafka %s, Java kafka-clients 4.3.0 (JDK %s). Every member uses "
        "`session.timeout.ms=%d`, `heartbeat.interval.ms=%d`. Medians of %d runs (%d on kasio-sim); the raw "
        "runs are in `target/bench/group-results.json` after a run."
        % (time.strftime("%Y-%m-%d"), platform.machine(), os.cpu_count(), elapsed, load_start[0], load_end[0],
           librdkafka_version(), java_version(), SESSION_MS, HEARTBEAT_MS, RUNS, SIM_RUNS))
    if "rebalance" in results:
        lines += ["", "### Rebalance time", "",
                  "A group of one member consumes a %d-partition topic while a producer keeps %d records/s "
                  "(100 B) flowing into it (a new topic and producer for every run); a second member of the same client joins at T0 (when it has "
                  "subscribed: its first output line, so the JVM's start-up is not counted). **Fetched again**: "
                  "from T0 until every partition has had a record handed to the member that owns it in the new "
                  "balanced assignment (6 + 6), after T0 and after that member was given it. **Assigned**: T0 "
                  "until the new assignment is in both members' hands. **Gap**: the first member's longest time "
                  "without a record from its last record before T0 until then (%d records/s over %d partitions "
                  "arrive every few ms; the next column shows the gaps the clients' normal fetch and poll rhythm "
                  "leaves). **Rebalance rounds**: the generations handed out after T0; **duplicates**: records "
                  "handed out twice, summed over the runs (no record may be missing: checked). B "
                  "joins 1 s after A consumes from every partition plus a random part of the heartbeat interval, "
                  "so when A hears of the rebalance is drawn alike for all clients. "
                  "The members are the group peers of `scripts/rig/` and kasio's `kasio_group_peer` "
                  "(auto-commit, `auto.offset.reset=latest`), which print a JSON line per record; times are "
                  "when the benchmark reads them."
                  % (PARTITIONS, RATE, RATE, PARTITIONS), ""]
        lines += ["| broker | client | assignor | fetched again s | assigned s | first member's gap s | "
                  "its longest gap in the second before T0 | rebalance rounds | duplicates |",
                  "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for kind in BROKERS:
            for client in CLIENTS:
                for assignor in ASSIGNORS:
                    runs = results["rebalance"].get("%s|%s|%s" % (kind, client, assignor))
                    if not runs:
                        continue
                    rounds = statistics.median(len(r["generations"]) for r in runs)
                    lines.append("| %s | %s | %s | %.2f | %.2f | %.2f | %.2f | %g | %d |" % (
                        kind, CLIENT_LABEL[client], assignor, med(runs, "rebalance_s"), med(runs, "assigned_s"),
                        med(runs, "gap_s"), med(runs, "steady_gap_s"), rounds, sum(r["duplicates"] for r in runs)))
        if results.get("retries"):
            lines += ["", "Runs taken again because the first member did not start consuming every partition "
                      "within 40 s (see the run's log): %s." % "; ".join(results["retries"])]
        lines += ["", "Fetched-again times of every run, in run order:", ""]
        for key, runs in results["rebalance"].items():
            lines.append("- %s: %s" % (key.replace("|", " "), ", ".join("%.2f" % r["rebalance_s"] for r in runs)))
    if "scaleout" in results:
        count = results["scale_records"]
        lines += ["", "### Scale-out", "",
                  "1, 2 and 4 processes of one client in one new group over %d partitions holding %d records "
                  "of 100 B (%d each), read from the beginning on tansu: kasio `consume --group`, librdkafka "
                  "`ref_consumer ... group:ID`, Java `JavaConsumerBench --group` (the e2e consumers, CRC checks "
                  "on, every value byte touched; each client's default assignor list picks `range`, so each "
                  "process gets 12/n partitions). The processes start together and pause what they are "
                  "assigned (`--wait-go`); once the group has handed out all 12 partitions the script tells "
                  "them all to go at once: without that, tansu's once-a-second re-check of a held SyncGroup "
                  "started the followers about 1 s after the leader, which at these rates had read its share "
                  "alone before the others began. **records/s**: all records over the window from the first "
                  "record any process was handed to the last one. **start spread**: from the first process's "
                  "first record to the last process's first record. **records/s while all consume**: over "
                  "the time all n processes were consuming (the last first record to the first last record), "
                  "each process's count interpolated from its progress lines (every 100 ms). CPU is sampled "
                  "from /proc every 50 ms and taken over the window: the consumers' CPU seconds, tansu's, the "
                  "cores those two kept busy together (CPU s / window s), and the machine's busy cores (of %d, "
                  "including other users' load). **join**: from starting the processes until all partitions "
                  "were handed out (tansu holds each JoinGroup for half the session timeout). Every process "
                  "read exactly its share in every run (checked: %s)."
                  % (PARTITIONS, count, count // PARTITIONS, os.cpu_count(), uneven(results)), "",
                  "| client | processes | records/s | window s | start spread s | records/s while all consume "
                  "| consumers CPU s | tansu CPU s | their cores | machine busy cores | join s |",
                  "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for client in CLIENTS:
            for n in SCALE_SIZES:
                runs = results["scaleout"].get("%s|%d" % (client, n))
                if not runs:
                    continue
                m = median_by(runs, "rate")
                tansu = m["tansu_cpu_window_s"] or 0
                all_rate = med(runs, "all_consuming_rate")
                lines.append("| %s | %d | %.0f | %.2f | %.2f | %s | %.2f | %.2f | %.2f | %.2f | %.2f |" % (
                    CLIENT_LABEL[client], n, m["rate"], m["window_s"], m["first_spread_s"],
                    "%.0f" % all_rate if all_rate else "-", m["cpu_window_s"], tansu,
                    (m["cpu_window_s"] + tansu) / m["window_s"], m["machine_busy_cores"] or 0,
                    m["join_s"]))
    lines.append(END)
    return "\n".join(lines)


def uneven(results):
    """'no rebalance during a run', or the runs whose processes read unequal shares
    (a member that joined a generation late)."""
    bad = ["%s x%s run %d: %s" % (key.split("|")[0], key.split("|")[1], i, r["split"])
           for key, runs in results["scaleout"].items() for i, r in enumerate(runs)
           if len(set(r["split"])) > 1]
    return "no rebalance during a run" if not bad else "NOT in " + "; ".join(bad)


def write_section(block):
    path = os.path.join(ROOT, "BENCHMARKS.md")
    text = open(path).read() if os.path.exists(path) else "# Benchmarks\n"
    if BEGIN in text and END in text:
        text = text[:text.index(BEGIN)] + block + text[text.index(END) + len(END):]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    open(path, "w").write(text)


def librdkafka_version():
    out = subprocess.run([PY, "-c", "import confluent_kafka;print(confluent_kafka.libversion()[0])"],
                         capture_output=True, text=True)
    return out.stdout.strip()


def java_version():
    out = subprocess.run(["java", "-version"], capture_output=True, text=True)
    line = (out.stderr or out.stdout).splitlines()[0]
    return line.split('"')[1] if '"' in line else line


def main():
    os.makedirs(LOGS, exist_ok=True)
    results = {}
    load_start = os.getloadavg()
    started = time.monotonic()
    log("load average %.2f %.2f %.2f" % load_start)
    try:
        if "rebalance" in PARTS:
            rebalance_bench(results)
        if "scaleout" in PARTS:
            scale_bench(results)
    except Failure as e:
        with open(os.path.join(BENCH, "group-results.json"), "w") as f:
            json.dump(results, f, indent=1)
        sys.exit("bench-group: FAILED: %s" % e)
    load_end = os.getloadavg()
    log("load average %.2f %.2f %.2f" % load_end)
    results["load"] = {"start": load_start, "end": load_end}
    with open(os.path.join(BENCH, "group-results.json"), "w") as f:
        json.dump(results, f, indent=1)
    block = report(results, load_start, load_end, time.monotonic() - started)
    write_section(block)
    print(block)


if __name__ == "__main__":
    main()
