/*
 * The reference for kasio's end-to-end speed: librdkafka's own consumer (the
 * library bundled in the confluent-kafka wheel), manual assignment of one
 * partition from the beginning, check.crcs=true, touching every value byte.
 * Built and run by scripts/bench-e2e.sh. The prototypes below are librdkafka's
 * public C API (rdkafka.h), declared here because the wheel ships no headers.
 *
 *   ref_consumer BOOTSTRAP TOPIC PARTITION COUNT
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct rd_kafka_s rd_kafka_t;
typedef struct rd_kafka_conf_s rd_kafka_conf_t;
typedef struct rd_kafka_topic_partition_list_s rd_kafka_topic_partition_list_t;
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

enum { RD_KAFKA_CONSUMER = 1, RD_KAFKA_CONF_OK = 0, RD_KAFKA_RESP_ERR__PARTITION_EOF = -191 };
#define RD_KAFKA_OFFSET_BEGINNING -2

rd_kafka_conf_t *rd_kafka_conf_new(void);
int rd_kafka_conf_set(rd_kafka_conf_t *, const char *, const char *, char *, size_t);
rd_kafka_t *rd_kafka_new(int, rd_kafka_conf_t *, char *, size_t);
rd_kafka_topic_partition_list_t *rd_kafka_topic_partition_list_new(int);
rd_kafka_topic_partition_t *rd_kafka_topic_partition_list_add(rd_kafka_topic_partition_list_t *, const char *, int32_t);
void rd_kafka_topic_partition_list_destroy(rd_kafka_topic_partition_list_t *);
int rd_kafka_assign(rd_kafka_t *, const rd_kafka_topic_partition_list_t *);
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

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: %s BOOTSTRAP TOPIC PARTITION COUNT\n", argv[0]);
        return 2;
    }
    long long want = atoll(argv[4]);
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    set(conf, "bootstrap.servers", argv[1]);
    set(conf, "group.id", "kasio-bench-ref");
    set(conf, "enable.auto.commit", "false");
    set(conf, "check.crcs", "true");
    /* librdkafka pauses a partition's fetching for fetch.queue.backoff.ms (default
     * 1000) whenever its queue holds queued.min.messages; the application here drains
     * the queue in milliseconds, so that pause would measure a sleep, not the client. */
    set(conf, "fetch.queue.backoff.ms", "1");
    char err[512];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (!rk) {
        fprintf(stderr, "rd_kafka_new: %s\n", err);
        return 1;
    }
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(parts, argv[2], atoi(argv[3]))->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(rk, parts);
    rd_kafka_topic_partition_list_destroy(parts);

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    long long n = 0, bytes = 0;
    uint64_t checksum = 0;
    while (n < want) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 1000);
        if (!m)
            continue;
        if (m->err == 0) {
            const unsigned char *v = m->payload;
            for (size_t i = 0; i < m->len; i++)
                checksum = checksum * 31 + v[i];
            bytes += m->len;
            n++;
        } else if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            fprintf(stderr, "error: %s\n", rd_kafka_err2str(m->err));
        }
        rd_kafka_message_destroy(m);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
    fprintf(stderr, "consumed %lld records (%lld value bytes) in %.3fs: %.0f records/s (checksum %llx)\n", n, bytes,
            secs, n / secs, (unsigned long long)checksum);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return 0;
}
