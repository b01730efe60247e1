package dev.moeshard.convert;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moeshard.moe.ExpertNaming;
import dev.moeshard.safetensors.Checkpoint;
import dev.moeshard.tensor.Tensor;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Nemotron-H as transformers 5.17 saves it (fixture from scripts/make-family-fixtures.py, hybrid pattern ME*-E: Mamba,
 * MoE, attention, MLP, MoE): non-gated relu² experts {@code backbone.layers.L.mixer.experts.{e}.up_proj / down_proj}.
 * Grouped, the fused tensor holds up alone: {@code gate_and_up_projs[e] = up_eᵀ} (width I) and
 * {@code down_projs[e] = down_eᵀ}, on one rank and on an uneven three, and to-hf restores the input byte for byte.
 */
class NemotronHFixtureTest {
    private static final Path IN = Fixtures.ROOT.resolve("families").resolve("nemotron_h");

    @Test
    void groupsUpAloneAsTheReferenceFormulaOnEveryRankAndComesBackByteForByte(@TempDir Path dir) {
        InspectReport inspected = MoeConvert.inspect(IN);
        assertEquals("nemotron_h", inspected.family());
        assertTrue(inspected.valid(), inspected.problems().toString());
        assertFalse(inspected.gated());

        Path whole = dir.resolve("whole");
        MoeConvert.toGrouped(ToGroupedRequest.of(IN, whole));
        assertReferenceFormula(whole, 0, inspected.numExperts(), inspected.intermediate());

        Path ranks = dir.resolve("ranks");
        ConversionReport report = MoeConvert.toGrouped(ToGroupedRequest.of(IN, ranks).withRanks(RankSelection.all(3)));
        assertEquals(3, report.outputs().size());
        for (ConversionReport.WrittenCheckpoint rank : report.outputs()) {
            assertReferenceFormula(rank.path(), rank.expertStart(), rank.expertEnd(), inspected.intermediate());
        }
        Path back = dir.resolve("back");
        MoeConvert.toHf(ToHfRequest.of(List.of(ranks), back));
        CheckpointFiles.assertSameTensors(IN, back);
    }

    private static void assertReferenceFormula(Path grouped, int start, int end, long inter) {
        ExpertNaming naming = ExpertNaming.NEMOTRON_H;
        try (Checkpoint h = Checkpoint.open(IN); Checkpoint g = Checkpoint.open(grouped)) {
            int layers = 0;
            for (String key : g.keys()) {
                if (!key.endsWith("." + naming.segment() + ".gate_and_up_projs")) {
                    continue;
                }
                layers++;
                String layer = key.substring(0, key.length() - ".gate_and_up_projs".length());
                Tensor up = g.tensor(key);
                Tensor down = g.tensor(layer + ".down_projs");
                assertEquals(end - start, up.size(0), key);
                assertEquals(inter, up.size(2), key + ": up alone, width I");
                for (int e = start; e < end; e++) {
                    Tensor u = h.tensor(layer + "." + e + "." + naming.up() + ".weight");
                    Tensor d = h.tensor(layer + "." + e + "." + naming.down() + ".weight");
                    for (long i = 0; i < inter; i++) {
                        for (long x = 0; x < u.size(1); x++) {
                            assertEquals(u.getBits(i, x), up.getBits(e - start, x, i), key + " up " + e);
                            assertEquals(d.getBits(x, i), down.getBits(e - start, i, x), key + " down " + e);
                        }
                    }
                }
            }
            assertEquals(2, layers, "the two MoE layers of ME*-E in " + grouped);
            assertTrue(g.keys().stream().noneMatch(k -> naming.parsePerExpert(k) != null), "per-expert keys left");
        }
    }
}
