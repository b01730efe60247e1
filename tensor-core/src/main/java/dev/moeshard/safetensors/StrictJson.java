package dev.moeshard.safetensors;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonStreamContext;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/**
 * The one JSON reader for safetensors headers and index files.
 *
 * <p>Jackson keeps the last of two equal keys by default, which would let a crafted header describe one tensor twice
 * and have a different reader pick the other; duplicate detection turns that into an error. Trailing tokens are
 * refused for the same reason: a header is one JSON object, padded with spaces at most.
 */
final class StrictJson {
    static final ObjectMapper MAPPER = JsonMapper.builder()
            .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .build();

    private StrictJson() {}

    /**
     * Decodes {@code bytes} as UTF-8, refusing malformed sequences rather than replacing them with U+FFFD (which would
     * silently rename a tensor).
     */
    static String decodeUtf8(Path file, byte[] bytes, String what) {
        try {
            return StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(bytes))
                    .toString();
        } catch (CharacterCodingException e) {
            throw new SafetensorsFormatException(file, null, what + " is not valid UTF-8: " + e.getMessage(), e);
        }
    }

    /** Parses one JSON value; an error names the top-level key being read when it happened, if any. */
    static JsonNode parse(Path file, String json, String what) {
        try {
            return MAPPER.readTree(json);
        } catch (JsonProcessingException e) {
            String key = e.getProcessor() instanceof JsonParser p ? topLevelName(p.getParsingContext()) : null;
            throw new SafetensorsFormatException(file, key, what + " is not valid JSON: " + e.getOriginalMessage(), e);
        }
    }

    /** The name of the member of the outermost object that {@code context} lies in, or null at the top. */
    private static String topLevelName(JsonStreamContext context) {
        String name = null;
        for (JsonStreamContext c = context; c != null && c.getParent() != null; c = c.getParent()) {
            if (c.inObject() && c.getParent().inRoot()) {
                name = c.getCurrentName();
            }
        }
        return name;
    }
}
