#!/usr/bin/env python3
"""Start a tansu broker on a free loopback port for tests, optionally with SCRAM
authentication and a TLS terminator (stunnel) in front.

    python3 scripts/rig/tansu.py [--topic NAME:PARTITIONS]... [--port P]
        [--advertise HOST:PORT] [--bin PATH] [--until-signal]
        [--scram-user NAME:PASSWORD[:MECHANISM]]... [--authentication]
        [--storage URL] [--tls-cert PEM --tls-key PEM]

Needs only the Python standard library (readiness is probed with a raw
ApiVersions v0 request, and with SCRAM and TLS on, with a SCRAM login and a TLS
handshake). The broker binary defaults to .rig/bin/tansu (installed by
scripts/setup-rig.sh); override with --bin or $RIG_TANSU_BIN.

Security (see scripts/rig/README.md, "tansu with SASL (SCRAM) and TLS (stunnel)"):
  --scram-user NAME:PASSWORD[:MECH]  create a SCRAM user (MECH SCRAM-SHA-256,
      the default, or SCRAM-SHA-512; repeatable) and start the broker with
      --authentication. The prebuilt tansu (memory storage, dynostore) keeps no
      SCRAM credentials at all, so users need SQL storage: the default storage then
      is sqlite://tansu.db (tansu runs in a temp dir; it opens sqlite paths
      relative to its working directory) and the binary .rig/bin/tansu-sql (tansu
      built with cargo and the libsql feature; $RIG_TANSU_SQL_BIN). tansu refuses
      every API but ApiVersions/SaslHandshake/SaslAuthenticate before a login,
      its own `user create` included, so users and --topic topics are created
      with authentication off, then the broker is restarted with it on (the same
      database). Ready once a SCRAM login as the first user succeeds and the
      server's signature checks.
  --authentication  --authentication without users (every login fails).
  --tls-cert PEM --tls-key PEM  stunnel4 terminates TLS on another free port and
      forwards to tansu; tansu advertises the stunnel port, so Metadata sends
      clients there. Ready once a TLS handshake and an ApiVersions through it work.

First stdout line (JSON), printed once everything answers and the topics exist:
    {"bootstrap": "127.0.0.1:PORT", "advertised": "127.0.0.1:PORT",
     "broker": "127.0.0.1:PORT", "security_protocol": "PLAINTEXT",
     "listeners": [{"name": "tansu", "address": "127.0.0.1:PORT",
                    "protocol": "PLAINTEXT", "advertised": true}],
     "sasl_mechanisms": [], "users": [], "storage": "memory://tansu/",
     "pid": <broker pid>, "tansu": "tansu 0.6.0"}
"bootstrap" is where clients should start: the stunnel port with TLS on (tansu's
own port is "broker", plaintext, not advertised then). "security_protocol" is
what a client sets for "bootstrap" (PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL).
With TLS on, "stunnel" holds its version and "tls_fronts" the stunnel listeners.

Then, like mock_cluster.py, one JSON command per stdin line, one JSON answer
line each: {"cmd": "ping"}, {"cmd": "create_topic", "topic": T,
"partitions": N}, {"cmd": "add_tls_front", "cert": PEM, "key": PEM} (one more
stunnel with another certificate in front of the same broker, not advertised;
answers {"address": "127.0.0.1:PORT", "front": N}), {"cmd": "tls_accepted",
"front": N} (connections that stunnel front N accepted so far, from its log;
front 0 is the --tls-cert one), {"cmd": "quit"}. The broker and every stunnel are
killed on quit, stdin EOF, SIGTERM or SIGINT (and, via PR_SET_PDEATHSIG, if this
script is SIGKILLed); the temp dir is removed. With --until-signal stdin is
ignored and only a signal stops it. Broker output goes to this script's stderr
(or --log FILE); stunnel's to a log in the temp dir, quoted here if it fails.
"""

import argparse
import base64
import ctypes
import hashlib
import hmac
import json
import os
import re
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
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


# ---- a little of the Kafka protocol, for probes and the admin connection ----

def _str16(s):
    b = s.encode()
    return struct.pack(">h", len(b)) + b


