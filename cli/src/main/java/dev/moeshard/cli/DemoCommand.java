package dev.moeshard.cli;

import dev.moeshard.moe.FromHfOptions;
import dev.moeshard.moe.MoeStateDictAdapter;
import dev.moeshard.moe.ToHfOptions;
import dev.moeshard.moe.family.DetectedModel;
import dev.moeshard.moe.family.FamilyDetection;
import dev.moeshard.moe.parallel.DeviceMesh;
import dev.moeshard.moe.parallel.ExpertRange;
import dev.moeshard.safetensors.Checkpoint;
import dev.moeshard.safetensors.ShardedCheckpointWriter;
import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.Tensor;
import dev.moeshard.tensor.copy.CopyEngine;
import dev.moeshard.tensor.simd.VectorSupport;
import java.io.IOException;
import java.io.PrintWriter;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/**
 * {@code moeshard demo [DIR]}: makes a small per-expert checkpoint with its config.json, writes it as sharded
 * safetensors, converts it to grouped experts ([E, H, 2I] and [E, I, H]) for two expert-parallel ranks, writes each
 * rank's checkpoint, reads them back, converts them to per-expert tensors again and checks that every tensor of the
 * original comes back byte for byte, each expert from exactly one rank.
 */
@Command(name = "demo", mixinStandardHelpOptions = true,
        description = "Makes a small MoE checkpoint, converts it to grouped experts on 2 expert-parallel ranks and back, "
                + "and verifies every byte.")
final class DemoCommand implements Callable<Integer> {
    private static final int EP_SIZE = 2;
    private static final int WARM_UP_PASSES = 10;

    @Parameters(index = "0", arity = "0..1", paramLabel = "DIR",
            description = "Where to write the demo checkpoints (default: a new temporary directory).")
    Path directory;

    @Spec
    CommandSpec spec;

    private final DemoCheckpoint model = new DemoCheckpoint(4, 16, 512, 256);

    @Override
    public Integer call() throws IOException {
        PrintWriter out = spec.commandLine().getOut();
        Path root = directory != null ? Files.createDirectories(directory) : Files.createTempDirectory("moeshard-demo");
        Path hfDir = root.resolve("hf");
        Map<String, Tensor> original = model.tensors(1234);
        ShardedCheckpointWriter.write(hfDir, original, 4_000_000, Map.of("format", "pt"));
        Files.writeString(hfDir.resolve("config.json"), model.configJson());
        out.printf("wrote a per-expert checkpoint: %d layers x %d experts, H=%d I=%d, BF16, %d tensors -> %s%n",
                model.layers(), model.experts(), model.hidden(), model.intermediate(), original.size(), hfDir);
        out.printf("copy engine: %s kernels, %d threads (%s)%n", CopyEngine.shared().kernels().name(),
                CopyEngine.shared().threads(), VectorSupport.reason());

        DetectedModel detected = FamilyDetection.fromConfigFile(hfDir.resolve("config.json"));
        long mergeNanos = 0;
        try (Checkpoint hf = Checkpoint.open(hfDir)) {
            Map<String, Tensor> views = hf.tensors();
            for (int rank = 0; rank < EP_SIZE; rank++) {
                FromHfOptions options = FromHfOptions.defaults().withMesh(DeviceMesh.expertParallel(EP_SIZE, rank));
                Map<String, Tensor> grouped = detected.adapter().fromHf(new LinkedHashMap<>(views), options);
                // The merge timed alone: the same experts written again into the grouped tensors just made (the
                // write-through load), so that neither allocation nor first-touch page faults count, as for the
                // memcpy beside it. The first passes include JIT compilation; the last one is timed.
                for (int pass = 0; pass <= WARM_UP_PASSES; pass++) {
                    long start = System.nanoTime();
                    detected.adapter().loadInto(grouped, new LinkedHashMap<>(views), options);
                    if (pass == WARM_UP_PASSES) {
                        mergeNanos += System.nanoTime() - start;
                    }
                }
                ShardedCheckpointWriter.write(rankDir(root, rank), grouped, 8_000_000, Map.of("format", "pt"));
                ExpertRange range = ExpertRange.forMesh(options.mesh(), model.experts());
                out.printf("rank %d of %d: experts [%d, %d) grouped into %s -> %s%n", rank, EP_SIZE, range.start(),
                        range.end(), groupedShapes(grouped), rankDir(root, rank));
            }
        }
        long expertBytes = model.expertBytesPerLayer() * model.layers();
        out.printf("merge into the grouped tensors: %.1f MB of experts in %.1f ms (%.2f GB/s; a memcpy of the same bytes "
                + "here: %.2f GB/s; ./moeshard bench measures a full-size layer)%n",
                expertBytes / 1e6, mergeNanos / 1e6, expertBytes / (double) mergeNanos, memcpyGigabytesPerSecond(expertBytes));

        long checked = verify(root, detected.adapter(), original);
        out.printf("read both ranks back and converted them to per-expert tensors: all %d tensors of the original "
                + "byte-identical, every expert from exactly one rank%n", checked);
        return ExitCode.OK;
    }

