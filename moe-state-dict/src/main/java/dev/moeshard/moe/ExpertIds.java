package dev.moeshard.moe;

/**
 * The layer and expert numbers in checkpoint keys ({@code layers.{L}}, {@code experts.{e}}), read strictly: decimal
 * digits with no leading zero, within bounds no real model comes near. {@code experts.01} beside {@code experts.1}
 * would otherwise name one expert twice and lose one of them, and {@code experts.30000000} would size a layer of
 * thirty million experts from one hostile key.
 */
public final class ExpertIds {
    /** The most experts per layer any input may declare or imply; real models have hundreds. */
    public static final int MAX_EXPERTS = 1 << 16;
    /** The most layers any input may number. */
    public static final int MAX_LAYERS = 1 << 16;

    private ExpertIds() {}

    /** An expert id from {@code key}; see {@link #parse}. */
    public static int expert(String digits, String key) {
        return parse(digits, key, "expert", MAX_EXPERTS);
    }

    /** A layer id from {@code key}; see {@link #parse}. */
    public static int layer(String digits, String key) {
        return parse(digits, key, "layer", MAX_LAYERS);
    }

    /**
     * {@code digits} (decimal digits only, as the key patterns match) as a number below {@code limit}.
     *
     * @throws IllegalArgumentException naming {@code key} for a leading zero or a number at or past the limit
     */
    public static int parse(String digits, String key, String what, int limit) {
        if (digits.length() > 1 && digits.charAt(0) == '0') {
            throw new IllegalArgumentException(key + ": " + what + " number '" + digits + "' has a leading zero; "
                    + "checkpoints write " + what + " numbers without one, and '" + digits + "' beside '"
                    + digits.replaceFirst("^0+(?=.)", "") + "' would name the same " + what + " twice");
        }
        long value = digits.length() > 10 ? Long.MAX_VALUE : Long.parseLong(digits);
        if (value >= limit) {
            throw new IllegalArgumentException(key + ": " + what + " number " + digits + " is past the limit of "
                    + (limit - 1));
        }
        return (int) value;
    }
}
