package dev.moeshard.convert;

import dev.moeshard.tensor.Tensor;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * Splits a layer's expert copies into batches that can be built in a small buffer and written to the output file
 * whole ({@link StagedWrites} says why), instead of being copied through the output's mapping. A batch is a byte range
 * of one grouped output that its targets cover exactly, such as a run of experts' slabs of
 * {@code gate_and_up_projs}, where each slab is the expert's gate and up slots interleaved row by row.
 *
 * <p>Targets are the disjoint slots the adapter maps, so a range whose targets' bytes add up to its length is covered
 * whole. A range with a gap (a slot filled beforehand, such as an FP8 weight dequantized in place) is left to the
 * direct copy: writing the batch would put the buffer's bytes over what is already there.
 */
final class StagedBatches {
    /** {@code grouped}'s bytes [start, end), filled by {@code members} (indices into the targets). */
    record Batch(Tensor grouped, long start, long end, List<Integer> members) {
        long bytes() {
            return end - start;
        }
    }

    /** The batches, and the targets to copy straight into the mapping. */
    record Split(List<Batch> batches, List<Integer> direct) {
        long largestBatch() {
            return batches.stream().mapToLong(Batch::bytes).max().orElse(0);
        }
    }

    private record Extent(int target, long start, long end, long bytes) {}

    private StagedBatches() {}

    /**
     * Groups {@code targets} (views of {@code groupedOutputs}) into batches of at most {@code batchBytes}, or one
     * covered range where that alone is larger.
     */
    static Split split(List<Tensor> targets, List<Tensor> groupedOutputs, long batchBytes) {
        List<List<Extent>> perOutput = new ArrayList<>();
        groupedOutputs.forEach(g -> perOutput.add(new ArrayList<>()));
        List<Integer> direct = new ArrayList<>();
        for (int i = 0; i < targets.size(); i++) {
            int owner = ownerOf(targets.get(i), groupedOutputs);
            if (owner < 0) {
                direct.add(i);
            } else {
                perOutput.get(owner).add(extent(i, targets.get(i), groupedOutputs.get(owner)));
            }
        }
        List<Batch> batches = new ArrayList<>();
        for (int g = 0; g < groupedOutputs.size(); g++) {
            batch(groupedOutputs.get(g), perOutput.get(g), batchBytes, batches, direct);
        }
        direct.sort(Comparator.naturalOrder());
        return new Split(batches, direct);
    }

    /** Merges overlapping extents into ranges, sends uncovered ranges to {@code direct}, packs adjacent ones. */
    private static void batch(Tensor grouped, List<Extent> extents, long batchBytes, List<Batch> batches,
                              List<Integer> direct) {
        extents.sort(Comparator.comparingLong(Extent::start));
        Batch open = null;
        int i = 0;
        while (i < extents.size()) {
            long start = extents.get(i).start();
            long end = extents.get(i).end();
            long bytes = 0;
            List<Integer> members = new ArrayList<>();
            while (i < extents.size() && extents.get(i).start() < end || members.isEmpty()) {
                Extent e = extents.get(i++);
                end = Math.max(end, e.end());
                bytes += e.bytes();
                members.add(e.target());
            }
            if (bytes != end - start) {
                direct.addAll(members);
                continue;
            }
            if (open != null && open.end() == start && open.bytes() + (end - start) <= batchBytes) {
                List<Integer> joined = new ArrayList<>(open.members());
                joined.addAll(members);
                open = new Batch(grouped, open.start(), end, joined);
                batches.set(batches.size() - 1, open);
            } else {
                open = new Batch(grouped, start, end, members);
                batches.add(open);
            }
        }
    }

    /** The grouped output {@code target} is a view of, or -1 where it is none that a batch can serve. */
    private static int ownerOf(Tensor target, List<Tensor> groupedOutputs) {
        if (target.numel() == 0 || !target.dtype().isByteAligned()) {
            return -1;
        }
        for (int g = 0; g < groupedOutputs.size(); g++) {
            Tensor grouped = groupedOutputs.get(g);
            // Contiguous, so that the span a view lies in is the grouped tensor's bytes with no gaps.
            if (grouped.isContiguous() && target.isViewOf(grouped)) {
                return g;
            }
        }
        return -1;
    }

    /** The bytes of {@code grouped} from {@code target}'s first element to just past its last. */
    private static Extent extent(int index, Tensor target, Tensor grouped) {
        long width = target.dtype().byteSize();
        long start = target.offsetWithin(grouped) * width;
        long end = start + (lastElement(target) - target.offset() + 1) * width;
        return new Extent(index, start, end, target.byteSize());
    }

    private static long lastElement(Tensor t) {
        long last = t.offset();
        for (int d = 0; d < t.dim(); d++) {
            last += (t.size(d) - 1) * t.stride(d);
        }
        return last;
    }
}
