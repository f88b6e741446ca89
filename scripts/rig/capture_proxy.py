#!/usr/bin/env python3
"""Recording Kafka TCP proxy (standard library only).

    python3 scripts/rig/capture_proxy.py --target HOST:PORT [--target ...]
        --raw-dir DIR [--listen-port P]...

For each --target a listener on 127.0.0.1 (a free port unless --listen-port
is given, in the same order) forwards every connection to that target and
records every Kafka frame in both directions.  Frames are split on the
4-byte big-endian size prefix; requests are parsed for api_key, api_version
and correlation_id, and each response is paired with its request through
(connection, correlation_id).

Output in --raw-dir (wiped at start):
  NNNNNN.bin     one frame, WITHOUT the 4-byte size prefix (header + body
                 exactly as on the wire)
  index.jsonl    one JSON object per frame, in arrival order:
                 {"seq", "conn", "listen", "target", "dir": "request"|"response",
                  "api_key", "api_version", "corr", "size", "file", "t"}
                 (responses carry the api_key/api_version of their request)

First stdout line (JSON):
  {"listen": "127.0.0.1:P", "proxies": [{"listen": ..., "target": ...}, ...]}
Runs until stdin EOF, SIGTERM or SIGINT (or --until-signal: signals only).

Brokers advertise their own address in Metadata and FindCoordinator
responses, so a client would bypass the proxy after bootstrap.  This proxy
does NOT rewrite responses: start the broker so that it advertises the proxy
(tansu: --advertised-listener-url; librdkafka mock: broker_set_host_port).
"""

import argparse
import json
import os
import shutil
import signal
import socket
import struct
import sys
import threading
import time


def read_exact(sock, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)


def parse_hostport(s):
    host, _, port = s.rpartition(":")
    return host or "127.0.0.1", int(port)


