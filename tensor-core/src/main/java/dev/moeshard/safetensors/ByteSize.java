package dev.moeshard.safetensors;

import java.math.BigDecimal;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Sizes written for people, such as a maximum shard size: {@code "5GB"}, {@code "500MB"}, {@code "10KiB"},
 * {@code "1.5GB"}, {@code "4096"}.
 *
 * <p>Units follow the SI and IEC conventions that HuggingFace uses for {@code max_shard_size}: KB, MB, GB, TB are
 * powers of 1000, KiB, MiB, GiB, TiB powers of 1024, and B or no unit means bytes. Unit letters are read without regard
 * to case, with one exception: a unit ending in a lowercase {@code b} without an {@code i} ("5Gb") conventionally
 * means bits, so it is refused rather than silently read as bytes.
 */
public final class ByteSize {
    private static final Pattern SIZE = Pattern.compile("\\s*(\\d+(?:\\.\\d+)?)\\s*([A-Za-z]*)\\s*");
    private static final Map<String, Long> UNITS = Map.of(
            "", 1L, "B", 1L,
            "KB", 1_000L, "MB", 1_000_000L, "GB", 1_000_000_000L, "TB", 1_000_000_000_000L,
            "KIB", 1L << 10, "MIB", 1L << 20, "GIB", 1L << 30, "TIB", 1L << 40);

    private ByteSize() {}

    /**
     * The number of bytes {@code text} stands for.
     *
     * @throws IllegalArgumentException if it is not a non-negative number with a known unit, is not a whole number of
     *     bytes, or does not fit a {@code long}
     */
    public static long parse(String text) {
        Matcher m = SIZE.matcher(text);
        if (!m.matches()) {
            throw new IllegalArgumentException("invalid size '" + text
                    + "': expected a number and a unit, like 5GB, 500MB, 10KiB or 4096 (bytes)");
        }
        String unit = m.group(2);
        if (unit.length() > 1 && unit.endsWith("b") && !unit.toUpperCase(Locale.ROOT).endsWith("IB")) {
            throw new IllegalArgumentException("invalid size '" + text + "': '" + unit
                    + "' reads as bits; write " + unit.substring(0, unit.length() - 1).toUpperCase(Locale.ROOT)
                    + "B for bytes");
        }
        Long factor = UNITS.get(unit.toUpperCase(Locale.ROOT));
        if (factor == null) {
            throw new IllegalArgumentException("invalid size '" + text + "': unknown unit '" + unit
                    + "'; expected B, KB, MB, GB, TB (powers of 1000) or KiB, MiB, GiB, TiB (powers of 1024)");
        }
        BigDecimal bytes = new BigDecimal(m.group(1)).multiply(BigDecimal.valueOf(factor));
        try {
            return bytes.longValueExact();
        } catch (ArithmeticException e) {
            String why = bytes.stripTrailingZeros().scale() > 0 ? "is not a whole number of bytes" : "does not fit a long";
            throw new IllegalArgumentException("invalid size '" + text + "': " + bytes.toPlainString() + " bytes " + why, e);
        }
    }
}
