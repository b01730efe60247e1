package dev.moeshard.safetensors;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.util.DefaultIndenter;
import com.fasterxml.jackson.core.util.DefaultPrettyPrinter;
import com.fasterxml.jackson.core.util.Separators;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.Set;

/**
 * {@code model.safetensors.index.json}: which shard file holds each tensor of a sharded checkpoint.
 *
 * <pre>
 * {"metadata": {"total_size": 355472},
 *  "weight_map": {"lm_head.weight": "model-00001-of-00002.safetensors", ...}}
 * </pre>
 *
 * Reading checks the file on its own: the JSON types, duplicate keys, and that every shard name is a plain file name,
 * so that an index can never point outside its directory ({@code ../x}, {@code /etc/x}, {@code a/b}). Whether the shards
 * exist and hold what the index says is checked by {@link Checkpoint}, which reads their headers.
 */
public final class SafetensorsIndex {
    /** The index's file name in a checkpoint directory. */
    public static final String FILE_NAME = "model.safetensors.index.json";

    private static final Set<String> TOP_LEVEL = Set.of("metadata", "weight_map");

    private final Path file;
    private final Map<String, Object> metadata;
    private final Map<String, String> weightMap;
    private final List<String> shardNames;

    private SafetensorsIndex(Path file, Map<String, Object> metadata, Map<String, String> weightMap) {
        this.file = file;
        this.metadata = Collections.unmodifiableMap(metadata);
        this.weightMap = Collections.unmodifiableMap(weightMap);
        this.shardNames = List.copyOf(new LinkedHashSet<>(weightMap.values()));
    }

    /**
     * Reads and checks an index file.
     *
     * @throws SafetensorsFormatException if it is not a valid index
     * @throws UncheckedIOException if it cannot be read
     */
    public static SafetensorsIndex read(Path file) {
        byte[] bytes = InputFile.readJson(file, "index");
        JsonNode root = StrictJson.parse(file, StrictJson.decodeUtf8(file, bytes, "index"), "index");
        if (!root.isObject()) {
            throw new SafetensorsFormatException(file, "index must be a JSON object, found " + root.getNodeType());
        }
        for (Map.Entry<String, JsonNode> member : root.properties()) {
            if (!TOP_LEVEL.contains(member.getKey())) {
                throw new SafetensorsFormatException(file, member.getKey(),
                        "unexpected member; an index has only metadata and weight_map");
            }
        }

        Map<String, Object> metadata = new LinkedHashMap<>();
        JsonNode meta = root.get("metadata");
        if (meta != null) {
            if (!meta.isObject()) {
                throw new SafetensorsFormatException(file, "metadata", "expected an object, found " + meta.getNodeType());
            }
            JsonNode total = meta.get("total_size");
            if (total != null && !(total.isIntegralNumber() && total.canConvertToLong() && total.longValue() >= 0)) {
                throw new SafetensorsFormatException(file, "metadata",
                        "total_size must be a non-negative integer, found " + total);
            }
            metadata = StrictJson.MAPPER.convertValue(meta, StrictJson.MAPPER.getTypeFactory()
                    .constructMapType(LinkedHashMap.class, String.class, Object.class));
        }

        JsonNode map = root.get("weight_map");
        if (map == null || !map.isObject()) {
            throw new SafetensorsFormatException(file, "weight_map", map == null ? "missing"
                    : "expected an object of tensor name to shard file name, found " + map.getNodeType());
        }
        Map<String, String> weightMap = new LinkedHashMap<>();
        for (Map.Entry<String, JsonNode> member : map.properties()) {
            String key = member.getKey();
            JsonNode value = member.getValue();
            if (!value.isTextual()) {
                throw new SafetensorsFormatException(file, key, "shard name must be a string, found " + value.getNodeType());
            }
            checkPlainFileName(file, key, value.textValue());
            weightMap.put(key, value.textValue());
        }
        return new SafetensorsIndex(file, metadata, weightMap);
    }

    /**
     * A shard name must name a file in the index's own directory. Separators of both kinds are refused on every
     * platform, since an index written on one is read on the other.
     */
    private static void checkPlainFileName(Path file, String key, String name) {
        String problem = null;
        if (name.isEmpty()) {
            problem = "is empty";
        } else if (name.contains("/") || name.contains("\\")) {
            problem = "contains a path separator";
        } else if (name.equals(".") || name.equals("..") || name.contains("..")) {
            problem = "contains '..'";
        } else if (name.indexOf(':') >= 0 || name.indexOf('\0') >= 0) {
            problem = "contains ':' or a NUL character";
        } else if (Path.of(name).isAbsolute() || Path.of(name).getNameCount() != 1) {
            problem = "is not a plain file name";
        }
        if (problem != null) {
            throw new SafetensorsFormatException(file, key, "shard name '" + name + "' " + problem
                    + "; a shard must be a plain file name in the index's directory");
        }
    }

    /** Bytes of the index that {@code layout} needs: total size and the sorted weight map, pretty-printed. */
    public static byte[] encode(ShardLayout layout) {
        ObjectNode root = StrictJson.MAPPER.createObjectNode();
        root.putObject("metadata").put("total_size", layout.totalSize());
        ObjectNode map = root.putObject("weight_map");
        layout.weightMap().forEach(map::put);
        DefaultPrettyPrinter printer = new DefaultPrettyPrinter(Separators.createDefaultInstance()
                .withObjectFieldValueSpacing(Separators.Spacing.AFTER))
                .withObjectIndenter(new DefaultIndenter("  ", "\n"));
        try {
            return (StrictJson.MAPPER.writer(printer).writeValueAsString(root) + "\n").getBytes(StandardCharsets.UTF_8);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot serialize an index", e);
        }
    }

    /** The index file. */
    public Path path() {
        return file;
    }

    /** The directory the index and its shards are in. */
    public Path directory() {
        return file.toAbsolutePath().getParent();
    }

    /** The {@code metadata} object as plain Java values (numbers, strings, maps, lists); empty if absent. */
    public Map<String, Object> metadata() {
        return metadata;
    }

    /** {@code metadata.total_size}, if present. */
    public OptionalLong totalSize() {
        Object total = metadata.get("total_size");
        return total instanceof Number n ? OptionalLong.of(n.longValue()) : OptionalLong.empty();
    }

    /** Tensor name to shard file name, in the file's order. */
    public Map<String, String> weightMap() {
        return weightMap;
    }

    /** The distinct shard file names, in order of first mention. */
    public List<String> shardNames() {
        return shardNames;
    }

    /** The keys the index maps to {@code shardName}, in the file's order. */
    public List<String> keysOf(String shardName) {
        List<String> keys = new ArrayList<>();
        weightMap.forEach((k, v) -> {
            if (v.equals(shardName)) {
                keys.add(k);
            }
        });
        return keys;
    }
}
