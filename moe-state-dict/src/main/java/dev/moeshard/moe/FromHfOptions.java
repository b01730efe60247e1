package dev.moeshard.moe;

import dev.moeshard.moe.parallel.DeviceMesh;
import dev.moeshard.tensor.DType;

/**
 * How {@link MoeStateDictAdapter#fromHf} builds grouped tensors.
 *
 * @param mesh this rank's mesh; only its experts are loaded (null: all experts)
 * @param outputDtype dtype of the grouped tensors (null: the dtype of the per-expert inputs)
 * @param dequantizedDtype dtype FP8 block-quantized weights are dequantized to (BF16 unless asked otherwise)
 * @param resetViewLoadedKeys start a new view-loaded record (true), or add to the previous one, as a second pass
 *     over another namespace (an MTP head) of the same load does
 */
public record FromHfOptions(DeviceMesh mesh, DType outputDtype, DType dequantizedDtype, boolean resetViewLoadedKeys) {

    public static FromHfOptions defaults() {
        return new FromHfOptions(null, null, DType.BF16, true);
    }

    public FromHfOptions withMesh(DeviceMesh newMesh) {
        return new FromHfOptions(newMesh, outputDtype, dequantizedDtype, resetViewLoadedKeys);
    }

    public FromHfOptions withOutputDtype(DType dtype) {
        return new FromHfOptions(mesh, dtype, dequantizedDtype, resetViewLoadedKeys);
    }

    public FromHfOptions withDequantizedDtype(DType dtype) {
        return new FromHfOptions(mesh, outputDtype, dtype, resetViewLoadedKeys);
    }

    public FromHfOptions accumulatingViewLoadedKeys() {
        return new FromHfOptions(mesh, outputDtype, dequantizedDtype, false);
    }
}
