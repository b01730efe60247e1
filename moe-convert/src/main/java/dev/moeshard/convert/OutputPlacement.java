package dev.moeshard.convert;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * Where an output may go: never onto, around or into an input. Paths are compared after resolving symbolic links,
 * of the output's nearest existing ancestor where the output does not exist yet, so that a link cannot hide that
 * replacing the output would delete the input.
 */
final class OutputPlacement {
    private OutputPlacement() {}

    static void requireApart(Path output, List<Path> inputs) {
        Path out = resolved(output);
        for (Path input : inputs) {
            if (!Files.exists(input)) {
                continue; // reported as a missing input when it is opened
            }
            Path in = resolved(input);
            if (out.equals(in)) {
                throw new UsageException("OUTPUT " + output + " is the input " + input + "; name a new directory");
            }
            if (in.startsWith(out)) {
                throw new UsageException("OUTPUT " + output + " holds the input " + input
                        + "; replacing it would delete the input");
            }
            if (Files.isDirectory(in) && out.startsWith(in)) {
                throw new UsageException("OUTPUT " + output + " lies inside the input " + input
                        + "; write it elsewhere");
            }
        }
    }

    /** {@code path} with every link resolved, as far as it exists, and the rest appended. */
    private static Path resolved(Path path) {
        Path absolute = path.toAbsolutePath().normalize();
        Path existing = absolute;
        while (existing != null && !Files.exists(existing)) {
            existing = existing.getParent();
        }
        if (existing == null) {
            return absolute;
        }
        try {
            return existing.toRealPath().resolve(existing.relativize(absolute)).normalize();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot resolve " + path + ": " + e.getMessage(), e);
        }
    }
}
