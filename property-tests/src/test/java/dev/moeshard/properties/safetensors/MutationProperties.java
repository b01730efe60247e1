package dev.moeshard.properties.safetensors;

import dev.moeshard.properties.harness.PropertyCheck;
import dev.moeshard.safetensors.SafetensorsFile;
import dev.moeshard.safetensors.SafetensorsFormatException;
import dev.moeshard.safetensors.SafetensorsWriter;
import dev.moeshard.tensor.Tensor;
import java.lang.foreign.ValueLayout;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Damaged files ({@link Mutation}) either fail with a {@link SafetensorsFormatException} or read as a valid file
 * whose every tensor can be read. Never another exception, never a hang (each open runs under a timeout on its own
 * thread), never an allocation sized by a claimed length rather than the file (the opening thread's allocated bytes
 * are measured, and must stay within a small multiple of the file's size).
 */
class MutationProperties {
    private static final long TIMEOUT_SECONDS = 10;
    /** Fixed cost of parsing a header (Jackson's buffers and tree) on top of what the file's size explains. */
    private static final long ALLOCATION_SLACK = 8L << 20;
    private static final ExecutorService READER = Executors.newSingleThreadExecutor(r -> {
        Thread t = new Thread(r, "mutated-file-reader");
        t.setDaemon(true);
        return t;
    });

    @TempDir
    Path dir;

    @AfterAll
    static void stopReader() {
        READER.shutdownNow();
    }

    @Test
    void damagedFilesFailCleanlyOrReadValidly() {
        PropertyCheck.forAll("safetensors mutations", PropertyCheck.tries() * 4, gen -> {
            Path file = dir.resolve("m.safetensors");
            SafetensorsWriter.write(file, TensorSets.random(gen), TensorSets.metadata(gen));
            byte[] bytes = Files.readAllBytes(file);
            for (int n = gen.between(1, 3); n > 0; n--) {
                bytes = Mutation.apply(gen, bytes);
            }
            Files.write(file, bytes);
            long fileSize = bytes.length;
            Future<Long> read = READER.submit(() -> allocatedWhileReading(file));
            long allocated;
            try {
                allocated = read.get(TIMEOUT_SECONDS, TimeUnit.SECONDS);
            } catch (TimeoutException e) {
                read.cancel(true);
                throw new AssertionError("reading a damaged file of " + fileSize + " bytes did not finish in "
                        + TIMEOUT_SECONDS + " s", e);
            } catch (java.util.concurrent.ExecutionException e) {
                throw new AssertionError("a damaged file of " + fileSize + " bytes threw " + e.getCause()
                        + " instead of a SafetensorsFormatException; header: " + headerText(bytes), e.getCause());
            }
            if (allocated > ALLOCATION_SLACK + 64 * fileSize) {
                throw new AssertionError("reading a damaged file of " + fileSize + " bytes allocated " + allocated
                        + " bytes; header: " + headerText(bytes));
            }
            Files.delete(file);
        });
    }

    /** Opens and reads every tensor; returns the bytes this thread allocated doing so. */
    private static long allocatedWhileReading(Path file) {
        com.sun.management.ThreadMXBean threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        long before = threads.getCurrentThreadAllocatedBytes();
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            long sum = 0;
            for (String key : f.keys()) {
                Tensor t = f.tensor(key);
                var segment = t.segment();
                for (long i = 0; i < segment.byteSize(); i++) {
                    sum += segment.get(ValueLayout.JAVA_BYTE, i);
                }
            }
            if (sum == Long.MIN_VALUE) {
                throw new IllegalStateException("unreachable; keeps the reads alive");
            }
        } catch (SafetensorsFormatException expected) {
            // A clean refusal.
        }
        return threads.getCurrentThreadAllocatedBytes() - before;
    }

    private static String headerText(byte[] bytes) {
        long n = Mutation.headerLength(bytes);
        int shown = (int) Math.max(0, Math.min(Math.min(n, 400), bytes.length - 8L));
        return "length field " + n + ", text " + new String(bytes, Math.min(8, bytes.length), shown,
                java.nio.charset.StandardCharsets.UTF_8);
    }
}
