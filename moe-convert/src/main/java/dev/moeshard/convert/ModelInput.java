package dev.moeshard.convert;

import dev.moeshard.moe.family.DetectedModel;
import dev.moeshard.moe.MoeConfig;
import dev.moeshard.moe.family.FamilyDetection;
import dev.moeshard.moe.family.ModelFamily;
import dev.moeshard.safetensors.Checkpoint;
import dev.moeshard.safetensors.InputFile;
import java.nio.file.Files;
import java.nio.file.Path;
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
        return open(path, "auto", null);
    }

    /**
     * Opens {@code path} with the family {@code model} (null or "auto": detected) and {@code numExperts} experts (null: as
     * detected). A family given by name keeps the sizes config.json or the tensors tell.
     */
    static ModelInput open(Path path, String model, Integer numExperts) {
        ModelFamily family = null;
        if (model != null && !model.equals("auto")) {
            family = ModelFamily.ofModelType(model).orElseThrow(() -> new UsageException("--model '" + model
                    + "' is not a known family; known: auto, " + String.join(", ", ModelFamily.modelTypes())));
        }
        if (numExperts != null && numExperts < 1) {
            throw new UsageException("--num-experts must be at least 1, got " + numExperts);
        }
        ModelInput detected = open0(path);
        if (family == null && numExperts == null) {
            return detected;
        }
        MoeConfig c = detected.model().config();
        DetectedModel chosen = new DetectedModel(family != null ? family : detected.model().family(),
                new MoeConfig(numExperts != null ? numExperts : c.numExperts(), c.hidden(), c.intermediate(), c.gated()));
        String from = detected.detectedFrom() + (family != null ? ", family from --model" : "")
                + (numExperts != null ? ", experts from --num-experts" : "");
        return new ModelInput(detected.checkpoint(), chosen, detected.configFile(), from);
    }

    private static ModelInput open0(Path path) {
        if (!Files.exists(path)) {
            throw new IllegalArgumentException(path + ": no such file or directory");
        }
        Checkpoint checkpoint = Checkpoint.open(path);
        try {
            checkpoint.tensors(); // maps every file now, so that one that cannot be mapped fails the plan
            Path dir = Files.isDirectory(path) ? path : path.toAbsolutePath().getParent();
            Path config = dir.resolve("config.json");
            if (InputFile.exists(config)) { // anything by that name: a FIFO or a dangling link is refused, not ignored
                return new ModelInput(checkpoint, FamilyDetection.fromConfigFile(config), Optional.of(config), "config.json");
            }
            try {
                return new ModelInput(checkpoint, FamilyDetection.fromTensors(checkpoint.tensors()), Optional.empty(),
                        "tensor names and shapes");
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException(path + ": no config.json, and the tensors do not tell the model: "
                        + e.getMessage(), e);
            }
        } catch (RuntimeException e) {
            checkpoint.close();
            throw e;
        }
    }

    @Override
    public void close() {
        checkpoint.close();
    }
}
