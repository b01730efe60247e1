package dev.moeshard.convert;

import java.util.List;

/**
 * What {@link MoeConvert#verify} found.
 *
 * @param comparisons tensor comparisons made (a non-expert tensor counts once per rank)
 * @param bytes bytes of the HF input compared
 * @param ranks grouped checkpoints compared
 * @param differences every difference, each naming the key (and rank), what was expected and what was found; empty
 *                    when the grouped checkpoints hold exactly the HF data
 */
public record VerifyReport(long comparisons, long bytes, int ranks, List<String> differences) {
    public VerifyReport {
        differences = List.copyOf(differences);
    }

    /** Whether the grouped checkpoints hold exactly the HF checkpoint's data. */
    public boolean identical() {
        return differences.isEmpty();
    }
}
