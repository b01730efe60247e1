package dev.moeshard.safetensors;

import java.util.ArrayList;
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

    /** One output file and the tensors it holds, in order. */
    public record Shard(String fileName, List<TensorSpec> specs, long dataSize) {
        public Shard {
            specs = List.copyOf(specs);
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
            for (TensorSpec spec : shard.specs()) {
                map.put(spec.name(), shard.fileName());
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
        if (maxShardBytes <= 0) {
            throw new IllegalArgumentException("maximum shard size must be positive, got " + maxShardBytes);
        }
        Map<String, Boolean> seen = new HashMap<>();
        List<List<TensorSpec>> groups = new ArrayList<>();
        List<Long> sizes = new ArrayList<>();
        List<TensorSpec> current = new ArrayList<>();
        long currentSize = 0;
        for (TensorSpec spec : specs) {
            if (seen.put(spec.name(), Boolean.TRUE) != null) {
                throw new IllegalArgumentException("tensor '" + spec.name() + "' appears twice");
            }
            long bytes = spec.byteSize();
            // "currentSize + bytes > max" written so that it cannot overflow. After an oversized tensor the right
            // side is negative, so whatever follows it starts a new shard.
            if (!current.isEmpty() && bytes > maxShardBytes - currentSize) {
                groups.add(current);
                sizes.add(currentSize);
                current = new ArrayList<>();
                currentSize = 0;
            }
            current.add(spec);
            currentSize = Math.addExact(currentSize, bytes);
        }
        if (!current.isEmpty() || groups.isEmpty()) {
            groups.add(current);
            sizes.add(currentSize);
        }
        List<Shard> shards = new ArrayList<>(groups.size());
        for (int i = 0; i < groups.size(); i++) {
            shards.add(new Shard(fileName(i, groups.size()), groups.get(i), sizes.get(i)));
        }
        return new ShardLayout(shards);
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
