#!/usr/bin/env python3
"""Writes the interop matrix into the README from the results the end-to-end tests
left in target/interop/ (one JSON file per passing row, see
kasio_sim::rig::report). Rows whose test did not pass in the last run are
"FAIL"; rows with no test yet are "not yet". The driver column says which kasio
driver(s) each row proves. Called by scripts/test.sh.
"""
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DIR = os.path.join(ROOT, "target", "interop")
BEGIN, END = "<!-- interop:begin -->", "<!-- interop:end -->"

STD, TOKIO, BOTH = "kasio-std", "kasio-tokio", "kasio-std + kasio-tokio"

# (row id, what, broker, driver). Row ids match the report() calls (kasio-tokio's
# own runs of a kasio-std row are "tokio/<row>", listed right after it); driver is
# the kasio driver(s) the row proves: BOTH where one test runs a member of each
# driver side by side, "-" where no kasio driver takes part. A result whose
# driver is not the one listed here fails. None = no test yet.
ROWS = [
    ("assign/none", "manual assignment, uncompressed, headers, null keys/values", "tansu", STD),
    ("tokio/assign/none", "manual assignment, uncompressed, headers, null keys/values", "tansu", TOKIO),
    ("assign/gzip", "manual assignment, gzip", "tansu", STD),
    ("tokio/assign/gzip", "manual assignment, gzip", "tansu", TOKIO),
    ("assign/snappy", "manual assignment, snappy", "tansu", STD),
    ("tokio/assign/snappy", "manual assignment, snappy", "tansu", TOKIO),
    ("assign/lz4", "manual assignment, lz4", "tansu", STD),
    ("tokio/assign/lz4", "manual assignment, lz4", "tansu", TOKIO),
    ("assign/zstd", "manual assignment, zstd", "tansu", STD),
    ("tokio/assign/zstd", "manual assignment, zstd", "tansu", TOKIO),
    ("txn/read_committed", "transactions, read_committed: same records as librdkafka's consumer (*)", "librdkafka mock", STD),
    ("tokio/txn/read_committed", "transactions, read_committed: same records as librdkafka's consumer (*)", "librdkafka mock", TOKIO),
    ("txn/read_uncommitted", "transactions, read_uncommitted: same records as librdkafka's consumer", "librdkafka mock", STD),
    ("tokio/txn/read_uncommitted", "transactions, read_uncommitted: same records as librdkafka's consumer", "librdkafka mock", TOKIO),
    ("fault/leader-moved", "3 brokers, partition leaders moved mid-run", "librdkafka mock", STD),
    ("tokio/fault/leader-moved", "3 brokers, partition leaders moved mid-run", "librdkafka mock", TOKIO),
    ("fault/broker-down-up", "a broker down, then up, mid-run", "librdkafka mock", STD),
    ("tokio/fault/broker-down-up", "a broker down, then up, mid-run", "librdkafka mock", TOKIO),
    ("fault/fetch-errors", "injected Fetch errors (NOT_LEADER_OR_FOLLOWER, UNKNOWN_TOPIC_OR_PARTITION, LEADER_NOT_AVAILABLE, disconnect)", "librdkafka mock", STD),
    ("tokio/fault/fetch-errors", "injected Fetch errors (NOT_LEADER_OR_FOLLOWER, UNKNOWN_TOPIC_OR_PARTITION, LEADER_NOT_AVAILABLE, disconnect)", "librdkafka mock", TOKIO),
    ("fault/rtt-500ms", "500 ms RTT on every broker", "librdkafka mock", STD),
    ("tokio/fault/rtt-500ms", "500 ms RTT on every broker", "librdkafka mock", TOKIO),
    ("fault/no-offset-for-leader-epoch", "leader moves on brokers without OffsetForLeaderEpoch", "librdkafka mock", STD),
    ("tokio/fault/no-offset-for-leader-epoch", "leader moves on brokers without OffsetForLeaderEpoch", "librdkafka mock", TOKIO),
    ("fault/follower-fetching", "follower fetching (KIP-392, client.rack)", "librdkafka mock", STD),
    ("tokio/fault/follower-fetching", "follower fetching (KIP-392, client.rack)", "librdkafka mock", TOKIO),
    ("group/mixed-range", "consumer group (range): 2 kasio (one per driver) + 1 librdkafka + 1 Java member, members joining and leaving mid-run", "tansu", BOTH),
    ("group/mixed-cooperative-sticky", "consumer group (cooperative-sticky): 2 kasio (one per driver) + 1 librdkafka + 1 Java member, members joining and leaving mid-run", "tansu", BOTH),
    ("group/handover", "committed offsets handed over Java → kasio-std → librdkafka → kasio-tokio → Java, each starting at the other's commits", "tansu", BOTH),
    ("group/crash-restart", "a kasio member SIGKILLed and restarted: only what it read after its last commit is read again", "tansu", STD),
    ("tokio/group/crash-restart", "a kasio member SIGKILLed and restarted: only what it read after its last commit is read again", "tansu", TOKIO),
    ("group/static-restart-sim", "static member (group.instance.id) restarted within its session: its partitions back at once, no new generation", "kasio-sim", STD),
    ("tokio/group/static-restart-sim", "static member (group.instance.id) restarted within its session: its partitions back at once, no new generation", "kasio-sim", TOKIO),
    ("group/static-restart-tansu", "static member restarted: its partitions back, no new generation, after tansu's JoinGroup/SyncGroup holds (**)", "tansu", STD),
    ("tokio/group/static-restart-tansu", "static member restarted: its partitions back, no new generation, after tansu's JoinGroup/SyncGroup holds (**)", "tansu", TOKIO),
    ("group/coordinator-moved", "group coordinator moved to another broker (kasio-std + kasio-tokio + librdkafka members)", "librdkafka mock", BOTH),
    ("group/coordinator-down-up", "group coordinator broker down longer than the session, then up (kasio-std + kasio-tokio + librdkafka members)", "librdkafka mock", BOTH),
    ("group/errors-find-coordinator", "injected FindCoordinator errors (NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE, COORDINATOR_LOAD_IN_PROGRESS)", "librdkafka mock", STD),
    ("tokio/group/errors-find-coordinator", "injected FindCoordinator errors (NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE, COORDINATOR_LOAD_IN_PROGRESS)", "librdkafka mock", TOKIO),
    ("group/errors-join-group", "injected JoinGroup errors (coordinator errors, REBALANCE_IN_PROGRESS, UNKNOWN_MEMBER_ID)", "librdkafka mock", STD),
    ("tokio/group/errors-join-group", "injected JoinGroup errors (coordinator errors, REBALANCE_IN_PROGRESS, UNKNOWN_MEMBER_ID)", "librdkafka mock", TOKIO),
    ("group/errors-sync-group", "injected SyncGroup errors (coordinator errors, REBALANCE_IN_PROGRESS, UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION)", "librdkafka mock", STD),
    ("tokio/group/errors-sync-group", "injected SyncGroup errors (coordinator errors, REBALANCE_IN_PROGRESS, UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION)", "librdkafka mock", TOKIO),
    ("group/errors-heartbeat", "injected Heartbeat errors (coordinator errors, REBALANCE_IN_PROGRESS, UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION)", "librdkafka mock", STD),
    ("tokio/group/errors-heartbeat", "injected Heartbeat errors (coordinator errors, REBALANCE_IN_PROGRESS, UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION)", "librdkafka mock", TOKIO),
    ("group/errors-offset-commit", "injected OffsetCommit errors (coordinator errors, REBALANCE_IN_PROGRESS, UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION)", "librdkafka mock", STD),
    ("tokio/group/errors-offset-commit", "injected OffsetCommit errors (coordinator errors, REBALANCE_IN_PROGRESS, UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION)", "librdkafka mock", TOKIO),
    ("group/errors-offset-fetch", "injected OffsetFetch errors (NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE, COORDINATOR_LOAD_IN_PROGRESS)", "librdkafka mock", STD),
    ("tokio/group/errors-offset-fetch", "injected OffsetFetch errors (NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE, COORDINATOR_LOAD_IN_PROGRESS)", "librdkafka mock", TOKIO),
    ("tokio/group/commit-resume", "consumer group through kasio-tokio's own API: commit, close, a new member resumes at the commits", "tansu", TOKIO),
    ("tokio/group/revoke-commit", "two members, the revoked one commits from its guard (kasio-tokio's `Revoked` item) before the partitions move", "tansu", TOKIO),
    ("security/ssl", "SSL: every record over TLS (stunnel4 in front, advertised; CA as file and as PEM)", "tansu + stunnel", STD),
    ("tokio/security/ssl", "SSL: every record over TLS (stunnel4 in front, advertised; CA as file and as PEM)", "tansu + stunnel", TOKIO),
    ("security/sasl-scram-256", "SASL_PLAINTEXT, SCRAM-SHA-256 (tansu --authentication)", "tansu", STD),
    ("tokio/security/sasl-scram-256", "SASL_PLAINTEXT, SCRAM-SHA-256 (tansu --authentication)", "tansu", TOKIO),
    ("security/sasl-scram-512", "SASL_PLAINTEXT, SCRAM-SHA-512, credentials in sasl.jaas.config", "tansu", STD),
    ("tokio/security/sasl-scram-512", "SASL_PLAINTEXT, SCRAM-SHA-512, credentials in sasl.jaas.config", "tansu", TOKIO),
    ("security/sasl-ssl", "SASL_SSL: SCRAM-SHA-256 and -512 over TLS", "tansu + stunnel", STD),
    ("tokio/security/sasl-ssl", "SASL_SSL: SCRAM-SHA-256 and -512 over TLS", "tansu + stunnel", TOKIO),
    ("security/sasl-failures", "wrong password, unknown user: a fatal SASL error (the server's e=), one connection", "tansu", STD),
    ("tokio/security/sasl-failures", "wrong password, unknown user: a fatal SASL error (the server's e=), one connection", "tansu", TOKIO),
    ("security/tls-failures", "unknown CA, another name, expired certificate: each its TlsErrorKind, retried with backoff (attempts counted)", "tansu + stunnel", STD),
    ("tokio/security/tls-failures", "unknown CA, another name, expired certificate: each its TlsErrorKind, retried with backoff (attempts counted)", "tansu + stunnel", TOKIO),
    (None, "KIP-848 groups (ConsumerGroupHeartbeat)", "librdkafka mock", "-"),
    ("sim/serve-librdkafka", "kasio's simulated cluster (serve mode) read by librdkafka (plain and read_committed)", "kasio-sim", "-"),
    ("sim/serve-read-committed", "read_committed over committed and aborted transactions: exactly the committed records", "kasio-sim", BOTH),
    ("sim/produce-librdkafka", "librdkafka producer → kasio-sim (every codec, headers, null keys/values; idempotent, acks=1, acks=0), read back by kasio and librdkafka", "kasio-sim", BOTH),
    ("sim/produce-txn-read-committed", "transactional librdkafka producer → kasio-sim, read_committed exact (kasio and librdkafka, both isolation levels)", "kasio-sim", BOTH),
    ("sim/serve-sasl", "SASL on kasio-sim's serve mode (PLAIN and SCRAM-SHA-512 over SASL_SSL, SCRAM-SHA-256, OAUTHBEARER): librdkafka, Java and kasio each read every record", "kasio-sim", STD),
    ("sim/serve-mtls", "mutual TLS on kasio-sim's serve mode: librdkafka, Java and kasio (also with an encrypted PKCS#8 key) read with a client certificate; kasio without one: ClientCertificateRequired", "kasio-sim", STD),
]


