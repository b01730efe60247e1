package dev.moeshard.safetensors;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.Shapes;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * The header of a safetensors file, read and validated without touching the tensor data.
 *
 * <pre>
 * | u64 little-endian N | N bytes of UTF-8 JSON, '{' first, maybe padded with spaces | data section ...          |
 *   {"__metadata__": {"format": "pt"},
 *    "name": {"dtype": "BF16", "shape": [32, 64], "data_offsets": [begin, end]}, ...}
 * </pre>
 *
 * Offsets are relative to the data section, which starts at byte {@code 8 + N}. A valid header describes the data
 * section exactly: sorted by offset, the tensors start at 0, follow each other with no gap and no overlap, and the last
 * one ends where the file ends. Every claimed length is checked against the real file size before anything of that
 * length is allocated, so a hostile header cannot make the reader allocate or map more than the file holds.
 *
 * <p>Keys keep the header's order.
 */
public final class SafetensorsHeader {
    /** Longest header accepted, as in the reference reader: real headers are a few megabytes at most. */
    public static final long MAX_HEADER_LENGTH = 100_000_000L;

    static final String METADATA_KEY = "__metadata__";
    private static final Set<String> ENTRY_FIELDS = Set.of("dtype", "shape", "data_offsets");

    private final Path file;
    private final long fileSize;
    private final long headerLength;
    private final Map<String, String> metadata;
    private final Map<String, TensorEntry> entries;
    private final List<String> keys;
    private final List<TensorEntry> entryList;

    private SafetensorsHeader(Path file, long fileSize, long headerLength, Map<String, String> metadata,
            Map<String, TensorEntry> entries) {
        this.file = file;
        this.fileSize = fileSize;
        this.headerLength = headerLength;
        this.metadata = Collections.unmodifiableMap(metadata);
        this.entries = Collections.unmodifiableMap(entries);
        this.keys = List.copyOf(entries.keySet());
        this.entryList = List.copyOf(entries.values());
    }

    // ------------------------------------------------------------------------------------------------ reading

