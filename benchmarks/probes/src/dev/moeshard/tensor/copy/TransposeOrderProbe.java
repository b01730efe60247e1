package dev.moeshard.tensor.copy;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * One BF16 layer merged and split with the project's transpose and with other block orders, each against a memcpy of
 * the same bytes timed in the same round. Every order is first checked byte for byte against the project's.
 *
 * <pre>
 * TransposeOrderProbe [ExHxI] [ORDER[,ORDER...]] [ROUNDS]      (default 128x2048x768 current,bands:256 3)
 *   current               PanamaCopyKernels.transpose, as the conversion runs it
 *   bands:T               L-row bands across tiles of T columns (the project's order for 16-bit blocks at T = 256;
 *                         narrow tiles, T = 32 or 64, are strips walked down all rows)
 *   source-staged:T       each tile's T source lines copied into a padded scratch first, then bands from there
 *   destination-staged:T  each band's tile transposed into a padded L1 scratch, then written out row by row
 *   projections           the project's transpose, gate, up and down timed apart
 * -Dprobe.block=short16|pairs16|pairs32 picks the block of the orders other than current (default short16).
 * </pre>
 */
public final class TransposeOrderProbe {
    private static final int WIDTH = 2;

    /** dst[r, c] = src[r * WIDTH + c * srcColStride]; strides in bytes. */
    private interface Order {
        void transpose(MemorySegment src, long s, long srcColStride, MemorySegment dst, long d, long dstRowStride,
                       long rows, long cols);
    }

    private static final PanamaCopyKernels PROJECT = new PanamaCopyKernels();
    private static final MemorySegment SCRATCH = Arena.global().allocate(16 << 20, 4096);
    private static final BlockTransposer BLOCK = switch (System.getProperty("probe.block", "short16")) {
        case "short16" -> new PanamaBlockTransposers.Short16();
        case "pairs16" -> new PairedShortBlocks.Pairs16();
        case "pairs32" -> new PairedShortBlocks.Pairs32();
        default -> throw new IllegalArgumentException("probe.block: short16, pairs16 or pairs32");
    };

    private final long experts;
    private final long hidden;
    private final long inter;
    private final MemorySegment gate;
    private final MemorySegment up;
    private final MemorySegment down;
    private final MemorySegment gateAndUp;
    private final MemorySegment downProjs;
    private final MemorySegment memcpyFrom;
    private final MemorySegment memcpyTo;
    /** -1: all three projections; 0, 1, 2: only gate, up or down. */
    private int only = -1;

    private TransposeOrderProbe(long experts, long hidden, long inter) {
        this.experts = experts;
        this.hidden = hidden;
        this.inter = inter;
        long projection = experts * hidden * inter * WIDTH;
        Arena arena = Arena.global();
        gate = patterned(arena.allocate(projection, 4096), 1);
        up = patterned(arena.allocate(projection, 4096), 2);
        down = patterned(arena.allocate(projection, 4096), 3);
        gateAndUp = arena.allocate(2 * projection, 4096).fill((byte) 1);
        downProjs = arena.allocate(projection, 4096).fill((byte) 1);
        memcpyFrom = patterned(arena.allocate(3 * projection, 4096), 4);
        memcpyTo = arena.allocate(3 * projection, 4096).fill((byte) 1);
    }

    public static void main(String[] args) {
        String[] size = (args.length > 0 ? args[0] : "128x2048x768").split("x");
        String[] orders = (args.length > 1 ? args[1] : "current,bands:256").split(",");
        int rounds = args.length > 2 ? Integer.parseInt(args[2]) : 3;
        TransposeOrderProbe layer = new TransposeOrderProbe(Long.parseLong(size[0]), Long.parseLong(size[1]),
                Long.parseLong(size[2]));
        List<String> names = new ArrayList<>();
        List<Order> chosen = new ArrayList<>();
        for (String name : orders) {
            if (name.equals("projections")) {
                continue;
            }
            names.add(name);
            chosen.add(order(name));
            layer.check(name, chosen.getLast());
        }
        for (int round = 0; round < rounds && !chosen.isEmpty(); round++) {
            double memcpy = layer.memcpyRate();
            StringBuilder line = new StringBuilder(String.format(Locale.ROOT, "memcpy %.1f GB/s |", memcpy));
            for (int k = 0; k < chosen.size(); k++) {
                Order o = chosen.get(k);
                double merge = layer.rate(() -> layer.merge(o), 3);
                double split = layer.rate(() -> layer.split(o), 3);
                line.append(String.format(Locale.ROOT, " %s merge %.2f split %.2f |", names.get(k), merge / memcpy,
                        split / memcpy));
            }
            System.out.println(line);
        }
        if (List.of(orders).contains("projections")) {
            layer.projections(rounds);
        }
    }

