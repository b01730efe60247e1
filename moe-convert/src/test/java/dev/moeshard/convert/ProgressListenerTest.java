package dev.moeshard.convert;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moeshard.moe.GroupedLayout;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A {@link ProgressListener} hears steps whose doneBytes never decrease, against one total, the last step at that
 * total, which is the bytes the report says were written; and one message per finished checkpoint.
 */
class ProgressListenerTest {
    /** Every call the listener got. */
    static final class Recorded implements ProgressListener {
        record Step(String what, long done, long total) {}

        final List<Step> steps = new ArrayList<>();
        final List<String> messages = new ArrayList<>();

        @Override
        public void step(String what, long doneBytes, long totalBytes) {
            steps.add(new Step(what, doneBytes, totalBytes));
        }

        @Override
        public void message(String text) {
            messages.add(text);
        }

        /** Steps were heard, at least {@code min}, their done counts never falling, the last at the one total. */
        void assertMonotoneToTotal(long total, int min) {
            assertTrue(steps.size() >= min, "at least " + min + " steps, got " + steps);
            long previous = 0;
            for (Step s : steps) {
                assertEquals(total, s.total(), "the total of " + s);
                assertTrue(s.done() >= previous, "doneBytes fell to " + s + " after " + previous + ": " + steps);
                assertTrue(s.done() <= total, s + " is past the total");
                previous = s.done();
            }
            assertEquals(total, steps.getLast().done(), "the last step: " + steps);
        }
    }

    @Test
    void toGroupedOnThreeRanksStepsUpToTheTotalItWrote(@TempDir Path dir) {
        Recorded heard = new Recorded();
        Path out = dir.resolve("grouped");
        ConversionReport report = MoeConvert.toGrouped(ToGroupedRequest.of(Fixtures.of("deepseek_v3"), out)
                .withRanks(RankSelection.all(3)), heard);
        heard.assertMonotoneToTotal(report.bytes(), 3 * 2); // a step per MoE layer of each rank at least
        for (int r = 0; r < 3; r++) {
            String rank = "ep-rank-" + r;
            assertTrue(heard.messages.stream().anyMatch(m -> m.contains(rank)), "a line for " + rank + ": "
                    + heard.messages);
        }
    }

    @Test
    void gptOssOnThreeRanksStepsUpToTheTotalItWrote(@TempDir Path dir) {
        Recorded heard = new Recorded();
        ConversionReport report = MoeConvert.toGrouped(ToGroupedRequest.of(Fixtures.of("gpt_oss"),
                dir.resolve("grouped")).withRanks(RankSelection.all(3)), heard);
        heard.assertMonotoneToTotal(report.bytes(), 3);
    }

    @Test
    void toGroupedWithoutExpertParallelismStepsUpToTheTotal(@TempDir Path dir) {
        Recorded heard = new Recorded();
        ConversionReport report = MoeConvert.toGrouped(ToGroupedRequest.of(Fixtures.of("qwen3_moe"),
                dir.resolve("grouped")).withLayout(GroupedLayout.GROUPED), heard);
        heard.assertMonotoneToTotal(report.bytes(), 2);
    }

    @Test
    void regroupingStepsUpToTheTotal(@TempDir Path dir) {
        Path source = dir.resolve("source");
        MoeConvert.toGrouped(ToGroupedRequest.of(Fixtures.of("qwen3_moe"), source).withRanks(RankSelection.all(2)));
        Recorded heard = new Recorded();
        ConversionReport report = MoeConvert.toGrouped(ToGroupedRequest.of(source, dir.resolve("regrouped"))
                .withLayout(GroupedLayout.VLLM).withRanks(RankSelection.all(3)), heard);
        heard.assertMonotoneToTotal(report.bytes(), 3 * 2);
    }

    @Test
    void toHfStepsUpToTheTotalItWrote(@TempDir Path dir) {
        Path grouped = dir.resolve("grouped");
        MoeConvert.toGrouped(ToGroupedRequest.of(Fixtures.of("qwen3_moe"), grouped).withRanks(RankSelection.all(3)));
        Recorded heard = new Recorded();
        ConversionReport report = MoeConvert.toHf(ToHfRequest.of(List.of(grouped), dir.resolve("back")), heard);
        heard.assertMonotoneToTotal(report.bytes(), 2 * 2); // a step per grouped tensor split at least
    }
}
