package dev.moeshard.convert;

import dev.moeshard.moe.ToHfOptions;
import dev.moeshard.moe.quant.Fp8BlockDequantizer;
import dev.moeshard.safetensors.Checkpoint;
import dev.moeshard.tensor.Tensor;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.UnaryOperator;

/**
 * Whether grouped checkpoints hold exactly an HF checkpoint's data.
 *
 * <p>Every grouped tensor is split, as the adapter splits it, into per-expert views of the mapped grouped storage, and
 * each is compared byte for byte with the HF tensor of the same name where it lies in its mapped file; non-expert
 * tensors are compared on every rank. A block-quantized FP8 weight of the HF input whose grouped copy was
 * dequantized is compared after dequantizing it the same way (to the grouped copy's dtype), and its scales are then
 * not expected in the grouped checkpoints.
 */
final class Verify {
    private Verify() {}

    /**
     * A tensor found in the grouped checkpoints: the rank it came from, whether it was split from experts, where a
     * GPT-OSS expert slice starts, and the mapped tensor it is a view of, whose pages are let go once its last view
     * has been compared. {@code part}, where not null, is the view of the HF tensor it is compared with (one
     * projection of a rank's experts of a regrouped family grouped on disk: {@link OnDiskRestoration}).
     */
    private record Found(int rank, Tensor tensor, boolean expert, long at, MappedSource source,
                         UnaryOperator<Tensor> part) {
        Found(int rank, Tensor tensor, boolean expert, MappedSource source) {
            this(rank, tensor, expert, -1, source, null);
        }

        Found(int rank, Tensor tensor, boolean expert, long at, MappedSource source) {
            this(rank, tensor, expert, at, source, null);
        }
    }

    /**
     * A tensor of a grouped checkpoint and how many of the views found in it are still to be compared. Comparing
     * touches every page of both checkpoints, and a touched page of a mapping stays in the resident set until it is
     * let go: without this, checking a checkpoint made the resident set as large as both of them together.
     */
    private static final class MappedSource {
        private final Tensor whole;
        private int pending;

        MappedSource(Tensor whole) {
            this.whole = whole;
        }

        void comparedOne() {
            if (--pending == 0) {
                MappedPages.release(whole);
            }
        }
    }

    static VerifyReport run(VerifyRequest request) {
        TensorComparison comparison = new TensorComparison(CopyEngines.of(request.threads()));
        Path hfInput = InputPaths.atRevision(request.hfInput(), request.revision());
        List<String> differences = new ArrayList<>();
        long compared = 0;
        long bytes = 0;
        int rankCount;
        try (ModelInput hf = ModelInput.open(hfInput);
             GroupedRanks ranks = GroupedRanks.open(request.groupedInputs(), hf.model(), request.layout())) {
            rankCount = ranks.ranks().size();
            Map<String, List<Found>> found = found(ranks, loraFormatOf(hf));
            Checkpoint want = hf.checkpoint();
            Set<String> dequantizedScales = dequantizedScales(want, found);
            ReusedScratch dequantized = new ReusedScratch();
            try (LayerReadAhead<String> keys = new LayerReadAhead<>(want.keys(), LayerReadAhead::layerOf,
                    key -> comparedOf(key, want, dequantizedScales, found))) {
                for (String key : keys) {
                    if (dequantizedScales.contains(key)) {
                        continue;
                    }
                    List<Found> got = found.remove(key);
                    if (got == null) {
                        differences.add(key + ": missing from the grouped checkpoints");
                        continue;
                    }
                    if (got.get(0).expert() && got.size() > 1) {
                        differences.add(key + ": held by ranks " + got.stream().map(Found::rank).toList());
                    } else if (!got.get(0).expert() && got.size() < rankCount) {
                        List<Integer> lacking = new ArrayList<>();
                        for (int r = 0; r < rankCount; r++) {
                            final int rank = r;
                            if (got.stream().noneMatch(f -> f.rank() == rank)) {
                                lacking.add(r);
                            }
                        }
                        differences.add(key + ": missing on ranks " + lacking);
                    }
                    Tensor expected = want.tensor(key);
                    Tensor scale = dequantizedScales.contains(key + Fp8BlockDequantizer.SCALE_SUFFIX)
                            ? want.tensor(key + Fp8BlockDequantizer.SCALE_SUFFIX) : null;
                    for (Found f : got) {
                        Tensor reference = scale == null ? expected
                                : dequantized.dequantized(expected, scale, f.tensor().dtype(), key);
                        String difference = compare(comparison, key, reference, f);
                        if (difference != null) {
                            differences.add(difference);
                        }
                        f.source().comparedOne();
                        compared++;
                        bytes += expected.byteSize();
                    }
                    MappedPages.release(expected);
                }
            }
            found.forEach((key, got) -> differences.add(key + ": extra, on rank"
                    + (got.size() == 1 ? " " + got.get(0).rank() : "s " + got.stream().map(Found::rank).toList())
                    + ", not in " + hfInput));
        }
        return new VerifyReport(compared, bytes, rankCount, differences);
    }

