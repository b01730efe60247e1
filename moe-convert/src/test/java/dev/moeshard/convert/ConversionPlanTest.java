package dev.moeshard.convert;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moeshard.moe.GroupedLayout;
import dev.moeshard.safetensors.Checkpoint;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The plan of a conversion: its units, what each reads and writes, its JSON form and its fingerprint. */
class ConversionPlanTest {
    private static final Path QWEN = Path.of("../moe-state-dict/src/test/resources/fixtures/qwen3_moe");

    @Test
    void aRankInOneShardIsOneUnitWithItsExpertsAndReadsNoOtherRanksExperts(@TempDir Path dir) {
        ConversionPlan plan = MoeConvert.planToGrouped(ToGroupedRequest.of(QWEN, dir.resolve("out"))
                .withRanks(RankSelection.all(3)));
        assertEquals(List.of("ep-rank-0/model.safetensors", "ep-rank-1/model.safetensors", "ep-rank-2/model.safetensors"),
                plan.units().stream().map(WorkUnit::id).toList());
        assertEquals(List.of(0, 3, 6), plan.units().stream().map(WorkUnit::expertStart).toList());
        assertEquals(List.of(3, 6, 8), plan.units().stream().map(WorkUnit::expertEnd).toList());
        assertEquals("ep-rank-1", plan.units().get(1).subdirectory());
        assertFalse(Files.exists(dir.resolve("out")), "planning writes nothing");
        try (Checkpoint in = Checkpoint.open(QWEN)) {
            long expertBytes = 0;
            long otherBytes = 0;
            for (String key : in.keys()) {
                if (key.contains(".experts.")) {
                    expertBytes += in.entry(key).byteSize();
                } else {
                    otherBytes += in.entry(key).byteSize();
                }
            }
            // Rank 2 holds 2 of the 8 experts: it reads their quarter and every non-expert tensor, nothing more.
            assertEquals(otherBytes + expertBytes / 4, plan.units().get(2).readBytes());
            assertEquals(otherBytes + 3 * expertBytes / 8, plan.units().get(0).readBytes());
        }
    }

    @Test
    void eachUnitIsOneShardFileAndTheUnitsOfARankAreItsShards(@TempDir Path dir) throws Exception {
        ToGroupedRequest request = ToGroupedRequest.of(QWEN, dir.resolve("out")).withRanks(RankSelection.all(2))
                .withWriting(OutputOptions.DEFAULTS.withMaxShardBytes(100_000));
        ConversionPlan plan = MoeConvert.planToGrouped(request);
        ConversionReport report = MoeConvert.toGrouped(request);
        for (int r = 0; r < 2; r++) {
            String folder = "ep-rank-" + r;
            List<WorkUnit> units = plan.units().stream().filter(u -> folder.equals(u.subdirectory())).toList();
            assertTrue(units.size() > 1, "small shards: several units per rank");
            units.forEach(u -> assertEquals(1, u.writes().size(), u.toString()));
            try (var files = Files.list(dir.resolve("out").resolve(folder))) {
                assertEquals(units.stream().flatMap(u -> u.writes().stream()).sorted().toList(),
                        files.map(p -> p.getFileName().toString()).filter(n -> n.endsWith(".safetensors")).sorted()
                                .toList());
            }
            units.forEach(u -> assertEquals(folder + "/" + u.writes().getFirst(), u.id()));
            assertEquals(report.outputs().get(r).bytes(), units.stream().mapToLong(WorkUnit::outputBytes).sum());
        }
        assertEquals(report.bytes(), plan.outputBytes());
    }

    @Test
    void thePlanSurvivesItsJsonForm(@TempDir Path dir) {
        ConversionPlan plan = MoeConvert.planToGrouped(ToGroupedRequest.of(QWEN, dir.resolve("out"))
                .withRanks(RankSelection.all(3)));
        assertEquals(plan, ConversionPlan.fromJson(plan.toJson()));
    }

    @Test
    void theFingerprintFollowsTheInputAndTheOptionsButNotTheOutputPath(@TempDir Path dir) {
        ToGroupedRequest request = ToGroupedRequest.of(QWEN, dir.resolve("a")).withRanks(RankSelection.all(2));
        String fingerprint = MoeConvert.planToGrouped(request).fingerprint();
        assertEquals(fingerprint, MoeConvert.planToGrouped(ToGroupedRequest.of(QWEN, dir.resolve("b"))
                .withRanks(RankSelection.all(2))).fingerprint());
        assertNotEquals(fingerprint, MoeConvert.planToGrouped(request.withLayout(GroupedLayout.HF_V5)).fingerprint());
        assertNotEquals(fingerprint, MoeConvert.planToGrouped(request.withRanks(RankSelection.all(4))).fingerprint());
        assertTrue(fingerprint.matches("[0-9a-f]{64}"), fingerprint);
    }

    @Test
    void aGroupedInputIsPlannedPerTargetRankReadingTheSourceRowsItNeeds(@TempDir Path dir) {
        Path grouped = dir.resolve("grouped");
        MoeConvert.toGrouped(ToGroupedRequest.of(QWEN, grouped).withRanks(RankSelection.all(2)));
        ConversionPlan plan = MoeConvert.planToGrouped(ToGroupedRequest.of(grouped, dir.resolve("out"))
                .withRanks(RankSelection.all(4)).withLayout(GroupedLayout.VLLM));
        assertEquals(4, plan.units().size());
        // Target rank 0 (experts 0, 1) reads from source rank 0 only, and there half its expert rows.
        long rank0 = plan.units().get(0).reads().stream()
                .filter(r -> r.file().contains("ep-rank-1")).mapToLong(ByteRange::length).sum();
        assertEquals(0, rank0);
    }
}
