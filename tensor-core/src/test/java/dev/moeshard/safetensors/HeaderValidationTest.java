package dev.moeshard.safetensors;

import static dev.moeshard.safetensors.CraftedFiles.assertMentions;
import static dev.moeshard.safetensors.CraftedFiles.assertRejected;
import static dev.moeshard.safetensors.CraftedFiles.write;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.moeshard.tensor.DType;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** One crafted file for every way a header can break the format; each must be refused naming the file and key. */
class HeaderValidationTest {
    @TempDir
    Path dir;

    private Path file() {
        return dir.resolve("crafted.safetensors");
    }

    private static String tensor(String name, String dtype, String shape, long begin, long end) {
        return "\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape + ",\"data_offsets\":[" + begin + ","
                + end + "]}";
    }

    // ------------------------------------------------------------------------------------------------ accepted

    @Test
    void wellFormedCraftedFileIsAccepted() throws IOException {
        String header = "{\"__metadata__\":{\"format\":\"pt\"}," + tensor("b", "F32", "[2,2]", 0, 16) + ","
                + tensor("empty", "BF16", "[0,4]", 16, 16) + "," + tensor("a", "U8", "[]", 16, 17) + "}      ";
        Path f = write(file(), header, 17);
        try (SafetensorsFile st = SafetensorsFile.open(f)) {
            assertEquals(List.of("b", "empty", "a"), st.keys());
            assertEquals(Map.of("format", "pt"), st.metadata());
            assertEquals(DType.U8, st.entry("a").dtype());
            assertEquals(0, st.tensor("a").dim());
            assertEquals(0, st.tensor("empty").numel());
        }
    }

    @Test
    void fileWithNoTensorsIsAccepted() throws IOException {
        Path f = write(file(), "{}      ", 0);
        assertEquals(List.of(), SafetensorsHeader.read(f).keys());
    }

    // ------------------------------------------------------------------------------------------------ the length prefix

    @Test
    void fileShorterThanEightBytes() throws IOException {
        Files.write(file(), new byte[] {1, 0, 0, 0, 0});
        assertRejected(file(), null, m -> assertMentions(m, "5 bytes"));
    }

    @Test
    void headerLengthOverTheLimit() throws IOException {
        byte[] header = "{}".getBytes(StandardCharsets.US_ASCII);
        write(file(), SafetensorsHeader.MAX_HEADER_LENGTH + 1, header, 0);
        assertRejected(file(), null, m -> assertMentions(m, "100000001", "limit"));
    }

    @Test
    void headerLengthWithTheTopBitSetIsTooLongNotNegative() throws IOException {
        write(file(), -2, "{}".getBytes(StandardCharsets.US_ASCII), 0);
        assertRejected(file(), null, m -> assertMentions(m, Long.toUnsignedString(-2L)));
    }

    @Test
    void headerLengthPastTheEndOfTheFile() throws IOException {
        // Under the limit but far past the file: must be refused before anything that size is allocated.
        write(file(), 99_999_999, "{}".getBytes(StandardCharsets.US_ASCII), 0);
        assertRejected(file(), null, m -> assertMentions(m, "99999999", "past the end"));
    }

    // ------------------------------------------------------------------------------------------------ the JSON

    @Test
    void headerNotUtf8() throws IOException {
        byte[] header = "{\"w\u00ff\":{}}".getBytes(StandardCharsets.ISO_8859_1);
        write(file(), header.length, header, 0);
        assertRejected(file(), null, m -> assertMentions(m, "UTF-8"));
    }

    @Test
    void headerNotJson() throws IOException {
        write(file(), "{\"w\": {\"dtype\": F32}}", 0);
        assertRejected(file(), "w", m -> assertMentions(m, "not valid JSON"));
    }

    @Test
    void headerWithTrailingGarbageIsNotJson() throws IOException {
        write(file(), "{} {}", 0);
        assertRejected(file(), null, m -> assertMentions(m, "not valid JSON"));
    }

    @Test
    void headerNotStartingWithBrace() throws IOException {
        write(file(), " {}     ", 0);
        assertRejected(file(), null, m -> assertMentions(m, "'{'"));
    }

    @Test
    void headerThatIsAnArray() throws IOException {
        write(file(), "[]      ", 0);
        assertRejected(file(), null, m -> assertMentions(m, "'{'"));
    }