    /**
     * The scale keys of the HF input's block-quantized FP8 weights whose grouped copies are not FP8 (they were
     * dequantized): those weights are compared dequantized, and their scales are not expected in the output.
     */
    private static Set<String> dequantizedScales(Checkpoint want, Map<String, List<Found>> found) {
        Set<String> out = new HashSet<>();
        for (String key : want.keys()) {
            if (!key.endsWith(Fp8BlockDequantizer.SCALE_SUFFIX)) {
                continue;
            }
            String weight = key.substring(0, key.length() - Fp8BlockDequantizer.SCALE_SUFFIX.length());
            List<Found> got = found.get(weight);
            if (want.contains(weight) && want.entry(weight).dtype().isFp8() && got != null
                    && !got.get(0).tensor().dtype().isFp8() && !found.containsKey(key)) {
                out.add(key);
            }
        }
        return out;
    }

    /**
     * What comparing HF tensor {@code key} reads: the tensor, its scales where it is compared dequantized, and the
     * grouped copies found of it. None for scales compared with their weight.
     */
    private static List<Tensor> comparedOf(String key, Checkpoint want, Set<String> dequantizedScales,
                                           Map<String, List<Found>> found) {
        if (dequantizedScales.contains(key)) {
            return List.of();
        }
        List<Tensor> read = new ArrayList<>();
        read.add(want.tensor(key));
        if (dequantizedScales.contains(key + Fp8BlockDequantizer.SCALE_SUFFIX)) {
            read.add(want.tensor(key + Fp8BlockDequantizer.SCALE_SUFFIX));
        }
        found.getOrDefault(key, List.of()).forEach(f -> read.add(f.tensor()));
        return read;
    }