    private static Order order(String spec) {
        String[] parts = spec.split(":");
        long tile = parts.length > 1 ? Long.parseLong(parts[1]) : 256;
        return switch (parts[0]) {
            case "current" -> (src, s, scs, dst, d, drs, rows, cols) ->
                    PROJECT.transpose(src, s, scs, dst, d, drs, rows, cols, WIDTH);
            case "bands" -> (src, s, scs, dst, d, drs, rows, cols) -> bands(src, s, scs, dst, d, drs, rows, cols, tile);
            case "source-staged" -> (src, s, scs, dst, d, drs, rows, cols) ->
                    sourceStaged(src, s, scs, dst, d, drs, rows, cols, tile);
            case "destination-staged" -> (src, s, scs, dst, d, drs, rows, cols) ->
                    destinationStaged(src, s, scs, dst, d, drs, rows, cols, tile);
            default -> throw new IllegalArgumentException("unknown order " + spec);
        };
    }

    /** The shipped loop ({@link PanamaCopyKernels#rowBands}) with this probe's block and tile width. */
    private static void bands(MemorySegment src, long s, long scs, MemorySegment dst, long d, long drs,
                              long rows, long cols, long tile) {
        PanamaCopyKernels.rowBands(BLOCK, src, s, scs, dst, d, drs, rows, cols, WIDTH, tile);
    }

    private static void sourceStaged(MemorySegment src, long s, long scs, MemorySegment dst, long d, long drs,
                                     long rows, long cols, long tile) {
        long line = rows * WIDTH;
        long padded = oddLines(line);
        for (long c0 = 0; c0 < cols; c0 += tile) {
            long cEnd = Math.min(cols, c0 + tile);
            for (long c = c0; c < cEnd; c++) {
                MemorySegment.copy(src, s + c * scs, SCRATCH, (c - c0) * padded, line);
            }
            bands(SCRATCH, 0, padded, dst, d + c0 * WIDTH, drs, rows, cEnd - c0, tile);
        }
    }

    private static void destinationStaged(MemorySegment src, long s, long scs, MemorySegment dst, long d, long drs,
                                          long rows, long cols, long tile) {
        int lanes = BLOCK.lanes();
        long padded = oddLines(tile * WIDTH);
        for (long c0 = 0; c0 < cols; c0 += tile) {
            long cEnd = Math.min(cols, c0 + tile);
            for (long r = 0; r < rows; r += lanes) {
                for (long c = c0; c < cEnd; c += lanes) {
                    BLOCK.block(src, s + r * WIDTH + c * scs, scs, SCRATCH, (c - c0) * WIDTH, padded);
                }
                for (int k = 0; k < lanes; k++) {
                    MemorySegment.copy(SCRATCH, k * padded, dst, d + (r + k) * drs + c0 * WIDTH, (cEnd - c0) * WIDTH);
                }
            }
        }
    }

    /** A row pitch of an odd number of cache lines, so that the rows of a block fall into different L1 sets. */
    private static long oddLines(long bytes) {
        long lines = (bytes + 63) / 64;
        return 64 * (lines % 2 == 0 ? lines + 1 : lines);
    }

    /** HF→grouped: gate and up into the columns of gate_and_up [E, H, 2I], down into down_projs [E, I, H]. */
    private void merge(Order o) {
        long projection = hidden * inter * WIDTH;
        for (long e = 0; e < experts; e++) {
            if (wanted(0)) {
                o.transpose(gate, e * projection, hidden * WIDTH, gateAndUp, 2 * e * projection, 2 * inter * WIDTH,
                        hidden, inter);
            }
            if (wanted(1)) {
                o.transpose(up, e * projection, hidden * WIDTH, gateAndUp, 2 * e * projection + inter * WIDTH,
                        2 * inter * WIDTH, hidden, inter);
            }
            if (wanted(2)) {
                o.transpose(down, e * projection, inter * WIDTH, downProjs, e * projection, hidden * WIDTH, inter,
                        hidden);
            }
        }
    }

