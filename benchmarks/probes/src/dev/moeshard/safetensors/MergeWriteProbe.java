package dev.moeshard.safetensors;

import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.Tensor;
import dev.moeshard.tensor.copy.CopyEngine;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * Two ways for a conversion to write a new grouped file of LAYERS layers, alternating, three rounds, one copy thread:
 * the time to merge and write, then to fsync.
 *
 * <pre>
 * MergeWriteProbe DIR [LAYERS=8 EXPERTS=64 H=2048 I=768]
 *   mapped   blocks reserved, every layer merged straight into a mapping of the file (as to-grouped used to write)
 *   pwrite   each expert merged into one reused buffer (a few MB, so it stays in cache), then written with pwrite
 * </pre>
 *
 * A page first touched through a mapping must be zeroed by the kernel before the merge overwrites it (perf showed
 * that zeroing, under the mapping's readahead, as 30% of a to-grouped run); pwrite of whole pages copies instead.
 * The first round checks that both files end with the same layer.
 */
public final class MergeWriteProbe {
    private final CopyEngine engine = CopyEngine.create(true, 1);
    private final int layers;
    private final int experts;
    private final long h;
    private final long i;
    private final List<Tensor> gate = new ArrayList<>();
    private final List<Tensor> up = new ArrayList<>();
    private final List<Tensor> down = new ArrayList<>();

    private MergeWriteProbe(int layers, int experts, long h, long i) {
        this.layers = layers;
        this.experts = experts;
        this.h = h;
        this.i = i;
        for (int e = 0; e < experts; e++) {
            gate.add(filled(3 * e, i, h));
            up.add(filled(3 * e + 1, i, h));
            down.add(filled(3 * e + 2, h, i));
        }
    }

    public static void main(String[] args) throws IOException {
        Path dir = Path.of(args[0]);
        MergeWriteProbe probe = new MergeWriteProbe(args.length > 1 ? Integer.parseInt(args[1]) : 8,
                args.length > 2 ? Integer.parseInt(args[2]) : 64, args.length > 3 ? Long.parseLong(args[3]) : 2048,
                args.length > 4 ? Long.parseLong(args[4]) : 768);
        System.out.printf(Locale.ROOT, "%d layers x %d experts, H=%d I=%d BF16: %.2f GB%n", probe.layers,
                probe.experts, probe.h, probe.i, probe.fileBytes() / 1e9);
        byte[] lastLayer = null;
        for (int round = 0; round < 3; round++) {
            StringBuilder line = new StringBuilder();
            for (String mode : new String[] {"mapped", "pwrite"}) {
                Path file = dir.resolve("merge-write-probe-" + mode);
                Files.deleteIfExists(file);
                long start = System.nanoTime();
                long written;
                try (FileChannel channel = FileChannel.open(file, StandardOpenOption.CREATE_NEW,
                        StandardOpenOption.READ, StandardOpenOption.WRITE)) {
                    if (mode.equals("mapped")) {
                        probe.writeMapped(file, channel);
                    } else {
                        probe.writeFromBuffer(channel);
                    }
                    written = System.nanoTime();
                    channel.force(true);
                }
                line.append(String.format(Locale.ROOT, "%s %.2f s (+ fsync %.2f s) | ", mode, (written - start) / 1e9,
                        (System.nanoTime() - written) / 1e9));
                if (round == 0) {
                    byte[] last = probe.lastLayer(file);
                    if (lastLayer != null && !Arrays.equals(lastLayer, last)) {
                        throw new IllegalStateException("pwrite and mapped files differ in the last layer");
                    }
                    lastLayer = last;
                }
                Files.deleteIfExists(file);
            }
            System.out.println(line);
        }
    }

    private long slabBytes() {
        return 2 * h * i * 2;
    }

    private long downBytes() {
        return h * i * 2;
    }

    private long layerBytes() {
        return experts * (slabBytes() + downBytes());
    }

    private long fileBytes() {
        return layers * layerBytes();
    }

    /** Every layer merged into a mapping of the whole (reserved) file. */
    private void writeMapped(Path file, FileChannel channel) throws IOException {
        FilePreallocation.reserve(file, fileBytes());
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment mapping = channel.map(FileChannel.MapMode.READ_WRITE, 0, fileBytes(), arena);
            for (int l = 0; l < layers; l++) {
                MemorySegment layer = mapping.asSlice(l * layerBytes(), layerBytes());
                Tensor gateAndUp = Tensor.wrap(layer.asSlice(0, experts * slabBytes()), DType.BF16, experts, h, 2 * i);
                Tensor downs = Tensor.wrap(layer.asSlice(experts * slabBytes()), DType.BF16, experts, i, h);
                List<Tensor> dsts = new ArrayList<>();
                List<Tensor> srcs = new ArrayList<>();
                for (int e = 0; e < experts; e++) {
                    dsts.addAll(List.of(gateAndUp.select(0, e).narrow(1, 0, i), gateAndUp.select(0, e).narrow(1, i, i),
                            downs.select(0, e)));
                    srcs.addAll(List.of(gate.get(e).t(), up.get(e).t(), down.get(e).t()));
                }
                engine.copyAll(dsts, srcs);
            }
        }
    }

    /** Each expert's slab, then its down, merged into one reused buffer and written with pwrite. */
    private void writeFromBuffer(FileChannel channel) throws IOException {
        ByteBuffer buffer = ByteBuffer.allocateDirect((int) slabBytes());
        MemorySegment staging = MemorySegment.ofBuffer(buffer);
        Tensor gateAndUp = Tensor.wrap(staging, DType.BF16, h, 2 * i);
        Tensor downSlot = Tensor.wrap(staging.asSlice(0, downBytes()), DType.BF16, i, h);
        for (int l = 0; l < layers; l++) {
            long layerAt = l * layerBytes();
            for (int e = 0; e < experts; e++) {
                engine.copyAll(List.of(gateAndUp.narrow(1, 0, i), gateAndUp.narrow(1, i, i)),
                        List.of(gate.get(e).t(), up.get(e).t()));
                writeFully(channel, buffer, slabBytes(), layerAt + e * slabBytes());
                engine.copy(downSlot, down.get(e).t());
                writeFully(channel, buffer, downBytes(), layerAt + experts * slabBytes() + e * downBytes());
            }
        }
    }

    private byte[] lastLayer(Path file) throws IOException {
        try (FileChannel check = FileChannel.open(file, StandardOpenOption.READ); Arena arena = Arena.ofConfined()) {
            MemorySegment m = check.map(FileChannel.MapMode.READ_ONLY, 0, fileBytes(), arena);
            return m.asSlice(fileBytes() - layerBytes(), layerBytes()).toArray(ValueLayout.JAVA_BYTE);
        }
    }

    private static void writeFully(FileChannel channel, ByteBuffer buffer, long bytes, long position)
            throws IOException {
        buffer.clear().limit((int) bytes);
        for (long at = position; buffer.hasRemaining(); ) {
            at += channel.write(buffer, at);
        }
    }

    private static Tensor filled(long seed, long... sizes) {
        Tensor t = Tensor.allocate(DType.BF16, sizes);
        MemorySegment s = t.segment();
        long x = seed * 0x9E3779B97F4A7C15L + 1;
        for (long at = 0; at + 8 <= s.byteSize(); at += 8) {
            x ^= x << 13;
            x ^= x >>> 7;
            x ^= x << 17;
            s.set(ValueLayout.JAVA_LONG_UNALIGNED, at, x);
        }
        return t;
    }
}
