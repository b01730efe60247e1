package dev.moeshard.convert;

import dev.moeshard.safetensors.BlockChecksums;
import java.nio.file.Path;
import java.util.HexFormat;
import java.util.List;

/**
 * A file's {@link BlockChecksums} as a done-record holds them: eight hex digits each, in order.
 */
final class FileChecksums {
    static final int BLOCK_BYTES = BlockChecksums.BLOCK_BYTES;

    private FileChecksums() {}

    /** Read from {@code file}. */
    static List<String> of(Path file) {
        return hex(BlockChecksums.of(file));
    }

    /** As written down. */
    static List<String> hex(List<Integer> checksums) {
        return checksums.stream().map(c -> HexFormat.of().toHexDigits(c)).toList();
    }
}
