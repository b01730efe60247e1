package dev.moeshard.benchmarks;

import dev.moeshard.convert.ConversionPlan;
import dev.moeshard.convert.ConversionReport;
import dev.moeshard.convert.MoeConvert;
import dev.moeshard.convert.RankSelection;
import dev.moeshard.convert.ToGroupedRequest;
import dev.moeshard.convert.WorkUnit;
import dev.moeshard.safetensors.ShardLayout;
import dev.moeshard.safetensors.TensorSpec;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.ToLongFunction;

/**
 * What planning and one rank cost on a checkpoint far larger than the machine, by simulation
 * ({@code benchmarks/scale_simulation.sh}). Three steps, each its own JVM so that each is measured alone:
 *
 * <ul>
 *   <li>{@code write DIR}: a Kimi-K2-shaped FP8 checkpoint ({@link KimiK2Shape}, about 1 TB) as a
 *       {@link SparseCheckpoint}: real headers, data left as holes;</li>
 *   <li>{@code plan DIR EP[,EP...] [REPS]}: {@link MoeConvert#planToGrouped} for every rank of each EP size with
 *       {@code keep-fp8}, timed (the first call, cold, and the median of the others), and the plan's units: how many,
 *       the bytes each reads and writes (min / median / max), rank 0's figures on their own lines;</li>
 *   <li>{@code convert IN OUT EP RANK}: one rank converted with {@code keep-fp8}, the request {@code moeshard
 *       to-grouped IN OUT --ep-size EP --ep-rank RANK --dtype keep-fp8} makes, with this process's
 *       {@code /proc/self/io} counters read before and after it (and around a plan of the same request made
 *       first, whose reads are the headers').</li>
 * </ul>
 *
 * <pre>
 * java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED \
 *     -cp benchmarks/target/moeshard-benchmarks.jar dev.moeshard.benchmarks.ScaleSimulation write|plan|convert ...
 * </pre>
 *
 * <p>Lines meant for the script are {@code key=value}.
 */
public final class ScaleSimulation {
    /** Shards of at most 6.5 GB of tensors: about 160 of them for Kimi-K2's terabyte. */
    private static final long MAX_SHARD_BYTES = 6_500_000_000L;

    private ScaleSimulation() {}

    public static void main(String[] args) throws IOException {
        if (args.length < 2) {
            usage();
        }
        switch (args[0]) {
            case "write" -> write(Path.of(args[1]));
            case "plan" -> {
                if (args.length < 3) {
                    usage();
                }
                int reps = args.length > 3 ? Integer.parseInt(args[3]) : 3;
                for (String ep : args[2].split(",")) {
                    plan(Path.of(args[1]), Integer.parseInt(ep), reps);
                }
            }
            case "convert" -> {
                if (args.length < 5) {
                    usage();
                }
                convert(Path.of(args[1]), Path.of(args[2]), Integer.parseInt(args[3]), Integer.parseInt(args[4]));
            }
            default -> usage();
        }
    }

    private static void usage() {
        System.err.println("usage: ScaleSimulation write DIR | plan DIR EP[,EP...] [REPS] | convert IN OUT EP RANK");
        System.exit(2);
    }

    private static void write(Path dir) throws IOException {
        if (Files.exists(dir) && !isEmptyDirectory(dir)) {
            System.err.println(dir + " exists and is not empty");
            System.exit(2);
        }
        List<TensorSpec> specs = KimiK2Shape.tensors();
        long start = System.nanoTime();
        ShardLayout layout = SparseCheckpoint.write(dir, specs, MAX_SHARD_BYTES);
        Files.writeString(dir.resolve("config.json"), KimiK2Shape.config());
        double seconds = (System.nanoTime() - start) / 1e9;
        long[] shardBytes = layout.shards().stream().mapToLong(ShardLayout.Shard::dataSize).sorted().toArray();
        long fileBytes = 0;
        for (ShardLayout.Shard shard : layout.shards()) {
            fileBytes += Files.size(dir.resolve(shard.fileName()));
        }
        System.out.printf(Locale.ROOT, "write.seconds=%.2f%n", seconds);
        System.out.println("write.tensors=" + specs.size());
        System.out.println("write.shards=" + layout.shards().size());
        System.out.println("write.tensor_bytes=" + layout.totalSize());
        System.out.println("write.file_bytes=" + fileBytes);
        System.out.println("write.header_bytes=" + (fileBytes - layout.totalSize()));
        System.out.println("write.shard_tensor_bytes_min=" + shardBytes[0]);
        System.out.println("write.shard_tensor_bytes_max=" + shardBytes[shardBytes.length - 1]);
    }

    private static boolean isEmptyDirectory(Path dir) throws IOException {
        if (!Files.isDirectory(dir)) {
            return false;
        }
        try (var entries = Files.list(dir)) {
            return entries.findAny().isEmpty();
        }
    }

