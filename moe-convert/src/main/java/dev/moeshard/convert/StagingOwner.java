package dev.moeshard.convert;

import dev.moeshard.safetensors.AtomicReplace;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;

/**
 * The record in a staging directory of which process writes it (its pid and start time), so that the staging of a
 * run that was killed, which nothing will ever finish or remove, can be told from that of a run still going.
 */
final class StagingOwner {
    static final String FILE_NAME = ".moeshard-owner";

    private StagingOwner() {}

    static void write(Path staging) throws IOException {
        ProcessHandle self = ProcessHandle.current();
        // Renamed into place whole, so that a run killed while writing it leaves no record rather than an empty one.
        AtomicReplace.write(staging.resolve(FILE_NAME),
                (self.pid() + " " + startOf(self) + "\n").getBytes(StandardCharsets.UTF_8));
    }

    static void remove(Path staging) throws IOException {
        Files.deleteIfExists(staging.resolve(FILE_NAME));
    }

    /**
     * The staging directories beside {@code target} left by processes that no longer run. A directory whose owner
     * cannot be read is counted as stale only when it has no owner record at all and is older than a minute (a run
     * that just created it writes the record next).
     */
    static List<Path> stale(Path target) {
        Path absolute = target.toAbsolutePath().normalize();
        Path parent = absolute.getParent();
        String prefix = AtomicReplace.tempPrefix(absolute);
        List<Path> out = new ArrayList<>();
        if (parent == null || !Files.isDirectory(parent)) {
            return out;
        }
        try (Stream<Path> siblings = Files.list(parent)) {
            for (Path p : siblings.filter(p -> p.getFileName().toString().startsWith(prefix)).toList()) {
                if (Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS) && !ownerAlive(p)) {
                    out.add(p);
                }
            }
        } catch (IOException e) {
            return out; // only a hint: a parent that cannot be listed will fail the job itself
        }
        return out;
    }

    private static boolean ownerAlive(Path staging) {
        try {
            String[] owner = Files.readString(staging.resolve(FILE_NAME), StandardCharsets.UTF_8).strip().split(" ");
            Optional<ProcessHandle> process = ProcessHandle.of(Long.parseLong(owner[0]));
            return process.isPresent() && process.get().isAlive() && startOf(process.get()).equals(owner[1]);
        } catch (IOException | RuntimeException e) {
            try {
                return Files.getLastModifiedTime(staging).toMillis() > System.currentTimeMillis() - 60_000;
            } catch (IOException gone) {
                return true; // removed meanwhile: nothing to report
            }
        }
    }

    private static String startOf(ProcessHandle process) {
        return process.info().startInstant().map(Object::toString).orElse("?");
    }
}
