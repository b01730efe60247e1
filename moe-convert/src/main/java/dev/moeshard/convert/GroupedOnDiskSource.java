package dev.moeshard.convert;

import dev.moeshard.moe.quant.Mxfp4Decoder;
import dev.moeshard.safetensors.TensorSpec;
import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.Tensor;
import java.util.List;

/**
 * Where one tensor of the grouped output of a family grouped on disk comes from: a view of the mapped input (renamed, narrowed to the rank's
 * experts), or an MXFP4 pair of such views decoded expert by expert into the mapped output, so that no decoded
 * weight is ever held whole.
 *
 * @param view the input view; null for an MXFP4 weight
 * @param blocks the rank's {@code _blocks} [E_local, rows, G, 16], or null
 * @param scales the rank's {@code _scales} [E_local, rows, G], or null
 * @param decoded the dtype an MXFP4 weight is decoded to
 */
record GroupedOnDiskSource(Tensor view, Tensor blocks, Tensor scales, DType decoded) {

    static GroupedOnDiskSource of(Tensor view) {
        return new GroupedOnDiskSource(view, null, null, null);
    }

    static GroupedOnDiskSource mxfp4(Tensor blocks, Tensor scales, DType decoded) {
        return new GroupedOnDiskSource(null, blocks, scales, decoded);
    }

    boolean isMxfp4() {
        return blocks != null;
    }

    /** The views of the mapped input that {@link #writeInto} reads. */
    List<Tensor> inputs() {
        return isMxfp4() ? List.of(blocks, scales) : List.of(view);
    }

    TensorSpec spec(String name) {
        return isMxfp4() ? new TensorSpec(name, decoded, Mxfp4Decoder.decodedShape(blocks.sizes()))
                : TensorSpec.of(name, view);
    }

    /**
     * Fills {@code target} (this source's spec, mapped): a plain tensor through {@code staged}'s writes, an MXFP4
     * weight decoded expert by expert from its blocks and scales read from the file first (see {@link SourceReads}).
     */
    void writeInto(Tensor target, StagedWrites staged) {
        if (!isMxfp4()) {
            staged.copy(target, view);
            return;
        }
        ReusedScratch read = new ReusedScratch();
        for (long e = 0; e < blocks.size(0); e++) {
            List<Tensor> packed = List.of(blocks.select(0, e), scales.select(0, e));
            List<Tensor> bytes = SourceReads.read(packed, read.tensor(DType.U8,
                    Math.max(1, SourceReads.bytes(packed))).segment());
            Mxfp4Decoder.decodeExpert(bytes.get(0), bytes.get(1), target.select(0, e));
        }
    }
}
