package dev.moeshard.convert;

import dev.moeshard.safetensors.AtomicReplace;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import java.util.OptionalLong;

/**
 * The record in a staging directory of the single process that runs the whole job (its pid and start time), so that
 * a second run of the same output on this machine is told that the output is being written, while the staging of a
 * run that was killed, which nothing will ever finish, reads as stopped. Workers that share a job among machines
 * ({@link MoeConvert#runUnits}) write none: they expect one another.
 */
final class StagingOwner {
    private static final String FILE_NAME = "owner";

    private StagingOwner() {}

    static void write(StagedDirectory staged) throws IOException {
        ProcessHandle self = ProcessHandle.current();
        // Renamed into place whole, so that a run killed while writing it leaves no record rather than an empty one.
        AtomicReplace.write(staged.bookkeeping().resolve(FILE_NAME),
                (self.pid() + " " + startOf(self) + "\n").getBytes(StandardCharsets.UTF_8));
    }

    static void remove(StagedDirectory staged) throws IOException {
        Files.deleteIfExists(staged.bookkeeping().resolve(FILE_NAME));
    }

    /** The pid of the live process other than this one that owns {@code staged}, if there is one. */
    static OptionalLong liveOther(StagedDirectory staged) {
        Path record = staged.bookkeeping().resolve(FILE_NAME);
        try {
            String[] owner = Files.readString(record, StandardCharsets.UTF_8).strip().split(" ");
            long pid = Long.parseLong(owner[0]);
            Optional<ProcessHandle> process = ProcessHandle.of(pid);
            boolean alive = process.isPresent() && process.get().isAlive()
                    && startOf(process.get()).equals(owner[1]);
            return alive && pid != ProcessHandle.current().pid() ? OptionalLong.of(pid) : OptionalLong.empty();
        } catch (IOException | RuntimeException e) {
            return OptionalLong.empty(); // no record, or one from another machine's format: nobody here owns it
        }
    }

    private static String startOf(ProcessHandle process) {
        return process.info().startInstant().map(Object::toString).orElse("?");
    }
}
