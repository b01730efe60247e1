package dev.moeshard.safetensors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The bytes one WILLNEED call reads: the larger of the device's read-ahead window and its largest request. */
class ReadAheadWindowTest {

    /** A sysfs-like tree: devices/vda/queue with the two sizes, devices/vda/vda1 a partition, and the dev links. */
    private static Path sysfs(Path root, String readAheadKb, String maxSectorsKb) throws Exception {
        Path disk = Files.createDirectories(root.resolve("devices/vda"));
        Files.createDirectories(disk.resolve("queue"));
        if (readAheadKb != null) {
            Files.writeString(disk.resolve("queue/read_ahead_kb"), readAheadKb + "\n");
        }
        if (maxSectorsKb != null) {
            Files.writeString(disk.resolve("queue/max_sectors_kb"), maxSectorsKb + "\n");
        }
        Files.createDirectories(disk.resolve("vda1"));
        Path block = Files.createDirectories(root.resolve("dev/block"));
        Files.createSymbolicLink(block.resolve("254:0"), disk);
        Files.createSymbolicLink(block.resolve("254:1"), disk.resolve("vda1"));
        return block;
    }

    private static final long VDA = 254L << 8;
    private static final long VDA1 = VDA | 1;

    @Test
    void theLargerOfTheReadAheadWindowAndTheLargestRequest(@TempDir Path dir) throws Exception {
        Path block = sysfs(dir, "8192", "4096");
        assertEquals(8L << 20, ReadAheadWindow.forDevice(block, VDA));
        Path other = sysfs(dir.resolve("b"), "128", "1280");
        assertEquals(1280L << 10, ReadAheadWindow.forDevice(other, VDA));
    }

    @Test
    void aPartitionHasItsDisksWindow(@TempDir Path dir) throws Exception {
        assertEquals(8L << 20, ReadAheadWindow.forDevice(sysfs(dir, "8192", "4096"), VDA1));
    }

    @Test
    void anUnknownDeviceOrUnreadableSizesGetTheKernelsDefault(@TempDir Path dir) throws Exception {
        Path block = sysfs(dir, "not a number", null);
        assertEquals(ReadAheadWindow.DEFAULT_BYTES, ReadAheadWindow.forDevice(block, VDA));
        assertEquals(ReadAheadWindow.DEFAULT_BYTES, ReadAheadWindow.forDevice(block, 0)); // overlay: no device 0:0
    }

    @Test
    void oneCallIsBoundedAndNeverBelowTheDefault(@TempDir Path dir) throws Exception {
        assertEquals(ReadAheadWindow.MAX_BYTES, ReadAheadWindow.forDevice(sysfs(dir, "1048576", "4096"), VDA));
        assertEquals(ReadAheadWindow.DEFAULT_BYTES,
                ReadAheadWindow.forDevice(sysfs(dir.resolve("b"), "4", "8"), VDA));
    }

    @Test
    void deviceNumbersSplitAsGlibcSplitsThem() {
        assertEquals(254, ReadAheadWindow.major(65024));
        assertEquals(0, ReadAheadWindow.minor(65024));
        // makedev(259, 300): minor's high bits above the low byte, major's above 12 bits
        long dev = (259L & 0xfff) << 8 | (300L & 0xff) | (300L & ~0xffL) << 12;
        assertEquals(259, ReadAheadWindow.major(dev));
        assertEquals(300, ReadAheadWindow.minor(dev));
    }

    @Test
    void aWindowAskedForByPropertyIsReadAndOneThatIsNoSizeRefusedWhenAReadAheadStarts() {
        assertEquals(0, ReadAheadWindow.asked());
        System.setProperty(ReadAheadWindow.PROPERTY, "512");
        try {
            assertEquals(512L << 10, ReadAheadWindow.asked());
            System.setProperty(ReadAheadWindow.PROPERTY, "lots");
            IllegalArgumentException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                    ReadAhead::new);
            assertTrue(e.getMessage().contains("-Dmoeshard.readAhead.windowKiB=lots: not a size in KiB"),
                    e.getMessage());
        } finally {
            System.clearProperty(ReadAheadWindow.PROPERTY);
        }
    }

    @Test
    void aRealFileGetsAWindowOfAtLeastTheDefault(@TempDir Path dir) throws Exception {
        Path f = Files.writeString(dir.resolve("f"), "x");
        long window = ReadAheadWindow.of(f);
        assertTrue(window >= ReadAheadWindow.DEFAULT_BYTES && window <= ReadAheadWindow.MAX_BYTES, "" + window);
    }
}
