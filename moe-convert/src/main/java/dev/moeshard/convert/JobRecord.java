package dev.moeshard.convert;

import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.databind.DeserializationContext;
import com.fasterxml.jackson.databind.JsonDeserializer;
import com.fasterxml.jackson.databind.JsonSerializer;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.SerializerProvider;
import com.fasterxml.jackson.databind.module.SimpleModule;
import dev.moeshard.safetensors.AtomicReplace;
import dev.moeshard.tensor.Device;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * What a staging directory was made for, written once by the first worker: the request (so that a worker given only
 * the output, or {@code finalize}, can plan the same job), the plan's fingerprint that every worker's own plan must
 * match, and the unit ids in the plan's order.
 *
 * @param version the moeshard version that staged it
 * @param fingerprint the plan's fingerprint
 * @param toGrouped the request, when the job is to-grouped
 * @param toHf the request, when the job is to-hf
 * @param units the plan's unit ids, in order
 */
record JobRecord(String version, String fingerprint, ToGroupedRequest toGrouped, ToHfRequest toHf,
                 List<String> units) {
    private static final String FILE_NAME = "job.json";
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT)
            .registerModule(new SimpleModule()
                    .addSerializer(Path.class, new PathText.Writer())
                    .addDeserializer(Path.class, new PathText.Reader())
                    .addSerializer(Device.class, new DeviceText.Writer())
                    .addDeserializer(Device.class, new DeviceText.Reader()));

    JobRecord {
        units = List.copyOf(units);
    }

    static JobRecord of(ConversionRequest request, ConversionPlan plan) {
        return new JobRecord(MoeshardVersion.current(), plan.fingerprint(),
                request instanceof ToGroupedRequest g ? g.withAbsolutePaths() : null,
                request instanceof ToHfRequest h ? h.withAbsolutePaths() : null,
                plan.units().stream().map(WorkUnit::id).toList());
    }

    /** The request, with absolute paths: workers elsewhere see the shared file system from other directories. */
    ConversionRequest request() {
        return toGrouped != null ? toGrouped : toHf;
    }

    void writeTo(StagedDirectory staged) {
        Path file = staged.bookkeeping().resolve(FILE_NAME);
        try {
            AtomicReplace.write(file, JSON.writeValueAsBytes(this));
        } catch (IOException e) {
            throw new UncheckedIOException(file + ": cannot write the job record: " + e.getMessage(), e);
        }
    }

    /** The record of {@code staged}, or null when it has none yet. */
    static JobRecord readFrom(StagedDirectory staged) {
        Path file = staged.bookkeeping().resolve(FILE_NAME);
        if (!Files.isRegularFile(file)) {
            return null;
        }
        try {
            return JSON.readValue(file.toFile(), JobRecord.class);
        } catch (IOException e) {
            throw new InvalidInputException(file.toString(), List.of("not a moeshard job record, or one written by "
                    + "another version: " + e.getMessage()));
        }
    }

    /** Paths as plain strings (Jackson's own form is a URI). */
    private static final class PathText {
        static final class Writer extends JsonSerializer<Path> {
            @Override
            public void serialize(Path value, JsonGenerator gen, SerializerProvider provider) throws IOException {
                gen.writeString(value.toString());
            }
        }

        static final class Reader extends JsonDeserializer<Path> {
            @Override
            public Path deserialize(JsonParser p, DeserializationContext context) throws IOException {
                return Path.of(p.getValueAsString());
            }
        }
    }

    /** Devices as {@code --device} spells them. */
    private static final class DeviceText {
        static final class Writer extends JsonSerializer<Device> {
            @Override
            public void serialize(Device value, JsonGenerator gen, SerializerProvider provider) throws IOException {
                gen.writeString(value.toString());
            }
        }

        static final class Reader extends JsonDeserializer<Device> {
            @Override
            public Device deserialize(JsonParser p, DeserializationContext context) throws IOException {
                return Device.parse(p.getValueAsString());
            }
        }
    }
}