    /** Every tensor of every rank under its HF name: per-expert views of grouped tensors, other tensors as they are. */
    private static Map<String, List<Found>> found(GroupedRanks ranks, ToHfOptions.LoraFormat lora) {
        Map<String, List<Found>> found = new LinkedHashMap<>();
        Set<String> folded = new LinkedHashSet<>(); // grouped LoRA keys compared as ParamWrapper tensors
        OnDiskRestoration restoration = OnDiskRestoration.of(ranks);
        for (GroupedRanks.Rank r : ranks.ranks()) {
            Map<String, String> onDiskNames = ranks.isGroupedOnDisk()
                    ? GroupedOnDiskLayout.hfNames(ranks.model().family(), ranks.layout(), r.checkpoint(),
                            ranks.model().config().numExperts()) : Map.of();
            for (String key : r.checkpoint().keys()) {
                MappedSource source = new MappedSource(r.checkpoint().tensor(key));
                List<Map.Entry<String, Found>> views = new ArrayList<>();
                if (restoration != null && restoration.restores(key)) {
                    for (Map.Entry<String, OnDiskRestoration.Piece> p : restoration.pieces(r, key)) {
                        views.add(Map.entry(p.getKey(), new Found(r.index(), p.getValue().source(), false, -1, source,
                                hf -> restoration.target(hf, p.getValue()))));
                    }
                } else if (ranks.isGroupedOnDisk()) {
                    // Every rank holds every GPT-OSS tensor, its expert tensors cut to the rank's experts.
                    boolean experts = ranks.isOnDiskExpertKey(key);
                    views.add(Map.entry(onDiskNames.get(key), new Found(r.index(), source.whole, false,
                            experts ? r.range().start() : -1, source)));
                } else if (ranks.isGroupedLoraKey(key)) {
                    // Grouped LoRA of the rank's experts, compared in the PEFT layout the HF input holds; a ParamWrapper
                    // tensor folds every rank's experts, so it is gathered over the ranks below.
                    if (lora == ToHfOptions.LoraFormat.PER_EXPERT) {
                        for (Map.Entry<String, Tensor> e : ranks.loraToHf(r, key)) {
                            views.add(Map.entry(e.getKey(), new Found(r.index(), e.getValue(), true, source)));
                        }
                    } else {
                        folded.add(key);
                    }
                } else if (ranks.isGroupedExpertKey(key)) {
                    for (Map.Entry<String, Tensor> e : ranks.perExpertViews(r, key)) {
                        views.add(Map.entry(e.getKey(), new Found(r.index(), e.getValue(), true, source)));
                    }
                } else {
                    views.add(Map.entry(key, new Found(r.index(), source.whole, false, source)));
                }
                source.pending = views.size();
                views.forEach(v -> found.computeIfAbsent(v.getKey(), k -> new ArrayList<>()).add(v.getValue()));
            }
        }
        for (String key : folded) {
            for (Map.Entry<String, Tensor> e : ranks.loraToHf(key, lora)) {
                MappedSource gathered = new MappedSource(e.getValue());
                gathered.pending = 1;
                found.computeIfAbsent(e.getKey(), k -> new ArrayList<>())
                        .add(new Found(ranks.byFirstExpert().getFirst().index(), e.getValue(), true, gathered));
            }
        }
        return found;
    }

    /** The PEFT layout of the HF input's expert LoRA keys: ParamWrapper when it has any such key, else per-expert. */
    private static ToHfOptions.LoraFormat loraFormatOf(ModelInput hf) {
        String segment = "." + hf.model().naming().segment() + ".";
        for (String key : hf.checkpoint().keys()) {
            int at = key.indexOf(segment);
            if (at >= 0 && key.substring(at + segment.length()).matches("(base_layer\\.)?lora_[AB]\\.weight")) {
                return ToHfOptions.LoraFormat.PARAM_WRAPPER;
            }
        }
        return ToHfOptions.LoraFormat.PER_EXPERT;
    }

    /** What differs between the HF tensor and one grouped copy of it, or null when they are equal. */
    private static String compare(TensorComparison comparison, String key, Tensor expected, Found f) {
        String where = key + " (rank " + f.rank() + "): ";
        Tensor actual = f.tensor();
        if (f.part() != null) {
            expected = f.part().apply(expected);
        } else if (f.at() >= 0 && actual.dim() > 0 && expected.dim() > 0 && f.at() + actual.size(0) <= expected.size(0)) {
            expected = expected.narrow(0, f.at(), actual.size(0));
        }
        if (!Arrays.equals(expected.sizes(), actual.sizes())) {
            return where + "shape " + Arrays.toString(actual.sizes()) + ", expected " + Arrays.toString(expected.sizes());
        }
        if (expected.dtype() != actual.dtype()) {
            return where + "dtype " + actual.dtype() + ", expected " + expected.dtype();
        }
        long at = comparison.firstDifference(expected, actual);
        if (at < 0) {
            return null;
        }
        long[] index = TensorComparison.unravel(at, expected.sizes());
        return where + "element " + at + " " + Arrays.toString(index) + " is " + TensorComparison.describe(actual, index)
                + ", expected " + TensorComparison.describe(expected, index);
    }
}
