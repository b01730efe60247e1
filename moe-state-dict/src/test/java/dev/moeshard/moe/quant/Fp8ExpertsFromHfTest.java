package dev.moeshard.moe.quant;

import static dev.moeshard.moe.testing.TensorAssertions.assertSameBytes;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moeshard.moe.ExpertNaming;
import dev.moeshard.moe.FromHfOptions;
import dev.moeshard.moe.GroupedLayout;
import dev.moeshard.moe.MoeConfig;
import dev.moeshard.moe.MoeStateDictAdapter;
import dev.moeshard.moe.parallel.DeviceMesh;
import dev.moeshard.moe.testing.TestTensors;
import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.Tensor;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * fromHf of block-quantized FP8 experts: the grouped tensors hold exactly the bytes of each expert dequantized on
 * its own with {@link Fp8BlockDequantizer#dequantize} and then grouped, on every rank and in every layout.
 */
class Fp8ExpertsFromHfTest {
    private static final int EXPERTS = 4;
    private static final long H = 200;
    private static final long I = 136;

    @Test
    void fp8ExpertsGroupAsIfEachWereDequantizedFirst() {
        Map<String, Tensor> fp8 = new LinkedHashMap<>();
        Map<String, Tensor> dequantized = new LinkedHashMap<>();
        long seed = 7;
        for (int e = 0; e < EXPERTS; e++) {
            for (String proj : new String[] {"gate_proj", "up_proj", "down_proj"}) {
                String key = "model.layers.0.mlp.experts." + e + "." + proj + ".weight";
                long[] shape = proj.equals("down_proj") ? new long[] {H, I} : new long[] {I, H};
                Tensor weight = TestTensors.random(seed++, DType.F32, shape).to(DType.F8_E4M3);
                Tensor scale = TestTensors.random(seed++, DType.F32, Fp8BlockDequantizer.scaleShape(shape[0], shape[1]));
                fp8.put(key, weight);
                fp8.put(key + Fp8BlockDequantizer.SCALE_SUFFIX, scale);
                dequantized.put(key, Fp8BlockDequantizer.dequantize(weight, scale, DType.BF16, key));
            }
        }
        for (GroupedLayout layout : GroupedLayout.named()) {
            for (int rank = 0; rank < 2; rank++) {
                FromHfOptions options = FromHfOptions.defaults().withMesh(DeviceMesh.expertParallel(2, rank));
                Map<String, Tensor> want = adapter(layout).fromHf(new LinkedHashMap<>(dequantized), options);
                Map<String, Tensor> got = adapter(layout).fromHf(new LinkedHashMap<>(fp8), options);
                assertEquals(want.keySet(), got.keySet(), layout + " rank " + rank);
                for (String key : want.keySet()) {
                    assertEquals(DType.BF16, got.get(key).dtype(), key);
                    assertSameBytes(want.get(key), got.get(key), layout + " rank " + rank + " " + key);
                }
            }
        }
    }

    @Test
    void aScaleOfTheWrongShapeIsNamedWhenItsGroupIsBuilt() {
        Map<String, Tensor> fp8 = new LinkedHashMap<>();
        for (int e = 0; e < EXPERTS; e++) {
            for (String proj : new String[] {"gate_proj", "up_proj", "down_proj"}) {
                String key = "model.layers.0.mlp.experts." + e + "." + proj + ".weight";
                long[] shape = proj.equals("down_proj") ? new long[] {H, I} : new long[] {I, H};
                fp8.put(key, Tensor.allocate(DType.F8_E4M3, shape));
                fp8.put(key + Fp8BlockDequantizer.SCALE_SUFFIX, Tensor.allocate(DType.F32, 1, 1));
            }
        }
        IllegalArgumentException error = assertThrows(IllegalArgumentException.class,
                () -> adapter(GroupedLayout.DEEPEP).fromHf(fp8));
        assertTrue(error.getMessage().contains("model.layers.0.mlp.experts.0.")
                && error.getMessage().contains("scale_inv has shape [1, 1]"), error.getMessage());
    }

    private static MoeStateDictAdapter adapter(GroupedLayout layout) {
        return new MoeStateDictAdapter(new MoeConfig(EXPERTS, H, I, true), ExpertNaming.DEFAULT, layout);
    }
}
