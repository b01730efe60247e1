package dev.moeshard.convert;

import dev.moeshard.safetensors.Checkpoint;
import dev.moeshard.safetensors.SafetensorsHeader;
import dev.moeshard.safetensors.TensorEntry;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;

/**
 * The fingerprint of a plan: SHA-256 over what decides every byte it writes — each input file's name, size and
 * header entries, the options that shape the output, and the library version. Paths of the output and choices that
 * never change the bytes (threads, device, replacing) are left out, so that workers on other machines agree.
 */
final class PlanFingerprint {
    private PlanFingerprint() {}

    static String of(List<Checkpoint> inputs, String options) {
        MessageDigest sha = sha256();
        for (Checkpoint c : inputs) {
            for (SafetensorsHeader h : c.headers()) {
                update(sha, h.path().getFileName() + " " + h.fileSize() + " " + h.dataOffset());
                for (TensorEntry e : h.entries()) {
                    update(sha, e.name() + " " + e.dtype() + " " + Arrays.toString(e.shape()) + " " + e.begin()
                            + " " + e.end());
                }
            }
        }
        update(sha, options);
        update(sha, MoeshardVersion.current());
        return HexFormat.of().formatHex(sha.digest());
    }

    private static void update(MessageDigest sha, String text) {
        sha.update(text.getBytes(StandardCharsets.UTF_8));
        sha.update((byte) '\n');
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every Java runtime has SHA-256", e);
        }
    }
}
