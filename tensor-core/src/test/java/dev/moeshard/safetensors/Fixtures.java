package dev.moeshard.safetensors;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

/** The sample checkpoints under test resources, and an independent reading of their headers for comparison. */
final class Fixtures {
    private Fixtures() {}

    static Path dir(String name) {
        try {
            return Path.of(Fixtures.class.getResource("/fixtures/" + name).toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    /** A file's raw bytes and its header parsed by plain Jackson, without any of the code under test. */
    record RawFile(byte[] bytes, long headerLength, JsonNode header) {
        static RawFile read(Path file) throws IOException {
            byte[] bytes = Files.readAllBytes(file);
            long n = ByteBuffer.wrap(bytes, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
            String json = new String(bytes, 8, Math.toIntExact(n), StandardCharsets.UTF_8);
            return new RawFile(bytes, n, new ObjectMapper().readTree(json));
        }

        /** The bytes of tensor {@code key}: {@code 8 + N + begin .. 8 + N + end}. */
        byte[] tensorBytes(String key) {
            JsonNode offsets = header.get(key).get("data_offsets");
            int base = Math.toIntExact(8 + headerLength);
            return Arrays.copyOfRange(bytes, base + offsets.get(0).asInt(), base + offsets.get(1).asInt());
        }

        long[] shape(String key) {
            JsonNode shape = header.get(key).get("shape");
            long[] out = new long[shape.size()];
            for (int i = 0; i < out.length; i++) {
                out[i] = shape.get(i).asLong();
            }
            return out;
        }
    }
}
