package dev.moeshard.convert;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.moeshard.safetensors.Checkpoint;
import dev.moeshard.safetensors.ReadAhead;
import dev.moeshard.safetensors.SafetensorsWriter;
import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.Tensor;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/** A walk asks for the first two layers as it starts and for layer L+1 as it enters layer L, never further. */
class LayerReadAheadTest {
    private static final List<String> KEYS = List.of("model.embed_tokens.weight", "model.layers.0.a", "model.layers.0.b",
            "model.layers.1.a", "model.layers.1.b", "model.layers.2.a", "model.norm.weight");
    private static final List<String> LAYERS = List.of("model.embed_tokens.weight", "model.layers.0", "model.layers.1",
            "model.layers.2", "model.norm.weight");

    @TempDir
    Path dir;

    @RegisterExtension
    final RecordedReadAheads asked = new RecordedReadAheads();

    @Test
    void theLayerOfAKeyIsItsPathUpToTheLayerIndex() {
        assertEquals("model.layers.12", LayerReadAhead.layerOf("model.layers.12.mlp.experts.3.w1.weight"));
        assertEquals("model.language_model.layers.0",
                LayerReadAhead.layerOf("model.language_model.layers.0.mlp.experts.gate_up_proj"));
        assertEquals("lm_head.weight", LayerReadAhead.layerOf("lm_head.weight"));
    }

    @Test
    void entersEachLayerWithTheNextOneAskedForAndNoMore() {
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        KEYS.forEach(key -> tensors.put(key, Tensor.allocate(DType.F32, 64, 64)));
        Path file = dir.resolve("model.safetensors");
        SafetensorsWriter.write(file, tensors, Map.of());
        try (Checkpoint c = Checkpoint.open(file);
             LayerReadAhead<String> walk = new LayerReadAhead<>(c.keys(), LayerReadAhead::layerOf,
                     key -> List.of(c.tensor(key)))) {
            for (String key : walk) {
                int entered = LAYERS.indexOf(LayerReadAhead.layerOf(key));
                assertEquals(Math.min(entered + 2, LAYERS.size()), asked.requests().size(), "asked for when at " + key);
            }
            // each request one layer's tensors, in order: neighbouring layers are never joined into it
            for (int i = 0; i < LAYERS.size(); i++) {
                String layer = LAYERS.get(i);
                List<String> keys = KEYS.stream().filter(k -> LayerReadAhead.layerOf(k).equals(layer)).toList();
                long from = c.fileOffsetOf(keys.getFirst());
                long to = c.fileOffsetOf(keys.getLast()) + c.entry(keys.getLast()).byteSize();
                assertEquals(List.of(new ReadAhead.Span(c.fileOf(keys.getFirst()), from, to - from)),
                        asked.requests().get(i), layer);
            }
        }
    }
}
