#!/usr/bin/env bash
# Seed corpora for the fuzz targets, under fuzz/corpus/<target>/ (checked in).
#
#   scripts/fuzz-corpus.sh             # regenerate the seeds derived from fixtures
#   scripts/fuzz-corpus.sh --minimize  # also fold what fuzzing found into the seeds
#                                      # of the structure-aware targets (minimized)
#
# Fixture-derived seeds (deterministic; the files are named after their source):
# - decode_message, headers: every captured frame (tansu and librdkafka's mock
#   cluster, core/tests/fixtures/captured/) of a message kasio speaks, in each
#   target's input layout (message index + version + body; header selector + frame).
# - frame_decoder: captured responses with their size prefix, back to back.
# - consumer_protocol: the subscriptions (JoinGroup protocol metadata) and
#   assignments (SyncGroup) inside the captures.
# - record_batches: the record fixtures (core/tests/fixtures/records/*.bin, every
#   codec, transactional, magic 0 and 1) and the record sets of captured Fetch
#   responses, with CRC checks on and off.
# - record_compressed: the uncompressed fixtures' records as payload, each codec,
#   as a v2 batch and as legacy wrappers.
# The structure-aware targets (roundtrip_message, record_roundtrip, fetch_session,
# consumer, assignors, group) read their input through `arbitrary`; their seeds are a minimized corpus
# of earlier runs (--minimize), not fixtures; `group` also gets written scenarios
# (scripts/fuzz-group-seeds.py: stable, rebalances eager and cooperative, a static
# member expelled, the coordinator moving, coordinator errors, a fatal error, poll
# interval expiry) as seed-* files.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 - <<'PY'
import os, re, struct, glob

root = "."
out_root = os.path.join(root, "fuzz", "corpus")
cap_root = os.path.join(root, "core", "tests", "fixtures", "captured")
rec_root = os.path.join(root, "core", "tests", "fixtures", "records")

# Message index as fuzz_targets/common.rs numbers them, and each message's lowest
# version from its generated description.
common = open(os.path.join(root, "fuzz", "fuzz_targets", "common.rs")).read()
index = {name: int(i) for i, name in re.findall(r"(\d+) => __arm!\((\w+)\)", common)}
last = re.search(r"_ => __arm!\((\w+)\)", common).group(1)
index[last] = max(index.values()) + 1

def snake(name):
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()

def versions(name):
    src = open(os.path.join(root, "core", "src", "protocol", "messages", snake(name) + ".rs")).read()
    lo, hi = re.search(r"const VERSIONS: \(i16, i16\) = \((\d+), (\d+)\);", src).groups()
    return int(lo), int(hi)

def uvarint(b, i):
    v = s = 0
    while True:
        x = b[i]; i += 1
        v |= (x & 0x7F) << s; s += 7
        if not x & 0x80:
            return v, i

def skip_tags(b, i):
    n, i = uvarint(b, i)
    for _ in range(n):
        _, i = uvarint(b, i)
        size, i = uvarint(b, i)
        i += size
    return i

def request_body(frame, hv):
    i = 8
    (n,) = struct.unpack_from(">h", frame, i); i += 2
    if n > 0:
        i += n
    if hv >= 2:
        i = skip_tags(frame, i)
    return frame[i:]

def response_body(frame, hv):
    return frame[skip_tags(frame, 4):] if hv >= 1 else frame[4:]

