package dev.moeshard.safetensors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.Consumer;

/** Builds safetensors files byte by byte, broken on purpose, and checks how they are refused. */
final class CraftedFiles {
    private CraftedFiles() {}

    /** A file with a correct length prefix, {@code header} as UTF-8, then {@code dataBytes} bytes of 0xAB. */
    static Path write(Path file, String header, int dataBytes) throws IOException {
        byte[] json = header.getBytes(StandardCharsets.UTF_8);
        return write(file, json.length, json, dataBytes);
    }

    /** A file whose length prefix says {@code claimedLength}, whatever the header bytes that follow. */
    static Path write(Path file, long claimedLength, byte[] header, int dataBytes) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(8 + header.length + dataBytes).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(claimedLength).put(header);
        while (b.hasRemaining()) {
            b.put((byte) 0xAB);
        }
        Files.write(file, b.array());
        return file;
    }

    /**
     * Asserts that both the reader and the header-only reader refuse {@code file}, with a message that names the file
     * and, if {@code key} is not null, the key; returns the message for further checks.
     */
    static String assertRejected(Path file, String key) {
        SafetensorsFormatException byReader = assertThrows(SafetensorsFormatException.class,
                () -> SafetensorsFile.open(file).close());
        SafetensorsFormatException byHeader = assertThrows(SafetensorsFormatException.class,
                () -> SafetensorsHeader.read(file));
        assertEquals(byReader.getMessage(), byHeader.getMessage());
        check(byReader, file, key);
        return byReader.getMessage();
    }

    static void check(SafetensorsFormatException e, Path file, String key) {
        assertEquals(file, e.file());
        assertEquals(key, e.key());
        assertTrue(e.getMessage().contains(file.toString()), () -> "message does not name the file: " + e.getMessage());
        if (key != null) {
            assertTrue(e.getMessage().contains("'" + key + "'"), () -> "message does not name the key: " + e.getMessage());
        }
    }

    static void assertMentions(String message, String... fragments) {
        for (String f : fragments) {
            assertTrue(message.contains(f), () -> "expected '" + f + "' in: " + message);
        }
    }

    /** Runs {@code check} on the message when refusing. */
    static void assertRejected(Path file, String key, Consumer<String> check) {
        check.accept(assertRejected(file, key));
    }
}
