package dev.moeshard.moe.family;

import dev.moeshard.moe.FromHfOptions;
import dev.moeshard.moe.GroupedLayout;
import dev.moeshard.moe.parallel.DeviceMesh;
import dev.moeshard.moe.parallel.ExpertRange;
import dev.moeshard.moe.quant.Mxfp4Decoder;
import dev.moeshard.moe.quant.Mxfp4Experts;
import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.Device;
import dev.moeshard.tensor.Tensor;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The conversion of a family whose checkpoints are grouped on disk already ({@link ModelFamily.Layout#GROUPED_ON_DISK}):
 * a rename by the family table's {@link ModelFamily#onDiskRenames()}, and under expert parallelism every expert tensor
 * cut to this rank's experts along its first axis (a view). GPT-OSS ({@code mlp.experts.gate_up_proj} [E, H, 2I] with
 * gate in the even columns and up in the odd ones, {@code down_proj} [E, I, H], biases [E, 2I], [E, H]) renames as
 * the reference adapter does: {@code mlp.router} → {@code mlp.gate}, {@code gate_up_proj} →
 * {@code gate_and_up_projs}, {@code down_proj} → {@code down_projs}, unless written as hf-v5, which keeps every name
 * ({@link ModelFamily#onDiskRenames(GroupedLayout)}); its MXFP4 experts are decoded. Llama-4, Granite and Qwen3-VL-MoE
 * rename (or keep) their fused projections likewise.
 */
public final class GroupedOnDiskConversion {
    private final ModelFamily family;
    private final int numExperts;
    private final List<Map.Entry<String, String>> renames;

    /** GPT-OSS's conversion under the reference adapter's names (its deepep output). */
    public GroupedOnDiskConversion(int numExperts) {
        this(ModelFamily.GPT_OSS, numExperts);
    }

    /**
     * The conversion of {@code family}, one of those grouped on disk ({@link ModelFamily.Layout#GROUPED_ON_DISK}):
     * its renames, its expert tensors cut along their first axis.
     */
    public GroupedOnDiskConversion(ModelFamily family, int numExperts) {
        this(family, numExperts, null);
    }

    /**
     * As {@link #GroupedOnDiskConversion(ModelFamily, int)}, for an output written in grouped layout {@code written}
     * (null: the family's own grouped names), which decides the renames ({@link ModelFamily#onDiskRenames(GroupedLayout)}).
     */
    public GroupedOnDiskConversion(ModelFamily family, int numExperts, GroupedLayout written) {
        if (family.layout() != ModelFamily.Layout.GROUPED_ON_DISK) {
            throw new IllegalArgumentException(family.modelType() + " keeps its experts one tensor per expert, not "
                    + "grouped on disk");
        }
        this.family = family;
        this.numExperts = numExperts;
        this.renames = family.onDiskRenames(written);
    }

    /** The grouped state dict of {@code hf} for this rank of {@code mesh} (null: all experts). */
    public Map<String, Tensor> fromHf(Map<String, Tensor> hf, DeviceMesh mesh) {
        return fromHf(hf, mesh, DType.BF16);
    }

    /**
     * As {@link #fromHf(Map, DeviceMesh)}, with MXFP4 expert weights ({@code X_blocks} + {@code X_scales}) decoded to
     * {@code X} [E_local, in, out] of {@code decodedDtype}: only this rank's experts are decoded.
     */
    public Map<String, Tensor> fromHf(Map<String, Tensor> hf, DeviceMesh mesh, DType decodedDtype) {
        return fromHf(hf, mesh, decodedDtype, Device.CPU);
    }

    /**
     * As {@link #fromHf(Map, DeviceMesh, DType)} with {@code options}' mesh, MXFP4 decoded to its
     * {@code dequantizedDtype}, and every {@code mlp.experts} tensor built on its {@code device}: on a CUDA device the
     * MXFP4 blocks and scales are uploaded packed and decoded there (BF16 or F32), the other expert tensors (biases,
     * unquantized weights) are copied there; the rest stays where it is, as {@code MoeStateDictAdapter.fromHf} does.
     */
    public Map<String, Tensor> fromHf(Map<String, Tensor> hf, FromHfOptions options) {
        return fromHf(hf, options.mesh(), options.dequantizedDtype(), options.device());
    }

    private Map<String, Tensor> fromHf(Map<String, Tensor> hf, DeviceMesh mesh, DType decodedDtype, Device device) {
        ExpertRange range = ExpertRange.forMesh(mesh, numExperts);
        Map<String, Tensor> out = new LinkedHashMap<>();
        for (Map.Entry<String, Tensor> e : hf.entrySet()) {
            String key = e.getKey();
            Tensor value = e.getValue();
            if (family.isOnDiskExpertKey(key)) {
                if (value.dim() == 0 || value.size(0) != numExperts) {
                    throw new IllegalArgumentException(key + ": a " + family.modelType() + " expert tensor must have "
                            + numExperts
                            + " experts on its first axis, got shape " + Arrays.toString(value.sizes()));
                }
                value = value.narrow(0, range.start(), range.count());
            }
            if (Mxfp4Experts.isScales(key, hf.keySet())) {
                continue; // decoded with its blocks
            }
            if (Mxfp4Experts.isBlocks(key)) {
                key = Mxfp4Experts.weightKey(key);
                Tensor scales = hf.get(key + Mxfp4Decoder.SCALES_SUFFIX).narrow(0, range.start(), range.count());
                value = Mxfp4Decoder.decode(value, scales, decodedDtype, key, device);
            } else if (family.isOnDiskExpertKey(key)) {
                value = value.to(device);
            }
            out.put(rename(key, true), value);
        }
        return out;
    }

    /** The HF names of a grouped state dict of this family; tensors are passed as they are. */
    public Map<String, Tensor> toHf(Map<String, Tensor> grouped) {
        Map<String, Tensor> out = new LinkedHashMap<>();
        grouped.forEach((k, v) -> out.put(rename(k, false), v));
        return out;
    }

    /** The gate columns of an interleaved [E, H, 2I] tensor, as a view [E, H, I]. */
    public static Tensor gate(Tensor gateUp) {
        return gateUp.slice(2, 0, gateUp.size(2), 2);
    }

    /** The up columns of an interleaved [E, H, 2I] tensor, as a view [E, H, I]. */
    public static Tensor up(Tensor gateUp) {
        return gateUp.slice(2, 1, gateUp.size(2), 2);
    }

    /** The grouped name of HF key {@code key}. */
    public String groupedName(String key) {
        return rename(key, true);
    }

    /** The HF name of grouped key {@code key}: {@link #groupedName} undone. */
    public String hfName(String key) {
        return rename(key, false);
    }

    /** Whether {@code key} holds this family's experts on its first axis. */
    public boolean isExpertKey(String key) {
        return family.isOnDiskExpertKey(key);
    }

    private String rename(String key, boolean toGrouped) {
        for (Map.Entry<String, String> r : renames) {
            String from = toGrouped ? r.getKey() : r.getValue();
            String to = toGrouped ? r.getValue() : r.getKey();
            if (key.endsWith(from)) {
                return key.substring(0, key.length() - from.length()) + to;
            }
        }
        return key;
    }
}
