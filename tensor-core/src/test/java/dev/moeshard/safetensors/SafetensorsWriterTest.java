package dev.moeshard.safetensors;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.Tensor;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

@Tag("no-flags")
class SafetensorsWriterTest {
    private static final Map<String, String> METADATA = Map.of("format", "pt", "note", "written by a test");

    @TempDir
    Path dir;

    /**
     * Writes {@code tensors} through a plan. Sub-byte tensors are filled write-through with a byte copy: the provisional
     * copy engine cannot copy F4/F6 tensors yet (it asks their dtype for a whole-byte element size).
     */
    private static void writeAll(Path file, Map<String, Tensor> tensors, Map<String, String> metadata) {
        List<TensorSpec> specs = new ArrayList<>();
        tensors.forEach((n, t) -> specs.add(TensorSpec.of(n, t)));
        try (SafetensorsWriter out = SafetensorsWriter.open(file, SafetensorsWriter.plan(specs, metadata))) {
            tensors.forEach((n, t) -> {
                if (t.dtype().isByteAligned()) {
                    out.write(n, t);
                } else {
                    out.tensor(n).segment().copyFrom(t.segment());
                }
            });
            out.commit();
        }
    }

    private static void assertSameTensors(Map<String, Tensor> expected, SafetensorsFile st) {
        assertEquals(List.copyOf(expected.keySet()), st.keys());
        expected.forEach((n, t) -> {
            Tensor back = st.tensor(n);
            assertEquals(t.dtype(), back.dtype(), n);
            assertArrayEquals(t.sizes(), back.sizes(), n);
            assertArrayEquals(TestTensors.bytes(t), TestTensors.bytes(back), n);
        });
    }

    private List<String> filesInDir() throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    // ------------------------------------------------------------------------------------------------ identity

    @Test
    void everyDtypeSurvivesWriteAndRead() throws IOException {
        Map<String, Tensor> tensors = TestTensors.everyDtype();
        Path file = dir.resolve("all.safetensors");
        writeAll(file, tensors, METADATA);
        try (SafetensorsFile st = SafetensorsFile.open(file)) {
            assertSameTensors(tensors, st);
            assertEquals(METADATA, st.metadata());
            assertEquals(0, st.tensor("bf16.scalar").dim());
            assertEquals(0, st.entry("f4.empty").byteSize());
        }
        assertEquals(List.of("all.safetensors"), filesInDir());
    }

    @Test
    void convenienceWriteOfByteAlignedTensors() {
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        TestTensors.everyDtype().forEach((n, t) -> {
            if (t.dtype().isByteAligned()) {
                tensors.put(n, t);
            }
        });
        Path file = dir.resolve("model.safetensors");
        SafetensorsWriter.write(file, tensors, Map.of());
        try (SafetensorsFile st = SafetensorsFile.open(file)) {
            assertSameTensors(tensors, st);
            assertEquals(Map.of(), st.metadata());
        }
    }

    @Test
    void headerIsCompactJsonPaddedWithSpacesToAMultipleOfEight() throws IOException {
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        tensors.put("w", TestTensors.random(DType.BF16, 7, 2, 3));
        tensors.put("odd_name_", TestTensors.random(DType.U8, 8, 3));
        Path file = dir.resolve("padded.safetensors");
        SafetensorsWriter.write(file, tensors, Map.of("format", "pt"));

        Fixtures.RawFile raw = Fixtures.RawFile.read(file);
        assertEquals(0, raw.headerLength() % 8);
        String header = new String(raw.bytes(), 8, (int) raw.headerLength(), StandardCharsets.UTF_8);
        String json = header.stripTrailing();
        assertTrue(json.endsWith("}"));
        assertTrue(header.substring(json.length()).chars().allMatch(c -> c == ' '));
        assertFalse(json.contains(" "), "compact JSON: " + json);
        JsonNode parsed = new ObjectMapper().readTree(json);
        assertEquals("{\"__metadata__\":{\"format\":\"pt\"},"
                + "\"w\":{\"dtype\":\"BF16\",\"shape\":[2,3],\"data_offsets\":[0,12]},"
                + "\"odd_name_\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[12,15]}}", parsed.toString());
        assertEquals(8 + raw.headerLength() + 15, raw.bytes().length);
    }