def main():
    results = {}
    if os.path.isdir(DIR):
        for name in os.listdir(DIR):
            if name.endswith(".json"):
                r = json.load(open(os.path.join(DIR, name)))
                results[r["row"]] = r
    lines = [BEGIN, "", "| row | broker | driver | result | records checked |", "| --- | --- | --- | --- | ---: |"]
    for row, what, broker, driver in ROWS:
        if row is None:
            lines.append("| %s | %s | - | not yet | - |" % (what, broker))
        elif row in results and results[row]["driver"] == driver:
            lines.append("| %s | %s | %s | pass | %d |" % (what, broker, driver, results[row]["records"]))
        elif row in results:
            lines.append("| %s | %s | %s | FAIL (ran on %s) | - |" % (what, broker, driver, results[row]["driver"]))
        else:
            lines.append("| %s | %s | %s | FAIL | - |" % (what, broker, driver))
    lines += ["", "(*) neither third-party broker returns aborted transactions in Fetch, so librdkafka's "
              "consumer reads the aborted records too; see *Known limits* below.", "",
              "(**) 8 s with a 10 s session where Kafka answers at once; with a session shorter than "
              "tansu's holds the member is evicted and the group rebalances; see *Known limits* below.",
              "", END]
    path = os.path.join(ROOT, "README.md")
    text = open(path).read()
    if BEGIN not in text or END not in text:
        sys.exit("README.md has no interop markers")
    text = text[:text.index(BEGIN)] + "\n".join(lines) + text[text.index(END) + len(END):]
    open(path, "w").write(text)


if __name__ == "__main__":
    main()
