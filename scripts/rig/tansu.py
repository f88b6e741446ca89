#!/usr/bin/env python3
"""Start a tansu broker (memory storage) on a free loopback port for tests.

    python3 scripts/rig/tansu.py [--topic NAME:PARTITIONS]... [--port P]
        [--advertise HOST:PORT] [--bin PATH] [--until-signal]

Needs only the Python standard library (readiness is probed with a raw
ApiVersions v0 request).  The broker binary defaults to .rig/bin/tansu
(installed by scripts/setup-rig.sh); override with --bin or $RIG_TANSU_BIN.

First stdout line (JSON), printed once the broker answers and the topics exist:
    {"bootstrap": "127.0.0.1:PORT", "advertised": "127.0.0.1:PORT",
     "pid": <broker pid>, "tansu": "tansu 0.6.0"}

Then, like mock_cluster.py, one JSON command per stdin line, one JSON answer
line each: {"cmd": "ping"}, {"cmd": "create_topic", "topic": T,
"partitions": N}, {"cmd": "quit"}.  The broker is killed on quit, stdin EOF,
SIGTERM or SIGINT (and, via PR_SET_PDEATHSIG, if this script is SIGKILLed).
With --until-signal stdin is ignored and only a signal stops it.
Broker output goes to this script's stderr (or --log FILE).
"""

import argparse
import ctypes
import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PR_SET_PDEATHSIG = 1


def out(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def log(msg):
    sys.stderr.write("tansu.py: %s\n" % msg)
    sys.stderr.flush()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def api_versions_probe(host, port, timeout=1.0):
    """Send ApiVersions v0 and read one response frame; True if it answers."""
    client_id = b"kasio-rig-probe"
    body = struct.pack(">hhih", 18, 0, 1, len(client_id)) + client_id
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(struct.pack(">i", len(body)) + body)
        hdr = b""
        while len(hdr) < 4:
            chunk = s.recv(4 - len(hdr))
            if not chunk:
                return False
            hdr += chunk
        size = struct.unpack(">i", hdr)[0]
        got = 0
        while got < size:
            chunk = s.recv(min(65536, size - got))
            if not chunk:
                return False
            got += len(chunk)
        return size >= 6


def preexec():
    os.setsid()  # own process group: a Ctrl-C in the terminal is handled by us
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except Exception:
        pass


class Tansu:
    def __init__(self, binary, port, advertise, cluster_id, logf):
        self.binary = binary
        self.port = port
        self.advertised = advertise or "127.0.0.1:%d" % port
        env = dict(os.environ)
        env.setdefault("RUST_LOG", "warn")
        cmd = [binary, "broker",
               "--storage-engine", "memory://tansu/",
               "--listener-url", "tcp://127.0.0.1:%d" % port,
               "--advertised-listener-url", "tcp://%s" % self.advertised,
               "--cluster-id", cluster_id]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
                                     env=env, preexec_fn=preexec)

    def wait_ready(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                if api_versions_probe("127.0.0.1", self.port):
                    return True
            except OSError:
                pass
            time.sleep(0.05)
        return False

    def create_topic(self, name, partitions):
        r = subprocess.run([self.binary, "topic", "create",
                            "--broker", "tcp://127.0.0.1:%d" % self.port,
                            "--partitions", str(partitions), name],
                           stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30,
                           env=dict(os.environ, NO_COLOR="1"))
        if r.returncode != 0:
            msg = re.sub(r"\x1b\[[0-9;]*m", "", (r.stderr or r.stdout)).strip()
            raise RuntimeError("tansu topic create %s failed (rc %d): %s" % (
                name, r.returncode, msg))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def parse_topic(s):
    parts = s.split(":")
    if not 1 <= len(parts) <= 2 or not parts[0]:
        raise argparse.ArgumentTypeError("expected NAME[:PARTITIONS], got %r" % s)
    return parts[0], int(parts[1]) if len(parts) > 1 else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--topic", type=parse_topic, action="append", default=[],
                    metavar="NAME:PARTITIONS")
    ap.add_argument("--port", type=int, default=0, help="listen port (default: a free one)")
    ap.add_argument("--advertise", metavar="HOST:PORT",
                    help="address put in Metadata/FindCoordinator responses "
                    "(default: the listen address; point it at a capture proxy)")
    ap.add_argument("--bin", default=os.environ.get("RIG_TANSU_BIN",
                                                    os.path.join(ROOT, ".rig", "bin", "tansu")))
    ap.add_argument("--cluster-id", default="kasio-rig")
    ap.add_argument("--log", help="file for the broker's output (default: stderr)")
    ap.add_argument("--ready-timeout", type=float, default=20.0)
    ap.add_argument("--until-signal", action="store_true",
                    help="ignore stdin; run until SIGTERM/SIGINT")
    args = ap.parse_args()

    if not (os.path.isfile(args.bin) and os.access(args.bin, os.X_OK)):
        log("no tansu binary at %s (run scripts/setup-rig.sh)" % args.bin)
        return 2
    try:
        version = subprocess.run([args.bin, "--version"], capture_output=True, text=True,
                                 timeout=10).stdout.strip().splitlines()[0]
    except Exception:
        version = "unknown"

    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)

    logf = open(args.log, "ab") if args.log else sys.stderr
    broker = None
    try:
        for attempt in range(3):  # a free port can be taken between probe and bind
            port = args.port or free_port()
            broker = Tansu(args.bin, port, args.advertise, args.cluster_id, logf)
            if broker.wait_ready(args.ready_timeout):
                break
            broker.stop()
            log("broker on port %d did not become ready (exit %s)" % (port, broker.proc.returncode))
            broker = None
            if args.port or stop.is_set():
                break
        if broker is None:
            return 1
        for name, parts in args.topic:
            broker.create_topic(name, parts)
        out({"bootstrap": "127.0.0.1:%d" % broker.port, "advertised": broker.advertised,
             "pid": broker.proc.pid, "tansu": version})

        lines = []
        cond = threading.Condition()

        def reader():
            for line in sys.stdin:
                with cond:
                    lines.append(line)
                    cond.notify()
            with cond:
                lines.append(None)  # EOF
                cond.notify()

        if not args.until_signal:
            threading.Thread(target=reader, daemon=True).start()
        while not stop.is_set():
            if broker.proc.poll() is not None:
                log("broker exited unexpectedly with %s" % broker.proc.returncode)
                return 1
            with cond:
                cond.wait(0.2)
                pending, lines[:] = list(lines), []
            for line in pending:
                if line is None:
                    stop.set()
                    break
                line = line.strip()
                if not line:
                    continue
                cid = None
                try:
                    cmd = json.loads(line)
                    cid = cmd.get("id")
                    op = cmd.get("cmd")
                    if op == "quit":
                        out({"ok": True, "id": cid, "cmd": op})
                        stop.set()
                        break
                    elif op == "ping":
                        out({"ok": True, "id": cid, "cmd": op,
                             "bootstrap": "127.0.0.1:%d" % broker.port})
                    elif op == "create_topic":
                        broker.create_topic(cmd["topic"], int(cmd.get("partitions", 1)))
                        out({"ok": True, "id": cid, "cmd": op})
                    else:
                        out({"ok": False, "id": cid, "error": "unknown cmd %r" % op})
                except Exception as e:  # answer every line, keep running
                    out({"ok": False, "id": cid, "error": str(e)})
        return 0
    except Exception as e:
        log(str(e))
        return 1
    finally:
        if broker is not None:
            broker.stop()


if __name__ == "__main__":
    sys.exit(main())
