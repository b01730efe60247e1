package dev.moeshard.convert;

import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

/**
 * A layer's FP8 experts on the CPU path, dequantized one expert at a time into scratch that is reused for the next,
 * then copied into their slots with the layer's staged writes ({@link StagedWrites#copyLayer}), so that an expert's
 * gate and up land together in its slab and go to the file with one write instead of through the mapping.
 *
 * <p>Memory stays at one expert's weights whatever the layer's size. Keys come in checkpoint order, where an expert's
 * projections lie together; were they scattered, each expert would simply be flushed in parts, and a slab not covered
 * whole in one part goes through the mapping (still correct, only slower).
 */
final class DequantizedExperts {
    private final StagedWrites staged;
    private final List<ReusedScratch> scratch = new ArrayList<>();
    /** The FP8 weights and their scales as read from the input, before they are dequantized into {@link #scratch}. */
    private final List<ReusedScratch> read = new ArrayList<>();
    private final List<Tensor> targets = new ArrayList<>();
    private final List<Tensor> sources = new ArrayList<>();
    private List<Tensor> groupedOutputs = List.of();
    private int expert = -1;

    DequantizedExperts(StagedWrites staged) {
        this.staged = staged;
    }

    /** Dequantizes {@code weight} with {@code scale} for {@code target}, a slot of one of {@code groupedOutputs}. */
    void add(int expert, Tensor target, Tensor weight, Tensor scale, String key, List<Tensor> groupedOutputs) {
        if (expert != this.expert) {
            flush();
        }
        this.expert = expert;
        this.groupedOutputs = groupedOutputs;
        if (scratch.size() == targets.size()) {
            scratch.add(new ReusedScratch());
            read.add(new ReusedScratch());
        }
        int slot = targets.size();
        List<Tensor> inputs = List.of(weight, scale);
        MemorySegment bytes = read.get(slot).tensor(DType.U8, Math.max(1, SourceReads.bytes(inputs))).segment();
        List<Tensor> readInputs = SourceReads.read(inputs, bytes);
        sources.add(scratch.get(slot).dequantized(readInputs.get(0), readInputs.get(1), target.dtype(), key));
        targets.add(target);
    }

    /** Writes the expert gathered so far; the scratch is free again after. */
    void flush() {
        if (!targets.isEmpty()) {
            staged.copyLayer(targets, sources, groupedOutputs);
        }
        targets.clear();
        sources.clear();
        expert = -1;
    }
}
