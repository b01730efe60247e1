package dev.moeshard.convert;

import dev.moeshard.moe.GroupedLayout;
import dev.moeshard.moe.family.GroupedOnDiskConversion;
import dev.moeshard.moe.family.ModelFamily;
import dev.moeshard.moe.parallel.DeviceMesh;
import dev.moeshard.moe.parallel.ExpertRange;
import dev.moeshard.moe.quant.Mxfp4Decoder;
import dev.moeshard.moe.quant.Mxfp4Experts;
import dev.moeshard.tensor.DType;
import dev.moeshard.safetensors.Checkpoint;
import dev.moeshard.tensor.Tensor;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.Set;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What the jobs need to know of checkpoints grouped on disk (GPT-OSS, Llama-4, Granite, Qwen3-VL-MoE): conversion is
 * {@link GroupedOnDiskConversion}'s renames for the layout written (GPT-OSS's hf-v5 keeps every name), and expert
 * parallelism cuts every {@code mlp.experts} tensor (weights and biases, gate and up interleaved in the last axis)
 * along its first, expert, axis. No data is rearranged, so to-hf restores such a checkpoint by renaming back and
 * placing each rank's experts at their offset.
 */
final class GroupedOnDiskLayout {
    private GroupedOnDiskLayout() {}

    /**
     * What the grouped output of {@code family} written in {@code written} is called in manifests and reports: the
     * layout's name, but "gpt-oss" for GPT-OSS's interleaved tensors under the reference adapter's names (asked for
     * as deepep), which are no DeepEP tensors.
     */
    static String layoutName(ModelFamily family, GroupedLayout written) {
        return renamedInOwnLayout(family, written) ? "gpt-oss" : written.cliName();
    }

    /** Whether {@code family}'s output in {@code written} is its own interleaved layout renamed (GPT-OSS's deepep). */
    private static boolean renamedInOwnLayout(ModelFamily family, GroupedLayout written) {
        return family.layout() == ModelFamily.Layout.GROUPED_ON_DISK && onDiskLayout(family) == null
                && !family.keepsOnDiskNamesIn(written);
    }

    /**
     * The grouped layout {@code family}'s renamed tensors are in: DeepEP's for Llama-4, hf-v5's for Granite; null for
     * GPT-OSS, whose interleaved layout is its own.
     */
    static GroupedLayout onDiskLayout(ModelFamily family) {
        return switch (family) {
            case LLAMA4, LLAMA4_TEXT -> GroupedLayout.DEEPEP;
            case GRANITEMOE, GRANITEMOESHARED, QWEN3_VL_MOE -> GroupedLayout.HF_V5;
            default -> null;
        };
    }

    /** How inspect names the layout of {@code family}'s checkpoints as they lie on disk. */
    static String describe(ModelFamily family) {
        return onDiskLayout(family) == null ? "gpt-oss grouped"
                : family.modelType() + " grouped (the " + onDiskLayout(family).cliName() + " orientation under its own names)";
    }

    /**
     * How inspect names the layout of grouped ranks of {@code family} (one without a grouped layout's orientation,
     * GPT-OSS) written in {@code written}: its own grouped layout, or hf-v5's, which is the checkpoint's tensors.
     */
    static String describe(ModelFamily family, GroupedLayout written) {
        return renamedInOwnLayout(family, written) ? describe(family)
                : written.cliName() + " (" + family.modelType() + "'s own tensors and names, as transformers 5 loads them)";
    }

    /** Whether {@code key} holds experts of {@code family} on its first axis. */
    static boolean isExpertKey(ModelFamily family, String key) {
        return family.isOnDiskExpertKey(key);
    }