    @Test
    void emptyHeader() throws IOException {
        write(file(), "", 0);
        assertRejected(file(), null, m -> assertMentions(m, "empty header"));
    }

    @Test
    void duplicateTensorKey() throws IOException {
        write(file(), "{" + tensor("w", "U8", "[4]", 0, 4) + "," + tensor("w", "U8", "[4]", 4, 8) + "}", 8);
        assertRejected(file(), "w", m -> assertMentions(m, "Duplicate"));
    }

    @Test
    void duplicateFieldInsideAnEntry() throws IOException {
        write(file(), "{\"w\":{\"dtype\":\"U8\",\"dtype\":\"I8\",\"shape\":[4],\"data_offsets\":[0,4]}}", 4);
        assertRejected(file(), "w", m -> assertMentions(m, "Duplicate", "dtype"));
    }

    @Test
    void duplicateMetadataKey() throws IOException {
        write(file(), "{\"__metadata__\":{\"format\":\"pt\",\"format\":\"np\"}}", 0);
        assertRejected(file(), "__metadata__", m -> assertMentions(m, "Duplicate", "format"));
    }

    // ------------------------------------------------------------------------------------------------ entries

    @Test
    void unknownDtype() throws IOException {
        write(file(), "{" + tensor("w", "F128", "[1]", 0, 16) + "}", 16);
        assertRejected(file(), "w", m -> assertMentions(m, "unknown dtype 'F128'"));
    }

    @Test
    void negativeShapeEntry() throws IOException {
        write(file(), "{" + tensor("w", "U8", "[2,-2]", 0, 4) + "}", 4);
        assertRejected(file(), "w", m -> assertMentions(m, "shape[1]", "-2"));
    }

    @Test
    void fractionalShapeEntry() throws IOException {
        write(file(), "{" + tensor("w", "U8", "[2.5]", 0, 2) + "}", 2);
        assertRejected(file(), "w", m -> assertMentions(m, "shape[0]", "2.5"));
    }

    @Test
    void stringShapeEntry() throws IOException {
        write(file(), "{" + tensor("w", "U8", "[\"4\"]", 0, 4) + "}", 4);
        assertRejected(file(), "w", m -> assertMentions(m, "shape[0]", "string"));
    }

    @Test
    void shapeEntryBeyondSixtyFourBits() throws IOException {
        write(file(), "{" + tensor("w", "U8", "[18446744073709551616]", 0, 4) + "}", 4);
        assertRejected(file(), "w", m -> assertMentions(m, "64-bit"));
    }

    @Test
    void elementCountOverflows() throws IOException {
        write(file(), "{" + tensor("w", "U8", "[4294967296,4294967296,4294967296]", 0, 4) + "}", 4);
        assertRejected(file(), "w", m -> assertMentions(m, "overflows"));
    }

    @Test
    void byteCountOverflows() throws IOException {
        // 2^62 elements fit a long; 2^62 four-byte elements do not.
        write(file(), "{" + tensor("w", "F32", "[4611686018427387904]", 0, 4) + "}", 4);
        assertRejected(file(), "w", m -> assertMentions(m, "overflows"));
    }

    @Test
    void offsetsDoNotMatchTheSize() throws IOException {
        write(file(), "{" + tensor("w", "BF16", "[2,3]", 0, 10) + "}", 10);
        assertRejected(file(), "w", m -> assertMentions(m, "10 bytes", "needs 12"));
    }

    @Test
    void subByteSizeIsRoundedUpToWholeBytes() throws IOException {
        // 3 F4 elements need 12 bits: 2 bytes, not 1.
        write(file(), "{" + tensor("w", "F4", "[3]", 0, 1) + "}", 1);
        assertRejected(file(), "w", m -> assertMentions(m, "needs 2"));
    }

    @Test
    void gapBetweenTensors() throws IOException {
        write(file(), "{" + tensor("a", "U8", "[4]", 0, 4) + "," + tensor("b", "U8", "[4]", 6, 10) + "}", 10);
        assertRejected(file(), "b", m -> assertMentions(m, "gap of 2 bytes", "'a'"));
    }

    @Test
    void overlappingTensors() throws IOException {
        write(file(), "{" + tensor("a", "U8", "[4]", 0, 4) + "," + tensor("b", "U8", "[4]", 2, 6) + "}", 6);
        assertRejected(file(), "b", m -> assertMentions(m, "overlap", "'a'"));
    }

