package dev.moeshard.moe;

import static dev.moeshard.moe.testing.TensorAssertions.assertSameBytes;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.moeshard.moe.parallel.DeviceMesh;
import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** fromHf with the caller's arena: the grouped tensors live in it and go when the caller closes it. */
class CallerArenaTest {
    @Test
    void groupedTensorsAreBuiltInTheCallersArenaAndFreedWithIt() {
        Map<String, Tensor> hf = ConversionTest.hfExperts("model.", 2, 4, DType.BF16);
        FromHfOptions options = FromHfOptions.defaults().withMesh(DeviceMesh.expertParallel(2, 1));
        Map<String, Tensor> expected = ConversionTest.adapter(4).fromHf(new LinkedHashMap<>(hf), options);
        Arena arena = Arena.ofShared();
        Map<String, Tensor> grouped = ConversionTest.adapter(4).fromHf(new LinkedHashMap<>(hf), options.withArena(arena));
        assertEquals(expected.keySet(), grouped.keySet());
        int built = 0;
        for (Map.Entry<String, Tensor> e : grouped.entrySet()) {
            assertSameBytes(expected.get(e.getKey()), e.getValue(), e.getKey());
            if (e.getKey().endsWith("_projs")) {
                assertEquals(arena.allocate(1).scope(), e.getValue().storage().scope(), e.getKey());
                built++;
            }
        }
        assertEquals(4, built); // gate_and_up_projs and down_projs of two layers
        arena.close();
        Tensor freed = grouped.get("model.layers.0.mlp.experts.down_projs");
        assertThrows(IllegalStateException.class, () -> freed.segment().get(java.lang.foreign.ValueLayout.JAVA_BYTE, 0));
        // Only what fromHf built is the caller's: tensors passed through from the input are untouched by the close.
        String norm = "model.layers.0.input_layernorm.weight";
        assertSameBytes(expected.get(norm), grouped.get(norm), norm);
    }
}
