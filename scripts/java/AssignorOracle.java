// Runs the Java client's own assignors (kafka-clients: RangeAssignor,
// RoundRobinAssignor, StickyAssignor, CooperativeStickyAssignor) on groups written
// by kasio's test `java_oracle` (core/tests/assignors.rs), so that the test can
// compare them with kasio's. Built and run by scripts/java-assignor-oracle.sh.
//
//   java -cp <classes>:<kafka-clients.jar>:<slf4j-api.jar> AssignorOracle <in> <out>
//
// Input, one group per block; names are "x" + the hex of their UTF-8 bytes (any
// string survives, the empty one too), "-" is "none":
//   case <assignor>
//   topic <name> <partitions>
//   racks <rack>...                  one line per partition, its replicas' racks
//   member <id> <instance|-> <rack|-> <generation|-> <n> <topic>... <m> (<topic> <partition>)...
//   end
// Output, per group:
//   case
//   assign <member> <n> (<topic> <partition>)...     (or: error <message>)
//   end
//
// The leader's part of AbstractPartitionAssignor.assign(Cluster, ...) is done
// here: only subscribed topics with partitions are passed, partitions in order.
// StickyAssignor reads owned partitions and generation from its user data; here
// they come from the subscription fields, as kasio takes them (the same numbers
// either way).

import java.io.BufferedReader;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

import org.apache.kafka.clients.consumer.ConsumerPartitionAssignor.Subscription;
import org.apache.kafka.clients.consumer.CooperativeStickyAssignor;
import org.apache.kafka.clients.consumer.RangeAssignor;
import org.apache.kafka.clients.consumer.RoundRobinAssignor;
import org.apache.kafka.clients.consumer.StickyAssignor;
import org.apache.kafka.clients.consumer.internals.AbstractPartitionAssignor;
import org.apache.kafka.clients.consumer.internals.AbstractStickyAssignor;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;

public class AssignorOracle {
    /** StickyAssignor with owned partitions and generation from the subscription. */
    static final class FieldSticky extends StickyAssignor {
        @Override
        protected AbstractStickyAssignor.MemberData memberData(Subscription s) {
            return new AbstractStickyAssignor.MemberData(s.ownedPartitions(), s.generationId(), s.rackId());
        }
    }

    static String name(String token) {
        if (token.equals("-")) return null;
        String hex = token.substring(1);
        byte[] bytes = new byte[hex.length() / 2];
        for (int i = 0; i < bytes.length; i++)
            bytes[i] = (byte) Integer.parseInt(hex.substring(2 * i, 2 * i + 2), 16);
        return new String(bytes, StandardCharsets.UTF_8);
    }

    static String token(String s) {
        StringBuilder b = new StringBuilder("x");
        for (byte x : s.getBytes(StandardCharsets.UTF_8)) b.append(String.format("%02x", x & 0xff));
        return b.toString();
    }

    static AbstractPartitionAssignor assignor(String name) {
        switch (name) {
            case "range": return new RangeAssignor();
            case "roundrobin": return new RoundRobinAssignor();
            case "sticky": return new FieldSticky();
            case "cooperative-sticky": return new CooperativeStickyAssignor();
            default: throw new IllegalArgumentException(name);
        }
    }

    public static void main(String[] args) throws Exception {
        try (BufferedReader in = Files.newBufferedReader(Paths.get(args[0]), StandardCharsets.UTF_8);
             PrintWriter out = new PrintWriter(Files.newBufferedWriter(Paths.get(args[1]), StandardCharsets.UTF_8))) {
            String line;
            String assignorName = null;
            Map<String, List<List<String>>> topics = new HashMap<>();
            Map<String, Subscription> members = new HashMap<>();
            String currentTopic = null;
            int nodeId = 0;
            while ((line = in.readLine()) != null) {
                String[] t = line.isEmpty() ? new String[0] : line.split(" ");
                if (t.length == 0) continue;
                switch (t[0]) {
                    case "case":
                        assignorName = t[1];
                        topics = new HashMap<>();
                        members = new HashMap<>();
                        break;
                    case "topic":
                        currentTopic = name(t[1]);
                        topics.put(currentTopic, new ArrayList<>());
                        break;
                    case "racks": {
                        List<String> racks = new ArrayList<>();
                        for (int i = 1; i < t.length; i++) racks.add(name(t[i]));
                        topics.get(currentTopic).add(racks);
                        break;
                    }
                    case "member": {
                        int i = 1;
                        String id = name(t[i++]);
                        Optional<String> instance = Optional.ofNullable(name(t[i++]));
                        Optional<String> rack = Optional.ofNullable(name(t[i++]));
                        String g = t[i++];
                        int generation = g.equals("-") ? -1 : Integer.parseInt(g);
                        int n = Integer.parseInt(t[i++]);
                        List<String> subscribed = new ArrayList<>();
                        for (int k = 0; k < n; k++) subscribed.add(name(t[i++]));
                        int m = Integer.parseInt(t[i++]);
                        List<TopicPartition> owned = new ArrayList<>();
                        for (int k = 0; k < m; k++) {
                            String topic = name(t[i++]);
                            owned.add(new TopicPartition(topic, Integer.parseInt(t[i++])));
                        }
                        Subscription s = new Subscription(subscribed, null, owned, generation, rack);
                        s.setGroupInstanceId(instance);
                        members.put(id, s);
                        break;
                    }
                    case "end": {
                        Set<String> wanted = new HashSet<>();
                        for (Subscription s : members.values()) wanted.addAll(s.topics());
                        Map<String, List<PartitionInfo>> partitionsPerTopic = new HashMap<>();
                        for (String topic : wanted) {
                            List<List<String>> parts = topics.get(topic);
                            if (parts == null || parts.isEmpty()) continue;
                            List<PartitionInfo> infos = new ArrayList<>();
                            for (int p = 0; p < parts.size(); p++) {
                                List<String> racks = parts.get(p);
                                Node[] replicas = new Node[racks.size()];
                                for (int r = 0; r < racks.size(); r++)
                                    replicas[r] = new Node(nodeId++, "h", 9092, racks.get(r));
                                Node leader = replicas.length > 0 ? replicas[0] : Node.noNode();
                                infos.add(new PartitionInfo(topic, p, leader, replicas, replicas));
                            }
                            partitionsPerTopic.put(topic, infos);
                        }
                        out.println("case");
                        try {
                            Map<String, List<TopicPartition>> result =
                                assignor(assignorName).assignPartitions(partitionsPerTopic, members);
                            for (Map.Entry<String, List<TopicPartition>> e : result.entrySet()) {
                                StringBuilder b = new StringBuilder("assign ");
                                b.append(token(e.getKey())).append(' ').append(e.getValue().size());
                                for (TopicPartition tp : e.getValue())
                                    b.append(' ').append(token(tp.topic())).append(' ').append(tp.partition());
                                out.println(b);
                            }
                        } catch (RuntimeException e) {
                            out.println("error " + e.getClass().getSimpleName() + ": "
                                + String.valueOf(e.getMessage()).replace('\n', ' '));
                        }
                        out.println("end");
                        break;
                    }
                    default:
                        throw new IllegalArgumentException("bad line: " + line);
                }
            }
        }
    }
}