    private static Path rankDir(Path root, int rank) {
        return root.resolve("grouped").resolve("ep-rank-" + rank);
    }

    private static String groupedShapes(Map<String, Tensor> grouped) {
        String gateAndUp = DemoCheckpoint.PREFIX + "0.mlp.experts.gate_and_up_projs";
        String down = DemoCheckpoint.PREFIX + "0.mlp.experts.down_projs";
        return "gate_and_up_projs " + Arrays.toString(grouped.get(gateAndUp).sizes())
                + " and down_projs " + Arrays.toString(grouped.get(down).sizes());
    }

    private long verify(Path root, MoeStateDictAdapter adapter, Map<String, Tensor> original) {
        Map<String, Integer> seenOnRank = new LinkedHashMap<>();
        long checked = 0;
        for (int rank = 0; rank < EP_SIZE; rank++) {
            ExpertRange range = ExpertRange.forRank(rank, EP_SIZE, model.experts());
            try (Checkpoint grouped = Checkpoint.open(rankDir(root, rank))) {
                Map<String, Tensor> restored = adapter.toHf(grouped.tensors(), ToHfOptions.defaults().withLocalExperts(range));
                for (var entry : restored.entrySet()) {
                    String key = entry.getKey();
                    Tensor want = original.get(key);
                    if (want == null) {
                        throw new IllegalStateException("demo verification failed: rank " + rank + " produced " + key
                                + ", which the original does not have");
                    }
                    Integer earlier = seenOnRank.putIfAbsent(key, rank);
                    if (earlier == null) {
                        checked++;
                    } else if (key.contains(".mlp.experts.")) {
                        throw new IllegalStateException("demo verification failed: expert tensor " + key
                                + " came from rank " + earlier + " and rank " + rank);
                    }
                    MemorySegment got = entry.getValue().contiguousCopy().segment();
                    if (want.segment().mismatch(got) != -1) {
                        throw new IllegalStateException("demo verification failed: " + key + " differs after the round trip");
                    }
                }
            }
        }
        if (checked != original.size()) {
            throw new IllegalStateException("demo verification failed: " + (original.size() - checked)
                    + " tensors of the original did not come back");
        }
        return checked;
    }

    private static double memcpyGigabytesPerSecond(long bytes) {
        Tensor a = Tensor.allocate(DType.U8, bytes);
        Tensor b = Tensor.allocate(DType.U8, bytes);
        MemorySegment.copy(a.segment(), 0, b.segment(), 0, bytes); // touch both once, as the merge's output was
        long start = System.nanoTime();
        MemorySegment.copy(a.segment(), 0, b.segment(), 0, bytes);
        return bytes / (double) (System.nanoTime() - start);
    }
}
