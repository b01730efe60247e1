package dev.moeshard.convert;

import dev.moeshard.safetensors.Checkpoint;
import java.util.ArrayList;
import java.util.List;

/**
 * The input bytes one unit reads, gathered tensor by tensor from a checkpoint's headers: whole tensors, or runs of
 * experts along a grouped tensor's first axis ([E, ...] in every layout).
 */
final class ReadSet {
    private final Checkpoint checkpoint;
    private final List<ByteRange> ranges = new ArrayList<>();

    ReadSet(Checkpoint checkpoint) {
        this.checkpoint = checkpoint;
    }

    /** Every byte of {@code key}. */
    void whole(String key) {
        ranges.add(new ByteRange(checkpoint.fileOf(key).toString(), checkpoint.fileOffsetOf(key),
                checkpoint.entry(key).byteSize()));
    }

    /** Rows {@code [from, from + count)} of {@code key}'s first axis. */
    void leadingRows(String key, long from, long count) {
        long[] shape = checkpoint.entry(key).shape();
        long rowBytes = shape.length == 0 || shape[0] == 0 ? 0 : checkpoint.entry(key).byteSize() / shape[0];
        ranges.add(new ByteRange(checkpoint.fileOf(key).toString(), checkpoint.fileOffsetOf(key) + from * rowBytes,
                count * rowBytes));
    }

    /** {@code length} bytes of {@code key}'s data from {@code offset} on (clipped to the tensor). */
    void span(String key, long offset, long length) {
        long size = checkpoint.entry(key).byteSize();
        long from = Math.min(Math.max(0, offset), size);
        ranges.add(new ByteRange(checkpoint.fileOf(key).toString(), checkpoint.fileOffsetOf(key) + from,
                Math.min(length, size - from)));
    }

    /** What was gathered, merged into runs. */
    List<ByteRange> ranges() {
        return ByteRange.merged(ranges);
    }
}
