package dev.moeshard.convert;

import java.util.List;

/**
 * One independent piece of a planned conversion: one shard file of one output checkpoint (a rank's, under expert
 * parallelism). A unit names everything it touches,
 * so that units can run in any order, on any number of threads or in other processes, and give the same bytes: the
 * runs of input bytes it reads (its experts' tensors and the non-expert tensors it copies) and the files it writes
 * under its folder.
 *
 * @param id a name unique within the plan, stable across planning runs: the file it writes, relative to the output
 *           ({@code ep-rank-R/model-00001-of-00004.safetensors}, or the file name alone)
 * @param rank the expert-parallel rank whose checkpoint it is part of (0 without expert parallelism)
 * @param subdirectory the folder under the output it writes, or null for the output itself
 * @param expertStart the first global expert id it writes
 * @param expertEnd one past the last global expert id it writes
 * @param outputBytes the tensor bytes it writes
 * @param writes the file it writes, relative to its folder
 * @param reads the input byte ranges it reads, merged per file
 */
public record WorkUnit(String id, int rank, String subdirectory, int expertStart, int expertEnd, long outputBytes,
                       List<ByteRange> reads, List<String> writes) {
    public WorkUnit {
        reads = List.copyOf(reads);
        writes = List.copyOf(writes);
    }

    /** The input bytes it reads, over every range. */
    public long readBytes() {
        return reads.stream().mapToLong(ByteRange::length).sum();
    }
}