    @Test
    void transposedSourceIsWrittenContiguouslyInRowMajorOrder() {
        Tensor src = Tensor.allocate(DType.F32, 3, 5);
        for (int i = 0; i < 3; i++) {
            for (int j = 0; j < 5; j++) {
                src.setDouble(10 * i + j, i, j);
            }
        }
        Tensor transposed = src.t();
        assertFalse(transposed.isContiguous());
        Path file = dir.resolve("t.safetensors");
        SafetensorsWriter.write(file, Map.of("t", transposed), Map.of());
        try (SafetensorsFile st = SafetensorsFile.open(file)) {
            Tensor back = st.tensor("t");
            assertArrayEquals(new long[] {5, 3}, back.sizes());
            assertTrue(back.isContiguous());
            var floats = back.segment().asByteBuffer().order(java.nio.ByteOrder.LITTLE_ENDIAN).asFloatBuffer();
            for (int r = 0; r < 5; r++) {
                for (int c = 0; c < 3; c++) {
                    assertEquals(10 * c + r, floats.get(r * 3 + c), "element [" + r + ", " + c + "]");
                }
            }
        }
    }

    @Test
    void destinationViewIsWriteThrough() {
        Path file = dir.resolve("wt.safetensors");
        var plan = SafetensorsWriter.plan(List.of(new TensorSpec("gu", DType.BF16, new long[] {2, 4, 6})), Map.of());
        Tensor gate = TestTensors.random(DType.BF16, 1, 2, 3, 4);
        Tensor up = TestTensors.random(DType.BF16, 2, 2, 3, 4);
        try (var out = SafetensorsWriter.open(file, plan)) {
            // The grouped layout built piece by piece: columns [0, 3) of each expert are gateᵀ, [3, 6) upᵀ.
            Tensor gu = out.tensor("gu");
            gu.narrow(2, 0, 3).copyFrom(gate.transpose(1, 2));
            gu.narrow(2, 3, 3).copyFrom(up.transpose(1, 2));
            out.commit();
        }
        try (SafetensorsFile st = SafetensorsFile.open(file)) {
            Tensor gu = st.tensor("gu");
            assertEquals(gate.getBits(1, 2, 3), gu.getBits(1, 3, 2));
            assertEquals(up.getBits(0, 1, 0), gu.getBits(0, 0, 4));
        }
    }

    @Test
    void commitReplacesAnExistingFile() throws IOException {
        Path file = dir.resolve("model.safetensors");
        Files.writeString(file, "old");
        SafetensorsWriter.write(file, Map.of("x", TestTensors.random(DType.I32, 3, 2)), Map.of());
        assertEquals(List.of("x"), SafetensorsHeader.read(file).keys());
        assertEquals(List.of("model.safetensors"), filesInDir());
    }

    // ------------------------------------------------------------------------------------------------ nothing half-written

    @Test
    void closeWithoutCommitLeavesNothing() throws IOException {
        Path file = dir.resolve("never.safetensors");
        var plan = SafetensorsWriter.plan(List.of(new TensorSpec("x", DType.U8, new long[] {4})), Map.of());
        try (var out = SafetensorsWriter.open(file, plan)) {
            out.write("x", TestTensors.random(DType.U8, 1, 4));
            assertEquals(1, filesInDir().size());
            assertTrue(filesInDir().getFirst().startsWith(".never.safetensors.tmp-"), filesInDir().toString());
        }
        assertEquals(List.of(), filesInDir());
    }

    @Test
    void exceptionMidWriteLeavesNoOutputFile() throws IOException {
        Path file = dir.resolve("model.safetensors");
        var plan = SafetensorsWriter.plan(List.of(new TensorSpec("a", DType.U8, new long[] {4}),
                new TensorSpec("b", DType.U8, new long[] {4})), Map.of());
        IllegalStateException failure = assertThrows(IllegalStateException.class, () -> {
            try (var out = SafetensorsWriter.open(file, plan)) {
                out.write("a", TestTensors.random(DType.U8, 1, 4));
                throw new IllegalStateException("source went away");
            }
        });
        assertEquals("source went away", failure.getMessage());
        assertEquals(List.of(), filesInDir());
    }

