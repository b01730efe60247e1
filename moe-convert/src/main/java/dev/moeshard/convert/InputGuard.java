package dev.moeshard.convert;

import dev.moeshard.safetensors.Checkpoint;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.List;

/**
 * Holds a job to the input it planned against. Before and after every unit the input files must be as their headers
 * were read (size and modification time), so that a file truncated or rewritten during the run fails the job, with
 * the file named, instead of committing an output built from other bytes. An access fault in a mapped input (a file
 * truncated under a copy), which Java raises as {@link InternalError}, becomes the same clear I/O error.
 */
final class InputGuard {
    private final List<Checkpoint> inputs;

    InputGuard(List<Checkpoint> inputs) {
        this.inputs = List.copyOf(inputs);
    }

    /** Runs {@code work} between two checks of the inputs. */
    void around(IoWork work) throws IOException {
        requireUnchanged();
        try {
            work.run();
        } catch (InternalError e) {
            requireUnchanged();
            String message = "an input file could not be read where it is mapped (" + e.getMessage()
                    + "); was it truncated or replaced during the run?";
            throw new UncheckedIOException(message, new IOException(message, e));
        }
        requireUnchanged();
    }

    void requireUnchanged() {
        inputs.forEach(Checkpoint::requireUnchanged);
    }

    /** Work that may fail with an I/O error. */
    interface IoWork {
        void run() throws IOException;
    }
}