class KafkaConn:
    """A raw Kafka connection (non-flexible request headers, v1)."""

    def __init__(self, host, port, timeout=5.0, tls=False):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        if tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE  # a liveness probe: any certificate
            self.sock = ctx.wrap_socket(self.sock)
        self.correlation = 0

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def _read(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise EOFError("the broker closed the connection")
            buf += chunk
        return buf

    def request(self, api_key, version, body):
        """Sends one request, returns the response body (after the correlation id)."""
        self.correlation += 1
        msg = struct.pack(">hhi", api_key, version, self.correlation) + _str16("kasio-rig") + body
        self.sock.sendall(struct.pack(">i", len(msg)) + msg)
        size = struct.unpack(">i", self._read(4))[0]
        resp = self._read(size)
        if struct.unpack(">i", resp[:4])[0] != self.correlation:
            raise RuntimeError("correlation id mismatch")
        return resp[4:]

    def api_versions(self):
        r = self.request(18, 0, b"")
        return struct.unpack(">h", r[:2])[0]

    def sasl_authenticate(self, data):
        """SaslAuthenticate v1: (error_code, error_message, auth_bytes)."""
        r = self.request(36, 1, struct.pack(">i", len(data)) + data)
        code, i = struct.unpack(">h", r[:2])[0], 2
        n = struct.unpack(">h", r[i:i + 2])[0]
        i += 2
        message = None
        if n >= 0:
            message, i = r[i:i + n].decode("utf-8", "replace"), i + n
        n = struct.unpack(">i", r[i:i + 4])[0]
        return code, message, r[i + 4:i + 4 + max(n, 0)]

    def scram_login(self, user, password, mechanism):
        """SaslHandshake v1 + a SCRAM exchange (RFC 5802) as `user`; raises unless the
        broker accepts the proof and its own signature checks."""
        h = {"SCRAM-SHA-256": "sha256", "SCRAM-SHA-512": "sha512"}[mechanism]
        r = self.request(17, 1, _str16(mechanism))
        code = struct.unpack(">h", r[:2])[0]
        if code != 0:
            raise RuntimeError("SaslHandshake %s: error %d" % (mechanism, code))
        nonce = base64.b64encode(os.urandom(18)).decode()
        bare = "n=%s,r=%s" % (user.replace("=", "=3D").replace(",", "=2C"), nonce)
        code, msg, first = self.sasl_authenticate(("n,," + bare).encode())
        if code != 0:
            raise RuntimeError("SCRAM client-first: error %d %s" % (code, msg))
        first = first.decode()
        attrs = dict(kv.split("=", 1) for kv in first.split(","))
        if "e" in attrs or not attrs.get("r", "").startswith(nonce):
            raise RuntimeError("SCRAM server-first: %r" % first)
        salted = hashlib.pbkdf2_hmac(h, password.encode(), base64.b64decode(attrs["s"]),
                                     int(attrs["i"]))
        client_key = hmac.new(salted, b"Client Key", h).digest()
        without_proof = "c=biws,r=" + attrs["r"]
        auth_message = ",".join([bare, first, without_proof]).encode()
        signature = hmac.new(hashlib.new(h, client_key).digest(), auth_message, h).digest()
        proof = bytes(a ^ b for a, b in zip(client_key, signature))
        code, msg, final = self.sasl_authenticate(
            (without_proof + ",p=" + base64.b64encode(proof).decode()).encode())
        server_key = hmac.new(salted, b"Server Key", h).digest()
        want = "v=" + base64.b64encode(hmac.new(server_key, auth_message, h).digest()).decode()
        if code != 0 or final.decode() != want:
            raise RuntimeError("SCRAM login as %s refused: error %d %s, server-final %r" % (
                user, code, msg, final.decode("utf-8", "replace")))

    def create_topic(self, name, partitions):
        """CreateTopics v0; raises on an error code."""
        body = (struct.pack(">i", 1) + _str16(name) + struct.pack(">ih", partitions, 1)
                + struct.pack(">ii", 0, 0) + struct.pack(">i", 10000))
        r = self.request(19, 0, body)
        i = 4 + 2 + struct.unpack(">h", r[4:6])[0]
        code = struct.unpack(">h", r[i:i + 2])[0]
        if code != 0:
            raise RuntimeError("CreateTopics %s: error code %d" % (name, code))


def api_versions_probe(host, port, timeout=1.0, tls=False):
    """Send ApiVersions v0 and read one response frame; True if it answers."""
    conn = KafkaConn(host, port, timeout, tls)
    try:
        conn.api_versions()
        return True
    except (EOFError, RuntimeError, struct.error):
        return False
    finally:
        conn.close()


def preexec():
    os.setsid()  # own process group: a Ctrl-C in the terminal is handled by us
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except Exception:
        pass


def stop_process(proc):
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def strip_ansi(text):
    return re.sub(r"\x1b\[[0-9;]*m", "", text or "").strip()


class Tansu:
    def __init__(self, binary, port, advertise, cluster_id, logf, storage, authentication, cwd):
        self.binary = binary
        self.port = port
        self.advertised = advertise or "127.0.0.1:%d" % port
        env = dict(os.environ)
        env.setdefault("RUST_LOG", "warn")
        cmd = [binary, "broker",
               "--storage-engine", storage,
               "--listener-url", "tcp://127.0.0.1:%d" % port,
               "--advertised-listener-url", "tcp://%s" % self.advertised,
               "--cluster-id", cluster_id]
        if authentication:
            cmd.append("--authentication")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
                                     env=env, preexec_fn=preexec, cwd=cwd)

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

    def cli(self, args, what):
        r = subprocess.run([self.binary] + args, stdin=subprocess.DEVNULL, capture_output=True,
                           text=True, timeout=30, env=dict(os.environ, NO_COLOR="1"))
        if r.returncode != 0:
            raise RuntimeError("tansu %s failed (rc %d): %s" % (
                what, r.returncode, strip_ansi(r.stderr or r.stdout)))

    def create_topic(self, name, partitions):
        self.cli(["topic", "create", "--broker", "tcp://127.0.0.1:%d" % self.port,
                  "--partitions", str(partitions), name], "topic create %s" % name)

    def create_user(self, name, password, mechanism):
        self.cli(["user", "create", "--broker", "tcp://127.0.0.1:%d" % self.port,
                  "--mechanism", {"SCRAM-SHA-256": "scram256", "SCRAM-SHA-512": "scram512"}[mechanism],
                  name, password], "user create %s" % name)

    def stop(self):
        stop_process(self.proc)


