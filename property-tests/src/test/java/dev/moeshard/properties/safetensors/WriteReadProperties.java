package dev.moeshard.properties.safetensors;

import dev.moeshard.properties.harness.PropertyCheck;
import dev.moeshard.safetensors.SafetensorsFile;
import dev.moeshard.safetensors.SafetensorsWriter;
import dev.moeshard.tensor.Tensor;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Writing a random set of tensors and reading it back gives the same names, dtypes, shapes, bytes and metadata. */
class WriteReadProperties {
    @TempDir
    Path dir;

    @Test
    void writeThenReadIsTheIdentity() {
        PropertyCheck.forAll("safetensors write/read", gen -> {
            Map<String, Tensor> tensors = TensorSets.random(gen);
            Map<String, String> metadata = TensorSets.metadata(gen);
            Path file = dir.resolve("t.safetensors");
            SafetensorsWriter.write(file, tensors, metadata);
            try (SafetensorsFile f = SafetensorsFile.open(file)) {
                if (!Set.copyOf(f.keys()).equals(tensors.keySet())) {
                    throw new AssertionError("keys " + f.keys() + ", expected " + tensors.keySet());
                }
                if (!f.metadata().equals(metadata)) {
                    throw new AssertionError("metadata " + f.metadata() + ", expected " + metadata);
                }
                for (Map.Entry<String, Tensor> e : tensors.entrySet()) {
                    Tensor read = f.tensor(e.getKey());
                    Tensor want = e.getValue();
                    if (read.dtype() != want.dtype() || !Arrays.equals(read.sizes(), want.sizes())
                            || read.segment().mismatch(want.segment()) != -1) {
                        throw new AssertionError(e.getKey() + ": read " + read + ", wrote " + want);
                    }
                }
            }
            Files.delete(file);
        });
    }
}
