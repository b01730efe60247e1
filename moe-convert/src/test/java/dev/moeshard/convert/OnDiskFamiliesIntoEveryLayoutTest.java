package dev.moeshard.convert;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moeshard.moe.GroupedLayout;
import dev.moeshard.safetensors.Checkpoint;
import dev.moeshard.tensor.Tensor;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Stream;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The families grouped on disk in a grouped layout's orientation (Llama-4: DeepEP's; Granite and Qwen3-VL-MoE:
 * hf-v5's) converted into every layout, on one rank and on an uneven three: each grouped tensor holds what the
 * reference formula, computed here from the input's own tensors, says; to-hf restores the input byte for byte, and
 * verify finds the two identical.
 */
class OnDiskFamiliesIntoEveryLayoutTest {

    /**
     * Where a fixture keeps its experts: {@code {layers}L.{expertsAt}{gateUp}} and {@code ...{down}}, gate/up either
     * [E, H, 2I] with the gate columns first ({@code hiddenFirst}) or [E, 2I, H] with the gate rows first, and down
     * [E, I, H] or [E, H, I] to match; the grouped output keeps the experts under {@code segment}.
     */
    record OnDisk(String fixture, String layers, String expertsAt, String gateUp, String down, boolean hiddenFirst,
                  String segment) {
        @Override
        public String toString() {
            return fixture;
        }
    }

    private static final List<OnDisk> FAMILIES = List.of(
            new OnDisk("llama4_text", "model.layers.", "feed_forward.experts.", "gate_up_proj", "down_proj", true,
                    "feed_forward.experts"),
            new OnDisk("granitemoe", "model.layers.", "block_sparse_moe.", "input_linear.weight",
                    "output_linear.weight", false, "block_sparse_moe"),
            new OnDisk("qwen3_vl_moe", "model.language_model.layers.", "mlp.experts.", "gate_up_proj", "down_proj",
                    false, "mlp.experts"));

    static Stream<Arguments> familiesAndLayouts() {
        return FAMILIES.stream().flatMap(f -> Stream.of(GroupedLayout.values()).map(l -> Arguments.of(f, l)));
    }

    @ParameterizedTest(name = "{0} into {1}")
    @MethodSource("familiesAndLayouts")
    void groupsAsTheReferenceFormulaOnEveryRankAndComesBackByteForByte(OnDisk family, GroupedLayout layout,
                                                                       @TempDir Path dir) {
        Path in = Fixtures.ROOT.resolve("families").resolve(family.fixture());
        InspectReport inspected = MoeConvert.inspect(in);
        for (RankSelection ranks : List.of(RankSelection.none(), RankSelection.all(3))) {
            Path out = dir.resolve("out-" + ranks.ranks().size());
            ConversionReport report = MoeConvert.toGrouped(ToGroupedRequest.of(in, out).withLayout(layout)
                    .withRanks(ranks));
            assertEquals(ranks.ranks().size(), report.outputs().size());
            for (ConversionReport.WrittenCheckpoint rank : report.outputs()) {
                assertReferenceFormula(in, rank.path(), family, layout, rank.expertStart(), rank.expertEnd(),
                        inspected.hidden(), inspected.intermediate());
            }
            Path back = dir.resolve("back-" + ranks.ranks().size());
            MoeConvert.toHf(ToHfRequest.of(List.of(out), back));
            CheckpointFiles.assertSameTensors(in, back);
            VerifyReport verified = MoeConvert.verify(VerifyRequest.of(in, List.of(out)));
            assertTrue(verified.identical(), verified.differences().toString());
        }
    }

    /**
     * A Llama-4 output regrouped into hf-v5 holds {@code gate_up_proj} under the input's own name but [E, 2I, H]:
     * given back as input it is refused, naming the tensor and both shapes, in any layout, its own included.
     */
    @ParameterizedTest(name = "into {0}")
    @org.junit.jupiter.params.provider.EnumSource(GroupedLayout.class)
    void anInputInAnotherOrientationIsRefusedNotReadAcross(GroupedLayout layout, @TempDir Path dir) {
        Path in = Fixtures.ROOT.resolve("families").resolve("llama4_text");
        Path regrouped = dir.resolve("hf-v5");
        MoeConvert.toGrouped(ToGroupedRequest.of(in, regrouped).withLayout(GroupedLayout.HF_V5));
        InvalidInputException e = org.junit.jupiter.api.Assertions.assertThrows(InvalidInputException.class,
                () -> MoeConvert.toGrouped(ToGroupedRequest.of(regrouped, dir.resolve("out")).withLayout(layout)));
        assertTrue(e.problems().contains("model.layers.0.feed_forward.experts.gate_up_proj: a llama4_text expert "
                + "tensor of this model (E, H, I = 8, 64, 96) has shape [8, 64, 192] in its own (deepep) orientation, "
                + "got [8, 192, 64]"), e.problems().toString());
        assertTrue(java.nio.file.Files.notExists(dir.resolve("out")));
    }