    /** Grouped→HF, materialized: the reverse of {@link #merge}. */
    private void split(Order o) {
        long projection = hidden * inter * WIDTH;
        for (long e = 0; e < experts; e++) {
            if (wanted(0)) {
                o.transpose(gateAndUp, 2 * e * projection, 2 * inter * WIDTH, gate, e * projection, hidden * WIDTH,
                        inter, hidden);
            }
            if (wanted(1)) {
                o.transpose(gateAndUp, 2 * e * projection + inter * WIDTH, 2 * inter * WIDTH, up, e * projection,
                        hidden * WIDTH, inter, hidden);
            }
            if (wanted(2)) {
                o.transpose(downProjs, e * projection, hidden * WIDTH, down, e * projection, inter * WIDTH, hidden,
                        inter);
            }
        }
    }

    private boolean wanted(int projection) {
        return only < 0 || only == projection;
    }

    /** The order's merge must write the project's bytes, and its split must give back the experts. */
    private void check(String name, Order o) {
        merge(order("current"));
        MemorySegment expectedGateAndUp = Arena.ofAuto().allocate(gateAndUp.byteSize()).copyFrom(gateAndUp);
        MemorySegment expectedDown = Arena.ofAuto().allocate(downProjs.byteSize()).copyFrom(downProjs);
        gateAndUp.fill((byte) 0);
        downProjs.fill((byte) 0);
        merge(o);
        if (gateAndUp.mismatch(expectedGateAndUp) != -1 || downProjs.mismatch(expectedDown) != -1) {
            throw new IllegalStateException(name + ": merge differs from the project's");
        }
        gate.fill((byte) 0);
        up.fill((byte) 0);
        down.fill((byte) 0);
        split(o);
        if (!hasPattern(gate, 1) || !hasPattern(up, 2) || !hasPattern(down, 3)) {
            throw new IllegalStateException(name + ": split does not give back the experts");
        }
    }

    private void projections(int rounds) {
        String[] names = {"gate", "up", "down"};
        Order project = order("current");
        for (int round = 0; round < rounds; round++) {
            double memcpy = memcpyRate();
            StringBuilder line = new StringBuilder(String.format(Locale.ROOT, "memcpy %.1f GB/s |", memcpy));
            for (int p = 0; p < 3; p++) {
                only = p;
                double merge = rate(() -> merge(project), 1);
                double split = rate(() -> split(project), 1);
                line.append(String.format(Locale.ROOT, " %s merge %.2f split %.2f |", names[p], merge / memcpy,
                        split / memcpy));
            }
            only = -1;
            System.out.println(line);
        }
    }

    private double memcpyRate() {
        return rate(() -> MemorySegment.copy(memcpyFrom, 0, memcpyTo, 0, memcpyTo.byteSize()), 3);
    }

    /**
     * GB/s of {@code job}, which writes {@code projections} projections' bytes: runs for half a second to warm up (a
     * small layer needs the JIT), then times at least three runs and at least a fifth of a second.
     */
    private double rate(Runnable job, int projections) {
        long warmUpEnd = System.nanoTime() + 500_000_000L;
        do {
            job.run();
        } while (System.nanoTime() < warmUpEnd);
        long start = System.nanoTime();
        long runs = 0;
        do {
            job.run();
            runs++;
        } while (runs < 3 || System.nanoTime() - start < 200_000_000L);
        double bytes = (double) runs * projections * experts * hidden * inter * WIDTH;
        return bytes / (System.nanoTime() - start);
    }

    private static MemorySegment patterned(MemorySegment m, int seed) {
        for (long at = 0; at < m.byteSize(); at += 8) {
            m.set(ValueLayout.JAVA_LONG_UNALIGNED, at, (at + seed) * 0x9E3779B97F4A7C15L);
        }
        return m;
    }

    private static boolean hasPattern(MemorySegment m, int seed) {
        for (long at = 0; at < m.byteSize(); at += 8) {
            if (m.get(ValueLayout.JAVA_LONG_UNALIGNED, at) != (at + seed) * 0x9E3779B97F4A7C15L) {
                return false;
            }
        }
        return true;
    }
}