class Stunnel:
    """stunnel4 terminating TLS on a free port, forwarding to 127.0.0.1:backend."""

    def __init__(self, binary, workdir, index, backend, cert, key, logf, timeout, port=None):
        self.index = index
        self.log_path = os.path.join(workdir, "stunnel-%d.log" % index)
        self.proc = None
        for attempt in range(1 if port else 3):  # a free port can be taken meanwhile
            self.port = port or free_port()
            conf = os.path.join(workdir, "stunnel-%d.conf" % index)
            with open(conf, "w") as f:
                f.write("foreground = yes\npid =\nsyslog = no\ndebug = notice\n"
                        "output = %s\n\n[kafka]\naccept = 127.0.0.1:%d\nconnect = 127.0.0.1:%d\n"
                        "cert = %s\nkey = %s\n" % (self.log_path, self.port, backend, cert, key))
            # Its log goes to the file (`output`), read by accepted() and on errors.
            self.proc = subprocess.Popen([binary, conf], stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                         preexec_fn=preexec)
            if self.wait_ready(timeout):
                # The readiness probes are not clients: count from here.
                self.baseline = self.accepted_total()
                return
            stop_process(self.proc)
            log("stunnel on port %d did not become ready (exit %s); log: %s" % (
                self.port, self.proc.returncode, self.log_tail()))
        raise RuntimeError("stunnel did not start (see its log above)")

    def wait_ready(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                if api_versions_probe("127.0.0.1", self.port, tls=True):
                    return True
            except (OSError, ssl.SSLError):
                pass
            time.sleep(0.05)
        return False

    def log_tail(self):
        try:
            return open(self.log_path, errors="replace").read()[-2000:]
        except OSError:
            return ""

    def accepted(self):
        """Client connections accepted since it became ready."""
        return self.accepted_total() - self.baseline

    def accepted_total(self):
        """Connections accepted (stunnel logs one line per accept at notice)."""
        try:
            with open(self.log_path, errors="replace") as f:
                return sum(1 for line in f if "accepted connection from" in line)
        except OSError:
            return 0

    def stop(self):
        stop_process(self.proc)


def parse_topic(s):
    parts = s.split(":")
    if not 1 <= len(parts) <= 2 or not parts[0]:
        raise argparse.ArgumentTypeError("expected NAME[:PARTITIONS], got %r" % s)
    return parts[0], int(parts[1]) if len(parts) > 1 else 1


MECHANISMS = {"SCRAM-SHA-256": "SCRAM-SHA-256", "SCRAM-SHA-512": "SCRAM-SHA-512",
              "256": "SCRAM-SHA-256", "512": "SCRAM-SHA-512"}


def parse_user(s):
    parts = s.split(":")
    if len(parts) not in (2, 3) or not parts[0] or not parts[1]:
        raise argparse.ArgumentTypeError("expected NAME:PASSWORD[:MECHANISM], got %r" % s)
    mech = MECHANISMS.get(parts[2].upper() if len(parts) == 3 else "SCRAM-SHA-256")
    if mech is None:
        raise argparse.ArgumentTypeError("mechanism must be SCRAM-SHA-256 or SCRAM-SHA-512: %r" % s)
    return parts[0], parts[1], mech


def executable(path):
    return bool(path) and os.path.isfile(path) and os.access(path, os.X_OK)


def version_of(cmd, pattern=None):
    """The first line of `cmd`'s output (matching `pattern`, if given)."""
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
        lines = (r.stdout + r.stderr).strip().splitlines()
        return next(line.strip() for line in lines if not pattern or re.match(pattern, line))
    except Exception:
        return "unknown"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--topic", type=parse_topic, action="append", default=[],
                    metavar="NAME:PARTITIONS")
    ap.add_argument("--port", type=int, default=0, help="listen port (default: a free one)")
    ap.add_argument("--advertise", metavar="HOST:PORT",
                    help="address put in Metadata/FindCoordinator responses "
                    "(default: the listen address, or the stunnel port with TLS; "
                    "point it at a capture proxy)")
    ap.add_argument("--bin", help="tansu binary (default: $RIG_TANSU_BIN or .rig/bin/tansu; "
                    "with SCRAM users $RIG_TANSU_SQL_BIN or .rig/bin/tansu-sql)")
    ap.add_argument("--cluster-id", default="kasio-rig")
    ap.add_argument("--log", help="file for the broker's output (default: stderr)")
    ap.add_argument("--ready-timeout", type=float, default=20.0)
    ap.add_argument("--until-signal", action="store_true",
                    help="ignore stdin; run until SIGTERM/SIGINT")
    ap.add_argument("--scram-user", type=parse_user, action="append", default=[],
                    metavar="NAME:PASSWORD[:MECHANISM]",
                    help="create this SCRAM user and require authentication")
    ap.add_argument("--authentication", action="store_true",
                    help="start tansu with --authentication (implied by --scram-user)")
    ap.add_argument("--storage", help="tansu --storage-engine (default: memory://tansu/; "
                    "with SCRAM users sqlite://tansu.db; tansu runs in a temp dir, and opens "
                    "sqlite paths relative to it)")
    ap.add_argument("--tls-cert", metavar="PEM", help="server certificate (chain) for stunnel")
    ap.add_argument("--tls-key", metavar="PEM", help="its private key")
    ap.add_argument("--stunnel", default=os.environ.get("RIG_STUNNEL_BIN") or
                    shutil.which("stunnel4") or shutil.which("stunnel") or "stunnel4")
    args = ap.parse_args()

    auth = args.authentication or bool(args.scram_user)
    tls = bool(args.tls_cert or args.tls_key)
    if tls and not (args.tls_cert and args.tls_key):
        log("--tls-cert and --tls-key go together")
        return 2
    if args.bin:
        binary = args.bin
    elif args.scram_user:
        binary = os.environ.get("RIG_TANSU_SQL_BIN") or os.path.join(ROOT, ".rig", "bin", "tansu-sql")
    else:
        binary = os.environ.get("RIG_TANSU_BIN") or os.path.join(ROOT, ".rig", "bin", "tansu")
    if not executable(binary):
        what = "tansu with SQL storage (cargo, libsql feature)" if args.scram_user else "tansu"
        log("no %s binary at %s (run scripts/setup-rig.sh)" % (what, binary))
        return 2
    if tls and not executable(shutil.which(args.stunnel) or args.stunnel):
        log("no stunnel at %r (run scripts/setup-rig.sh, or apt-get install stunnel4)" % args.stunnel)
        return 2
    version = version_of([binary, "--version"])

    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)

    logf = open(args.log, "ab") if args.log else sys.stderr
    workdir = tempfile.mkdtemp(prefix="kasio-tansu-")
    # tansu opens sqlite://NAME relative to its working directory: the temp dir.
    storage = args.storage or ("sqlite://tansu.db" if args.scram_user else "memory://tansu/")
    if args.scram_user and not storage.startswith(("sqlite:", "postgres:", "postgresql:")):
        log("WARNING: %s keeps no SCRAM credentials in tansu 0.6 (dynostore's "
            "user_scram_credential always answers none): every login will fail" % storage)
    broker = None
    fronts = []
    try:
        def start_broker(advertise, authentication):
            for attempt in range(3):  # a free port can be taken between probe and bind
                port = args.port or free_port()
                b = Tansu(binary, port, advertise, args.cluster_id, logf, storage, authentication,
                          workdir)
                if b.wait_ready(args.ready_timeout):
                    return b
                b.stop()
                log("broker on port %d did not become ready (exit %s)" % (port, b.proc.returncode))
                if args.port or stop.is_set():
                    break
            return None

        admin_user = args.scram_user[0] if args.scram_user else None

        def admin():
            """A connection that may create topics: logged in when auth is on."""
            conn = KafkaConn("127.0.0.1", broker.port, timeout=10)
            if admin_user:
                conn.scram_login(*admin_user)
            return conn

        def create_topic(name, partitions):
            if not auth:
                broker.create_topic(name, partitions)
                return
            if admin_user is None:
                raise RuntimeError("no SCRAM user to create topics with (tansu refuses "
                                   "CreateTopics before a login)")
            conn = admin()
            try:
                conn.create_topic(name, partitions)
            finally:
                conn.close()

        if args.scram_user:
            # tansu refuses every API but ApiVersions and SASL before a login, its own
            # `user create` included: users (and the topics) are made with
            # authentication off, then the broker restarts with it on, same database.
            setup = start_broker(None, False)
            if setup is None:
                return 1
            try:
                for name, password, mech in args.scram_user:
                    setup.create_user(name, password, mech)
                for name, parts in args.topic:
                    setup.create_topic(name, parts)
            finally:
                setup.stop()

        tls_port = free_port() if tls else None
        advertise = args.advertise or ("127.0.0.1:%d" % tls_port if tls else None)
        # The stunnel port is chosen first so that tansu can advertise it; stunnel
        # takes it once tansu is up (retrying on another port would break the
        # advertised address, so a lost race is an error here).
        broker = start_broker(advertise, auth)
        if broker is None:
            return 1
        if admin_user:
            conn = admin()  # the credentials survived the restart, the login works
            conn.close()
        if not args.scram_user:
            for name, parts in args.topic:
                create_topic(name, parts)

        if tls:
            fronts.append(Stunnel(args.stunnel, workdir, 0, broker.port,
                                  os.path.abspath(args.tls_cert), os.path.abspath(args.tls_key),
                                  logf, args.ready_timeout, port=tls_port))

        plain = "SASL_PLAINTEXT" if auth else "PLAINTEXT"
        secure = "SASL_SSL" if auth else "SSL"
        listeners = [{"name": "tansu", "address": "127.0.0.1:%d" % broker.port,
                      "protocol": plain, "advertised": not tls and not args.advertise}]
        if tls:
            listeners.append({"name": "stunnel", "address": "127.0.0.1:%d" % tls_port,
                              "protocol": secure, "advertised": not args.advertise})
        info = {"bootstrap": "127.0.0.1:%d" % (tls_port if tls else broker.port),
                "advertised": broker.advertised,
                "broker": "127.0.0.1:%d" % broker.port,
                "security_protocol": secure if tls else plain,
                "listeners": listeners,
                "sasl_mechanisms": sorted({m for _, _, m in args.scram_user}),
                "users": [u for u, _, _ in args.scram_user],
                "storage": storage,
                "pid": broker.proc.pid, "tansu": version}
        if tls:
            info["stunnel"] = version_of([args.stunnel, "-version"], r"stunnel \d")
            info["tls_fronts"] = ["127.0.0.1:%d" % tls_port]
        out(info)

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
            for front in fronts:
                if front.proc.poll() is not None:
                    log("stunnel %d exited unexpectedly with %s: %s" % (
                        front.index, front.proc.returncode, front.log_tail()))
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
                        out({"ok": True, "id": cid, "cmd": op, "bootstrap": info["bootstrap"]})
                    elif op == "create_topic":
                        create_topic(cmd["topic"], int(cmd.get("partitions", 1)))
                        out({"ok": True, "id": cid, "cmd": op})
                    elif op == "add_tls_front":
                        front = Stunnel(args.stunnel, workdir, len(fronts), broker.port,
                                        os.path.abspath(cmd["cert"]), os.path.abspath(cmd["key"]),
                                        logf, args.ready_timeout)
                        fronts.append(front)
                        out({"ok": True, "id": cid, "cmd": op, "front": front.index,
                             "address": "127.0.0.1:%d" % front.port})
                    elif op == "tls_accepted":
                        n = int(cmd.get("front", 0))
                        if not 0 <= n < len(fronts):
                            raise RuntimeError("no TLS front %d" % n)
                        out({"ok": True, "id": cid, "cmd": op, "front": n,
                             "accepted": fronts[n].accepted()})
                    else:
                        out({"ok": False, "id": cid, "error": "unknown cmd %r" % op})
                except Exception as e:  # answer every line, keep running
                    out({"ok": False, "id": cid, "error": str(e)})
        return 0
    except Exception as e:
        log(str(e))
        return 1
    finally:
        for front in fronts:
            front.stop()
        if broker is not None:
            broker.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
