package dev.moeshard.convert;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.moeshard.safetensors.AtomicReplace;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * The small record a unit leaves once its files are complete, forced to disk and renamed into place: the unit, the
 * plan it belongs to, and each file's size and block checksums ({@link FileChecksums}). Written last, under a
 * temporary name renamed into place, so that a unit killed at any point leaves no record and is redone whole; a
 * unit with a record whose files still match it is done.
 *
 * @param unit the unit's id
 * @param fingerprint the plan's fingerprint
 * @param files each file the unit wrote, relative to the staging directory
 */
record DoneRecord(String unit, String fingerprint, List<FileSum> files) {
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
    /** The system property that makes {@link #write} check the written checksums against the files (tests set it). */
    static final String CHECK_PROPERTY = "moeshard.checksums.check";

    /**
     * One file a unit wrote.
     *
     * @param name its path relative to the staging directory, with {@code /} between folders
     * @param size its size in bytes
     * @param blockBytes the bytes each checksum covers
     * @param crc32c each block's CRC32C, eight hex digits
     */
    record FileSum(String name, long size, long blockBytes, List<String> crc32c) {}

    DoneRecord {
        files = List.copyOf(files);
    }

    /**
     * Records {@code files} (relative to {@code staged}'s directory) as unit {@code unit}'s, done, with the block
     * checksums their writer took as it wrote them ({@code written}, by path), reading back any file it has none for.
     * With the system property {@value #CHECK_PROPERTY} set to true, every checksum taken while writing is checked
     * against the file's bytes read back, and a difference is an {@link IllegalStateException}.
     */
    static DoneRecord write(StagedDirectory staged, String unit, String fingerprint, List<String> files,
                            Map<Path, List<Integer>> written) {
        List<FileSum> sums = files.stream().map(f -> {
            Path file = staged.path().resolve(f);
            try {
                List<Integer> taken = written.entrySet().stream()
                        .filter(e -> e.getKey().toAbsolutePath().normalize().equals(file.toAbsolutePath().normalize()))
                        .map(Map.Entry::getValue).findFirst().orElse(null);
                List<String> crc32c = taken == null ? FileChecksums.of(file) : FileChecksums.hex(taken);
                if (taken != null && Boolean.getBoolean(CHECK_PROPERTY) && !crc32c.equals(FileChecksums.of(file))) {
                    throw new IllegalStateException(file + ": the checksums taken while writing it, " + crc32c
                            + ", are not those of its bytes, " + FileChecksums.of(file));
                }
                return new FileSum(f, Files.size(file), FileChecksums.BLOCK_BYTES, crc32c);
            } catch (IOException e) {
                throw new UncheckedIOException(file + ": cannot read its size: " + e.getMessage(), e);
            }
        }).toList();
        DoneRecord record = new DoneRecord(unit, fingerprint, sums);
        try {
            AtomicReplace.write(fileOf(staged, unit), JSON.writeValueAsBytes(record));
        } catch (IOException e) {
            throw new UncheckedIOException(fileOf(staged, unit) + ": cannot write the unit's done-record: "
                    + e.getMessage(), e);
        }
        return record;
    }

    /**
     * Why unit {@code unit} of the plan {@code fingerprint} is not done and intact in {@code staged}, or null when it
     * is: its record is missing or unreadable, names another plan, or a file it names is gone or of another size,
     * or (with {@code checkBytes}) no longer has the bytes it had.
     */
    static String problem(StagedDirectory staged, String unit, String fingerprint, boolean checkBytes) {
        Path file = fileOf(staged, unit);
        if (!Files.exists(file, LinkOption.NOFOLLOW_LINKS)) {
            return "not done";
        }
        DoneRecord record;
        try {
            record = JSON.readValue(file.toFile(), DoneRecord.class);
        } catch (IOException e) {
            return "its done-record " + file + " cannot be read: " + e.getMessage();
        }
        if (!record.unit().equals(unit) || !record.fingerprint().equals(fingerprint)) {
            return "its done-record " + file + " belongs to " + record.unit() + " of plan " + record.fingerprint();
        }
        for (FileSum sum : record.files()) {
            Path written = staged.path().resolve(sum.name());
            try {
                if (!Files.isRegularFile(written, LinkOption.NOFOLLOW_LINKS)) {
                    return sum.name() + " is missing";
                }
                long size = Files.size(written);
                if (size != sum.size()) {
                    return sum.name() + " has " + size + " bytes, its done-record says " + sum.size();
                }
            } catch (IOException e) {
                return sum.name() + " cannot be read: " + e.getMessage();
            }
            if (checkBytes && (sum.blockBytes() != FileChecksums.BLOCK_BYTES
                    || !FileChecksums.of(written).equals(sum.crc32c()))) {
                return sum.name() + " does not have the bytes its done-record's checksums describe (damaged)";
            }
        }
        return null;
    }

    /** Forgets unit {@code unit}'s record, so that it is redone. */
    static void remove(StagedDirectory staged, String unit) throws IOException {
        Files.deleteIfExists(fileOf(staged, unit));
    }

    private static Path fileOf(StagedDirectory staged, String unit) {
        return staged.bookkeeping().resolve("done").resolve(unit.replace('/', '+') + ".json");
    }
}
