package dev.moeshard.cuda;

/**
 * Sizes of the pinned staging ring: chunk size, chunks in flight, and the host threads that fill (or drain) a chunk.
 *
 * <p>The defaults come from measurement on an H100 host (benchmarks/RESULTS.md): the host-side copy into pinned
 * memory, not the link, is what limits staging, and it runs fastest when a chunk is small enough to still be in the
 * last-level cache when the DMA engine reads it. The system properties exist so that a machine with another cache
 * or link can be tuned without a rebuild.
 *
 * @param chunkBytes  bytes of one pinned chunk
 * @param slots       chunks in the ring; the host fills one while the others are in flight
 * @param hostThreads threads of the host-side copy into or out of a chunk
 */
record StagingSettings(long chunkBytes, int slots, int hostThreads) {
    static final String CHUNK_MIB_PROPERTY = "moeshard.cuda.stagingChunkMiB";
    static final String SLOTS_PROPERTY = "moeshard.cuda.stagingSlots";
    static final String THREADS_PROPERTY = "moeshard.cuda.stagingThreads";

    static final long DEFAULT_CHUNK_MIB = 32;
    static final int DEFAULT_SLOTS = 3;

    StagingSettings {
        if (chunkBytes < 1) {
            throw new IllegalArgumentException("staging chunk must be at least 1 byte, got " + chunkBytes);
        }
        if (slots < 2) {
            throw new IllegalArgumentException("staging needs at least 2 chunks to overlap copy and transfer, got "
                    + slots);
        }
        if (hostThreads < 1) {
            throw new IllegalArgumentException("staging needs at least 1 host thread, got " + hostThreads);
        }
    }

    /** The settings from the system properties, each defaulting when unset. */
    static StagingSettings fromSystemProperties() {
        return new StagingSettings(
                positive(CHUNK_MIB_PROPERTY, DEFAULT_CHUNK_MIB) << 20,
                (int) positive(SLOTS_PROPERTY, DEFAULT_SLOTS),
                (int) positive(THREADS_PROPERTY, Runtime.getRuntime().availableProcessors()));
    }

    private static long positive(String property, long fallback) {
        String text = System.getProperty(property);
        if (text == null || text.isBlank()) {
            return fallback;
        }
        try {
            return Long.parseLong(text.trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("system property " + property + " must be a whole number, got '"
                    + text + "'", e);
        }
    }
}
