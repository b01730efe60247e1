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
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The families grouped on disk in a grouped layout's orientation (Llama-4: DeepEP's; Granite and Qwen3-VL-MoE:
 * hf-v5's) converted into every layout, on one rank and on an uneven three: each grouped tensor holds what the
 * reference formula, computed here from the input's own tensors, says; to-hf restores the input byte for byte, and
 * verify finds the two identical. An output of any layout regrouped into another is what converting directly into
 * that one writes, and inspect tells its layers, experts and layout.
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

        /** The form of {@code layout} written: transformers 5 keeps hidden-first experts (Llama-4's) as they are. */
        GroupedLayout form(GroupedLayout layout) {
            return layout.formFor(hiddenFirst, true);
        }
    }

    private static final List<OnDisk> FAMILIES = List.of(
            new OnDisk("llama4_text", "model.layers.", "feed_forward.experts.", "gate_up_proj", "down_proj", true,
                    "feed_forward.experts"),
            new OnDisk("granitemoe", "model.layers.", "block_sparse_moe.", "input_linear.weight",
                    "output_linear.weight", false, "block_sparse_moe.experts"),
            new OnDisk("qwen3_vl_moe", "model.language_model.layers.", "mlp.experts.", "gate_up_proj", "down_proj",
                    false, "mlp.experts"));

    static Stream<Arguments> familiesAndLayouts() {
        return FAMILIES.stream().flatMap(f -> GroupedLayout.named().stream().map(l -> Arguments.of(f, l)));
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

    static Stream<Arguments> familiesAndPairsOfLayouts() {
        return FAMILIES.stream().flatMap(f -> GroupedLayout.named().stream().flatMap(first ->
                GroupedLayout.named().stream().map(second -> Arguments.of(f, first, second))));
    }

    /**
     * An output in {@code first} regrouped into {@code second} is, tensor for tensor and byte for byte, what
     * converting the input directly into {@code second} writes: from an uneven three ranks into one, and from one into
     * the uneven three (when {@code first} is not the family's own orientation, a regrouped output regrouped again);
     * the direct conversions are held to the reference formula above. to-hf of each restores the input byte for
     * byte, and verify finds them equal.
     */
    @ParameterizedTest(name = "{0}: {1} regrouped into {2}")
    @MethodSource("familiesAndPairsOfLayouts")
    void aRegroupedOutputIsTheDirectConversionAndComesBackByteForByte(OnDisk family, GroupedLayout first,
                                                                       GroupedLayout second, @TempDir Path dir) {
        Path in = Fixtures.ROOT.resolve("families").resolve(family.fixture());
        Path firstOne = convert(in, dir.resolve("first-1"), first, RankSelection.none());
        Path firstThree = convert(in, dir.resolve("first-3"), first, RankSelection.all(3));
        Path directOne = convert(in, dir.resolve("direct-1"), second, RankSelection.none());
        Path directThree = convert(in, dir.resolve("direct-3"), second, RankSelection.all(3));

        Path intoOne = dir.resolve("regrouped-1");
        ConversionReport one = MoeConvert.toGrouped(ToGroupedRequest.of(firstThree, intoOne).withLayout(second));
        CheckpointFiles.assertSameTensors(directOne, intoOne);
        assertTrue(one.decisions().contains("grouped input in " + first.cliName() + " regrouped into "
                + second.cliName()), one.decisions().toString());

        Path intoThree = dir.resolve("regrouped-3");
        ConversionReport three = MoeConvert.toGrouped(ToGroupedRequest.of(firstOne, intoThree).withLayout(second)
                .withRanks(RankSelection.all(3)));
        assertEquals(List.of(0, 3, 6), three.outputs().stream().map(ConversionReport.WrittenCheckpoint::expertStart)
                .toList());
        for (ConversionReport.WrittenCheckpoint rank : three.outputs()) {
            String folder = rank.path().getFileName().toString();
            CheckpointFiles.assertSameTensors(directThree.resolve(folder), rank.path());
        }

        for (Path regrouped : List.of(intoOne, intoThree)) {
            Path back = dir.resolve("back-" + regrouped.getFileName());
            MoeConvert.toHf(ToHfRequest.of(List.of(regrouped), back));
            CheckpointFiles.assertSameTensors(in, back);
            VerifyReport verified = MoeConvert.verify(VerifyRequest.of(in, List.of(regrouped)));
            assertTrue(verified.identical(), verified.differences().toString());
        }
    }

    /**
     * inspect on an output of any layout, as one checkpoint and as the uneven ranks of one run: the family, its
     * experts and sizes, both expert layers, the layout written, each rank's experts, and nothing that stops to-hf.
     */
    @ParameterizedTest(name = "{0} into {1}")
    @MethodSource("familiesAndLayouts")
    void inspectTellsTheLayersExpertsAndLayoutOfAnOutput(OnDisk family, GroupedLayout layout, @TempDir Path dir) {
        Path in = Fixtures.ROOT.resolve("families").resolve(family.fixture());
        InspectReport input = MoeConvert.inspect(in);
        String layoutLine = switch (family.form(layout)) {
            case HF_V5 -> "hf-v5 (transformers v5 fused)";
            case HF_V5_TRANSPOSED -> "hf-v5 (transformers v5 fused, transposed as Llama-4 holds it)";
            default -> layout.cliName();
        };
        List<String> layers = List.of(family.layers() + "0", family.layers() + "1");
        for (RankSelection ranks : List.of(RankSelection.none(), RankSelection.all(3))) {
            Path out = convert(in, dir.resolve("out-" + ranks.ranks().size()), layout, ranks);
            InspectReport report = MoeConvert.inspect(out);
            assertEquals(input.family(), report.family(), out.toString());
            assertEquals(layoutLine, report.layout(), out.toString());
            assertEquals(8, report.numExperts(), out.toString());
            assertEquals(input.hidden(), report.hidden(), out.toString());
            assertEquals(input.intermediate(), report.intermediate(), out.toString());
            assertTrue(report.gated(), out.toString());
            assertEquals(layers, report.expertLayers(), out.toString());
            assertEquals(layout.tensorNames(true).size() * 2 * ranks.ranks().size(), report.expertTensors(),
                    out.toString());
            assertEquals(ranks.ranks().size() == 1 ? List.of("out-1: experts [0, 8)") : List.of(
                    "ep-rank-0: experts [0, 3)", "ep-rank-1: experts [3, 6)", "ep-rank-2: experts [6, 8)"),
                    report.ranks(), out.toString());
            assertTrue(report.valid(), report.problems().toString());
        }
    }

    /**
     * Llama-4's hf-v5 is the family's own checkpoint: transformers 5 holds its experts transposed, as they lie on
     * disk, so the output is the input byte for byte, and without its moeshard.json it reads back as the original.
     */
    @Test
    void llama4sHfV5OutputIsItsOwnCheckpoint(@TempDir Path dir) throws Exception {
        Path in = Fixtures.ROOT.resolve("families").resolve("llama4_text");
        Path v5 = convert(in, dir.resolve("hf-v5"), GroupedLayout.HF_V5, RankSelection.none());
        CheckpointFiles.assertSameTensors(in, v5);
        java.nio.file.Files.delete(v5.resolve(GroupedManifest.FILE_NAME));
        MoeConvert.toGrouped(ToGroupedRequest.of(v5, dir.resolve("deepep")));
        MoeConvert.toGrouped(ToGroupedRequest.of(in, dir.resolve("deepep-of-input")));
        CheckpointFiles.assertSameTensors(dir.resolve("deepep-of-input"), dir.resolve("deepep"));
    }

    /**
     * A Llama-4 checkpoint whose {@code gate_up_proj} is [E, 2I, H] (other families' hf-v5 orientation, not the one
     * Llama-4 has on disk), with no moeshard.json to say it was written so, is refused in any layout, naming the
     * tensor and both shapes, and nothing is written.
     */
    @ParameterizedTest(name = "into {0}")
    // the named layouts: hf-v5's forms are for the families that have them
    @org.junit.jupiter.params.provider.EnumSource(value = GroupedLayout.class, names = {"HF_V5_TRANSPOSED", "HF_V5_UP"},
            mode = org.junit.jupiter.params.provider.EnumSource.Mode.EXCLUDE)
    void aLlama4TensorInAnotherOrientationIsRefused(GroupedLayout layout, @TempDir Path dir) throws Exception {
        Path in = dir.resolve("in");
        java.nio.file.Files.createDirectories(in);
        Path fixture = Fixtures.ROOT.resolve("families").resolve("llama4_text");
        for (String f : List.of("config.json", "model.safetensors")) {
            java.nio.file.Files.copy(fixture.resolve(f), in.resolve(f));
        }
        CheckpointFiles.changeTensor(in, "model.layers.0.feed_forward.experts.gate_up_proj",
                t -> t.transpose(1, 2).contiguousCopy());
        InvalidInputException e = org.junit.jupiter.api.Assertions.assertThrows(InvalidInputException.class,
                () -> MoeConvert.toGrouped(ToGroupedRequest.of(in, dir.resolve("out")).withLayout(layout)));
        assertTrue(e.problems().contains("model.layers.0.feed_forward.experts.gate_up_proj: a llama4_text expert "
                + "tensor of this model (E, H, I = 8, 64, 96) has shape [8, 64, 192] in its own (deepep) orientation, "
                + "got [8, 192, 64]; an output of to-grouped is read back in its layout only with its moeshard.json "
                + "beside it"), e.problems().toString());
        assertTrue(java.nio.file.Files.notExists(dir.resolve("out")));
    }

    /**
     * Regrouping an output refuses what converting the original directly refuses (--dtype: the experts are moved, not
     * converted) and a tensor holding the ranks' experts that is none of the layout's, which regrouping would take
     * whole from the first rank; nothing is written.
     */
    @org.junit.jupiter.api.Test
    void regroupingRefusesADtypeAndAnExpertTensorOfNoLayout(@TempDir Path dir) {
        Path in = Fixtures.ROOT.resolve("families").resolve("granitemoe");
        Path vllm = convert(in, dir.resolve("vllm"), GroupedLayout.VLLM, RankSelection.none());
        InvalidInputException dtype = org.junit.jupiter.api.Assertions.assertThrows(InvalidInputException.class,
                () -> MoeConvert.toGrouped(ToGroupedRequest.of(vllm, dir.resolve("out"))
                        .withLayout(GroupedLayout.DEEPEP).withDtype(dev.moeshard.tensor.DType.F32)));
        assertEquals(List.of("--dtype f32: granitemoe experts are moved, not converted; use --dtype keep"),
                dtype.problems());

        // The input's own gate/up tensor beside the vllm ones, as a checkpoint mixed by hand would hold it.
        String extra = "model.layers.1.block_sparse_moe.input_linear.weight";
        CheckpointFiles.addTensor(vllm, extra, Tensor.allocate(dev.moeshard.tensor.DType.BF16, 8, 192, 64));
        InvalidInputException mixed = org.junit.jupiter.api.Assertions.assertThrows(InvalidInputException.class,
                () -> MoeConvert.toGrouped(ToGroupedRequest.of(vllm, dir.resolve("out"))
                        .withLayout(GroupedLayout.DEEPEP)));
        assertEquals(List.of(vllm + ": " + extra + " holds the rank's experts but is no vllm tensor [w13_weight, "
                + "w2_weight]; only those are regrouped"), mixed.problems());
        assertTrue(java.nio.file.Files.notExists(dir.resolve("out")));
    }

    /**
     * GPT-OSS outputs, interleaved in a layout of their own (deepep's names or hf-v5's, on one rank or several), are
     * refused by a to-grouped into the other, not regrouped.
     */
    @ParameterizedTest(name = "{0} on ep size {1}")
    @MethodSource("gptOssOutputs")
    void gptOssOutputsAreNotRegrouped(GroupedLayout written, int epSize, @TempDir Path dir) {
        Path in = Fixtures.ROOT.resolve("families").resolve("gpt_oss");
        Path output = convert(in, dir.resolve("written"), written,
                epSize == 0 ? RankSelection.none() : RankSelection.all(epSize));
        GroupedLayout other = written == GroupedLayout.DEEPEP ? GroupedLayout.HF_V5 : GroupedLayout.DEEPEP;
        InvalidInputException e = org.junit.jupiter.api.Assertions.assertThrows(InvalidInputException.class,
                () -> MoeConvert.toGrouped(ToGroupedRequest.of(output, dir.resolve("out")).withLayout(other)));
        assertEquals(List.of("gpt_oss checkpoints, grouped on disk in their own interleaved layout, are not "
                + "regrouped: this is to-grouped's " + (written == GroupedLayout.DEEPEP ? "gpt-oss" : "hf-v5")
                + " output of one; convert the original checkpoint (to-hf gives it back) with --layout deepep or"
                + " hf-v5"), e.problems());
        assertTrue(java.nio.file.Files.notExists(dir.resolve("out")));
    }

    static Stream<Arguments> gptOssOutputs() {
        return Stream.of(Arguments.of(GroupedLayout.DEEPEP, 0), Arguments.of(GroupedLayout.DEEPEP, 2),
                Arguments.of(GroupedLayout.HF_V5, 0), Arguments.of(GroupedLayout.HF_V5, 2));
    }

    private static Path convert(Path in, Path out, GroupedLayout layout, RankSelection ranks) {
        MoeConvert.toGrouped(ToGroupedRequest.of(in, out).withLayout(layout).withRanks(ranks));
        return out;
    }

    /**
     * Per the README's layout table, for experts [start, end) of both layers: deepep {@code gate_and_up_projs[e] =
     * cat(gateᵀ, upᵀ, -1)}, {@code down_projs[e] = downᵀ}; grouped {@code gate_projs[e] = gate}, {@code up_projs[e] =
     * up}, {@code down_projs[e] = down}; hf-v5 and vllm {@code cat(gate, up, 0)} and {@code down}; where gate, up
     * [I, H] and down [H, I] are expert e's projections read out of the input's own tensors. The layer holds those
     * tensors and no others.
     */
    private static void assertReferenceFormula(Path hf, Path grouped, OnDisk family, GroupedLayout named, int start,
                                               int end, long hidden, long inter) {
        GroupedLayout layout = family.form(named);
        try (Checkpoint h = Checkpoint.open(hf); Checkpoint g = Checkpoint.open(grouped)) {
            for (int layer = 0; layer < 2; layer++) {
                String at = family.layers() + layer + "." + family.expertsAt();
                Tensor gu = h.tensor(at + family.gateUp());
                Tensor d = h.tensor(at + family.down());
                String out = family.layers() + layer + "." + family.segment() + ".";
                // Every expert tensor name of any layout, and the input's own, that the layer holds.
                Set<String> expertNames = new TreeSet<>(List.of(family.gateUp(), family.down()));
                GroupedLayout.named().stream().forEach(l -> expertNames.addAll(l.allTensorNames()));
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
                                case HF_V5_TRANSPOSED -> { // Llama-4's own: its input, byte for byte
                                    assertEquals(gate, g.tensor(out + "gate_up_proj").getBits(local, x, i), where);
                                    assertEquals(up, g.tensor(out + "gate_up_proj").getBits(local, x, inter + i), where);
                                    assertEquals(down, g.tensor(out + "down_proj").getBits(local, i, x), where);
                                }
                                case HF_V5_UP -> throw new AssertionError("these families are gated");
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
