package dev.moeshard.moe;

import dev.moeshard.moe.parallel.DeviceMesh;
import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.Device;
import java.lang.foreign.Arena;

/**
 * How {@link MoeStateDictAdapter#fromHf} builds grouped tensors.
 *
 * @param mesh this rank's mesh; only its experts are loaded (null: all experts)
 * @param outputDtype dtype of the grouped tensors (null: the dtype of the per-expert inputs)
 * @param dequantizedDtype dtype FP8 block-quantized weights are dequantized to, and GPT-OSS MXFP4 experts decoded to
 *     by {@link dev.moeshard.moe.family.GroupedOnDiskConversion#fromHf(java.util.Map, FromHfOptions)} (BF16 unless asked
 *     otherwise)
 * @param resetViewLoadedKeys start a new view-loaded record (true), or add to the previous one, as a second pass
 *     over another namespace (an MTP head) of the same load does
 * @param device where the grouped expert tensors are built: the host, or a CUDA device (each layer's per-expert
 *     inputs are uploaded as they lie and merged there in one launch per projection; MXFP4 experts are uploaded
 *     packed and decoded there)
 * @param keepFp8 group FP8 block-quantized experts as FP8, with grouped scales, instead of dequantizing them
 *     (see {@link dev.moeshard.moe.quant.Fp8GroupedScales}); other FP8 weights keep their scales unchanged
 * @param arena memory the grouped tensors built are allocated in, freed when the caller closes it (null: each is
 *     freed once unreachable, whenever the collector next runs, which for a caller that writes each tensor out and
 *     drops it can be long after, over a large model gigabytes later)
 */
public record FromHfOptions(DeviceMesh mesh, DType outputDtype, DType dequantizedDtype, boolean resetViewLoadedKeys,
                            Device device, boolean keepFp8, Arena arena) {

    public FromHfOptions withKeepFp8(boolean keep) {
        return new FromHfOptions(mesh, outputDtype, dequantizedDtype, resetViewLoadedKeys, device, keep, arena);
    }

    public static FromHfOptions defaults() {
        return new FromHfOptions(null, null, DType.BF16, true, Device.CPU, false, null);
    }

    public FromHfOptions withMesh(DeviceMesh newMesh) {
        return new FromHfOptions(newMesh, outputDtype, dequantizedDtype, resetViewLoadedKeys, device, keepFp8, arena);
    }

    public FromHfOptions withOutputDtype(DType dtype) {
        return new FromHfOptions(mesh, dtype, dequantizedDtype, resetViewLoadedKeys, device, keepFp8, arena);
    }

    public FromHfOptions withDequantizedDtype(DType dtype) {
        return new FromHfOptions(mesh, outputDtype, dtype, resetViewLoadedKeys, device, keepFp8, arena);
    }

    public FromHfOptions accumulatingViewLoadedKeys() {
        return new FromHfOptions(mesh, outputDtype, dequantizedDtype, false, device, keepFp8, arena);
    }

    /** The arena one grouped tensor is allocated in: the caller's, or a fresh automatic one. */
    public Arena allocationArena() {
        return arena != null ? arena : Arena.ofAuto();
    }

    public FromHfOptions withArena(Arena target) {
        return new FromHfOptions(mesh, outputDtype, dequantizedDtype, resetViewLoadedKeys, device, keepFp8, target);
    }

    public FromHfOptions withDevice(Device target) {
        return new FromHfOptions(mesh, outputDtype, dequantizedDtype, resetViewLoadedKeys, target, keepFp8, arena);
    }
}
