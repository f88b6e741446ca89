// A Java KafkaConsumer (kafka-clients, the reference client) as a consumer-group
// member for interop tests, driven like the other rig scripts: the first stdout line
// is JSON info, every later stdout line is one JSON event or one answer to a
// command, commands arrive as JSON lines on stdin, and the member leaves the group
// and exits when stdin closes. scripts/rig/group_consume.py is the same peer on
// librdkafka; scripts/rig/README.md ("Group consumer peers") is the interface.
//
// Compiled by scripts/setup-rig.sh into .rig/java/classes; started with
// scripts/rig/group_consume_java.sh [options].
//
// Standard library and kafka-clients only (no JSON library is on the class path,
// hence the small reader and writer at the end).

import java.io.BufferedOutputStream;
import java.io.BufferedReader;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.LinkedBlockingQueue;

import org.apache.kafka.clients.consumer.CloseOptions;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerGroupMetadata;
import org.apache.kafka.clients.consumer.ConsumerInterceptor;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.utils.AppInfoParser;

public final class GroupConsumer {
    /** stdout, buffered: flushed after every poll round and every answer. */
    static final PrintStream OUT = new PrintStream(
            new BufferedOutputStream(new FileOutputStream(FileDescriptor.out), 1 << 16), false,
            StandardCharsets.UTF_8);

    static final HexFormat HEX = HexFormat.of();
    static final Object EOF = new Object();

    static synchronized void emit(Map<String, Object> obj) {
        StringBuilder sb = new StringBuilder(128);
        Json.write(sb, obj);
        OUT.append(sb).append('\n');
    }

    static void emitFlush(Map<String, Object> obj) {
        emit(obj);
        OUT.flush();
    }

    static Map<String, Object> obj(Object... kv) {
        Map<String, Object> m = new LinkedHashMap<>();
        for (int i = 0; i < kv.length; i += 2) {
            m.put((String) kv[i], kv[i + 1]);
        }
        return m;
    }

    static final Comparator<TopicPartition> TP_ORDER =
            Comparator.comparing(TopicPartition::topic).thenComparingInt(TopicPartition::partition);

    static List<Object> tps(Collection<TopicPartition> parts) {
        List<TopicPartition> sorted = new ArrayList<>(parts);
        sorted.sort(TP_ORDER);
        List<Object> out = new ArrayList<>(sorted.size());
        for (TopicPartition tp : sorted) {
            out.add(List.of(tp.topic(), (long) tp.partition()));
        }
        return out;
    }

    static List<Object> offsets(Map<TopicPartition, OffsetAndMetadata> offs) {
        List<TopicPartition> sorted = new ArrayList<>(offs.keySet());
        sorted.sort(TP_ORDER);
        List<Object> out = new ArrayList<>(sorted.size());
        for (TopicPartition tp : sorted) {
            OffsetAndMetadata om = offs.get(tp);
            out.add(java.util.Arrays.asList(tp.topic(), (long) tp.partition(),
                    om == null ? null : om.offset()));
        }
        return out;
    }

    // ---- options ---------------------------------------------------------------

    static final class Options {
        String bootstrap;
        String group;
        List<String> topics = new ArrayList<>();
        /** null: range with the classic protocol, the broker's choice with KIP-848. */
        String assignor;
        String remoteAssignor;
        String instanceId;
        boolean autoCommit = false;
        String autoOffsetReset = "earliest";
        Integer sessionTimeoutMs;
        Integer heartbeatIntervalMs;
        Integer maxPollIntervalMs;
        String groupProtocol = "classic";
        String clientRack;
        String clientId;
        Integer maxPollRecords;
        int pollMs = 100;
        boolean paused = false;
        /** With --exit-after-records: leave and exit 0 once this many records were read; stdin is not read. */
        Long exitAfterRecords;
        List<String> extra = new ArrayList<>();
    }

    /** The exception and its causes, on one line. */
    static String describe(Throwable e) {
        StringBuilder sb = new StringBuilder(e.toString());
        for (Throwable c = e.getCause(); c != null && c != c.getCause(); c = c.getCause()) {
            sb.append(" <- ").append(c);
        }
        return sb.toString();
    }

