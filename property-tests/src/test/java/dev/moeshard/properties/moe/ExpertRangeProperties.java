package dev.moeshard.properties.moe;

import dev.moeshard.moe.parallel.ExpertRange;
import dev.moeshard.properties.harness.PropertyCheck;
import org.junit.jupiter.api.Test;

/**
 * For any E ≥ 1 and W ≥ 1, the ranks' ranges follow each other with no gap from 0 to E (so every expert has exactly
 * one owner), differ in size by at most one, and the larger ones come first.
 */
class ExpertRangeProperties {

    @Test
    void rangesTileTheExpertsLargerFirst() {
        PropertyCheck.forAll("expert ranges", gen -> {
            int experts = gen.chance(0.8) ? gen.between(1, 300) : gen.between(1, Integer.MAX_VALUE);
            int world = gen.chance(0.8) ? gen.between(1, 70) : gen.between(1, 100_000);
            check(experts, world);
        });
    }

    @Test
    void smallCasesExhaustively() {
        for (int experts = 1; experts <= 64; experts++) {
            for (int world = 1; world <= 70; world++) {
                check(experts, world);
            }
        }
    }

    private static void check(int experts, int world) {
        int next = 0;
        int previousCount = Integer.MAX_VALUE;
        int min = Integer.MAX_VALUE;
        int max = 0;
        for (int rank = 0; rank < world; rank++) {
            ExpertRange r = ExpertRange.forRank(rank, world, experts);
            String where = "E " + experts + ", W " + world + ", rank " + rank + ": " + r;
            if (r.start() != next) {
                throw new AssertionError(where + " starts at " + r.start() + ", expected " + next);
            }
            if (r.count() > previousCount) {
                throw new AssertionError(where + " is larger than the rank before it");
            }
            previousCount = r.count();
            min = Math.min(min, r.count());
            max = Math.max(max, r.count());
            next = r.end();
        }
        if (next != experts || max - min > 1) {
            throw new AssertionError("E " + experts + ", W " + world + ": ranges end at " + next + ", sizes " + min
                    + " to " + max);
        }
    }
}
