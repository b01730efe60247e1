package dev.moeshard.cli;

import dev.moeshard.moe.family.DetectedModel;
import dev.moeshard.moe.family.FamilyDetection;
import dev.moeshard.safetensors.Checkpoint;
import dev.moeshard.tensor.Tensor;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;

/**
 * An input checkpoint with its detected model: headers read, data mapped only when a tensor is touched.
 *
 * @param configFile the config.json beside the tensors, when there is one
 * @param detectedFrom "config.json" or "tensor names and shapes"
 */
record ModelInput(Checkpoint checkpoint, DetectedModel model, Optional<Path> configFile, String detectedFrom)
        implements AutoCloseable {

    static ModelInput open(Path path) {
        if (!Files.exists(path)) {
            throw new IllegalArgumentException(path + ": no such file or directory");
        }
        Checkpoint checkpoint = Checkpoint.open(path);
        try {
            Path dir = Files.isDirectory(path) ? path : path.toAbsolutePath().getParent();
            Path config = dir.resolve("config.json");
            if (Files.isRegularFile(config)) {
                return new ModelInput(checkpoint, FamilyDetection.fromConfigFile(config), Optional.of(config), "config.json");
            }
            return new ModelInput(checkpoint, FamilyDetection.fromTensors(views(checkpoint)), Optional.empty(),
                    "tensor names and shapes");
        } catch (RuntimeException e) {
            checkpoint.close();
            throw e;
        }
    }

    /**
     * Every tensor as a zero-copy view of the mapped input, in the checkpoint's order. Mapping reads nothing: only the
     * pages a copy touches are ever loaded.
     */
    static Map<String, Tensor> views(Checkpoint checkpoint) {
        Map<String, Tensor> out = new LinkedHashMap<>();
        for (String key : checkpoint.keys()) {
            out.put(key, checkpoint.tensor(key));
        }
        return out;
    }

    @Override
    public void close() {
        checkpoint.close();
    }
}