    static String usage() {
        return "usage: GroupConsumer --bootstrap B --group G --topic T [--topic T2 ...]\n"
                + "  [--assignor range|roundrobin|sticky|cooperative-sticky] [--remote-assignor uniform|range]\n"
                + "  [--instance-id ID] [--auto-commit true|false] [--auto-offset-reset earliest|latest|none]\n"
                + "  [--session-timeout-ms MS] [--heartbeat-interval-ms MS] [--max-poll-interval-ms MS]\n"
                + "  [--group-protocol classic|consumer] [--client-rack RACK] [--client-id ID]\n"
                + "  [--max-poll-records N] [--poll-ms MS] [--paused] [--set key=value ...]\n"
                + "  [--exit-after-records N]";
    }

    static Options parse(String[] args) {
        Options o = new Options();
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            if (a.equals("-h") || a.equals("--help")) {
                System.err.println(usage());
                System.exit(0);
            }
            if (a.equals("--paused")) {
                o.paused = true;
                continue;
            }
            if (i + 1 >= args.length) {
                throw new IllegalArgumentException("missing value for " + a);
            }
            String v = args[++i];
            switch (a) {
                case "--bootstrap": o.bootstrap = v; break;
                case "--group": o.group = v; break;
                case "--topic":
                    for (String t : v.split(",")) {
                        if (!t.isEmpty()) o.topics.add(t);
                    }
                    break;
                case "--assignor": o.assignor = v; break;
                case "--remote-assignor": o.remoteAssignor = v; break;
                case "--instance-id": o.instanceId = v; break;
                case "--auto-commit": o.autoCommit = parseBool(a, v); break;
                case "--auto-offset-reset": o.autoOffsetReset = v; break;
                case "--session-timeout-ms": o.sessionTimeoutMs = Integer.parseInt(v); break;
                case "--heartbeat-interval-ms": o.heartbeatIntervalMs = Integer.parseInt(v); break;
                case "--max-poll-interval-ms": o.maxPollIntervalMs = Integer.parseInt(v); break;
                case "--group-protocol": o.groupProtocol = v; break;
                case "--client-rack": o.clientRack = v; break;
                case "--client-id": o.clientId = v; break;
                case "--max-poll-records": o.maxPollRecords = Integer.parseInt(v); break;
                case "--poll-ms": o.pollMs = Integer.parseInt(v); break;
                case "--set": o.extra.add(v); break;
                case "--exit-after-records": o.exitAfterRecords = Long.parseLong(v); break;
                default: throw new IllegalArgumentException("unknown option " + a);
            }
        }
        if (o.bootstrap == null || o.group == null || o.topics.isEmpty()) {
            throw new IllegalArgumentException("--bootstrap, --group and --topic are required");
        }
        return o;
    }

    static boolean parseBool(String name, String v) {
        if (v.equals("true")) return true;
        if (v.equals("false")) return false;
        throw new IllegalArgumentException(name + " takes true or false, not " + v);
    }

    static String assignorClass(String name) {
        switch (name) {
            case "range": return "org.apache.kafka.clients.consumer.RangeAssignor";
            case "roundrobin": return "org.apache.kafka.clients.consumer.RoundRobinAssignor";
            case "sticky": return "org.apache.kafka.clients.consumer.StickyAssignor";
            case "cooperative-sticky": return "org.apache.kafka.clients.consumer.CooperativeStickyAssignor";
            default: throw new IllegalArgumentException("unknown --assignor " + name);
        }
    }

    static Properties props(Options o) {
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, o.bootstrap);
        p.put(ConsumerConfig.GROUP_ID_CONFIG, o.group);
        p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, Boolean.toString(o.autoCommit));
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, o.autoOffsetReset);
        p.put(ConsumerConfig.GROUP_PROTOCOL_CONFIG, o.groupProtocol);
        boolean classic = o.groupProtocol.equalsIgnoreCase("classic");
        if (classic && o.assignor == null) {
            o.assignor = "range";
        }
        // With group.protocol=consumer the client refuses the classic-only settings;
        // they are passed through so that it says so (a startup error).
        if (o.assignor != null) {
            p.put(ConsumerConfig.PARTITION_ASSIGNMENT_STRATEGY_CONFIG, assignorClass(o.assignor));
        }
        if (o.remoteAssignor != null) p.put(ConsumerConfig.GROUP_REMOTE_ASSIGNOR_CONFIG, o.remoteAssignor);
        if (o.instanceId != null) p.put(ConsumerConfig.GROUP_INSTANCE_ID_CONFIG, o.instanceId);
        if (o.sessionTimeoutMs != null) p.put(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, o.sessionTimeoutMs.toString());
        Integer heartbeat = o.heartbeatIntervalMs;
        if (heartbeat == null && o.sessionTimeoutMs != null && classic) {
            heartbeat = Math.max(1, o.sessionTimeoutMs / 3);  // the client wants it below the session timeout
        }
        if (heartbeat != null) p.put(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG, heartbeat.toString());
        if (o.maxPollIntervalMs != null) p.put(ConsumerConfig.MAX_POLL_INTERVAL_MS_CONFIG, o.maxPollIntervalMs.toString());
        if (o.clientRack != null) p.put(ConsumerConfig.CLIENT_RACK_CONFIG, o.clientRack);
        if (o.clientId != null) p.put(ConsumerConfig.CLIENT_ID_CONFIG, o.clientId);
        if (o.maxPollRecords != null) p.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, o.maxPollRecords.toString());
        if (o.autoCommit) {
            // Auto-commits have no callback in the Java client; an interceptor sees
            // every successful commit (periodic, before a revoke, on close).
            p.put(ConsumerConfig.INTERCEPTOR_CLASSES_CONFIG, CommitReporter.class.getName());
        }
        for (String kv : o.extra) {
            int eq = kv.indexOf('=');
            if (eq <= 0) throw new IllegalArgumentException("--set takes key=value, not " + kv);
            p.put(kv.substring(0, eq), kv.substring(eq + 1));
        }
        return p;
    }

    // ---- the member ------------------------------------------------------------

    /** Reports every successful commit when auto-commit is on (see props()). */
    public static final class CommitReporter implements ConsumerInterceptor<byte[], byte[]> {
        @Override
        public ConsumerRecords<byte[], byte[]> onConsume(ConsumerRecords<byte[], byte[]> records) {
            return records;
        }

        @Override
        public void onCommit(Map<TopicPartition, OffsetAndMetadata> offsets) {
            Long gen = null;
            KafkaConsumer<byte[], byte[]> c = current;
            if (c != null && Thread.currentThread() == mainThread) {
                gen = (long) c.groupMetadata().generationId();
            }
            emit(obj("ev", "commit", "mode", "auto", "gen", gen, "offsets", offsets(offsets)));
        }

        @Override
        public void close() {}

        @Override
        public void configure(Map<String, ?> configs) {}
    }

    static volatile KafkaConsumer<byte[], byte[]> current;
    static volatile Thread mainThread;

    final Options opts;
    final KafkaConsumer<byte[], byte[]> consumer;
    boolean paused;
    long records = 0;
    /** Manual mode: offsets read but not committed yet (a failed commit is retried). */
    final Map<TopicPartition, OffsetAndMetadata> pending = new HashMap<>();

    GroupConsumer(Options opts) {
        this.opts = opts;
        this.paused = opts.paused;
        this.consumer = new KafkaConsumer<>(props(opts));
        current = consumer;
    }

    Map<String, Object> rebalance(String ev, Collection<TopicPartition> parts, Set<TopicPartition> after) {
        ConsumerGroupMetadata md = consumer.groupMetadata();
        return obj("ev", ev, "gen", (long) md.generationId(), "member_id", md.memberId(),
                "partitions", tps(parts), "assignment", tps(after));
    }

    final ConsumerRebalanceListener listener = new ConsumerRebalanceListener() {
        @Override
        public void onPartitionsRevoked(Collection<TopicPartition> parts) {
            // Manual mode: what was read from them is committed before they go.
            Map<TopicPartition, OffsetAndMetadata> last = new HashMap<>();
            for (TopicPartition tp : parts) {
                OffsetAndMetadata om = pending.remove(tp);
                if (om != null) last.put(tp, om);
            }
            if (!last.isEmpty()) {
                commit("revoke", last);
            }
            Set<TopicPartition> after = new TreeSet<>(TP_ORDER);
            after.addAll(consumer.assignment());
            after.removeAll(parts);
            emitFlush(rebalance("revoked", parts, after));
        }

        @Override
        public void onPartitionsAssigned(Collection<TopicPartition> parts) {
            if (paused && !parts.isEmpty()) {
                consumer.pause(parts);
            }
            emitFlush(rebalance("assigned", parts, consumer.assignment()));
        }

        @Override
        public void onPartitionsLost(Collection<TopicPartition> parts) {
            pending.keySet().removeAll(parts);
            Set<TopicPartition> after = new TreeSet<>(TP_ORDER);
            after.addAll(consumer.assignment());
            after.removeAll(parts);
            emitFlush(rebalance("lost", parts, after));
        }
    };

    /** Manual mode: adds the offsets after `batch` to the pending ones and commits them. */
    void commitBatch(ConsumerRecords<byte[], byte[]> batch) {
        for (TopicPartition tp : batch.partitions()) {
            List<ConsumerRecord<byte[], byte[]>> rs = batch.records(tp);
            ConsumerRecord<byte[], byte[]> last = rs.get(rs.size() - 1);
            pending.put(tp, new OffsetAndMetadata(last.offset() + 1, last.leaderEpoch(), ""));
        }
        commitPending("sync");
    }

    /** Commits the pending offsets (of partitions still assigned); kept if it fails. */
    void commitPending(String mode) {
        pending.keySet().retainAll(consumer.assignment());
        if (pending.isEmpty()) {
            return;
        }
        Map<TopicPartition, OffsetAndMetadata> offs = new HashMap<>(pending);
        if (commit(mode, offs)) {
            for (Map.Entry<TopicPartition, OffsetAndMetadata> e : offs.entrySet()) {
                pending.remove(e.getKey(), e.getValue());
            }
        }
    }

    /** commitSync, reported as a commit or commit_failed event. */
    boolean commit(String mode, Map<TopicPartition, OffsetAndMetadata> offs) {
        // The records are out before their offsets are committed: a peer killed
        // right after the commit must not take reported-to-be-read records with it.
        OUT.flush();
        try {
            consumer.commitSync(offs, Duration.ofSeconds(10));
            emit(obj("ev", "commit", "mode", mode, "gen", (long) consumer.groupMetadata().generationId(),
                    "offsets", offsets(offs)));
            return true;
        } catch (RuntimeException e) {
            emit(obj("ev", "commit_failed", "mode", mode, "error", describe(e), "offsets", offsets(offs)));
            return false;
        }
    }

    static List<TopicPartition> parseTps(Object v) {
        List<TopicPartition> out = new ArrayList<>();
        for (Object item : (List<?>) v) {
            List<?> pair = (List<?>) item;
            out.add(new TopicPartition((String) pair.get(0), ((Number) pair.get(1)).intValue()));
        }
        return out;
    }

    /** Applies one command; returns false when the member should exit. */
    boolean handle(Map<String, Object> cmd) {
        Object id = cmd.get("id");
        String op = String.valueOf(cmd.get("cmd"));
        Map<String, Object> ans = obj("ok", true, "id", id, "cmd", op);
        switch (op) {
            case "ping":
                break;
            case "status": {
                ConsumerGroupMetadata md = consumer.groupMetadata();
                ans.put("gen", (long) md.generationId());
                ans.put("member_id", md.memberId());
                ans.put("assignment", tps(consumer.assignment()));
                ans.put("paused", paused);
                ans.put("records", records);
                break;
            }
            case "pause":
                paused = true;
                consumer.pause(consumer.assignment());
                break;
            case "resume":
                paused = false;
                consumer.resume(consumer.paused());
                break;
            case "committed": {
                Object ps = cmd.get("partitions");
                Set<TopicPartition> want = new TreeSet<>(TP_ORDER);
                want.addAll(ps == null ? consumer.assignment() : parseTps(ps));
                Map<TopicPartition, OffsetAndMetadata> got = new HashMap<>(consumer.committed(want, Duration.ofSeconds(10)));
                for (TopicPartition tp : want) got.putIfAbsent(tp, null);
                ans.put("offsets", offsets(got));
                break;
            }
            case "commit": {
                Map<TopicPartition, OffsetAndMetadata> offs = new HashMap<>();
                for (TopicPartition tp : consumer.assignment()) {
                    offs.put(tp, new OffsetAndMetadata(consumer.position(tp, Duration.ofSeconds(10))));
                }
                commit("command", offs);
                ans.put("offsets", offsets(offs));
                break;
            }
            case "stop": {
                Object leave = cmd.get("leave");
                CloseOptions.GroupMembershipOperation how;
                if (leave == null) how = CloseOptions.GroupMembershipOperation.DEFAULT;
                else if (Boolean.TRUE.equals(leave)) how = CloseOptions.GroupMembershipOperation.LEAVE_GROUP;
                else if (Boolean.FALSE.equals(leave)) how = CloseOptions.GroupMembershipOperation.REMAIN_IN_GROUP;
                else throw new IllegalArgumentException("leave takes true, false or null");
                close(how);
                ans.put("records", records);
                emitFlush(ans);
                return false;
            }
            default:
                emitFlush(obj("ok", false, "id", id, "error", "unknown cmd " + op));
                return true;
        }
        emitFlush(ans);
        return true;
    }

    boolean closed = false;

    void close() {
        close(CloseOptions.GroupMembershipOperation.DEFAULT);
    }

    /** DEFAULT: dynamic members leave the group, static ones stay (until their session ends). */
    void close(CloseOptions.GroupMembershipOperation op) {
        if (!closed) {
            closed = true;
            consumer.close(CloseOptions.timeout(Duration.ofSeconds(10)).withGroupMembershipOperation(op));
            current = null;
        }
    }

    int run(LinkedBlockingQueue<Object> commands) throws InterruptedException {
        consumer.subscribe(opts.topics, listener);
        emitFlush(obj("peer", "java", "client", "kafka-clients " + AppInfoParser.getVersion(),
                "group", opts.group, "pid", ProcessHandle.current().pid(),
                "group_protocol", opts.groupProtocol, "assignor", opts.assignor,
                "instance_id", opts.instanceId, "auto_commit", opts.autoCommit, "paused", paused));
        Duration pollTimeout = Duration.ofMillis(opts.pollMs);
        while (true) {
            Object c;
            while ((c = commands.poll()) != null) {
                if (c == EOF && opts.exitAfterRecords != null) {
                    continue;  // no commands in this mode: runs until the records are read
                }
                if (c == EOF) {
                    close();
                    OUT.flush();
                    return 0;
                }
                @SuppressWarnings("unchecked")
                Map<String, Object> cmd = (Map<String, Object>) c;
                try {
                    if (!handle(cmd)) {
                        return 0;
                    }
                } catch (RuntimeException e) {
                    emitFlush(obj("ok", false, "id", cmd.get("id"), "error", e.toString()));
                }
            }
            ConsumerRecords<byte[], byte[]> batch;
            try {
                batch = consumer.poll(pollTimeout);
            } catch (RuntimeException e) {
                emitFlush(obj("ev", "error", "fatal", true, "error", describe(e)));
                try {
                    close();
                } catch (RuntimeException ignored) {
                    // already failing
                }
                return 1;
            }
            for (ConsumerRecord<byte[], byte[]> r : batch) {
                byte[] k = r.key();
                byte[] v = r.value();
                emit(obj("ev", "record", "topic", r.topic(), "partition", (long) r.partition(),
                        "offset", r.offset(), "key", k == null ? null : HEX.formatHex(k),
                        "value_len", v == null ? null : (long) v.length));
                records++;
            }
            if (opts.exitAfterRecords != null && records >= opts.exitAfterRecords) {
                close();
                emitFlush(obj("ev", "done", "records", records));
                return 0;
            }
            if (!opts.autoCommit) {
                if (!batch.isEmpty()) {
                    commitBatch(batch);
                } else if (!pending.isEmpty()) {
                    commitPending("retry");
                }
            }
            OUT.flush();
        }
    }

    public static void main(String[] args) throws Exception {
        mainThread = Thread.currentThread();
        Options opts;
        GroupConsumer member;
        try {
            opts = parse(args);
            member = new GroupConsumer(opts);
        } catch (RuntimeException e) {
            emitFlush(obj("error", describe(e)));
            e.printStackTrace();
            System.err.println(usage());
            System.exit(2);
            return;
        }
        LinkedBlockingQueue<Object> commands = new LinkedBlockingQueue<>();
        Thread reader = new Thread(() -> {
            try (BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8))) {
                String line;
                while ((line = in.readLine()) != null) {
                    line = line.strip();
                    if (line.isEmpty()) continue;
                    try {
                        Object v = Json.parse(line);
                        if (!(v instanceof Map)) throw new IllegalArgumentException("not a JSON object");
                        commands.put(v);
                    } catch (RuntimeException e) {
                        emitFlush(obj("ok", false, "id", null, "error", "bad command " + line + ": " + e));
                    }
                }
            } catch (Exception e) {
                // stdin gone: same as EOF
            }
            commands.add(EOF);
        }, "stdin");
        reader.setDaemon(true);
        reader.start();
        int rc;
        try {
            rc = member.run(commands);
        } catch (RuntimeException e) {
            emitFlush(obj("ev", "error", "fatal", true, "error", describe(e)));
            rc = 1;
        }
        OUT.flush();
        // Any client threads left must not keep the JVM alive.
        Runtime.getRuntime().halt(rc);
    }

    // ---- minimal JSON ------------------------------------------------------------

    static final class Json {
        static void write(StringBuilder sb, Object v) {
            if (v == null) {
                sb.append("null");
            } else if (v instanceof String) {
                str(sb, (String) v);
            } else if (v instanceof Boolean || v instanceof Long || v instanceof Integer) {
                sb.append(v);
            } else if (v instanceof Map) {
                sb.append('{');
                boolean first = true;
                for (Map.Entry<?, ?> e : ((Map<?, ?>) v).entrySet()) {
                    if (!first) sb.append(',');
                    first = false;
                    str(sb, (String) e.getKey());
                    sb.append(':');
                    write(sb, e.getValue());
                }
                sb.append('}');
            } else if (v instanceof List) {
                sb.append('[');
                boolean first = true;
                for (Object x : (List<?>) v) {
                    if (!first) sb.append(',');
                    first = false;
                    write(sb, x);
                }
                sb.append(']');
            } else if (v instanceof Number) {
                sb.append(v);
            } else {
                str(sb, v.toString());
            }
        }

        static void str(StringBuilder sb, String s) {
            sb.append('"');
            for (int i = 0; i < s.length(); i++) {
                char c = s.charAt(i);
                switch (c) {
                    case '"': sb.append("\\\""); break;
                    case '\\': sb.append("\\\\"); break;
                    case '\n': sb.append("\\n"); break;
                    case '\r': sb.append("\\r"); break;
                    case '\t': sb.append("\\t"); break;
                    default:
                        if (c < 0x20) sb.append(String.format("\\u%04x", (int) c));
                        else sb.append(c);
                }
            }
            sb.append('"');
        }

        static Object parse(String s) {
            Json p = new Json(s);
            p.ws();
            Object v = p.value();
            p.ws();
            if (p.i != s.length()) throw new IllegalArgumentException("trailing characters at " + p.i);
            return v;
        }

        final String s;
        int i = 0;

        Json(String s) {
            this.s = s;
        }

        void ws() {
            while (i < s.length() && Character.isWhitespace(s.charAt(i))) i++;
        }

        char peek() {
            if (i >= s.length()) throw new IllegalArgumentException("unexpected end");
            return s.charAt(i);
        }

        void expect(String lit) {
            if (!s.startsWith(lit, i)) throw new IllegalArgumentException("expected " + lit + " at " + i);
            i += lit.length();
        }

        Object value() {
            char c = peek();
            switch (c) {
                case '{': {
                    i++;
                    Map<String, Object> m = new LinkedHashMap<>();
                    ws();
                    if (peek() == '}') { i++; return m; }
                    while (true) {
                        ws();
                        String k = string();
                        ws();
                        expect(":");
                        ws();
                        m.put(k, value());
                        ws();
                        if (peek() == ',') { i++; continue; }
                        expect("}");
                        return m;
                    }
                }
                case '[': {
                    i++;
                    List<Object> l = new ArrayList<>();
                    ws();
                    if (peek() == ']') { i++; return l; }
                    while (true) {
                        ws();
                        l.add(value());
                        ws();
                        if (peek() == ',') { i++; continue; }
                        expect("]");
                        return l;
                    }
                }
                case '"':
                    return string();
                case 't': expect("true"); return Boolean.TRUE;
                case 'f': expect("false"); return Boolean.FALSE;
                case 'n': expect("null"); return null;
                default: {
                    int start = i;
                    while (i < s.length() && "+-0123456789.eE".indexOf(s.charAt(i)) >= 0) i++;
                    String num = s.substring(start, i);
                    if (num.isEmpty()) throw new IllegalArgumentException("unexpected " + c + " at " + start);
                    if (num.matches("-?\\d+")) return Long.parseLong(num);
                    return Double.parseDouble(num);
                }
            }
        }

        String string() {
            expect("\"");
            StringBuilder sb = new StringBuilder();
            while (true) {
                char c = peek();
                i++;
                if (c == '"') return sb.toString();
                if (c != '\\') { sb.append(c); continue; }
                char e = peek();
                i++;
                switch (e) {
                    case 'n': sb.append('\n'); break;
                    case 't': sb.append('\t'); break;
                    case 'r': sb.append('\r'); break;
                    case 'b': sb.append('\b'); break;
                    case 'f': sb.append('\f'); break;
                    case 'u': sb.append((char) Integer.parseInt(s.substring(i, i + 4), 16)); i += 4; break;
                    default: sb.append(e);
                }
            }
        }
    }
}
