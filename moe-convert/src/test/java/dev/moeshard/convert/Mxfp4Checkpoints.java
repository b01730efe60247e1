package dev.moeshard.convert;

import dev.moeshard.safetensors.Checkpoint;
import dev.moeshard.safetensors.ShardedCheckpointWriter;
import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.Tensor;
import java.io.IOException;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * MXFP4 GPT-OSS checkpoints for tests: the gpt_oss fixture with the expert weights of every layer replaced by random
 * {@code _blocks} and {@code _scales} (fixed seed), as some GPT-OSS checkpoints hold them. Shared with the cli's
 * tests through this module's test jar.
 */
public final class Mxfp4Checkpoints {
    private Mxfp4Checkpoints() {}

    /**
     * The fixture with gate_up_proj and down_proj of every layer as MXFP4 pairs, written to {@code dir/mxfp4} with the
     * fixture's config.json; {@code dropOneScale} leaves out layer 0's gate_up_proj scales, {@code misShapeOneScale}
     * gives layer 1's down_proj scales one block too many.
     */
    public static Path write(Path dir, boolean dropOneScale, boolean misShapeOneScale) throws IOException {
        SplittableRandom random = new SplittableRandom(42);
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        try (Checkpoint in = Checkpoint.open(Fixtures.of("gpt_oss"))) {
            for (String key : in.keys()) {
                Tensor t = in.tensor(key);
                if (!key.endsWith("experts.gate_up_proj") && !key.endsWith("experts.down_proj")) {
                    tensors.put(key, t.contiguousCopy());
                    continue;
                }
                // [E, in, out] on disk in BF16; MXFP4 stores [E, out, in/32, 16].
                long experts = t.size(0);
                long in32 = t.size(1) / 32;
                long out = t.size(2);
                Tensor blocks = Tensor.allocate(DType.U8, experts, out, in32, 16);
                Tensor scales = Tensor.allocate(DType.U8, experts, out, misShapeOneScale && key.contains("layers.1.")
                        && key.endsWith("down_proj") ? in32 + 1 : in32);
                for (long i = 0; i < blocks.numel(); i++) {
                    blocks.segment().set(ValueLayout.JAVA_BYTE, i, (byte) random.nextInt(256));
                }
                for (long i = 0; i < scales.numel(); i++) {
                    scales.segment().set(ValueLayout.JAVA_BYTE, i, (byte) (118 + random.nextInt(12)));
                }
                tensors.put(key + "_blocks", blocks);
                if (!(dropOneScale && key.contains("layers.0.") && key.endsWith("gate_up_proj"))) {
                    tensors.put(key + "_scales", scales);
                }
            }
        }
        Path out = dir.resolve("mxfp4");
        ShardedCheckpointWriter.write(out, tensors, 1L << 30, Map.of("format", "pt"));
        Files.copy(Fixtures.of("gpt_oss").resolve("config.json"), out.resolve("config.json"));
        return out;
    }
}
