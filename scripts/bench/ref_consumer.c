/*
 * The reference for kasio's end-to-end speed: librdkafka's own consumer (the
 * library bundled in the confluent-kafka wheel), manual assignment of one
 * partition from the beginning, check.crcs=true, touching every value byte.
 * Built and run by scripts/bench-e2e.sh and scripts/bench-group.sh. The
 * prototypes below are librdkafka's public C API (rdkafka.h), declared here
 * because the wheel ships no headers.
 *
 *   ref_consumer BOOTSTRAP TOPIC PARTITION|group:ID COUNT [--json] [--until-eof] [--wait-go] [key=value ...]
 *
 * group:ID subscribes to TOPIC in consumer group ID instead (librdkafka assigns
 * the partitions itself, auto-commit on, auto.offset.reset=earliest); COUNT 0
 * means no limit; key=value sets any librdkafka property (last). --until-eof and
 * --json are the `consume` example's (io-std/examples/consume.rs): stop when
 * stdin closes; progress lines {"records": N, "t_us": T} and a summary {"done": true,
 * "records", "bytes", "checksum", "first_us", "last_us"} on stdout. --wait-go
 * (group mode) is also the `consume` example's: assigned partitions stay paused
 * until a "go" line on stdin; {"owned": N} after each rebalance.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct rd_kafka_s rd_kafka_t;
typedef struct rd_kafka_conf_s rd_kafka_conf_t;
typedef struct {
    char *topic;
    int32_t partition;
    int64_t offset;
    void *metadata;
    size_t metadata_size;
    void *opaque;
    int err;
    void *_private;
} rd_kafka_topic_partition_t;
typedef struct rd_kafka_topic_partition_list_s {
    int cnt;
    int size;
    rd_kafka_topic_partition_t *elems;
} rd_kafka_topic_partition_list_t;
typedef struct {
    int err;
    void *rkt;
    int32_t partition;
    void *payload;
    size_t len;
    void *key;
    size_t key_len;
    int64_t offset;
    void *_private;
} rd_kafka_message_t;

enum {
    RD_KAFKA_CONSUMER = 1,
    RD_KAFKA_CONF_OK = 0,
    RD_KAFKA_RESP_ERR__PARTITION_EOF = -191,
    RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS = -175,
};
#define RD_KAFKA_OFFSET_BEGINNING -2

rd_kafka_conf_t *rd_kafka_conf_new(void);
int rd_kafka_conf_set(rd_kafka_conf_t *, const char *, const char *, char *, size_t);
rd_kafka_t *rd_kafka_new(int, rd_kafka_conf_t *, char *, size_t);
rd_kafka_topic_partition_list_t *rd_kafka_topic_partition_list_new(int);
rd_kafka_topic_partition_t *rd_kafka_topic_partition_list_add(rd_kafka_topic_partition_list_t *, const char *, int32_t);
void rd_kafka_topic_partition_list_destroy(rd_kafka_topic_partition_list_t *);
int rd_kafka_assign(rd_kafka_t *, const rd_kafka_topic_partition_list_t *);
int rd_kafka_subscribe(rd_kafka_t *, const rd_kafka_topic_partition_list_t *);
int rd_kafka_poll_set_consumer(rd_kafka_t *);
void rd_kafka_conf_set_rebalance_cb(rd_kafka_conf_t *,
                                    void (*)(rd_kafka_t *, int, rd_kafka_topic_partition_list_t *, void *));
int rd_kafka_pause_partitions(rd_kafka_t *, rd_kafka_topic_partition_list_t *);
int rd_kafka_resume_partitions(rd_kafka_t *, rd_kafka_topic_partition_list_t *);
int rd_kafka_assignment(rd_kafka_t *, rd_kafka_topic_partition_list_t **);
rd_kafka_message_t *rd_kafka_consumer_poll(rd_kafka_t *, int);
void rd_kafka_message_destroy(rd_kafka_message_t *);
int rd_kafka_consumer_close(rd_kafka_t *);
void rd_kafka_destroy(rd_kafka_t *);
const char *rd_kafka_err2str(int);

static void set(rd_kafka_conf_t *c, const char *k, const char *v) {
    char err[256];
    if (rd_kafka_conf_set(c, k, v, err, sizeof err) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "%s: %s\n", k, err);
        exit(2);
    }
}

static atomic_int eof_seen, go_seen;
static int until_eof, json, going = 1, owned;

/* --until-eof: the end of stdin stops the loop; --wait-go: a "go" line (or the end
 * of stdin) resumes the partitions paused when they were assigned. */
static void *watch_stdin(void *arg) {
    (void)arg;
    char line[256];
    while (fgets(line, sizeof line, stdin)) {
        if (strncmp(line, "go", 2) == 0)
            atomic_store(&go_seen, 1);
    }
    atomic_store(&go_seen, 1);
    if (until_eof)
        atomic_store(&eof_seen, 1);
    return NULL;
}

/* --wait-go only: assigns (eager protocols, as librdkafka would itself), pauses
 * what it was given until "go", and reports {"owned": N}. */
