package dev.moeshard.convert;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * A run of bytes of one input file that a work unit reads: {@code [offset, offset + length)} of {@code file}.
 *
 * @param file the input file's path, as the plan opened it
 */
public record ByteRange(String file, long offset, long length) {
    public ByteRange {
        if (offset < 0 || length < 0) {
            throw new IllegalArgumentException(file + ": a byte range needs offset and length >= 0, got " + offset
                    + " and " + length);
        }
    }

    /** One past the last byte. */
    public long end() {
        return offset + length;
    }

    /** {@code ranges} by file and offset, touching or overlapping runs of one file merged into one. */
    static List<ByteRange> merged(List<ByteRange> ranges) {
        List<ByteRange> sorted = new ArrayList<>(ranges);
        sorted.removeIf(r -> r.length() == 0);
        sorted.sort(Comparator.comparing(ByteRange::file).thenComparingLong(ByteRange::offset));
        List<ByteRange> out = new ArrayList<>();
        for (ByteRange r : sorted) {
            ByteRange last = out.isEmpty() ? null : out.getLast();
            if (last != null && last.file().equals(r.file()) && r.offset() <= last.end()) {
                out.set(out.size() - 1, new ByteRange(last.file(), last.offset(),
                        Math.max(last.end(), r.end()) - last.offset()));
            } else {
                out.add(r);
            }
        }
        return out;
    }
}
