package dev.moeshard.safetensors;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * How many bytes of a file one {@code madvise(MADV_WILLNEED)} gets read: Linux starts at most
 * max({@code read_ahead_kb}, {@code max_sectors_kb}) of the file's block device per call and drops the rest of a
 * longer range. Asking a window at a time reads a whole range; asking in smaller pieces costs a system call each
 * (on a disk with 8 MiB windows, 128 KiB pieces were 64 times the calls). The sizes come from the device's
 * {@code /sys/dev/block/MAJOR:MINOR/queue}; where they cannot be read (no such device behind the file system, as on
 * overlay or network file systems, or not Linux), 128 KiB, the kernel's default window.
 */
final class ReadAheadWindow {
    static final long DEFAULT_BYTES = 128 << 10;
    /** A bound on one call, so that closing a read-ahead never waits behind a huge one. */
    static final long MAX_BYTES = 64 << 20;
    private static final Path SYS_DEV_BLOCK = Path.of("/sys/dev/block");
    private static final Map<Long, Long> BY_DEVICE = new ConcurrentHashMap<>();

    private ReadAheadWindow() {}

    /** Set to a size in KiB to ask that many bytes per call whatever the device, to measure what the window buys. */
    static final String PROPERTY = "moeshard.readAhead.windowKiB";

    /**
     * The window {@link #PROPERTY} asks for, in bytes, or 0 where it is not set; refused where it is not a size, by
     * the job that starts a read-ahead (the reads themselves run on a thread that could only log it).
     */
    static long asked() {
        String asked = System.getProperty(PROPERTY);
        if (asked == null) {
            return 0;
        }
        try {
            return Math.clamp(Long.parseLong(asked.trim()) << 10, 4096, MAX_BYTES);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("-D" + PROPERTY + "=" + asked + ": not a size in KiB", e);
        }
    }

    /** The window of the device that holds {@code file}. */
    static long of(Path file) {
        try {
            long dev = ((Number) Files.getAttribute(file, "unix:dev")).longValue();
            return BY_DEVICE.computeIfAbsent(dev, d -> forDevice(SYS_DEV_BLOCK, d));
        } catch (IOException | UnsupportedOperationException | IllegalArgumentException | ClassCastException e) {
            return DEFAULT_BYTES;
        }
    }

    /** The window of device {@code dev} (a {@code st_dev}) as {@code sysDevBlock} describes it. */
    static long forDevice(Path sysDevBlock, long dev) {
        Path device = sysDevBlock.resolve(major(dev) + ":" + minor(dev));
        // a partition's queue is its disk's
        Path queue = Files.isDirectory(device.resolve("queue")) ? device.resolve("queue")
                : device.resolve("..").resolve("queue");
        long kib = Math.max(kib(queue.resolve("read_ahead_kb")), kib(queue.resolve("max_sectors_kb")));
        return kib <= 0 ? DEFAULT_BYTES : Math.clamp(kib << 10, DEFAULT_BYTES, MAX_BYTES);
    }

    // glibc's gnu_dev_major / gnu_dev_minor
    static long major(long dev) {
        return ((dev >>> 8) & 0xfff) | ((dev >>> 32) & ~0xfffL);
    }

    static long minor(long dev) {
        return (dev & 0xff) | ((dev >>> 12) & ~0xffL);
    }

    private static long kib(Path sizeFile) {
        try {
            return Long.parseLong(Files.readString(sizeFile).trim());
        } catch (IOException | NumberFormatException e) {
            return 0;
        }
    }
}
