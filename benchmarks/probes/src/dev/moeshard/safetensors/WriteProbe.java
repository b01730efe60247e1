package dev.moeshard.safetensors;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Locale;

/**
 * Ways to write a new file of MIB mebibytes, alternating, three rounds: the time to fill it and then to fsync it.
 *
 * <pre>
 * WriteProbe MIB DIR [MODE[,MODE...]]     default modes: fallocated,fallocated-populated,sparse-populated,pwrite
 *   fallocated             blocks reserved (as the writer does), then written through a mapping
 *   fallocated-populated   the same, with the mapping prefaulted by madvise(MADV_POPULATE_WRITE) first
 *   sparse-populated       no reservation, prefaulted mapping
 *   pwrite                 FileChannel.write from a 4 MiB buffer refilled from the source
 * </pre>
 */
public final class WriteProbe {
    private static final int MADV_POPULATE_WRITE = 23;
    private static final int BUFFER_BYTES = 4 << 20;

    private WriteProbe() {}

    public static void main(String[] args) throws Throwable {
        long bytes = Long.parseLong(args[0]) << 20;
        Path dir = Path.of(args[1]);
        String[] modes = (args.length > 2 ? args[2]
                : "fallocated,fallocated-populated,sparse-populated,pwrite").split(",");
        MemorySegment source = Arena.global().allocate(bytes, 4096).fill((byte) 7);
        for (int round = 0; round < 3; round++) {
            StringBuilder line = new StringBuilder();
            for (String mode : modes) {
                Path file = dir.resolve("write-probe-" + mode);
                Files.deleteIfExists(file);
                long start = System.nanoTime();
                try (FileChannel channel = FileChannel.open(file, StandardOpenOption.CREATE_NEW,
                        StandardOpenOption.READ, StandardOpenOption.WRITE)) {
                    write(mode, file, channel, source);
                    long written = System.nanoTime();
                    channel.force(true);
                    line.append(String.format(Locale.ROOT, "%s %.2f s (+ fsync %.2f s) | ", mode,
                            (written - start) / 1e9, (System.nanoTime() - written) / 1e9));
                } finally {
                    Files.deleteIfExists(file);
                }
            }
            System.out.println(line);
        }
    }

    private static void write(String mode, Path file, FileChannel channel, MemorySegment source) throws Throwable {
        long bytes = source.byteSize();
        if (mode.startsWith("fallocated")) {
            FilePreallocation.reserve(file, bytes);
        }
        if (mode.equals("pwrite")) {
            ByteBuffer buffer = ByteBuffer.allocateDirect(BUFFER_BYTES);
            MemorySegment staging = MemorySegment.ofBuffer(buffer);
            for (long at = 0; at < bytes; at += BUFFER_BYTES) {
                int n = (int) Math.min(BUFFER_BYTES, bytes - at);
                MemorySegment.copy(source, at, staging, 0, n);
                buffer.clear().limit(n);
                for (long position = at; buffer.hasRemaining(); ) {
                    position += channel.write(buffer, position);
                }
            }
            return;
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment mapping = channel.map(FileChannel.MapMode.READ_WRITE, 0, bytes, arena);
            if (mode.endsWith("-populated")
                    && (int) Madvise.HANDLE.invokeExact(mapping, bytes, MADV_POPULATE_WRITE) != 0) {
                throw new IllegalStateException("madvise(MADV_POPULATE_WRITE) failed (Linux 5.14 or later needed)");
            }
            MemorySegment.copy(source, 0, mapping, 0, bytes);
        }
    }

    /** libc's madvise, bound on first use. */
    private static final class Madvise {
        static final MethodHandle HANDLE = Linker.nativeLinker().downcallHandle(
                Linker.nativeLinker().defaultLookup().find("madvise").orElseThrow(),
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT));
    }
}
