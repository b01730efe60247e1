package dev.moeshard.convert;

import com.fasterxml.jackson.databind.JsonNode;
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
        ModelInput detected = open0(InputPaths.resolve(path), family);
        if (numExperts == null) {
            return detected;
        }
        MoeConfig c = detected.model().config();
        DetectedModel chosen = new DetectedModel(detected.model().family(),
                c.withNumExperts(numExperts));
        return new ModelInput(detected.checkpoint(), chosen, detected.configFile(),
                detected.detectedFrom() + ", experts from --num-experts");
    }

    /**
     * The model: the family {@code named} (--model) or, without one, config.json's model_type from the family table;
     * the sizes from config.json. A model_type the table does not know is no dead end when the tensors use a known
     * naming: that naming is applied, and {@link #detectedFrom} says so. Without config.json everything comes from
     * the tensors.
     */
    private static ModelInput open0(Path path, ModelFamily named) {
        if (!Files.exists(path)) {
            throw new IllegalArgumentException(path + ": no such file or directory");
        }
        Checkpoint checkpoint = Checkpoint.open(path);
        try {
            checkpoint.tensors(); // maps every file now, so that one that cannot be mapped fails the plan
            Path dir = Files.isDirectory(path) ? path : path.toAbsolutePath().getParent();
            Path config = dir.resolve("config.json");
            if (!InputFile.exists(config)) { // anything by that name: a FIFO or a dangling link is refused, not ignored
                DetectedModel fromTensors = fromTensors(path, checkpoint);
                return named == null
                        ? new ModelInput(checkpoint, fromTensors, Optional.empty(), "tensor names and shapes")
                        : new ModelInput(checkpoint, new DetectedModel(named, fromTensors.config()), Optional.empty(),
                                "family from --model, sizes from tensor names and shapes");
            }
            JsonNode json = FamilyDetection.readConfig(config);
            String modelType = FamilyDetection.modelType(json);
            ModelFamily family = named != null ? named : ModelFamily.ofModelType(modelType).orElse(null);
            String from = named != null ? "family from --model, sizes from config.json" : "config.json";
            if (family == null) {
                family = fromTensors(path, checkpoint).family();
                from = "config.json for the sizes; its model_type '" + modelType + "' is not in the family table, so "
                        + "the naming the tensors use (" + family.modelType() + "'s, "
                        + family.naming().segment() + ") was applied";
            }
            DetectedModel model = new DetectedModel(family, FamilyDetection.sizes(json, config.toString(), family));
            // A transformers-5 checkpoint of a model with identity experts holds their rows inside gate_up_proj.
            checkpoint = IdentityExpertRows.readable(checkpoint, model);
            return new ModelInput(checkpoint, model, Optional.of(config), from);
        } catch (RuntimeException e) {
            checkpoint.close();
            throw e;
        }
    }

    private static DetectedModel fromTensors(Path path, Checkpoint checkpoint) {
        try {
            return FamilyDetection.fromTensors(checkpoint.tensors());
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(path + ": no config.json (or a model_type it does not know), and the "
                    + "tensors do not tell the model: " + e.getMessage(), e);
        }
    }

    /** config.json as parsed JSON, or null without one. */
    JsonNode configJson() {
        return configFile.map(FamilyDetection::readConfig).orElse(null);
    }

    @Override
    public void close() {
        checkpoint.close();
    }
}
