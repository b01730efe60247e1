package dev.moeshard.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.moeshard.safetensors.Checkpoint;
import dev.moeshard.safetensors.SafetensorsWriter;
import dev.moeshard.tensor.Tensor;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * One way to break a checkpoint directory, as DESIGN.md §5 lists them: applied to a writable copy, it returns the file
 * (and the key, where there is one) that the refusal must name. The bytes are changed in place, byte by byte where
 * the point is a malformed header, so that nothing but the one defect differs from a real checkpoint.
 */
record Damage(String name, Breaker breaker) {
    /** Where the defect is: the file a message must name, and the key, or null when none is involved. */
    record Culprit(Path file, String key) {}

    @FunctionalInterface
    interface Breaker {
        Culprit apply(Path dir) throws IOException;
    }

    private static final ObjectMapper JSON = new ObjectMapper();
    static final String INDEX = "model.safetensors.index.json";

    Culprit applyTo(Path dir) {
        try {
            return breaker.apply(dir);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Override
    public String toString() {
        return name;
    }

    /** Defects of one safetensors file, applied to the first shard of the directory. */
    static List<Damage> ofFiles() {
        return List.of(
                new Damage("file shorter than 8 bytes", dir -> {
                    Path f = firstShard(dir);
                    Files.write(f, new byte[] {1, 2, 3, 4, 5});
                    return new Culprit(f, null);
                }),
                new Damage("header length over 100,000,000", dir -> {
                    Raw r = Raw.read(firstShard(dir));
                    r.write(100_000_001L, r.header);
                    return new Culprit(r.file, null);
                }),
                new Damage("header length past the end of the file", dir -> {
                    Raw r = Raw.read(firstShard(dir));
                    r.write(r.header.length + r.data.length + 1L, r.header);
                    return new Culprit(r.file, null);
                }),
                new Damage("header not UTF-8", dir -> {
                    Raw r = Raw.read(firstShard(dir));
                    byte[] h = r.header.clone();
                    h[2] = (byte) 0xFF; // inside the first key's name: the JSON stays well formed otherwise
                    r.write(h.length, h);
                    return new Culprit(r.file, null);
                }),
                new Damage("header not JSON", dir -> {
                    Raw r = Raw.read(firstShard(dir));
                    r.writeHeader("{\"a\": [1, 2,}");
                    return new Culprit(r.file, null);
                }),
                new Damage("header not starting with '{'", dir -> {
                    Raw r = Raw.read(firstShard(dir));
                    r.writeHeader("[" + r.json().substring(1));
                    return new Culprit(r.file, null);
                }),
                new Damage("duplicate key", dir -> {
                    Raw r = Raw.read(firstShard(dir));
                    ObjectNode h = r.parse();
                    String key = r.tensors(h).get(0);
                    StringBuilder json = new StringBuilder("{");
                    for (Iterator<Map.Entry<String, JsonNode>> it = h.fields(); it.hasNext(); ) {
                        Map.Entry<String, JsonNode> e = it.next();
                        json.append(JSON.writeValueAsString(e.getKey())).append(':').append(e.getValue()).append(',');
                    }
                    json.append(JSON.writeValueAsString(key)).append(':').append(h.get(key)).append('}');
                    r.writeHeader(json.toString());
                    return new Culprit(r.file, key);
                }),
                entryDamage("unknown dtype", 0, e -> e.put("dtype", "Q4_K")),
                entryDamage("negative shape entry", 0, e -> e.withArray("shape").set(0, -1)),
                entryDamage("non-integer shape entry", 0, e -> e.withArray("shape").set(0, 1.5)),
                entryDamage("size overflow", 0, e -> {
                    e.withArray("shape").removeAll().add(1L << 40).add(1L << 40).add(1L << 40);
                }),
                entryDamage("end - begin not elements x dtype size", 0, e -> {
                    var shape = e.withArray("shape");
                    shape.set(0, shape.get(0).asLong() + 1);
                }),
                new Damage("offsets with a gap", dir -> {
                    Raw r = Raw.read(firstShard(dir));
                    ObjectNode h = r.parse();
                    List<String> byOffset = r.tensors(h);
                    h.remove(byOffset.get(1)); // its bytes stay: a hole between the first tensor and the third
                    r.writeHeader(h.toString());
                    return new Culprit(r.file, byOffset.get(2));
                }),
                entryDamage("offsets that overlap", 1, e -> {
                    var offsets = e.withArray("data_offsets");
                    offsets.set(0, offsets.get(0).asLong() - 2);
                    offsets.set(1, offsets.get(1).asLong() - 2);
                }),
                new Damage("bytes past the last tensor", dir -> {
                    Raw r = Raw.read(firstShard(dir));
                    r.data = Arrays.copyOf(r.data, r.data.length + 16);
                    r.write(r.header.length, r.header);
                    return new Culprit(r.file, null);
                }));
    }

    /** Defects of model.safetensors.index.json and its shards, for a directory of two or more shards. */
    static List<Damage> ofIndex() {
        return List.of(
                indexDamage("shard name '../x'", (dir, map, key) -> map.put(key, "../" + map.get(key).asText())),
                indexDamage("absolute shard name", (dir, map, key) ->
                        map.put(key, dir.resolve(map.get(key).asText()).toAbsolutePath().toString())),
                new Damage("missing shard", dir -> {
                    ObjectNode map = weightMap(dir);
                    String last = shards(dir).getLast().getFileName().toString();
                    Files.delete(dir.resolve(last));
                    String key = null;
                    for (Iterator<Map.Entry<String, JsonNode>> it = map.fields(); it.hasNext() && key == null; ) {
                        Map.Entry<String, JsonNode> e = it.next();
                        key = e.getValue().asText().equals(last) ? e.getKey() : null;
                    }
                    return new Culprit(dir.resolve(INDEX), key);
                }),
                indexDamage("key mapped to a shard that does not hold it", (dir, map, key) -> {
                    String other = shards(dir).stream().map(p -> p.getFileName().toString())
                            .filter(n -> !n.equals(map.get(key).asText())).findFirst().orElseThrow();
                    map.put(key, other);
                }),
                new Damage("same key in two shards", dir -> {
                    List<Path> shards = shards(dir);
                    Path first = shards.get(0);
                    Path last = shards.getLast();
                    String key;
                    Map<String, Tensor> rewritten = new LinkedHashMap<>();
                    try (Checkpoint a = Checkpoint.open(first); Checkpoint b = Checkpoint.open(last)) {
                        key = a.keys().get(0);
                        for (String k : b.keys()) {
                            rewritten.put(k, b.tensor(k).contiguousCopy());
                        }
                        rewritten.put(key, a.tensor(key).contiguousCopy());
                    }
                    Files.delete(last);
                    SafetensorsWriter.write(last, rewritten, Map.of("format", "pt"));
                    return new Culprit(dir.resolve(INDEX), key);
                }));
    }

    private interface EntryChange {
        void apply(ObjectNode entry);
    }

    /** Changes the entry of the {@code rank}-th tensor in data order of the first shard. */
    private static Damage entryDamage(String name, int rank, EntryChange change) {
        return new Damage(name, dir -> {
            Raw r = Raw.read(firstShard(dir));
            ObjectNode h = r.parse();
            String key = r.tensors(h).get(rank);
            change.apply((ObjectNode) h.get(key));
            r.writeHeader(h.toString());
            return new Culprit(r.file, key);
        });
    }

    private interface IndexChange {
        void apply(Path dir, ObjectNode weightMap, String key);
    }

    /** Changes the weight map's entry of its first key. */
    private static Damage indexDamage(String name, IndexChange change) {
        return new Damage(name, dir -> {
            Path index = dir.resolve(INDEX);
            ObjectNode root = (ObjectNode) JSON.readTree(index.toFile());
            ObjectNode map = (ObjectNode) root.get("weight_map");
            String key = map.fieldNames().next();
            change.apply(dir, map, key);
            Files.writeString(index, root.toPrettyString());
            return new Culprit(index, key);
        });
    }

    private static ObjectNode weightMap(Path dir) throws IOException {
        return (ObjectNode) JSON.readTree(dir.resolve(INDEX).toFile()).get("weight_map");
    }

    static List<Path> shards(Path dir) {
        try (Stream<Path> files = Files.list(dir)) {
            List<Path> found = files.filter(p -> p.getFileName().toString().endsWith(".safetensors")).sorted().toList();
            if (found.isEmpty()) {
                throw new IllegalArgumentException(dir + " holds no .safetensors file");
            }
            return found;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static Path firstShard(Path dir) {
        return shards(dir).get(0);
    }

    /** A safetensors file cut into its header and its data section, to be written back changed. */
    private static final class Raw {
        final Path file;
        final byte[] header;
        byte[] data;

        private Raw(Path file, byte[] header, byte[] data) {
            this.file = file;
            this.header = header;
            this.data = data;
        }

        static Raw read(Path file) throws IOException {
            byte[] all = Files.readAllBytes(file);
            int length = (int) ByteBuffer.wrap(all, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
            return new Raw(file, Arrays.copyOfRange(all, 8, 8 + length), Arrays.copyOfRange(all, 8 + length, all.length));
        }

        String json() {
            return new String(header, StandardCharsets.UTF_8);
        }

        ObjectNode parse() throws IOException {
            return (ObjectNode) JSON.readTree(json().trim());
        }

        /** The tensor names of {@code h}, in data order. */
        List<String> tensors(ObjectNode h) {
            List<String> names = new ArrayList<>();
            h.fieldNames().forEachRemaining(n -> {
                if (!n.equals("__metadata__")) {
                    names.add(n);
                }
            });
            names.sort(Comparator.comparingLong(n -> h.get(n).get("data_offsets").get(0).asLong()));
            return names;
        }

        void writeHeader(String json) throws IOException {
            byte[] h = json.getBytes(StandardCharsets.UTF_8);
            write(h.length, h);
        }

        /** The file as a length prefix claiming {@code claimedLength}, then {@code h}, then the data section. */
        void write(long claimedLength, byte[] h) throws IOException {
            ByteBuffer b = ByteBuffer.allocate(8 + h.length + data.length).order(ByteOrder.LITTLE_ENDIAN);
            b.putLong(claimedLength).put(h).put(data);
            Files.write(file, b.array());
        }
    }
}