    /**
     * The grouped tensors of one rank, in input order, under the conversion's names: views of the mapped input,
     * narrowed to the rank's experts, so nothing is read until they are copied. MXFP4 expert weights
     * ({@code X_blocks} + {@code X_scales}) become one decoded tensor {@code X} [E_local, in, out] of {@code decoded}.
     */
    static Map<String, GroupedOnDiskSource> grouped(ModelFamily family, GroupedLayout written, Checkpoint checkpoint,
                                                    int experts, DeviceMesh mesh, DType decoded) {
        ExpertRange range = ExpertRange.forMesh(mesh, experts);
        GroupedOnDiskConversion conversion = new GroupedOnDiskConversion(family, experts, written);
        Map<String, GroupedOnDiskSource> out = new LinkedHashMap<>();
        Set<String> keys = new HashSet<>(checkpoint.keys());
        for (String key : checkpoint.keys()) {
            if (Mxfp4Experts.isScales(key, keys)) {
                continue; // decoded with its blocks
            }
            Tensor view = checkpoint.tensor(key);
            if (isExpertKey(family, key)) {
                view = view.narrow(0, range.start(), range.count());
            }
            if (Mxfp4Experts.isBlocks(key)) {
                Tensor scales = checkpoint.tensor(Mxfp4Experts.scalesKey(key)).narrow(0, range.start(), range.count());
                out.put(conversion.groupedName(Mxfp4Experts.weightKey(key)),
                        GroupedOnDiskSource.mxfp4(view, scales, decoded != null ? decoded : DType.BF16));
            } else {
                out.put(conversion.groupedName(key), GroupedOnDiskSource.of(view));
            }
        }
        return out;
    }

    /**
     * The grouped tensor each input tensor of {@code checkpoint} becomes under {@link #grouped}'s names: MXFP4 blocks
     * and scales both the decoded weight's.
     */
    static Map<String, String> groupedNames(ModelFamily family, GroupedLayout written, Checkpoint checkpoint,
                                            int experts) {
        GroupedOnDiskConversion conversion = new GroupedOnDiskConversion(family, experts, written);
        Set<String> keys = new HashSet<>(checkpoint.keys());
        Map<String, String> names = new LinkedHashMap<>();
        for (String key : checkpoint.keys()) {
            if (Mxfp4Experts.isScales(key, keys) || Mxfp4Experts.isBlocks(key)) {
                names.put(key, conversion.groupedName(Mxfp4Experts.weightKey(key)));
            } else {
                names.put(key, conversion.groupedName(key));
            }
        }
        return names;
    }

    /** Whether {@code checkpoint} holds MXFP4 expert weights. */
    static boolean hasMxfp4(Checkpoint checkpoint) {
        return checkpoint.keys().stream().anyMatch(Mxfp4Experts::isBlocks);
    }

    /** The HF name of each grouped key of {@code checkpoint}, written in {@code written}, in its order. */
    static Map<String, String> hfNames(ModelFamily family, GroupedLayout written, Checkpoint checkpoint, int experts) {
        Map<String, String> names = new LinkedHashMap<>();
        List<String> keys = checkpoint.keys().stream().toList();
        Map<String, Tensor> views = checkpoint.tensors();
        List<String> hf = List.copyOf(new GroupedOnDiskConversion(family, experts, written).toHf(views).keySet());
        for (int i = 0; i < keys.size(); i++) {
            names.put(keys.get(i), hf.get(i));
        }
        return names;
    }

    /** Expert tensors without {@code experts} on their first axis, each as a problem. */
    static List<String> problems(ModelFamily family, Checkpoint checkpoint, int experts) {
        List<String> problems = new ArrayList<>();
        for (String key : checkpoint.keys()) {
            long[] shape = checkpoint.entry(key).shape();
            if (isExpertKey(family, key) && (shape.length == 0 || shape[0] != experts)) {
                problems.add(key + ": a " + family.modelType() + " expert tensor must have " + experts + " experts on its first axis, got "
                        + "shape " + Arrays.toString(shape));
            }
            if (Mxfp4Experts.isBlocks(key)) {
                String scalesKey = Mxfp4Experts.scalesKey(key);
                boolean present = checkpoint.contains(scalesKey);
                problems.addAll(Mxfp4Decoder.problems(key, checkpoint.entry(key).dtype(), shape, scalesKey,
                        present ? checkpoint.entry(scalesKey).dtype() : null,
                        present ? checkpoint.entry(scalesKey).shape() : null));
            }
        }
        return problems;
    }
}
