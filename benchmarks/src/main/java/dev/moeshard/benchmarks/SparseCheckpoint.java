package dev.moeshard.benchmarks;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.moeshard.safetensors.ShardLayout;
import dev.moeshard.safetensors.TensorSpec;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

/**
 * A sharded safetensors checkpoint whose headers are real and whose data regions are holes: each shard is created,
 * given its 8-byte length and JSON header, and then extended to its full size with {@link RandomAccessFile#setLength},
 * which on file systems with sparse files (ext4, xfs, btrfs, tmpfs) allocates no blocks for the data. A terabyte of
 * tensors then takes a few MB of disk, reads back as zeros, and costs no disk reads, so that what a conversion does
 * with a checkpoint far larger than the machine can be measured on the machine: planning from the headers, and the
 * bytes one rank reads through {@code read}/{@code pread}.
 *
 * <p>Shards are cut as {@link ShardLayout} cuts them ({@code save_pretrained}'s rule) and listed in
 * {@code model.safetensors.index.json}.
 */
final class SparseCheckpoint {
    private static final ObjectMapper JSON = new ObjectMapper();

    private SparseCheckpoint() {}

    /** Writes {@code specs} as shards of at most {@code maxShardBytes} tensor bytes into the new folder {@code dir}. */
    static ShardLayout write(Path dir, List<TensorSpec> specs, long maxShardBytes) throws IOException {
        Files.createDirectories(dir);
        ShardLayout layout = ShardLayout.of(specs, maxShardBytes);
        for (ShardLayout.Shard shard : layout.shards()) {
            writeShard(dir.resolve(shard.fileName()), shard);
        }
        Files.write(dir.resolve("model.safetensors.index.json"), index(layout));
        return layout;
    }

    private static void writeShard(Path file, ShardLayout.Shard shard) throws IOException {
        byte[] header = header(shard.specs());
        try (RandomAccessFile out = new RandomAccessFile(file.toFile(), "rw")) {
            byte[] length = new byte[8];
            long n = header.length;
            for (int i = 0; i < 8; i++) {
                length[i] = (byte) (n >>> (8 * i)); // little-endian u64
            }
            out.write(length);
            out.write(header);
            out.setLength(8 + n + shard.dataSize()); // the data: a hole
        }
    }

    /** The header JSON, tensors in order with no gaps, padded with spaces to a multiple of 8 bytes. */
    private static byte[] header(List<TensorSpec> specs) {
        ObjectNode root = JSON.createObjectNode();
        root.putObject("__metadata__").put("format", "pt");
        long offset = 0;
        for (TensorSpec s : specs) {
            ObjectNode node = root.putObject(s.name());
            node.put("dtype", s.dtype().safetensorsName());
            ArrayNode shape = node.putArray("shape");
            for (long d : s.shape()) {
                shape.add(d);
            }
            long end = offset + s.byteSize();
            node.putArray("data_offsets").add(offset).add(end);
            offset = end;
        }
        byte[] json = text(root).getBytes(StandardCharsets.UTF_8);
        byte[] padded = Arrays.copyOf(json, (json.length + 7) / 8 * 8);
        Arrays.fill(padded, json.length, padded.length, (byte) ' ');
        return padded;
    }

    private static byte[] index(ShardLayout layout) {
        ObjectNode root = JSON.createObjectNode();
        root.putObject("metadata").put("total_size", layout.totalSize());
        ObjectNode map = root.putObject("weight_map");
        layout.weightMap().forEach(map::put);
        return text(root).getBytes(StandardCharsets.UTF_8);
    }

    private static String text(ObjectNode node) {
        try {
            return JSON.writeValueAsString(node);
        } catch (JsonProcessingException e) {
            throw new UncheckedIOException(e);
        }
    }
}