    /**
     * Reads and validates the header of {@code file}; the data section is not read.
     *
     * @throws SafetensorsFormatException if the file breaks the format
     * @throws UncheckedIOException if the file cannot be read
     */
    public static SafetensorsHeader read(Path file) {
        InputFile.requireRegular(file, "safetensors file");
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ)) {
            return read(file, channel);
        } catch (IOException e) {
            throw new UncheckedIOException(file + ": cannot read safetensors header: " + e.getMessage(), e);
        }
    }

    /** Reads the header through an open channel, with positional reads (the channel's position is not used). */
    static SafetensorsHeader read(Path file, FileChannel channel) throws IOException {
        long fileSize = channel.size();
        if (fileSize < 8) {
            throw new SafetensorsFormatException(file, "file is " + fileSize
                    + " bytes long; a safetensors file has at least the 8-byte header length");
        }
        ByteBuffer lengthBytes = readFully(file, channel, 0, 8).order(ByteOrder.LITTLE_ENDIAN);
        long headerLength = lengthBytes.getLong(0);
        // A u64 above 2^63 reads as negative here; it is just as much too long.
        if (headerLength < 0 || headerLength > MAX_HEADER_LENGTH) {
            throw new SafetensorsFormatException(file, "header length " + Long.toUnsignedString(headerLength)
                    + " is over the limit of " + MAX_HEADER_LENGTH + " bytes");
        }
        if (headerLength > fileSize - 8) {
            throw new SafetensorsFormatException(file, "header length " + headerLength
                    + " reaches past the end of the file: the file has " + (fileSize - 8) + " bytes after the length");
        }
        ByteBuffer headerBytes = readFully(file, channel, 8, (int) headerLength);
        return parse(file, fileSize, headerBytes.array());
    }

    private static ByteBuffer readFully(Path file, FileChannel channel, long position, int length) throws IOException {
        ByteBuffer buffer = ByteBuffer.allocate(length);
        while (buffer.hasRemaining()) {
            int n = channel.read(buffer, position + buffer.position());
            if (n < 0) {
                // Only possible if the file shrank after its size was taken.
                throw new SafetensorsFormatException(file, "file ended at byte " + (position + buffer.position())
                        + " while reading " + length + " bytes at " + position);
            }
        }
        return buffer;
    }

    /** Validates the JSON of a header of {@code header.length} bytes, in a file of {@code fileSize} bytes. */
    static SafetensorsHeader parse(Path file, long fileSize, byte[] header) {
        if (header.length == 0 || header[0] != '{') {
            String found = header.length == 0 ? "an empty header" : "byte 0x" + Integer.toHexString(header[0] & 0xff);
            throw new SafetensorsFormatException(file, "header must be a JSON object starting with '{', found " + found);
        }
        String json = StrictJson.decodeUtf8(file, header, "header");
        JsonNode root = StrictJson.parse(file, json, "header");
        if (!(root instanceof ObjectNode object)) {
            throw new SafetensorsFormatException(file, "header is not a JSON object");
        }
        long dataSize = fileSize - 8 - header.length;
        Map<String, String> metadata = new LinkedHashMap<>();
        Map<String, TensorEntry> entries = new LinkedHashMap<>();
        for (Map.Entry<String, JsonNode> member : object.properties()) {
            String key = member.getKey();
            if (key.equals(METADATA_KEY)) {
                metadata = parseMetadata(file, member.getValue());
            } else {
                entries.put(key, parseEntry(file, key, member.getValue(), dataSize));
            }
        }
        checkLayout(file, entries.values(), dataSize);
        return new SafetensorsHeader(file, fileSize, header.length, metadata, entries);
    }

    private static Map<String, String> parseMetadata(Path file, JsonNode node) {
        if (!node.isObject()) {
            throw new SafetensorsFormatException(file, METADATA_KEY, "expected an object of strings, found "
                    + describe(node));
        }
        Map<String, String> metadata = new LinkedHashMap<>();
        for (Map.Entry<String, JsonNode> member : node.properties()) {
            if (!member.getValue().isTextual()) {
                throw new SafetensorsFormatException(file, METADATA_KEY, "value of '" + member.getKey()
                        + "' must be a string, found " + describe(member.getValue()));
            }
            metadata.put(member.getKey(), member.getValue().textValue());
        }
        return metadata;
    }

    private static TensorEntry parseEntry(Path file, String key, JsonNode node, long dataSize) {
        if (!node.isObject()) {
            throw new SafetensorsFormatException(file, key, "expected an object with dtype, shape and data_offsets, found "
                    + describe(node));
        }
        for (String field : ENTRY_FIELDS) {
            if (!node.has(field)) {
                throw new SafetensorsFormatException(file, key, "missing field '" + field + "'");
            }
        }
        for (Map.Entry<String, JsonNode> member : node.properties()) {
            if (!ENTRY_FIELDS.contains(member.getKey())) {
                throw new SafetensorsFormatException(file, key, "unexpected field '" + member.getKey()
                        + "'; a tensor has only dtype, shape and data_offsets");
            }
        }

        JsonNode dtypeNode = node.get("dtype");
        if (!dtypeNode.isTextual()) {
            throw new SafetensorsFormatException(file, key, "dtype must be a string, found " + describe(dtypeNode));
        }
        DType dtype = DType.fromSafetensorsName(dtypeNode.textValue()).orElseThrow(() ->
                new SafetensorsFormatException(file, key, "unknown dtype '" + dtypeNode.textValue() + "'; expected one of "
                        + Arrays.stream(DType.values()).map(DType::safetensorsName).toList()));

        long[] shape = nonNegativeIntegers(file, key, "shape", node.get("shape"));
        long bytes;
        try {
            bytes = dtype.storageBytes(Shapes.numel(shape));
        } catch (ArithmeticException e) {
            throw new SafetensorsFormatException(file, key, "size of " + dtype + Shapes.format(shape)
                    + " overflows a 64-bit byte count", e);
        }

        long[] offsets = nonNegativeIntegers(file, key, "data_offsets", node.get("data_offsets"));
        if (offsets.length != 2) {
            throw new SafetensorsFormatException(file, key, "data_offsets must be [begin, end], found "
                    + Arrays.toString(offsets));
        }
        long begin = offsets[0];
        long end = offsets[1];
        if (end < begin) {
            throw new SafetensorsFormatException(file, key, "data_offsets [" + begin + ", " + end + "] end before they begin");
        }
        if (end - begin != bytes) {
            throw new SafetensorsFormatException(file, key, "data_offsets [" + begin + ", " + end + "] hold "
                    + (end - begin) + " bytes, but " + dtype + Shapes.format(shape) + " needs " + bytes);
        }
        if (end > dataSize) {
            throw new SafetensorsFormatException(file, key, "data_offsets [" + begin + ", " + end
                    + "] reach past the end of the file: its data section has " + dataSize + " bytes");
        }
        return new TensorEntry(key, dtype, shape, begin, end);
    }

    private static long[] nonNegativeIntegers(Path file, String key, String field, JsonNode node) {
        if (!(node instanceof ArrayNode array)) {
            throw new SafetensorsFormatException(file, key, field + " must be an array of integers, found " + describe(node));
        }
        long[] values = new long[array.size()];
        for (int i = 0; i < values.length; i++) {
            JsonNode v = array.get(i);
            if (!v.isIntegralNumber()) {
                throw new SafetensorsFormatException(file, key, field + "[" + i + "] must be a non-negative integer, found "
                        + describe(v));
            }
            if (!v.canConvertToLong()) {
                throw new SafetensorsFormatException(file, key, field + "[" + i + "] = " + v
                        + " does not fit a 64-bit integer (size arithmetic would overflow)");
            }
            values[i] = v.longValue();
            if (values[i] < 0) {
                throw new SafetensorsFormatException(file, key, field + "[" + i + "] must be a non-negative integer, found "
                        + values[i]);
            }
        }
        return values;
    }

    /**
     * Sorted by offset, the tensors must tile the data section exactly. Sorting by end as well puts an empty tensor
     * at offset x before a tensor that starts at x, so empty tensors fit anywhere between two others.
     */
    private static void checkLayout(Path file, Iterable<TensorEntry> entries, long dataSize) {
        List<TensorEntry> sorted = new ArrayList<>();
        entries.forEach(sorted::add);
        sorted.sort(Comparator.comparingLong(TensorEntry::begin).thenComparingLong(TensorEntry::end));
        long expected = 0;
        TensorEntry previous = null;
        for (TensorEntry e : sorted) {
            if (e.begin() > expected) {
                String where = previous == null
                        ? "the first tensor in the data section begins at " + e.begin() + ", not at 0"
                        : "gap of " + (e.begin() - expected) + " bytes after '" + previous.name() + "', which ends at "
                                + expected + ", before this tensor, which begins at " + e.begin();
                throw new SafetensorsFormatException(file, e.name(), where);
            }
            if (e.begin() < expected) {
                throw new SafetensorsFormatException(file, e.name(), "data_offsets [" + e.begin() + ", " + e.end()
                        + "] overlap '" + previous.name() + "', which ends at " + expected);
            }
            expected = e.end();
            previous = e;
        }
        if (expected != dataSize) {
            throw new SafetensorsFormatException(file, "data section has " + dataSize + " bytes but its tensors cover only "
                    + expected + ": " + (dataSize - expected) + " bytes are left past the last tensor");
        }
    }

    private static String describe(JsonNode node) {
        String text = node.toString();
        String shown = text.length() > 60 ? text.substring(0, 57) + "..." : text;
        return node.getNodeType().name().toLowerCase(Locale.ROOT) + " " + shown;
    }

    // ------------------------------------------------------------------------------------------------ writing

    /**
     * The header bytes for {@code entries} in this order, metadata first, as compact JSON padded with spaces so that
     * the data section starts at a multiple of 8: readers that map the file then find 8-byte-aligned tensors when
     * their offsets are aligned.
     */
    static byte[] encode(List<TensorEntry> entries, Map<String, String> metadata) {
        ObjectNode root = StrictJson.MAPPER.createObjectNode();
        if (!metadata.isEmpty()) {
            ObjectNode meta = root.putObject(METADATA_KEY);
            metadata.forEach(meta::put);
        }
        for (TensorEntry e : entries) {
            ObjectNode node = root.putObject(e.name());
            node.put("dtype", e.dtype().safetensorsName());
            ArrayNode shape = node.putArray("shape");
            for (long s : e.shape()) {
                shape.add(s);
            }
            node.putArray("data_offsets").add(e.begin()).add(e.end());
        }
        byte[] json;
        try {
            json = StrictJson.MAPPER.writeValueAsString(root).getBytes(StandardCharsets.UTF_8);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot serialize a safetensors header", e);
        }
        int padded = Math.toIntExact(Math.ceilDiv((long) json.length, 8L) * 8L);
        byte[] out = Arrays.copyOf(json, padded);
        Arrays.fill(out, json.length, padded, (byte) ' ');
        return out;
    }

    /**
     * This header with tensor {@code split.whole()} described as its parts, in its place in the key order: each part a
     * view of its bytes in turn.
     *
     * @throws SafetensorsFormatException if the file has no such tensor, or holds it in another dtype or shape
     */
    public SafetensorsHeader split(TensorSplit split) {
        TensorSpec whole = split.whole();
        TensorEntry e = entry(whole.name());
        if (e.dtype() != whole.dtype() || !Arrays.equals(e.shape(), whole.shape())) {
            throw new SafetensorsFormatException(file, whole.name(), "is " + e.dtype() + Shapes.format(e.shape())
                    + ", expected " + whole.dtype() + Shapes.format(whole.shape()) + " to split it into "
                    + split.parts().stream().map(TensorSpec::name).toList());
        }
        Map<String, TensorEntry> described = new LinkedHashMap<>();
        for (TensorEntry kept : entryList) {
            if (!kept.name().equals(whole.name())) {
                described.put(kept.name(), kept);
                continue;
            }
            for (TensorEntry part : split.partEntries(e.begin())) {
                boolean taken = entries.containsKey(part.name()) && !part.name().equals(whole.name());
                if (taken || described.putIfAbsent(part.name(), part) != null) {
                    throw new SafetensorsFormatException(file, part.name(), "is a part of '" + whole.name()
                            + "' and a tensor of its own");
                }
            }
        }
        return new SafetensorsHeader(file, fileSize, headerLength, new LinkedHashMap<>(metadata), described);
    }

    // ------------------------------------------------------------------------------------------------ accessors

    /** The file this header was read from. */
    public Path path() {
        return file;
    }

    /** Size of the whole file in bytes. */
    public long fileSize() {
        return fileSize;
    }

    /** N, the length of the JSON header in bytes, padding included. */
    public long headerLength() {
        return headerLength;
    }

    /** Offset of the data section in the file: {@code 8 + N}. */
    public long dataOffset() {
        return 8 + headerLength;
    }

    /** Size of the data section in bytes, equal to the sum of the tensor sizes. */
    public long dataSize() {
        return fileSize - dataOffset();
    }

    /** The {@code __metadata__} map, empty if the header has none. */
    public Map<String, String> metadata() {
        return metadata;
    }

    /** Tensor names in the header's order. */
    public List<String> keys() {
        return keys;
    }

    /** Tensor entries in the header's order. */
    public List<TensorEntry> entries() {
        return entryList;
    }

    public boolean contains(String key) {
        return entries.containsKey(key);
    }

    /**
     * The entry of tensor {@code key}.
     *
     * @throws SafetensorsFormatException naming the file and key if the file has no such tensor
     */
    public TensorEntry entry(String key) {
        TensorEntry e = entries.get(key);
        if (e == null) {
            throw new SafetensorsFormatException(file, key, "no such tensor in this file (it holds " + entries.size()
                    + " tensors)");
        }
        return e;
    }

    @Override
    public String toString() {
        return "SafetensorsHeader(" + file + ", " + entries.size() + " tensors, " + dataSize() + " data bytes)";
    }
}