    @Test
    void commitWithATensorNeverWrittenFailsAndLeavesNothing() throws IOException {
        Path file = dir.resolve("model.safetensors");
        var plan = SafetensorsWriter.plan(List.of(new TensorSpec("a", DType.U8, new long[] {4}),
                new TensorSpec("b", DType.U8, new long[] {4})), Map.of());
        try (var out = SafetensorsWriter.open(file, plan)) {
            out.write("a", TestTensors.random(DType.U8, 1, 4));
            IllegalStateException e = assertThrows(IllegalStateException.class, out::commit);
            CraftedFiles.assertMentions(e.getMessage(), file.toString(), "1 of 2", "b");
        }
        assertEquals(List.of(), filesInDir());
    }

    // ------------------------------------------------------------------------------------------------ misuse

    @Test
    void writingAKeyNotInThePlanNamesIt() {
        Path file = dir.resolve("model.safetensors");
        var plan = SafetensorsWriter.plan(List.of(new TensorSpec("a", DType.U8, new long[] {4})), Map.of());
        try (var out = SafetensorsWriter.open(file, plan)) {
            var e = assertThrows(IllegalArgumentException.class, () -> out.write("z", TestTensors.random(DType.U8, 1, 4)));
            CraftedFiles.assertMentions(e.getMessage(), file.toString(), "'z'", "not in the plan");
            assertThrows(IllegalArgumentException.class, () -> out.tensor("z"));
        }
    }

    @Test
    void shapeOrDtypeMismatchIsRefused() {
        Path file = dir.resolve("model.safetensors");
        var plan = SafetensorsWriter.plan(List.of(new TensorSpec("a", DType.BF16, new long[] {2, 3})), Map.of());
        try (var out = SafetensorsWriter.open(file, plan)) {
            var shape = assertThrows(IllegalArgumentException.class,
                    () -> out.write("a", TestTensors.random(DType.BF16, 1, 3, 2)));
            CraftedFiles.assertMentions(shape.getMessage(), file.toString(), "'a'", "BF16[2, 3]", "BF16[3, 2]");
            var dtype = assertThrows(IllegalArgumentException.class,
                    () -> out.write("a", TestTensors.random(DType.F16, 1, 2, 3)));
            CraftedFiles.assertMentions(dtype.getMessage(), "'a'", "BF16[2, 3]", "F16[2, 3]");
            // Neither attempt counts as written.
            assertThrows(IllegalStateException.class, out::commit);
        }
    }

    @Test
    void writingATensorTwiceIsRefused() {
        Path file = dir.resolve("model.safetensors");
        var plan = SafetensorsWriter.plan(List.of(new TensorSpec("a", DType.U8, new long[] {4})), Map.of());
        try (var out = SafetensorsWriter.open(file, plan)) {
            out.write("a", TestTensors.random(DType.U8, 1, 4));
            var e = assertThrows(IllegalStateException.class, () -> out.write("a", TestTensors.random(DType.U8, 2, 4)));
            CraftedFiles.assertMentions(e.getMessage(), "'a'", "already written");
            out.commit();
            assertThrows(IllegalStateException.class, () -> out.tensor("a"));
        }
    }

    @Test
    void planRefusesDuplicateAndReservedNames() {
        var spec = new TensorSpec("a", DType.U8, new long[] {1});
        var dup = assertThrows(IllegalArgumentException.class, () -> SafetensorsWriter.plan(List.of(spec, spec), Map.of()));
        CraftedFiles.assertMentions(dup.getMessage(), "'a'", "twice");
        assertThrows(IllegalArgumentException.class, () -> SafetensorsWriter.plan(
                List.of(new TensorSpec("__metadata__", DType.U8, new long[] {1})), Map.of()));
        assertThrows(IllegalArgumentException.class, () -> new TensorSpec("n", DType.U8, new long[] {-1}));
    }
}