class CaptureProxy:
    """raw_dir=None: forward without recording. rewrite(api_key, api_version, frame)
    -> frame, if given, may replace each response frame (without its size prefix)
    before it is recorded and forwarded; on_request(api_key, api_version, frame)
    -> frame, if given, sees each request before it is forwarded, and may delay it
    or replace it (recorded as received)."""

    def __init__(self, targets, raw_dir, listen_ports=None, max_frame=64 << 20, rewrite=None,
                 on_request=None):
        self.targets = [parse_hostport(t) if isinstance(t, str) else t for t in targets]
        self.raw_dir = raw_dir
        self.rewrite = rewrite
        self.on_request = on_request
        self.max_frame = max_frame
        self.lock = threading.Lock()
        self.seq = 0
        self.conn_seq = 0
        self.closing = False
        self.socks = set()
        self.listeners = []
        self.index = None
        if raw_dir is not None:
            if os.path.isdir(raw_dir):
                shutil.rmtree(raw_dir)
            os.makedirs(raw_dir)
            self.index = open(os.path.join(raw_dir, "index.jsonl"), "w")
        listen_ports = list(listen_ports or [])
        for i, target in enumerate(self.targets):
            ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            ls.bind(("127.0.0.1", listen_ports[i] if i < len(listen_ports) else 0))
            ls.listen(64)
            self.listeners.append((ls, target))

    @property
    def listen_addrs(self):
        return ["127.0.0.1:%d" % ls.getsockname()[1] for ls, _ in self.listeners]

    def start(self):
        for ls, target in self.listeners:
            threading.Thread(target=self._accept_loop, args=(ls, target), daemon=True).start()
        return self

    def _accept_loop(self, ls, target):
        listen = "127.0.0.1:%d" % ls.getsockname()[1]
        while not self.closing:
            try:
                client, _ = ls.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(target, timeout=10)
                upstream.settimeout(None)
            except OSError as e:
                sys.stderr.write("capture_proxy: connect %s:%d failed: %s\n" % (target + (e,)))
                client.close()
                continue
            for s in (client, upstream):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self.lock:
                self.conn_seq += 1
                conn = self.conn_seq
                self.socks.update((client, upstream))
            state = {"pending": {}, "lock": threading.Lock(), "conn": conn, "listen": listen,
                     "target": "%s:%d" % target}
            threading.Thread(target=self._pump, args=(client, upstream, state, True),
                             daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, state, False),
                             daemon=True).start()

    def _record(self, state, direction, frame, api_key, api_version, corr):
        if self.index is None:
            return
        with self.lock:
            if self.closing:
                return
            self.seq += 1
            name = "%06d.bin" % self.seq
            with open(os.path.join(self.raw_dir, name), "wb") as f:
                f.write(frame)
            self.index.write(json.dumps({
                "seq": self.seq, "conn": state["conn"], "listen": state["listen"],
                "target": state["target"], "dir": direction, "api_key": api_key,
                "api_version": api_version, "corr": corr, "size": len(frame),
                "file": name, "t": round(time.time(), 6)}) + "\n")
            self.index.flush()

    def _pump(self, src, dst, state, is_request):
        try:
            while True:
                hdr = read_exact(src, 4)
                if hdr is None:
                    break
                size = struct.unpack(">i", hdr)[0]
                if size < 0 or size > self.max_frame:
                    sys.stderr.write("capture_proxy: conn %d: bad frame size %d, passing "
                                     "the rest through unrecorded\n" % (state["conn"], size))
                    dst.sendall(hdr)
                    while True:
                        chunk = src.recv(65536)
                        if not chunk:
                            break
                        dst.sendall(chunk)
                    break
                frame = read_exact(src, size)
                if frame is None:
                    break
                if is_request and size >= 8:
                    api_key, api_version, corr = struct.unpack(">hhi", frame[:8])
                    # Register before forwarding: the response cannot overtake it.
                    with state["lock"]:
                        state["pending"][corr] = (api_key, api_version)
                    self._record(state, "request", frame, api_key, api_version, corr)
                    if self.on_request is not None:
                        new = self.on_request(api_key, api_version, frame)
                        if new is not frame:
                            frame = new
                            hdr = struct.pack(">i", len(frame))
                elif not is_request and size >= 4:
                    corr = struct.unpack(">i", frame[:4])[0]
                    with state["lock"]:
                        api_key, api_version = state["pending"].pop(corr, (None, None))
                    if self.rewrite is not None:
                        new = self.rewrite(api_key, api_version, frame)
                        if new is not frame:
                            frame = new
                            hdr = struct.pack(">i", len(frame))
                    self._record(state, "response", frame, api_key, api_version, corr)
                else:
                    self._record(state, "request" if is_request else "response", frame,
                                 None, None, None)
                dst.sendall(hdr + frame)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self):
        with self.lock:
            self.closing = True
            socks = list(self.socks)
        for ls, _ in self.listeners:
            try:
                ls.close()
            except OSError:
                pass
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()
        with self.lock:
            if self.index is not None:
                self.index.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--target", action="append", required=True, metavar="HOST:PORT")
    ap.add_argument("--listen-port", type=int, action="append", default=[])
    ap.add_argument("--raw-dir", required=True)
    ap.add_argument("--until-signal", action="store_true")
    args = ap.parse_args()

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    signal.signal(signal.SIGINT, lambda *a: stop.set())

    proxy = CaptureProxy(args.target, args.raw_dir, args.listen_port).start()
    addrs = proxy.listen_addrs
    sys.stdout.write(json.dumps({"listen": addrs[0], "proxies": [
        {"listen": a, "target": t} for a, t in zip(addrs, args.target)]}) + "\n")
    sys.stdout.flush()
    if not args.until_signal:
        def reader():
            for _ in sys.stdin:
                pass
            stop.set()
        threading.Thread(target=reader, daemon=True).start()
    try:
        while not stop.wait(0.2):
            pass
    finally:
        proxy.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
