package dev.moeshard.moe;

import dev.moeshard.moe.parallel.DeviceMesh;
import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.Device;

/**
 * How {@link MoeStateDictAdapter#fromHf} builds grouped tensors.
 *
 * @param mesh this rank's mesh; only its experts are loaded (null: all experts)
 * @param outputDtype dtype of the grouped tensors (null: the dtype of the per-expert inputs)
 * @param dequantizedDtype dtype FP8 block-quantized weights are dequantized to, and GPT-OSS MXFP4 experts decoded to
 *     by {@link dev.moeshard.moe.family.GptOssConversion#fromHf(java.util.Map, FromHfOptions)} (BF16 unless asked
 *     otherwise)
 * @param resetViewLoadedKeys start a new view-loaded record (true), or add to the previous one, as a second pass
 *     over another namespace (an MTP head) of the same load does
 * @param device where the grouped expert tensors are built: the host, or a CUDA device (each layer's per-expert
 *     inputs are uploaded as they lie and merged there in one launch per projection; MXFP4 experts are uploaded
 *     packed and decoded there)
 * @param keepFp8 group FP8 block-quantized experts as FP8, with grouped scales, instead of dequantizing them
 *     (see {@link dev.moeshard.moe.quant.Fp8GroupedScales}); other FP8 weights keep their scales unchanged
 */
public record FromHfOptions(DeviceMesh mesh, DType outputDtype, DType dequantizedDtype, boolean resetViewLoadedKeys,
                            Device device, boolean keepFp8) {

    public FromHfOptions withKeepFp8(boolean keep) {
        return new FromHfOptions(mesh, outputDtype, dequantizedDtype, resetViewLoadedKeys, device, keep);
    }

    public static FromHfOptions defaults() {
        return new FromHfOptions(null, null, DType.BF16, true, Device.CPU, false);
    }

    public FromHfOptions withMesh(DeviceMesh newMesh) {
        return new FromHfOptions(newMesh, outputDtype, dequantizedDtype, resetViewLoadedKeys, device, keepFp8);
    }

    public FromHfOptions withOutputDtype(DType dtype) {
        return new FromHfOptions(mesh, dtype, dequantizedDtype, resetViewLoadedKeys, device, keepFp8);
    }

    public FromHfOptions withDequantizedDtype(DType dtype) {
        return new FromHfOptions(mesh, outputDtype, dtype, resetViewLoadedKeys, device, keepFp8);
    }

    public FromHfOptions accumulatingViewLoadedKeys() {
        return new FromHfOptions(mesh, outputDtype, dequantizedDtype, false, device, keepFp8);
    }

    public FromHfOptions withDevice(Device target) {
        return new FromHfOptions(mesh, outputDtype, dequantizedDtype, resetViewLoadedKeys, target, keepFp8);
    }
}
