package dev.moeshard.convert;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.moeshard.moe.parallel.DeviceMesh;
import dev.moeshard.safetensors.AtomicReplace;
import dev.moeshard.moe.parallel.ExpertRange;
import dev.moeshard.tensor.DType;
import java.io.IOException;
import java.nio.file.Path;

/**
 * {@code moeshard.json}, written beside a grouped checkpoint: where it came from and which experts it holds, so that
 * the rank directories of one run can be told apart and merged back without guessing.
 *
 * @param expertStart first global expert id held (inclusive)
 * @param expertEnd last global expert id held (exclusive)
 * @param dtype the grouped tensors' dtype, or "keep" when each kept its input dtype
 */
record GroupedManifest(String source, String family, String layout, int numExperts, int epSize, int epRank,
                       int expertStart, int expertEnd, String dtype, String tool, String toolVersion) {

    static final String FILE_NAME = "moeshard.json";

    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    /** The manifest of one rank's checkpoint ({@code mesh} null without expert parallelism). */
    static GroupedManifest of(Path source, String family, String layout, int numExperts, DeviceMesh mesh,
                              ExpertRange range, DType dtype) {
        return new GroupedManifest(source.toAbsolutePath().toString(), family, layout, numExperts,
                mesh == null ? 1 : mesh.size("ep"), mesh == null ? 0 : mesh.localRank("ep"), range.start(), range.end(),
                dtype == null ? "keep" : dtype.name(), "moeshard", MoeshardVersion.current());
    }

    /** Writes it into {@code directory} as {@value #FILE_NAME}, forced to disk before it is renamed into place. */
    void writeTo(Path directory) throws IOException {
        AtomicReplace.write(directory.resolve(FILE_NAME), JSON.writeValueAsBytes(this));
    }
}