    private static void plan(Path in, int ep, int reps) {
        String key = "plan.ep" + ep;
        ToGroupedRequest request = ToGroupedRequest.of(in, in.resolveSibling(in.getFileName() + "-plan-only"))
                .withRanks(RankSelection.all(ep)).withKeepFp8();
        double[] seconds = new double[reps];
        ConversionPlan plan = null;
        for (int i = 0; i < reps; i++) {
            long start = System.nanoTime();
            try {
                plan = MoeConvert.planToGrouped(request);
            } catch (RuntimeException e) {
                System.out.println(key + ".refused=" + e.getClass().getSimpleName() + ": "
                        + e.getMessage().replace('\n', ' '));
                return;
            }
            seconds[i] = (System.nanoTime() - start) / 1e9;
        }
        List<WorkUnit> units = plan.units();
        System.out.printf(Locale.ROOT, "%s.seconds_first=%.3f%n", key, seconds[0]);
        if (reps > 1) {
            double[] rest = Arrays.copyOfRange(seconds, 1, reps);
            Arrays.sort(rest);
            System.out.printf(Locale.ROOT, "%s.seconds_median_after_first=%.3f (%d runs)%n", key,
                    rest[rest.length / 2], rest.length);
        }
        System.out.println(key + ".units=" + units.size());
        spread(key + ".unit_read_bytes", units, WorkUnit::readBytes);
        spread(key + ".unit_output_bytes", units, WorkUnit::outputBytes);
        spread(key + ".unit_experts", units, u -> u.expertEnd() - u.expertStart());
        spread(key + ".unit_read_ranges", units, u -> u.reads().size());
        spread(key + ".unit_files_written", units, u -> u.writes().size());
        Map<Integer, Integer> byExperts = new HashMap<>();
        units.forEach(u -> byExperts.merge(u.expertEnd() - u.expertStart(), 1, Integer::sum));
        System.out.println(key + ".units_by_expert_count=" + byExperts);
        System.out.println(key + ".output_bytes=" + plan.outputBytes());
        CountingStream json = new CountingStream();
        plan.writeJson(json);
        System.out.println(key + ".plan_json_bytes=" + json.count);
        List<WorkUnit> rank0 = units.stream().filter(u -> u.rank() == 0).toList();
        if (!rank0.isEmpty()) {
            System.out.println(key + ".rank0.units=" + rank0.size());
            System.out.println(key + ".rank0.experts=[" + rank0.getFirst().expertStart() + ", "
                    + rank0.getFirst().expertEnd() + ")");
            System.out.println(key + ".rank0.read_bytes=" + rank0.stream().mapToLong(WorkUnit::readBytes).sum());
            System.out.println(key + ".rank0.output_bytes=" + rank0.stream().mapToLong(WorkUnit::outputBytes).sum());
        }
    }

    private static void spread(String key, List<WorkUnit> units, ToLongFunction<WorkUnit> value) {
        long[] v = units.stream().mapToLong(value).sorted().toArray();
        if (v.length == 0) {
            return;
        }
        System.out.println(key + "=min " + v[0] + " median " + v[v.length / 2] + " max " + v[v.length - 1]);
    }

    private static void convert(Path in, Path out, int ep, int rank) throws IOException {
        ToGroupedRequest request = ToGroupedRequest.of(in, out).withRanks(RankSelection.one(ep, rank)).withKeepFp8();
        Map<String, Long> beforePlan = io();
        List<WorkUnit> planned = MoeConvert.planToGrouped(request).units();
        Map<String, Long> afterPlan = io();
        System.out.println("convert.pid=" + ProcessHandle.current().pid());
        System.out.println("convert.plan_io.rchar=" + (afterPlan.get("rchar") - beforePlan.get("rchar")));
        System.out.println("convert.plan_units=" + planned.size());
        System.out.println("convert.plan_read_bytes=" + planned.stream().mapToLong(WorkUnit::readBytes).sum());
        System.out.println("convert.plan_output_bytes=" + planned.stream().mapToLong(WorkUnit::outputBytes).sum());
        Map<String, Long> before = io();
        long start = System.nanoTime();
        ConversionReport report = MoeConvert.toGrouped(request);
        double seconds = (System.nanoTime() - start) / 1e9;
        Map<String, Long> after = io();
        System.out.printf(Locale.ROOT, "convert.seconds=%.2f%n", seconds);
        System.out.println("convert.report_bytes=" + report.bytes());
        System.out.println("convert.report_tensors=" + report.tensors());
        for (String k : List.of("rchar", "wchar", "syscr", "syscw", "read_bytes", "write_bytes")) {
            System.out.println("convert.io." + k + "=" + (after.get(k) - before.get(k)));
        }
        System.out.println("convert.io_process_total.rchar=" + after.get("rchar"));
        System.out.println("convert.io_process_total.read_bytes=" + after.get("read_bytes"));
    }

    /** This process's I/O counters ({@code proc(5)}, /proc/PID/io). */
    private static Map<String, Long> io() throws IOException {
        Map<String, Long> counters = new HashMap<>();
        for (String line : Files.readAllLines(Path.of("/proc/self/io"))) {
            int colon = line.indexOf(':');
            counters.put(line.substring(0, colon).trim(), Long.parseLong(line.substring(colon + 1).trim()));
        }
        return counters;
    }

    /** Counts the bytes written to it and keeps none. */
    private static final class CountingStream extends java.io.OutputStream {
        long count;

        @Override
        public void write(int b) {
            count++;
        }

        @Override
        public void write(byte[] b, int off, int len) {
            count += len;
        }
    }
}
