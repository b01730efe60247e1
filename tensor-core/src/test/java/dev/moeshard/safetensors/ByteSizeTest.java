package dev.moeshard.safetensors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class ByteSizeTest {
    @Test
    void decimalAndBinaryUnits() {
        assertEquals(5_000_000_000L, ByteSize.parse("5GB"));
        assertEquals(500_000_000L, ByteSize.parse("500MB"));
        assertEquals(10_240L, ByteSize.parse("10KiB"));
        assertEquals(3L << 30, ByteSize.parse("3GiB"));
        assertEquals(2L << 40, ByteSize.parse("2TiB"));
        assertEquals(1_000_000_000_000L, ByteSize.parse("1TB"));
        assertEquals(4096, ByteSize.parse("4096"));
        assertEquals(4096, ByteSize.parse("4096B"));
        assertEquals(1_500_000_000L, ByteSize.parse("1.5GB"));
        assertEquals(512, ByteSize.parse("0.5KiB"));
        assertEquals(7_000, ByteSize.parse(" 7 kB "));
        assertEquals(2L << 20, ByteSize.parse("2mib"));
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "GB", "-1GB", "5 XB", "5G", "5Gb", "5mb", "1.5", "0.1B", "10000000TB", "1e3"})
    void refused(String text) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ByteSize.parse(text));
        CraftedFiles.assertMentions(e.getMessage(), "'" + text + "'");
    }
}
