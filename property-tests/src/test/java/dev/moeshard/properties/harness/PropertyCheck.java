package dev.moeshard.properties.harness;

import java.nio.charset.StandardCharsets;

/**
 * Runs a property over many random cases, each from its own seed derived from a fixed base seed, the property's name
 * and the case number: a run is repeatable on any machine, and a failure names the one seed that replays it.
 *
 * <p>This module does not use a property-testing library; the harness is this class and {@link Gen}. Settings, as
 * system properties:
 * <ul>
 *   <li>{@code moeshard.property.tries}: cases per property (the pom sets 1000; {@code -Pexhaustive} raises it);</li>
 *   <li>{@code moeshard.property.seed}: the base seed, to explore other inputs than the build's;</li>
 *   <li>{@code moeshard.property.replay}: one case from a failure message ({@code seed:size}), run alone.</li>
 * </ul>
 */
public final class PropertyCheck {
    public static final long DEFAULT_SEED = 0x6d6f_6573_6861_7264L;
    public static final int DEFAULT_TRIES = 200;
    /** The size the last case reaches; generators cap their own dimensions as well. */
    public static final int MAX_SIZE = 16;

    /** One case of a property, given its random choices. */
    @FunctionalInterface
    public interface Case {
        void run(Gen gen) throws Exception;
    }

    private PropertyCheck() {}

    /** The number of cases a property runs by default. */
    public static int tries() {
        return Integer.getInteger("moeshard.property.tries", DEFAULT_TRIES);
    }

    /** Runs {@code property} over {@link #tries()} cases. */
    public static void forAll(String name, Case property) {
        forAll(name, tries(), property);
    }

    /**
     * Runs {@code property} over {@code tries} cases; a property whose cases are expensive asks for a fraction of
     * {@link #tries()}.
     */
    public static void forAll(String name, int tries, Case property) {
        String replay = System.getProperty("moeshard.property.replay");
        if (replay != null) {
            String[] parts = replay.split(":");
            runOne(name, Long.parseUnsignedLong(parts[0], 16), Integer.parseInt(parts[1]), -1, property);
            return;
        }
        long base = Long.getLong("moeshard.property.seed", DEFAULT_SEED) ^ hash(name);
        for (int i = 0; i < tries; i++) {
            int size = 1 + (int) ((long) i * MAX_SIZE / Math.max(1, tries));
            runOne(name, mix(base + i), size, i, property);
        }
    }

    private static void runOne(String name, long seed, int size, int index, Case property) {
        try {
            property.run(new Gen(seed, size));
        } catch (Throwable t) {
            if (t instanceof VirtualMachineError vm && !(t instanceof OutOfMemoryError)) {
                throw vm;
            }
            throw new AssertionError(name + " failed on case " + index + " (size " + size + "): " + t
                    + "\n  replay: -Dmoeshard.property.replay=" + Long.toHexString(seed) + ":" + size, t);
        }
    }

    private static long hash(String s) {
        long h = 1125899906842597L;
        for (byte b : s.getBytes(StandardCharsets.UTF_8)) {
            h = 31 * h + b;
        }
        return h;
    }

    /** SplitMix64's finaliser: neighbouring case numbers get unrelated seeds. */
    private static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xbf58476d1ce4e5b9L;
        z = (z ^ (z >>> 27)) * 0x94d049bb133111ebL;
        return z ^ (z >>> 31);
    }
}
