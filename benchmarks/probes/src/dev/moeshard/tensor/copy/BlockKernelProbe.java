package dev.moeshard.tensor.copy;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Locale;

/**
 * How fast a 16-bit block transposer runs when memory is not in the way: a 64×64 BF16 tile, with row pitches of an odd
 * number of cache lines, transposed over and over in L1. Each block is first checked against the scalar kernel.
 *
 * <pre>
 * BlockKernelProbe [BLOCK[,BLOCK...]]      short16 (the project's), pairs16, pairs32; default all three
 * </pre>
 * Run a block alone in its JVM for a fair figure: a call site that has seen two block classes no longer inlines
 * either. A block method with many live 512-bit vectors (pairs32) can be refused by C1 ("out of virtual registers")
 * and then stay interpreted under tiered compilation; -XX:-TieredCompilation shows what C2 makes of it.
 */
public final class BlockKernelProbe {
    private static final int SIDE = 64;
    private static final long PITCH = 192;

    private BlockKernelProbe() {}

    public static void main(String[] args) {
        for (String name : (args.length > 0 ? args[0] : "short16,pairs16,pairs32").split(",")) {
            BlockTransposer block = switch (name) {
                case "short16" -> new PanamaBlockTransposers.Short16();
                case "pairs16" -> new PairedShortBlocks.Pairs16();
                case "pairs32" -> new PairedShortBlocks.Pairs32();
                default -> throw new IllegalArgumentException("blocks: short16, pairs16, pairs32");
            };
            measure(name, block);
        }
    }

    private static void measure(String name, BlockTransposer block) {
        MemorySegment src = Arena.global().allocate(SIDE * PITCH, 4096);
        MemorySegment dst = Arena.global().allocate(SIDE * PITCH, 4096);
        MemorySegment expected = Arena.global().allocate(SIDE * PITCH, 4096);
        for (long at = 0; at < src.byteSize(); at += 2) {
            src.set(ValueLayout.JAVA_SHORT_UNALIGNED, at, (short) (at * 7 + 3));
        }
        ScalarCopyKernels.INSTANCE.transpose(src, 0, PITCH, expected, 0, PITCH, SIDE, SIDE, 2);
        tile(block, src, dst);
        if (dst.mismatch(expected) != -1) {
            throw new IllegalStateException(name + ": transposes differently from the scalar kernel");
        }
        for (int round = 0; round < 5; round++) {
            long tiles = 1_000_000;
            long start = System.nanoTime();
            for (long k = 0; k < tiles; k++) {
                tile(block, src, dst);
            }
            double gbPerSecond = tiles * SIDE * SIDE * 2.0 / (System.nanoTime() - start);
            System.out.printf(Locale.ROOT, "%s: %.1f GB/s in L1%n", name, gbPerSecond);
        }
    }

    private static void tile(BlockTransposer block, MemorySegment src, MemorySegment dst) {
        int lanes = block.lanes();
        for (int r = 0; r < SIDE; r += lanes) {
            for (int c = 0; c < SIDE; c += lanes) {
                block.block(src, r * 2L + c * PITCH, PITCH, dst, r * PITCH + c * 2L, PITCH);
            }
        }
    }
}
