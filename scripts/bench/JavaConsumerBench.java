// The Java client (kafka-clients' KafkaConsumer) in the end-to-end and scale-out
// benchmarks: the same work as kasio's `consume` example (io-std/examples/consume.rs)
// and librdkafka's scripts/bench/ref_consumer.c, with the same options and output:
// byte[] records (ByteArrayDeserializer), check.crcs=true (Java's default), every
// value byte touched into a checksum.
//
//   JavaConsumerBench --bootstrap B --topic T (--partitions N | --group ID) [--count N]
//       [--json] [--until-eof] [--wait-go] [--set key=value ...]
//
// --partitions N assigns partitions 0..N-1 from the beginning (no group, no commits);
// --group ID subscribes in consumer group ID (auto-commit on, auto.offset.reset=earliest).
// --count N stops after N records (0: no limit); --until-eof stops when stdin closes;
// --json prints {"records": N, "t_us": T} progress lines (at most every 100 ms, and once a poll
// comes back empty) and the summary {"done": true, "records", "bytes", "checksum",
// "first_us", "last_us"} on stdout. The summary also goes to stderr as one line.
// --wait-go (with --group): assigned partitions stay paused until a "go" line on
// stdin; {"owned": N} after each rebalance (with --json).
//
// Compiled and started by scripts/bench-e2e.sh / scripts/bench-group.sh with the
// jars scripts/setup-rig.sh installs (.rig/java/lib).

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Properties;

import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

public final class JavaConsumerBench {
    static volatile boolean eof = false;
    static volatile boolean go = true;

    static void owned(int n) {
        System.out.println("{\"owned\": " + n + "}");
        System.out.flush();
    }

    static long unixMicros() {
        Instant now = Instant.now();
        return ChronoUnit.MICROS.between(Instant.EPOCH, now);
    }

    public static void main(String[] args) throws Exception {
        String bootstrap = null, topic = null, group = null;
        int partitions = 0;
        long count = 0;
        boolean json = false, untilEof = false, waitGo = false;
        List<String> extra = new ArrayList<>();
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--bootstrap": bootstrap = args[++i]; break;
                case "--topic": topic = args[++i]; break;
                case "--partitions": partitions = Integer.parseInt(args[++i]); break;
                case "--group": group = args[++i]; break;
                case "--count": count = Long.parseLong(args[++i]); break;
                case "--json": json = true; break;
                case "--until-eof": untilEof = true; break;
                case "--wait-go": waitGo = true; break;
                case "--set": extra.add(args[++i]); break;
                default:
                    System.err.println("unknown argument " + args[i]);
                    System.exit(2);
            }
        }
        if (bootstrap == null || topic == null || (group == null) == (partitions == 0)) {
            System.err.println("usage: JavaConsumerBench --bootstrap B --topic T (--partitions N | --group ID)"
                    + " [--count N] [--json] [--until-eof] [--wait-go] [--set key=value ...]");
            System.exit(2);
        }
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        p.put(ConsumerConfig.CHECK_CRCS_CONFIG, "true");
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        if (group != null) {
            p.put(ConsumerConfig.GROUP_ID_CONFIG, group);
            p.put(ConsumerConfig.GROUP_PROTOCOL_CONFIG, "classic");
        } else {
            p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        }
        for (String kv : extra) {
            int eq = kv.indexOf('=');
            if (eq <= 0) {
                System.err.println("--set takes key=value, not " + kv);
                System.exit(2);
            }
            p.put(kv.substring(0, eq), kv.substring(eq + 1));
        }
        go = !(waitGo && group != null);
        if (untilEof || !go) {
            final boolean stopAtEof = untilEof;
            Thread t = new Thread(() -> {
                try {
                    BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
                    String line;
                    while ((line = in.readLine()) != null) {
                        if (line.strip().equals("go")) go = true;
                    }
                } catch (Exception e) {
                    // stdin gone: same as EOF
                }
                go = true;
                if (stopAtEof) eof = true;
            }, "stdin");
            t.setDaemon(true);
            t.start();
        }
        long started = System.nanoTime();
        long n = 0, bytes = 0, checksum = 0, reported = 0, firstUs = -1, lastUs = -1;
        long reportedAt = System.nanoTime();
        try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(p)) {
            if (group != null) {
                final boolean report = json;
                c.subscribe(List.of(topic), new ConsumerRebalanceListener() {
                    @Override
                    public void onPartitionsRevoked(Collection<TopicPartition> parts) {
                        if (report) owned(c.assignment().size() - parts.size());
                    }

                    @Override
                    public void onPartitionsAssigned(Collection<TopicPartition> parts) {
                        if (!go) c.pause(parts);
                        if (report) owned(c.assignment().size());
                    }
                });
            } else {
                List<TopicPartition> tps = new ArrayList<>();
                for (int i = 0; i < partitions; i++) tps.add(new TopicPartition(topic, i));
                c.assign(tps);
                c.seekToBeginning(tps);
            }
            Duration timeout = Duration.ofMillis(500);
            boolean going = go;
            while ((count == 0 || n < count) && !eof) {
                if (!going && go) {
                    going = true;
                    c.resume(c.paused());
                }
                ConsumerRecords<byte[], byte[]> batch = c.poll(going ? timeout : Duration.ofMillis(50));
                if (json && !batch.isEmpty()) {
                    long now = unixMicros();
                    if (firstUs < 0) firstUs = now;
                    lastUs = now;
                }
                for (ConsumerRecord<byte[], byte[]> r : batch) {
                    byte[] v = r.value();
                    if (v != null) {
                        for (byte b : v) checksum = checksum * 31 + (b & 0xff);
                        bytes += v.length;
                    }
                    n++;
                }
                if (json && n > reported
                        && (batch.isEmpty() || System.nanoTime() - reportedAt >= 100_000_000L)) {
                    reported = n;
                    reportedAt = System.nanoTime();
                    System.out.println("{\"records\": " + n + ", \"t_us\": " + unixMicros() + "}");
                    System.out.flush();
                }
            }
            double secs = (System.nanoTime() - started) / 1e9;
            System.err.printf("consumed %d records (%d value bytes) in %.3fs: %.0f records/s (checksum %x)%n",
                    n, bytes, secs, n / secs, checksum);
            if (json) {
                System.out.println("{\"done\": true, \"records\": " + n + ", \"bytes\": " + bytes
                        + ", \"checksum\": \"" + Long.toHexString(checksum) + "\", \"first_us\": " + firstUs
                        + ", \"last_us\": " + lastUs + "}");
                System.out.flush();
            }
        }
        // Client threads left must not keep the JVM alive.
        Runtime.getRuntime().halt(0);
    }
}
