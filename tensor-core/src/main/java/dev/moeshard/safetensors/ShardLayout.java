package dev.moeshard.safetensors;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * How a list of tensors is split into shard files of at most a given size, the way HuggingFace's
 * {@code save_pretrained(max_shard_size=...)} does it.
 *
 * <p>Tensors stay in the order given; a new shard starts when adding the next tensor would take the current one past
 * the maximum. A tensor larger than the maximum cannot be split, so it gets a shard of its own. Sizes count tensor
 * bytes only, not headers. With one shard the file is {@code model.safetensors} and no index is needed; with n, they
 * are {@code model-00001-of-0000n.safetensors} and so on.
 */
public final class ShardLayout {
    /** The name of a checkpoint that fits one file. */
    public static final String SINGLE_FILE_NAME = "model.safetensors";

    /**
     * One output file and the tensors it holds, in order, of which those of {@code splits} are written as the tensor
     * they are parts of.
     */
    public record Shard(String fileName, List<TensorSpec> specs, long dataSize, List<TensorSplit> splits) {
        public Shard {
            specs = List.copyOf(specs);
            splits = List.copyOf(splits);
        }

        public Shard(String fileName, List<TensorSpec> specs, long dataSize) {
            this(fileName, specs, dataSize, List.of());
        }

        /** The tensor names its header lists: each split's whole in place of its parts. */
        public List<String> headerNames() {
            Map<String, String> wholeOf = new HashMap<>();
            splits.forEach(split -> split.parts().forEach(p -> wholeOf.put(p.name(), split.whole().name())));
            List<String> names = new ArrayList<>();
            for (TensorSpec spec : specs) {
                String name = wholeOf.getOrDefault(spec.name(), spec.name());
                if (names.isEmpty() || !names.getLast().equals(name)) {
                    names.add(name);
                }
            }
            return names;
        }
    }

    private final List<Shard> shards;
    private final Map<String, String> weightMap;
    private final long totalSize;

    private ShardLayout(List<Shard> shards) {
        this.shards = List.copyOf(shards);
        Map<String, String> map = new TreeMap<>();
        long total = 0;
        for (Shard shard : shards) {
            for (String name : shard.headerNames()) {
                map.put(name, shard.fileName());
            }
            total = Math.addExact(total, shard.dataSize());
        }
        this.weightMap = Collections.unmodifiableMap(map);
        this.totalSize = total;
    }

    /**
     * Splits {@code specs}, in order, into shards of at most {@code maxShardBytes} tensor bytes each.
     *
     * @throws IllegalArgumentException if the maximum is not positive or a name appears twice
     */
    public static ShardLayout of(List<TensorSpec> specs, long maxShardBytes) {
        return of(specs, maxShardBytes, List.of());
    }

    /**
     * As {@link #of(List, long)}, with the parts of each of {@code splits}, which must stand in {@code specs} one after
     * another in the split's order, kept in one shard and written as the tensor they are parts of.
     *
     * @throws IllegalArgumentException also if a split's parts are not so in {@code specs}
     */
    public static ShardLayout of(List<TensorSpec> specs, long maxShardBytes, List<TensorSplit> splits) {
        if (maxShardBytes <= 0) {
            throw new IllegalArgumentException("maximum shard size must be positive, got " + maxShardBytes);
        }
        Map<String, Boolean> seen = new HashMap<>();
        for (TensorSpec spec : specs) {
            if (seen.put(spec.name(), Boolean.TRUE) != null) {
                throw new IllegalArgumentException("tensor '" + spec.name() + "' appears twice");
            }
        }
        List<List<TensorSpec>> groups = new ArrayList<>();
        List<Long> sizes = new ArrayList<>();
        List<List<TensorSplit>> groupSplits = new ArrayList<>();
        List<TensorSpec> current = new ArrayList<>();
        List<TensorSplit> currentSplits = new ArrayList<>();
        long currentSize = 0;
        Map<String, TensorSplit> startingAt = new HashMap<>();
        splits.forEach(split -> startingAt.put(split.parts().getFirst().name(), split));
        for (int i = 0; i < specs.size(); ) {
            TensorSplit split = startingAt.get(specs.get(i).name());
            List<TensorSpec> item = split == null ? List.of(specs.get(i)) : partsAt(specs, i, split);
            long bytes = item.stream().mapToLong(TensorSpec::byteSize).sum();
            // "currentSize + bytes > max" written so that it cannot overflow. After an oversized tensor the right
            // side is negative, so whatever follows it starts a new shard.
            if (!current.isEmpty() && bytes > maxShardBytes - currentSize) {
                groups.add(current);
                sizes.add(currentSize);
                groupSplits.add(currentSplits);
                current = new ArrayList<>();
                currentSplits = new ArrayList<>();
                currentSize = 0;
            }
            current.addAll(item);
            if (split != null) {
                currentSplits.add(split);
            }
            currentSize = Math.addExact(currentSize, bytes);
            i += item.size();
        }
        if (!current.isEmpty() || groups.isEmpty()) {
            groups.add(current);
            sizes.add(currentSize);
            groupSplits.add(currentSplits);
        }
        if (startingAt.size() != splits.size() || groupSplits.stream().mapToInt(List::size).sum() != splits.size()) {
            throw new IllegalArgumentException("the parts of " + splits.stream().map(s -> s.whole().name()).toList()
                    + " are not all among the tensors laid out, each part once");
        }
        List<Shard> shards = new ArrayList<>(groups.size());
        for (int i = 0; i < groups.size(); i++) {
            shards.add(new Shard(fileName(i, groups.size()), groups.get(i), sizes.get(i), groupSplits.get(i)));
        }
        return new ShardLayout(shards);
    }

    /** The parts of {@code split}, which must stand in {@code specs} from {@code start} on, in order. */
    private static List<TensorSpec> partsAt(List<TensorSpec> specs, int start, TensorSplit split) {
        List<TensorSpec> parts = split.parts();
        for (int k = 0; k < parts.size(); k++) {
            TensorSpec at = start + k < specs.size() ? specs.get(start + k) : null;
            if (at == null || !at.name().equals(parts.get(k).name()) || at.dtype() != parts.get(k).dtype()
                    || !Arrays.equals(at.shape(), parts.get(k).shape())) {
                String place = k == 0 ? "first" : "after '" + parts.get(k - 1).name() + "'";
                throw new IllegalArgumentException("tensor '" + split.whole().name() + "': its part " + parts.get(k)
                        + " must stand " + place + ", found " + (at == null ? "nothing" : at));
            }
        }
        return specs.subList(start, start + parts.size());
    }

    /** The name of shard {@code index} (from 0) of {@code count}: {@code model-00001-of-00003.safetensors}. */
    public static String fileName(int index, int count) {
        return count == 1 ? SINGLE_FILE_NAME : String.format("model-%05d-of-%05d.safetensors", index + 1, count);
    }

    public List<Shard> shards() {
        return shards;
    }

    /** True when there is more than one shard, and so an index file. */
    public boolean isSharded() {
        return shards.size() > 1;
    }

    /** Tensor name to shard file name, sorted by tensor name, as the index lists them. */
    public Map<String, String> weightMap() {
        return weightMap;
    }

    /** The sum of all tensor sizes in bytes: the index's {@code metadata.total_size}. */
    public long totalSize() {
        return totalSize;
    }
}