def put(target, name, data):
    d = os.path.join(out_root, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(bytes(data))

for target in ["decode_message", "headers", "frame_decoder", "consumer_protocol",
               "record_batches", "record_compressed"]:
    d = os.path.join(out_root, target)
    for f in glob.glob(os.path.join(d, "seed-*")):
        os.remove(f)

# --- consumer protocol and records inside captured frames ----------------------------

def string(b, i):
    (n,) = struct.unpack_from(">h", b, i)
    return (None if n < 0 else b[i + 2:i + 2 + n]), i + 2 + max(n, 0)

def byts(b, i):
    (n,) = struct.unpack_from(">i", b, i)
    return (None if n < 0 else b[i + 4:i + 4 + n]), i + 4 + max(n, 0)

def join_group_protocols(body, v):
    # Non-flexible JoinGroup requests (v0-v5): the members' subscriptions.
    i = 0
    _, i = string(body, i)          # group_id
    i += 4                          # session timeout
    if v >= 1: i += 4               # rebalance timeout
    _, i = string(body, i)          # member_id
    if v >= 5: _, i = string(body, i)  # group_instance_id
    _, i = string(body, i)          # protocol_type
    (n,) = struct.unpack_from(">i", body, i); i += 4
    for _ in range(max(n, 0)):
        _, i = string(body, i)
        meta, i = byts(body, i)
        yield meta

def sync_group_assignment(body, v):
    i = 4 if v >= 1 else 0          # throttle
    i += 2                          # error code
    a, _ = byts(body, i)
    return a

def fetch_records(body, v):
    # Flexible Fetch responses (v12+): each partition's records.
    i = 4 + 2 + 4                   # throttle, error, session
    nt, i = uvarint(body, i)
    for _ in range(nt - 1):
        if v >= 13: i += 16
        else:
            n, i = uvarint(body, i); i += n - 1
        np_, i = uvarint(body, i)
        for _ in range(np_ - 1):
            i += 4 + 2 + 8 + 8 + 8
            na, i = uvarint(body, i)
            for _ in range(max(na - 1, 0)):
                i += 16; i = skip_tags(body, i)
            i += 4                  # preferred read replica
            n, i = uvarint(body, i)
            if n > 1:
                yield body[i:i + n - 1]
            i += max(n - 1, 0)
            i = skip_tags(body, i)
        i = skip_tags(body, i)

stream = {}
fetched = []
for broker in sorted(os.listdir(cap_root)):
    rows = [l.rstrip("\n").split("\t") for l in open(os.path.join(cap_root, broker, "manifest.tsv"))
            if not l.startswith("#") and not l.startswith("api_key")]
    for api_key, api_name, version, corr, direction, file, size, flexible, hv, conn, note in rows:
        frame = open(os.path.join(cap_root, broker, file), "rb").read()
        v, hv = int(version), int(hv)
        name = api_name + ("Request" if direction == "request" else "Response")
        tag = f"seed-{broker}-{file[:-4]}"
        if direction == "request":
            put("headers", tag, b"\x00" + frame)
            body = request_body(frame, hv)
        else:
            put("headers", tag, (b"\x02" if hv >= 1 else b"\x01") + frame)
            body = response_body(frame, hv)
            stream.setdefault(broker, bytearray()).extend(struct.pack(">i", len(frame)) + frame)
            if name == "ApiVersionsResponse":
                lo, hi = versions(name)
                put("headers", tag + "-negotiation", bytes([3, v - lo]) + body)
        if name in index:
            lo, hi = versions(name)
            put("decode_message", tag, bytes([index[name], v - lo]) + body)
        try:
            if name == "JoinGroupRequest" and v <= 5:
                for k, meta in enumerate(join_group_protocols(body, v)):
                    if meta:
                        put("consumer_protocol", f"{tag}-subscription-{k}", b"\x00" + meta)
            if name == "SyncGroupResponse" and v <= 3:
                a = sync_group_assignment(body, v)
                if a:
                    put("consumer_protocol", f"{tag}-assignment", b"\x01" + a)
            if name == "FetchResponse" and v >= 12:
                for k, recs in enumerate(fetch_records(body, v)):
                    fetched.append((f"{broker}-{file[:-4]}-p{k}", recs))
        except (struct.error, IndexError):
            pass  # a capture this walker does not understand: no seed from it

for broker, s in stream.items():
    put("frame_decoder", f"seed-{broker}-responses", s)

# --- record batches ------------------------------------------------------------------

records = [(os.path.basename(p)[:-4], open(p, "rb").read())
           for p in sorted(glob.glob(os.path.join(rec_root, "*.bin")))]
for name, data in records + fetched:
    put("record_batches", f"seed-{name}-crc", bytes([0x10, 0]) + data)
    put("record_batches", f"seed-{name}-nocrc-committed", bytes([0x31, 1]) + data)

def v2_parts(data):
    # The header fields of the first batch (without batchLength, magic and CRC), and
    # its records section.
    size = struct.unpack_from(">i", data, 8)[0]
    batch = data[:12 + size]
    return batch[0:8] + batch[12:16] + batch[21:61], batch[61:]

for name, data in records:
    if name.startswith("v2-none"):
        fields, payload = v2_parts(data)
        for codec in range(4):
            put("record_compressed", f"seed-{name}-v2-codec{codec}",
                bytes([codec, 0, 0x11, 4, 0]) + fields + payload)
    if name.startswith("v0") or name.startswith("v1"):
        fields = bytes(52)
        magic = 1 if name.startswith("v1") else 0
        for codec in range(4):
            put("record_compressed", f"seed-{name}-wrapper-codec{codec}",
                bytes([codec, 1 + magic, 0x00, 4, 2]) + fields + data)
PY

python3 scripts/fuzz-group-seeds.py fuzz/corpus/group

if [[ "${1:-}" == "--minimize" ]]; then
  # Fold the working corpora of the structure-aware targets (fuzz/target/corpus/,
  # filled by scripts/fuzz.sh) into their checked-in seeds, keeping only inputs
  # that add coverage.
  for t in roundtrip_message record_roundtrip fetch_session consumer assignors group; do
    work="fuzz/target/corpus/$t"
    [[ -d "$work" ]] || continue
    seeds="fuzz/corpus/$t"
    mkdir -p "$seeds"
    tmp="fuzz/target/merge-$t"
    rm -rf "$tmp" && mkdir -p "$tmp"
    (cd fuzz && cargo +nightly fuzz run "$t" "../$tmp" "../$seeds" "../$work" -- \
      -merge=1 -use_counters=0 -max_len=1024 -rss_limit_mb=1024 -malloc_limit_mb=512) >/dev/null 2>&1 || true
    if compgen -G "$tmp/*" >/dev/null; then
      rm -f "$seeds"/*
      cp "$tmp"/* "$seeds"/
    fi
    rm -rf "$tmp"
  done
fi

du -sh fuzz/corpus 2>/dev/null | awk '{print "seed corpora: " $1}'
for d in fuzz/corpus/*/; do
  printf '  %-20s %s files\n' "$(basename "$d")" "$(find "$d" -type f | wc -l)"
done
