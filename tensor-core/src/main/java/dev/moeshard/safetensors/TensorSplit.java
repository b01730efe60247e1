package dev.moeshard.safetensors;

import java.util.ArrayList;
import java.util.List;

/**
 * One tensor of a file seen as several: the bytes of {@code whole} are those of {@code parts}, one after another, of
 * the same dtype; one part may bear the whole's name (the tensor the others extend). Written, the parts are laid out
 * in that order and the header names only {@code whole} ({@link ShardLayout#of(List, long, List)}); read, the
 * header's {@code whole} is handed out as its parts ({@link Checkpoint#split}). A model can so hold, inside one tensor
 * its loader expects, pieces that a conversion treats as different tensors, with no byte copied to join or cut them.
 */
public record TensorSplit(TensorSpec whole, List<TensorSpec> parts) {

    public TensorSplit {
        parts = List.copyOf(parts);
        if (parts.isEmpty()) {
            throw new IllegalArgumentException("tensor '" + whole.name() + "': split into no parts");
        }
        long bytes = 0;
        for (TensorSpec part : parts) {
            if (part.dtype() != whole.dtype()) {
                throw new IllegalArgumentException("tensor '" + whole.name() + "' is " + whole.dtype() + ", its part '"
                        + part.name() + "' " + part.dtype() + ": the parts of a tensor share its dtype");
            }
            bytes = Math.addExact(bytes, part.byteSize());
        }
        if (bytes != whole.byteSize()) {
            throw new IllegalArgumentException("tensor '" + whole.name() + "' has " + whole.byteSize() + " bytes, its "
                    + "parts " + parts.stream().map(TensorSpec::name).toList() + " " + bytes);
        }
    }

    /** The parts' bytes as header entries, laid out from {@code begin} of the data section. */
    List<TensorEntry> partEntries(long begin) {
        List<TensorEntry> entries = new ArrayList<>(parts.size());
        long offset = begin;
        for (TensorSpec part : parts) {
            entries.add(new TensorEntry(part.name(), part.dtype(), part.shape(), offset, offset + part.byteSize()));
            offset += part.byteSize();
        }
        return entries;
    }

    /** Bytes of the whole tensor, which its parts share. */
    long byteSize() {
        return whole.byteSize();
    }
}