    @Test
    void twoTensorsOnTheSameBytes() throws IOException {
        write(file(), "{" + tensor("a", "U8", "[4]", 0, 4) + "," + tensor("b", "U8", "[4]", 0, 4) + "}", 4);
        assertRejected(file(), "b", m -> assertMentions(m, "overlap"));
    }

    @Test
    void firstTensorDoesNotStartAtZero() throws IOException {
        write(file(), "{" + tensor("a", "U8", "[4]", 4, 8) + "}", 8);
        assertRejected(file(), "a", m -> assertMentions(m, "begins at 4, not at 0"));
    }

    @Test
    void bytesLeftPastTheLastTensor() throws IOException {
        write(file(), "{" + tensor("a", "U8", "[4]", 0, 4) + "}", 7);
        assertRejected(file(), null, m -> assertMentions(m, "3 bytes are left past the last tensor"));
    }

    @Test
    void dataOffsetsBeyondTheFile() throws IOException {
        write(file(), "{" + tensor("a", "U8", "[4]", 0, 4) + "," + tensor("b", "U8", "[8]", 4, 12) + "}", 6);
        assertRejected(file(), "b", m -> assertMentions(m, "past the end of the file", "6 bytes"));
    }

    @Test
    void dataOffsetsThatEndBeforeTheyBegin() throws IOException {
        write(file(), "{" + tensor("a", "U8", "[0]", 4, 0) + "}", 0);
        assertRejected(file(), "a", m -> assertMentions(m, "end before they begin"));
    }

    // ------------------------------------------------------------------------------------------------ JSON types

    @Test
    void metadataValueNotAString() throws IOException {
        write(file(), "{\"__metadata__\":{\"format\":\"pt\",\"step\":100}}", 0);
        assertRejected(file(), "__metadata__", m -> assertMentions(m, "'step'", "must be a string"));
    }

    @Test
    void metadataNotAnObject() throws IOException {
        write(file(), "{\"__metadata__\":[\"pt\"]}", 0);
        assertRejected(file(), "__metadata__", m -> assertMentions(m, "object of strings"));
    }

    @Test
    void entryNotAnObject() throws IOException {
        write(file(), "{\"w\":[0,4]}", 0);
        assertRejected(file(), "w", m -> assertMentions(m, "expected an object"));
    }

    @Test
    void dtypeNotAString() throws IOException {
        write(file(), "{\"w\":{\"dtype\":8,\"shape\":[4],\"data_offsets\":[0,4]}}", 4);
        assertRejected(file(), "w", m -> assertMentions(m, "dtype must be a string"));
    }

    @Test
    void shapeNotAnArray() throws IOException {
        write(file(), "{\"w\":{\"dtype\":\"U8\",\"shape\":4,\"data_offsets\":[0,4]}}", 4);
        assertRejected(file(), "w", m -> assertMentions(m, "shape must be an array"));
    }

    @Test
    void dataOffsetsOfThreeNumbers() throws IOException {
        write(file(), "{\"w\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4,8]}}", 4);
        assertRejected(file(), "w", m -> assertMentions(m, "[begin, end]"));
    }

    @Test
    void dataOffsetsNotAnArray() throws IOException {
        write(file(), "{\"w\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":{\"begin\":0}}}", 4);
        assertRejected(file(), "w", m -> assertMentions(m, "data_offsets must be an array"));
    }

    @Test
    void missingField() throws IOException {
        write(file(), "{\"w\":{\"dtype\":\"U8\",\"shape\":[4]}}", 4);
        assertRejected(file(), "w", m -> assertMentions(m, "missing field 'data_offsets'"));
    }

    @Test
    void unexpectedField() throws IOException {
        write(file(), "{\"w\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4],\"stride\":[1]}}", 4);
        assertRejected(file(), "w", m -> assertMentions(m, "unexpected field 'stride'"));
    }

    // ------------------------------------------------------------------------------------------------ lookups

    @Test
    void missingKeyIsNamedWithTheFile() throws IOException {
        Path f = write(file(), "{" + tensor("a", "U8", "[4]", 0, 4) + "}    ", 4);
        try (SafetensorsFile st = SafetensorsFile.open(f)) {
            var e = org.junit.jupiter.api.Assertions.assertThrows(SafetensorsFormatException.class, () -> st.tensor("b"));
            CraftedFiles.check(e, f, "b");
        }
    }
}
