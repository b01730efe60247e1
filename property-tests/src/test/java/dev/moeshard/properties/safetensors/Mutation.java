package dev.moeshard.properties.safetensors;

import dev.moeshard.properties.harness.Gen;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * One random damage to the bytes of a valid safetensors file, of the kinds a reader meets in the wild or from an
 * attacker: flipped bits, truncation, stray bytes, edited header text, shifted offsets, and huge claimed lengths.
 */
final class Mutation {
    private static final Pattern NUMBER = Pattern.compile("\\d+");
    private static final List<String> HUGE = List.of("9223372036854775807", "9223372036854775808",
            "18446744073709551615", "4611686018427387904", "1099511627776", "4294967296", "2147483648",
            "99999999999999999999999", "-1", "1e3", "1.5");
    private static final List<String> DTYPES = List.of("F32", "BF16", "F4", "F6_E2M3", "U8", "I64", "C64", "bf16", "");

    private Mutation() {}

    static byte[] apply(Gen gen, byte[] file) {
        return switch (gen.between(0, 8)) {
            case 0 -> flipBit(gen, file);
            case 1 -> Arrays.copyOf(file, gen.between(0, Math.max(0, file.length - 1)));
            case 2 -> append(gen, file);
            case 3 -> editHeader(gen, file, m -> Integer.toString(Integer.parseInt(m.length() > 9 ? "9" : m) + gen.between(-3, 3)));
            case 4 -> editHeader(gen, file, m -> gen.oneOf(HUGE));
            case 5 -> claimLength(gen, file);
            case 6 -> replaceHeaderText(gen, file);
            case 7 -> dtypeSwap(gen, file);
            default -> shiftAllOffsets(gen, file);
        };
    }

    private static byte[] flipBit(Gen gen, byte[] file) {
        byte[] out = file.clone();
        if (out.length == 0) {
            return out;
        }
        long claimed = headerLength(file);
        int headerEnd = claimed < 0 || claimed > out.length - 8 ? out.length : (int) (8 + claimed);
        int at = gen.chance(0.7) && headerEnd > 0 ? gen.between(0, headerEnd - 1) : gen.between(0, out.length - 1);
        out[at] ^= (byte) (1 << gen.between(0, 7));
        return out;
    }

    private static byte[] append(Gen gen, byte[] file) {
        byte[] extra = new byte[gen.between(1, 16)];
        gen.nextBytes(extra);
        byte[] out = Arrays.copyOf(file, file.length + extra.length);
        System.arraycopy(extra, 0, out, file.length, extra.length);
        return out;
    }

    /** The header length field set to a random claim: past the end, just past it, just short of it, or enormous. */
    private static byte[] claimLength(Gen gen, byte[] file) {
        long real = headerLength(file);
        long claim = gen.oneOf(Long.MAX_VALUE, -1L, Long.MIN_VALUE, 100_000_000L, 100_000_001L, real + 1, real - 1,
                (long) file.length, (long) file.length - 8, 0L, 1L << 40);
        byte[] out = file.length < 8 ? Arrays.copyOf(file, 8) : file.clone();
        ByteBuffer.wrap(out).order(ByteOrder.LITTLE_ENDIAN).putLong(0, claim);
        return out;
    }

    /** One number in the header JSON replaced by {@code replacement(number)}; the length field is kept right. */
    private static byte[] editHeader(Gen gen, byte[] file, java.util.function.UnaryOperator<String> replacement) {
        String header = header(file);
        List<int[]> spans = new ArrayList<>();
        Matcher m = NUMBER.matcher(header);
        while (m.find()) {
            spans.add(new int[] {m.start(), m.end()});
        }
        if (spans.isEmpty()) {
            return file;
        }
        int[] s = gen.oneOf(spans);
        String edited = header.substring(0, s[0]) + replacement.apply(header.substring(s[0], s[1])) + header.substring(s[1]);
        return withHeader(file, edited);
    }

    private static byte[] replaceHeaderText(Gen gen, byte[] file) {
        String header = header(file);
        if (header.isEmpty()) {
            return file;
        }
        int at = gen.between(0, header.length() - 1);
        String insert = gen.oneOf("", "{", "}", "[", "]", ",", "\"", ":", "null", "\\u0000", "\"__metadata__\":{}",
                "\"x\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},", "\uD800");
        int cut = gen.between(0, Math.min(3, header.length() - at));
        return withHeader(file, header.substring(0, at) + insert + header.substring(at + cut));
    }

    private static byte[] dtypeSwap(Gen gen, byte[] file) {
        String header = header(file);
        Matcher m = Pattern.compile("\"dtype\":\"[^\"]*\"").matcher(header);
        List<int[]> spans = new ArrayList<>();
        while (m.find()) {
            spans.add(new int[] {m.start(), m.end()});
        }
        if (spans.isEmpty()) {
            return file;
        }
        int[] s = gen.oneOf(spans);
        return withHeader(file, header.substring(0, s[0]) + "\"dtype\":\"" + gen.oneOf(DTYPES) + "\"" + header.substring(s[1]));
    }

    /** Every data offset moved by the same amount, so the layout stays consistent but no longer starts at 0. */
    private static byte[] shiftAllOffsets(Gen gen, byte[] file) {
        String header = header(file);
        int delta = gen.oneOf(-8, -1, 1, 2, 8, 1 << 20);
        Matcher m = Pattern.compile("\"data_offsets\":\\[(\\d+),(\\d+)]").matcher(header);
        StringBuilder sb = new StringBuilder();
        while (m.find()) {
            // An earlier mutation may have left a number past a long: shift it as a big integer.
            var a = new java.math.BigInteger(m.group(1)).add(java.math.BigInteger.valueOf(delta));
            var b = new java.math.BigInteger(m.group(2)).add(java.math.BigInteger.valueOf(delta));
            m.appendReplacement(sb, "\"data_offsets\":[" + a + "," + b + "]");
        }
        m.appendTail(sb);
        return withHeader(file, sb.toString());
    }

    static long headerLength(byte[] file) {
        return file.length < 8 ? 0 : ByteBuffer.wrap(file).order(ByteOrder.LITTLE_ENDIAN).getLong(0);
    }

    private static String header(byte[] file) {
        long n = headerLength(file);
        if (n < 0 || n > file.length - 8) {
            return "";
        }
        return new String(file, 8, (int) n, StandardCharsets.UTF_8);
    }

    /** The file with its header text replaced and the length field set to the new text's length. */
    private static byte[] withHeader(byte[] file, String header) {
        long n = headerLength(file);
        if (file.length < 8 || n < 0 || n > file.length - 8) {
            return file; // an earlier mutation left no header to edit
        }
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        int dataStart = (int) (8 + headerLength(file));
        byte[] out = new byte[8 + h.length + file.length - dataStart];
        ByteBuffer.wrap(out).order(ByteOrder.LITTLE_ENDIAN).putLong(0, h.length);
        System.arraycopy(h, 0, out, 8, h.length);
        System.arraycopy(file, dataStart, out, 8 + h.length, file.length - dataStart);
        return out;
    }
}
