package dev.moeshard.convert;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moeshard.moe.GroupedLayout;
import dev.moeshard.safetensors.Checkpoint;
import dev.moeshard.safetensors.ReadAhead;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.function.Function;
import java.util.function.UnaryOperator;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.Named;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every job that streams a checkpoint layer by layer asks for its input ahead ({@link LayerReadAhead}): on a fixture
 * of two layers, each asks for the second layer's expert tensors, of every input checkpoint it reads them from; with
 * {@link ReadAhead#PROPERTY} false it asks for nothing, and writes the same bytes.
 */
class EveryJobReadsAheadTest {
    private static final Path QWEN3_MOE = Fixtures.ROOT.resolve("families/qwen3_moe");
    private static final Path GRANITEMOE = Fixtures.ROOT.resolve("families/granitemoe");

    /**
     * A job on inputs made ready under a folder: the checkpoints it reads, the part of a key that names an expert
     * tensor of the second layer in them, and a run into a given output folder (giving what it wrote, or null).
     */
    private record Job(List<Path> inputs, String laterExperts, UnaryOperator<Path> run) {}

    @RegisterExtension
    final RecordedReadAheads asked = new RecordedReadAheads();

    @AfterEach
    void readAheadBackOn() {
        System.clearProperty(ReadAhead.PROPERTY);
    }

    static Stream<Arguments> jobs() {
        return Stream.of(
                job("to-grouped of per-expert tensors", dir -> new Job(List.of(QWEN3_MOE), "layers.1.mlp.experts.",
                        out -> toGrouped(ToGroupedRequest.of(QWEN3_MOE, out)))),
                job("to-grouped of GPT-OSS, grouped on disk", dir -> {
                    Path in = Fixtures.ROOT.resolve("families/gpt_oss");
                    return new Job(List.of(in), "layers.1.mlp.experts.", out -> toGrouped(ToGroupedRequest.of(in, out)));
                }),
                job("to-grouped of Granite, grouped on disk, into deepep",
                        dir -> new Job(List.of(GRANITEMOE), "layers.1.block_sparse_moe.", out -> toGrouped(
                                ToGroupedRequest.of(GRANITEMOE, out).withLayout(GroupedLayout.DEEPEP)))),
                job("regrouping of three ranks into one", dir -> {
                    Path ranks = threeRanks(QWEN3_MOE, dir, GroupedLayout.DEEPEP);
                    return new Job(rankFolders(ranks), "layers.1.mlp.experts.",
                            out -> toGrouped(ToGroupedRequest.of(ranks, out).withLayout(GroupedLayout.VLLM)));
                }),
                job("to-hf of three ranks", dir -> {
                    Path ranks = threeRanks(QWEN3_MOE, dir, GroupedLayout.DEEPEP);
                    return new Job(rankFolders(ranks), "layers.1.mlp.experts.", out -> toHf(ranks, out));
                }),
                job("to-hf of three ranks of Granite regrouped into deepep", dir -> {
                    Path ranks = threeRanks(GRANITEMOE, dir, GroupedLayout.DEEPEP);
                    return new Job(rankFolders(ranks), "layers.1.block_sparse_moe.experts.", out -> toHf(ranks, out));
                }),
                job("verify of three ranks", dir -> {
                    Path ranks = threeRanks(QWEN3_MOE, dir, GroupedLayout.DEEPEP);
                    return new Job(List.of(QWEN3_MOE), "layers.1.mlp.experts.", out -> {
                        VerifyReport report = MoeConvert.verify(VerifyRequest.of(QWEN3_MOE, List.of(ranks)));
                        assertTrue(report.identical(), report.differences().toString());
                        return null;
                    });
                }));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("jobs")
    void asksForTheLaterLayerAheadAndForNothingWhenSwitchedOff(Function<Path, Job> ready, @TempDir Path dir) {
        Job job = ready.apply(dir);
        asked.clear();
        Path on = job.run().apply(dir.resolve("on"));
        for (Path input : job.inputs()) {
            try (Checkpoint c = Checkpoint.open(input)) {
                List<String> later = c.keys().stream().filter(k -> k.contains(job.laterExperts())).toList();
                assertFalse(later.isEmpty(), input + " has no keys with " + job.laterExperts());
                for (String key : later) {
                    assertTrue(asked(c.fileOf(key), c.fileOffsetOf(key), c.entry(key).byteSize()),
                            input + ": " + key + " was not asked for ahead");
                }
            }
        }

        asked.clear();
        System.setProperty(ReadAhead.PROPERTY, "false");
        Path off = job.run().apply(dir.resolve("off"));
        assertEquals(List.of(), asked.spans());
        if (on != null) {
            CheckpointFiles.assertSameTensors(on, off);
        }
    }

    /**
     * to-grouped of per-expert tensors writes everything but the experts after every expert, and asks for it ahead:
     * a layer's other tensors (attention, norms, the router) with that layer's experts, those outside every layer
     * (embeddings, the final norm, the head) with the last layer's, not one by one at the end.
     */
    @org.junit.jupiter.api.Test
    void toGroupedAsksForEverythingElseAheadToo(@TempDir Path dir) {
        asked.clear();
        toGrouped(ToGroupedRequest.of(QWEN3_MOE, dir.resolve("out")));
        try (Checkpoint c = Checkpoint.open(QWEN3_MOE)) {
            List<String> others = c.keys().stream().filter(k -> !k.contains(".experts.")).toList();
            assertTrue(others.containsAll(List.of("model.layers.1.self_attn.q_proj.weight",
                    "model.embed_tokens.weight", "model.norm.weight")), others.toString());
            for (String key : others) {
                assertTrue(asked(c.fileOf(key), c.fileOffsetOf(key), c.entry(key).byteSize()),
                        key + " was not asked for ahead");
            }
        }
    }

    private static Arguments job(String name, Function<Path, Job> ready) {
        return Arguments.of(Named.of(name, ready));
    }

    private static Path toGrouped(ToGroupedRequest request) {
        MoeConvert.toGrouped(request);
        return request.output();
    }

    private static Path toHf(Path ranks, Path out) {
        MoeConvert.toHf(ToHfRequest.of(List.of(ranks), out));
        return out;
    }

    private static Path threeRanks(Path in, Path dir, GroupedLayout layout) {
        Path out = dir.resolve("ranks");
        MoeConvert.toGrouped(ToGroupedRequest.of(in, out).withLayout(layout).withRanks(RankSelection.all(3)));
        return out;
    }

    private static List<Path> rankFolders(Path ranks) {
        return CheckpointFiles.list(ranks).stream().map(ranks::resolve).toList();
    }

    /** Whether the runs asked for cover {@code length} bytes of {@code file} from {@code offset}. */
    private boolean asked(Path file, long offset, long length) {
        Path real = real(file);
        long reached = offset;
        for (ReadAhead.Span s : asked.spans().stream().filter(s -> real(s.file()).equals(real))
                .sorted(Comparator.comparingLong(ReadAhead.Span::offset)).toList()) {
            if (s.offset() <= reached) {
                reached = Math.max(reached, s.offset() + s.length());
            }
        }
        return reached >= offset + length;
    }

    private static Path real(Path p) {
        try {
            return p.toRealPath();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