static void rebalance(rd_kafka_t *rk, int err, rd_kafka_topic_partition_list_t *parts, void *opaque) {
    (void)opaque;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        rd_kafka_assign(rk, parts);
        if (!going)
            rd_kafka_pause_partitions(rk, parts);
        owned = parts->cnt;
    } else {
        rd_kafka_assign(rk, NULL);
        owned = 0;
    }
    if (json) {
        printf("{\"owned\": %d}\n", owned);
        fflush(stdout);
    }
}

static long long unix_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (long long)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

static double mono_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: %s BOOTSTRAP TOPIC PARTITION|group:ID COUNT [--json] [--until-eof] [--wait-go] [key=value ...]\n",
                argv[0]);
        return 2;
    }
    long long want = atoll(argv[4]);
    const char *group = strncmp(argv[3], "group:", 6) == 0 ? argv[3] + 6 : NULL;
    int wait_go = 0;
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    set(conf, "bootstrap.servers", argv[1]);
    if (group) {
        set(conf, "group.id", group);
        set(conf, "auto.offset.reset", "earliest");
    } else {
        set(conf, "group.id", "kasio-bench-ref");
        set(conf, "enable.auto.commit", "false");
    }
    set(conf, "check.crcs", "true");
    /* librdkafka pauses a partition's fetching for fetch.queue.backoff.ms (default
     * 1000) whenever its queue holds queued.min.messages; the application here drains
     * the queue in milliseconds, so that pause would measure a sleep, not the client. */
    set(conf, "fetch.queue.backoff.ms", "1");
    for (int i = 5; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            json = 1;
        } else if (strcmp(argv[i], "--until-eof") == 0) {
            until_eof = 1;
        } else if (strcmp(argv[i], "--wait-go") == 0) {
            wait_go = 1;
        } else {
            char *eq = strchr(argv[i], '=');
            if (!eq) {
                fprintf(stderr, "not key=value: %s\n", argv[i]);
                return 2;
            }
            *eq = 0;
            set(conf, argv[i], eq + 1);
        }
    }
    if (wait_go && group) {
        going = 0;
        rd_kafka_conf_set_rebalance_cb(conf, rebalance);
    }
    char err[512];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (!rk) {
        fprintf(stderr, "rd_kafka_new: %s\n", err);
        return 1;
    }
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(1);
    if (group) {
        rd_kafka_topic_partition_list_add(parts, argv[2], -1);
        int e = rd_kafka_subscribe(rk, parts);
        if (e) {
            fprintf(stderr, "subscribe: %s\n", rd_kafka_err2str(e));
            return 1;
        }
    } else {
        rd_kafka_topic_partition_list_add(parts, argv[2], atoi(argv[3]))->offset = RD_KAFKA_OFFSET_BEGINNING;
        rd_kafka_assign(rk, parts);
    }
    rd_kafka_topic_partition_list_destroy(parts);
    pthread_t watcher;
    if (until_eof || !going)
        pthread_create(&watcher, NULL, watch_stdin, NULL);

    double t0 = mono_s(), reported_at = t0;
    long long n = 0, bytes = 0, reported = 0, first_us = -1, last_us = -1;
    uint64_t checksum = 0;
    while ((want == 0 || n < want) && !atomic_load(&eof_seen)) {
        if (!going && atomic_load(&go_seen)) {
            going = 1;
            rd_kafka_topic_partition_list_t *mine = NULL;
            if (rd_kafka_assignment(rk, &mine) == 0 && mine) {
                rd_kafka_resume_partitions(rk, mine);
                rd_kafka_topic_partition_list_destroy(mine);
            }
        }
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, going ? 500 : 50);
        int idle = !m;
        if (m) {
            if (m->err == 0) {
                const unsigned char *v = m->payload;
                for (size_t i = 0; i < m->len; i++)
                    checksum = checksum * 31 + v[i];
                bytes += m->len;
                n++;
                if (json) {
                    /* the time each record is handed over (a vDSO call, ~20 ns) */
                    last_us = unix_us();
                    if (first_us < 0)
                        first_us = last_us;
                }
            } else if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                fprintf(stderr, "error: %s\n", rd_kafka_err2str(m->err));
            } else {
                idle = 1;
            }
            rd_kafka_message_destroy(m);
        }
        if (json && n > reported && (idle || (want && n >= want) || mono_s() - reported_at >= 0.1)) {
            reported = n;
            reported_at = mono_s();
            printf("{\"records\": %lld, \"t_us\": %lld}\n", n, unix_us());
            fflush(stdout);
        }
    }
    double secs = mono_s() - t0;
    fprintf(stderr, "consumed %lld records (%lld value bytes) in %.3fs: %.0f records/s (checksum %llx)\n", n, bytes,
            secs, n / secs, (unsigned long long)checksum);
    if (json) {
        printf("{\"done\": true, \"records\": %lld, \"bytes\": %lld, \"checksum\": \"%llx\", \"first_us\": %lld, "
               "\"last_us\": %lld}\n",
               n, bytes, (unsigned long long)checksum, first_us, last_us);
        fflush(stdout);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return 0;
}