    /**
     * Per the README's layout table, for experts [start, end) of both layers: deepep {@code gate_and_up_projs[e] =
     * cat(gateᵀ, upᵀ, -1)}, {@code down_projs[e] = downᵀ}; grouped {@code gate_projs[e] = gate}, {@code up_projs[e] =
     * up}, {@code down_projs[e] = down}; hf-v5 and vllm {@code cat(gate, up, 0)} and {@code down}; where gate, up
     * [I, H] and down [H, I] are expert e's projections read out of the input's own tensors. The layer holds those
     * tensors and no others.
     */
    private static void assertReferenceFormula(Path hf, Path grouped, OnDisk family, GroupedLayout layout, int start,
                                               int end, long hidden, long inter) {
        try (Checkpoint h = Checkpoint.open(hf); Checkpoint g = Checkpoint.open(grouped)) {
            for (int layer = 0; layer < 2; layer++) {
                String at = family.layers() + layer + "." + family.expertsAt();
                Tensor gu = h.tensor(at + family.gateUp());
                Tensor d = h.tensor(at + family.down());
                String out = family.layers() + layer + "." + family.segment() + ".";
                // Every expert tensor name of any layout, and the input's own, that the layer holds.
                Set<String> expertNames = new TreeSet<>(List.of(family.gateUp(), family.down()));
                Stream.of(GroupedLayout.values()).forEach(l -> expertNames.addAll(l.allTensorNames()));
                Set<String> names = new TreeSet<>();
                g.keys().stream().filter(k -> k.startsWith(out)).map(k -> k.substring(out.length()))
                        .filter(expertNames::contains).forEach(names::add);
                assertEquals(new TreeSet<>(layout.tensorNames(true)), names, grouped + ": " + out);
                for (int e = start; e < end; e++) {
                    int local = e - start;
                    for (long i = 0; i < inter; i++) {
                        for (long x = 0; x < hidden; x++) {
                            long gate = family.hiddenFirst() ? gu.getBits(e, x, i) : gu.getBits(e, i, x);
                            long up = family.hiddenFirst() ? gu.getBits(e, x, inter + i) : gu.getBits(e, inter + i, x);
                            long down = family.hiddenFirst() ? d.getBits(e, i, x) : d.getBits(e, x, i); // down[x][i]
                            String where = grouped + " " + out + " expert " + e + " [" + i + ", " + x + "]";
                            switch (layout) {
                                case DEEPEP -> {
                                    assertEquals(gate, g.tensor(out + "gate_and_up_projs").getBits(local, x, i), where);
                                    assertEquals(up, g.tensor(out + "gate_and_up_projs").getBits(local, x, inter + i),
                                            where);
                                    assertEquals(down, g.tensor(out + "down_projs").getBits(local, i, x), where);
                                }
                                case GROUPED -> {
                                    assertEquals(gate, g.tensor(out + "gate_projs").getBits(local, i, x), where);
                                    assertEquals(up, g.tensor(out + "up_projs").getBits(local, i, x), where);
                                    assertEquals(down, g.tensor(out + "down_projs").getBits(local, x, i), where);
                                }
                                case HF_V5, VLLM -> {
                                    String w13 = layout == GroupedLayout.VLLM ? "w13_weight" : "gate_up_proj";
                                    String w2 = layout == GroupedLayout.VLLM ? "w2_weight" : "down_proj";
                                    assertEquals(gate, g.tensor(out + w13).getBits(local, i, x), where);
                                    assertEquals(up, g.tensor(out + w13).getBits(local, inter + i, x), where);
                                    assertEquals(down, g.tensor(out + w2).getBits(local, x, i), where);
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
