package dev.moeshard.moe.testing;

import dev.moeshard.safetensors.Checkpoint;
import dev.moeshard.tensor.Tensor;
import java.net.URISyntaxException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The sample checkpoints in the test resources, loaded as state dicts.
 */
public final class FixtureCheckpoint {
    private FixtureCheckpoint() {}

    /** The directory of fixture {@code name} in the test resources. */
    public static Path dir(String name) {
        try {
            return Path.of(FixtureCheckpoint.class.getResource("/fixtures/" + name).toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * Every tensor of the checkpoint in {@code dir}, read through the validating reader. The mapping stays open for
     * the rest of the test run: the tensors are views of it.
     */
    public static Map<String, Tensor> load(Path dir) {
        Checkpoint checkpoint = Checkpoint.open(dir);
        Map<String, Tensor> out = new LinkedHashMap<>();
        for (String key : checkpoint.keys()) {
            out.put(key, checkpoint.tensor(key));
        }
        return out;
    }
}
