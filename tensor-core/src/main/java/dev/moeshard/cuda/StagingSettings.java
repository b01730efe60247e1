package dev.moeshard.cuda;

/**
 * Sizes of the pinned staging ring: chunk size, chunks in flight, and the host threads that fill (or drain) a chunk.
 *
 * <p>The defaults come from measurement on an H200 host (benchmarks/RESULTS.md): the host-side copy into pinned
 * memory, not the link, is what limits staging, so several workers must copy at once to keep up with the link (one
 * thread moved 10 GB/s there, 16 threads 61 GB/s while the link was busy). 2 MiB chunks with 6 to 14 workers gave
 * 0.84–0.86 of the link's pinned-memory rate, 4 MiB chunks 0.76–0.85, 32 MiB chunks about 0.7; 16 workers on the
 * host's 16 cores fell to 0.77–0.79, competing with the thread that issues the transfers, hence the cap of 12.
 * Each worker needs a slot to fill while the others' transfers are in flight, hence a few more slots than workers.
 * The system properties exist so that a machine with another memory system or link can be tuned without a rebuild.
 *
 * @param chunkBytes  bytes of one pinned chunk
 * @param slots       chunks in the ring; the host fills one while the others are in flight
 * @param hostThreads threads of the host-side copy into or out of a chunk
 */
record StagingSettings(long chunkBytes, int slots, int hostThreads) {
    static final String CHUNK_MIB_PROPERTY = "moeshard.cuda.stagingChunkMiB";
    static final String SLOTS_PROPERTY = "moeshard.cuda.stagingSlots";
    static final String THREADS_PROPERTY = "moeshard.cuda.stagingThreads";

    static final long DEFAULT_CHUNK_MIB = 2;
    static final int MAX_DEFAULT_THREADS = 12;
    /** Slots beyond one per worker, so that workers find a free slot while earlier chunks are in flight. */
    static final int SPARE_SLOTS = 4;

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
        int threads = (int) number(THREADS_PROPERTY, defaultThreads());
        return new StagingSettings(
                number(CHUNK_MIB_PROPERTY, DEFAULT_CHUNK_MIB) << 20,
                (int) number(SLOTS_PROPERTY, threads + SPARE_SLOTS),
                threads);
    }

    static int defaultThreads() {
        return Math.min(Runtime.getRuntime().availableProcessors(), MAX_DEFAULT_THREADS);
    }

    private static long number(String property, long fallback) {
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
