package dev.moeshard.convert;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moeshard.moe.GroupedLayout;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * A {@link ConversionReport} tells the truth: one written checkpoint per rank with its expert range, and tensors and
 * bytes, per checkpoint and in total, equal to what the files on disk hold.
 */
class ConversionReportTest {

    @ParameterizedTest(name = "{0} on ep size {1}")
    @CsvSource({"qwen3_moe, 0", "qwen3_moe, 3", "deepseek_v3, 3", "gpt_oss, 3"})
    void toGroupedReportsEachRankWithItsExpertsAndWhatIsOnDisk(String fixture, int epSize, @TempDir Path dir) {
        Path out = dir.resolve("grouped");
        RankSelection ranks = epSize == 0 ? RankSelection.none() : RankSelection.all(epSize);
        ConversionReport report = MoeConvert.toGrouped(ToGroupedRequest.of(Fixtures.of(fixture), out).withRanks(ranks));
        assertEquals(out, report.output());
        if (epSize == 0) {
            assertOutputs(report, List.of(out), new int[][] {{0, 8}});
        } else {
            assertOutputs(report, List.of(out.resolve("ep-rank-0"), out.resolve("ep-rank-1"), out.resolve("ep-rank-2")),
                    new int[][] {{0, 3}, {3, 6}, {6, 8}});
        }
        assertTrue(report.decisions().stream().anyMatch(d -> d.contains(fixture)),
                "the decisions name the family: " + report.decisions());
        assertTrue(report.seconds() > 0, "seconds " + report.seconds());
    }

    @Test
    void toHfReportsTheOneCheckpointWithEveryExpertAndWhatIsOnDisk(@TempDir Path dir) {
        Path grouped = dir.resolve("grouped");
        Path back = dir.resolve("back");
        MoeConvert.toGrouped(ToGroupedRequest.of(Fixtures.of("deepseek_v3"), grouped).withRanks(RankSelection.all(3)));
        ConversionReport report = MoeConvert.toHf(ToHfRequest.of(List.of(grouped), back));
        assertEquals(back, report.output());
        assertOutputs(report, List.of(back), new int[][] {{0, 8}});
        assertEquals(CheckpointFiles.keys(Fixtures.of("deepseek_v3")).size(), report.tensors());
        assertEquals(CheckpointFiles.tensorBytes(Fixtures.of("deepseek_v3")), report.bytes());
    }

    @Test
    void regroupingReportsTheNewRanksAndWhatIsOnDisk(@TempDir Path dir) {
        Path source = dir.resolve("source");
        Path regrouped = dir.resolve("regrouped");
        MoeConvert.toGrouped(ToGroupedRequest.of(Fixtures.of("qwen3_moe"), source).withRanks(RankSelection.all(3)));
        ConversionReport report = MoeConvert.toGrouped(ToGroupedRequest.of(source, regrouped)
                .withLayout(GroupedLayout.HF_V5).withRanks(RankSelection.all(2)));
        assertOutputs(report, List.of(regrouped.resolve("ep-rank-0"), regrouped.resolve("ep-rank-1")),
                new int[][] {{0, 4}, {4, 8}});
    }

    /** The report lists exactly {@code paths} with {@code ranges}; counts per checkpoint and in total match the disk. */
    private static void assertOutputs(ConversionReport report, List<Path> paths, int[][] ranges) {
        assertEquals(paths, report.outputs().stream().map(ConversionReport.WrittenCheckpoint::path).toList());
        long tensors = 0;
        long bytes = 0;
        for (int i = 0; i < paths.size(); i++) {
            ConversionReport.WrittenCheckpoint w = report.outputs().get(i);
            assertEquals(ranges[i][0], w.expertStart(), w.path() + ": first expert");
            assertEquals(ranges[i][1], w.expertEnd(), w.path() + ": end of experts");
            assertEquals(CheckpointFiles.keys(w.path()).size(), w.tensors(), w.path() + ": tensors");
            assertEquals(CheckpointFiles.tensorBytes(w.path()), w.bytes(), w.path() + ": bytes");
            tensors += CheckpointFiles.keys(w.path()).size();
            bytes += CheckpointFiles.tensorBytes(w.path());
        }
        assertEquals(tensors, report.tensors(), "total tensors");
        assertEquals(bytes, report.bytes(), "total bytes");
    }
}
