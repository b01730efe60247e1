package dev.moeshard.convert;

import dev.moeshard.moe.GroupedLayout;
import java.nio.file.Path;
import java.util.List;

/**
 * Whether grouped checkpoints hold exactly a per-expert HF checkpoint's data, as {@link MoeConvert#verify} checks it.
 *
 * @param hfInput the per-expert HF checkpoint, which may be a Hugging Face cache repository folder
 *                ({@code models--org--name/})
 * @param revision which snapshot of a cache repository folder {@code hfInput} to read: a ref name, a commit hash or a
 *                 unique prefix of one; null reads {@code refs/main}. Refused for any other input
 * @param groupedInputs the grouped checkpoints: one, the ranks of one run, or a folder holding {@code ep-rank-R/}
 * @param layout the grouped layout where the inputs leave it ambiguous, or null to tell it
 * @param threads comparison threads, or 0 for the default
 */
public record VerifyRequest(Path hfInput, String revision, List<Path> groupedInputs, GroupedLayout layout,
                            int threads) {
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
        return new VerifyRequest(hfInput, null, groupedInputs, null, 0);
    }

    /** The snapshot of a cache repository folder {@code hfInput}; null reads {@code refs/main}. */
    public VerifyRequest withRevision(String revision) {
        return new VerifyRequest(hfInput, revision, groupedInputs, layout, threads);
    }

    public VerifyRequest withLayout(GroupedLayout layout) {
        return new VerifyRequest(hfInput, revision, groupedInputs, layout, threads);
    }

    public VerifyRequest withThreads(int threads) {
        return new VerifyRequest(hfInput, revision, groupedInputs, layout, threads);
    }
}
