package dev.moeshard.moe.testing;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.Tensor;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.URISyntaxException;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.Map;
import java.util.Set;

/**
 * A minimal safetensors reader for the test fixtures only: maps each file once and wraps each tensor's bytes.
 * It trusts its input; the real, validating reader lives in tensor-core's safetensors package.
 */
public final class FixtureCheckpoint {
    private static final ObjectMapper JSON = new ObjectMapper();

    private FixtureCheckpoint() {}

    /** The directory of fixture {@code name} in the test resources. */
    public static Path dir(String name) {
        try {
            return Path.of(FixtureCheckpoint.class.getResource("/fixtures/" + name).toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Every tensor of the checkpoint in {@code dir} (one file, or shards through model.safetensors.index.json). */
    public static Map<String, Tensor> load(Path dir) throws IOException {
        Set<String> files = new LinkedHashSet<>();
        Path index = dir.resolve("model.safetensors.index.json");
        if (Files.exists(index)) {
            JSON.readTree(index.toFile()).path("weight_map").forEach(f -> files.add(f.asText()));
        } else {
            files.add("model.safetensors");
        }
        Map<String, Tensor> out = new LinkedHashMap<>();
        for (String f : files) {
            out.putAll(loadFile(dir.resolve(f)));
        }
        return out;
    }

    private static Map<String, Tensor> loadFile(Path file) throws IOException {
        MemorySegment mapped;
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            mapped = ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size(), Arena.ofAuto());
        }
        long headerLength = mapped.get(ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0);
        byte[] header = mapped.asSlice(8, headerLength).toArray(ValueLayout.JAVA_BYTE);
        JsonNode root = JSON.readTree(new String(header, StandardCharsets.UTF_8));
        long dataStart = 8 + headerLength;
        Map<String, Tensor> out = new LinkedHashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = root.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            if (e.getKey().equals("__metadata__")) {
                continue;
            }
            JsonNode info = e.getValue();
            DType dtype = DType.fromSafetensorsName(info.get("dtype").asText()).orElseThrow();
            long[] shape = new long[info.get("shape").size()];
            for (int i = 0; i < shape.length; i++) {
                shape[i] = info.get("shape").get(i).asLong();
            }
            long begin = info.get("data_offsets").get(0).asLong();
            long end = info.get("data_offsets").get(1).asLong();
            out.put(e.getKey(), Tensor.wrap(mapped.asSlice(dataStart + begin, end - begin), dtype, shape));
        }
        return out;
    }
}
