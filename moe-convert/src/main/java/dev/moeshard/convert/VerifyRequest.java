package dev.moeshard.convert;

import dev.moeshard.moe.GroupedLayout;
import java.nio.file.Path;
import java.util.List;

/**
 * Whether grouped checkpoints hold exactly a per-expert HF checkpoint's data, as {@link MoeConvert#verify} checks it.
 *
 * @param hfInput the per-expert HF checkpoint
 * @param groupedInputs the grouped checkpoints: one, the ranks of one run, or a folder holding {@code ep-rank-R/}
 * @param layout the grouped layout where the inputs leave it ambiguous, or null to tell it
 * @param threads comparison threads, or 0 for the default
 */
public record VerifyRequest(Path hfInput, List<Path> groupedInputs, GroupedLayout layout, int threads) {
    public VerifyRequest {
        groupedInputs = List.copyOf(groupedInputs);
        if (groupedInputs.isEmpty()) {
            throw new UsageException("verify needs at least one grouped input");
        }
        if (threads < 0) {
            throw new UsageException("--threads must be at least 1, got " + threads);
        }
    }

    public static VerifyRequest of(Path hfInput, List<Path> groupedInputs) {
        return new VerifyRequest(hfInput, groupedInputs, null, 0);
    }

    public VerifyRequest withLayout(GroupedLayout layout) {
        return new VerifyRequest(hfInput, groupedInputs, layout, threads);
    }

    public VerifyRequest withThreads(int threads) {
        return new VerifyRequest(hfInput, groupedInputs, layout, threads);
    }
}
