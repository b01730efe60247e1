package dev.moeshard.cli;

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
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/**
 * {@code moeshard demo [DIR]}: makes a small per-expert checkpoint, writes it as sharded safetensors, reads it back
 * through the mapped reader, merges every layer's experts into grouped tensors ([E, H, 2I] and [E, I, H]), writes
 * those, reads them back and checks every byte against the original per-expert tensors.
 */
@Command(name = "demo", mixinStandardHelpOptions = true,
        description = "Makes a small MoE checkpoint, converts it to grouped experts and back, and verifies every byte.")
final class DemoCommand implements Callable<Integer> {
    @Parameters(index = "0", arity = "0..1", paramLabel = "DIR",
            description = "Where to write the demo checkpoints (default: a new temporary directory).")
    Path directory;

    @Spec
    CommandSpec spec;

    private static final int WARM_UP_PASSES = 2;

    private final DemoCheckpoint model = new DemoCheckpoint(4, 16, 512, 256);

    @Override
    public Integer call() throws IOException {
        PrintWriter out = spec.commandLine().getOut();
        Path root = directory != null ? Files.createDirectories(directory) : Files.createTempDirectory("moeshard-demo");
        Path hfDir = root.resolve("hf");
        Path groupedDir = root.resolve("grouped");
        Map<String, Tensor> original = model.tensors(1234);
        ShardedCheckpointWriter.write(hfDir, original, 4_000_000, Map.of("format", "pt"));
        out.printf("wrote a per-expert checkpoint: %d layers x %d experts, H=%d I=%d, BF16, %d tensors -> %s%n",
                model.layers(), model.experts(), model.hidden(), model.intermediate(), original.size(), hfDir);
        out.printf("copy engine: %s kernels, %d threads (%s)%n", CopyEngine.shared().kernels().name(),
                CopyEngine.shared().threads(), VectorSupport.reason());

        long mergeNanos;
        Map<String, Tensor> grouped = new LinkedHashMap<>();
        try (Checkpoint hf = Checkpoint.open(hfDir)) {
            for (String key : hf.keys()) {
                if (!key.contains(".mlp.experts.")) {
                    grouped.put(key, hf.tensor(key));
                }
            }
            // The first passes include JIT compilation and first-touch page faults; the last one is timed.
            mergeNanos = 0;
            for (int pass = 0; pass < WARM_UP_PASSES + 1; pass++) {
                long start = System.nanoTime();
                for (int l = 0; l < model.layers(); l++) {
                    mergeLayer(hf, l, grouped);
                }
                mergeNanos = System.nanoTime() - start;
            }
            ShardedCheckpointWriter.write(groupedDir, grouped, 8_000_000, Map.of("format", "pt"));
        }
        long expertBytes = model.expertBytesPerLayer() * model.layers();
        out.printf("merged %d experts per layer into gate_and_up_projs [E,H,2I] and down_projs [E,I,H]: "
                        + "%.1f MB in %.1f ms (%.2f GB/s; a memcpy of the same bytes here: %.2f GB/s) -> %s%n",
                model.experts(), expertBytes / 1e6, mergeNanos / 1e6, expertBytes / (double) mergeNanos,
                memcpyGigabytesPerSecond(expertBytes), groupedDir);

        long checked = verify(groupedDir, original);
        out.printf("read the grouped checkpoint back and split it per expert: all %d tensors byte-identical to the "
                + "original%n", checked);
        return ExitCode.OK;
    }

    private void mergeLayer(Checkpoint hf, int layer, Map<String, Tensor> grouped) {
        int e = model.experts();
        long h = model.hidden();
        long i = model.intermediate();
        Tensor gateAndUp = Tensor.allocate(DType.BF16, e, h, 2 * i);
        Tensor down = Tensor.allocate(DType.BF16, e, i, h);
        for (int expert = 0; expert < e; expert++) {
            Tensor slot = gateAndUp.select(0, expert);
            slot.narrow(1, 0, i).copyFrom(hf.tensor(model.expertKey(layer, expert, "gate_proj")).t());
            slot.narrow(1, i, i).copyFrom(hf.tensor(model.expertKey(layer, expert, "up_proj")).t());
            down.select(0, expert).copyFrom(hf.tensor(model.expertKey(layer, expert, "down_proj")).t());
        }
        grouped.put(DemoCheckpoint.PREFIX + layer + ".mlp.experts.gate_and_up_projs", gateAndUp);
        grouped.put(DemoCheckpoint.PREFIX + layer + ".mlp.experts.down_projs", down);
    }

    private long verify(Path groupedDir, Map<String, Tensor> original) {
        long checked = 0;
        long i = model.intermediate();
        try (Checkpoint grouped = Checkpoint.open(groupedDir)) {
            for (var entry : original.entrySet()) {
                String key = entry.getKey();
                Tensor restored;
                if (key.contains(".mlp.experts.")) {
                    String[] parts = key.split("\\.");
                    int layer = Integer.parseInt(parts[2]);
                    int expert = Integer.parseInt(parts[5]);
                    String projection = parts[6];
                    String layerPrefix = DemoCheckpoint.PREFIX + layer + ".mlp.experts.";
                    restored = switch (projection) {
                        case "gate_proj" -> grouped.tensor(layerPrefix + "gate_and_up_projs").select(0, expert).narrow(1, 0, i).t();
                        case "up_proj" -> grouped.tensor(layerPrefix + "gate_and_up_projs").select(0, expert).narrow(1, i, i).t();
                        default -> grouped.tensor(layerPrefix + "down_projs").select(0, expert).t();
                    };
                } else {
                    restored = grouped.tensor(key);
                }
                MemorySegment want = entry.getValue().segment();
                MemorySegment got = restored.contiguousCopy().segment();
                if (want.mismatch(got) != -1) {
                    throw new IllegalStateException("demo verification failed: " + key + " differs after the round trip");
                }
                checked++;
            }
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
