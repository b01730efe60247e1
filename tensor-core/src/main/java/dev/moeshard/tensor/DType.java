package dev.moeshard.tensor;

import java.util.HashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

/**
 * Every element type a safetensors file can hold, with its name in the file header and its width in bits.
 *
 * <p>Six of them are arithmetic here ({@link #isConvertible()}): F64, F32, F16, BF16, F8_E4M3 and F8_E5M2 convert
 * between each other by value, rounding to nearest even (see {@link FloatFormat}). Every other dtype moves as raw
 * bytes: copies between two tensors of the same such dtype are exact, conversions to or from it are refused.
 *
 * <p>F4, F6_E2M3 and F6_E3M2 are narrower than a byte. Tensors of them exist so that files holding them can be read,
 * written and passed through, but only as whole contiguous tensors whose element count fills whole bytes.
 */
public enum DType {
    BOOL("BOOL", 8),
    U8("U8", 8),
    I8("I8", 8),
    I16("I16", 16),
    U16("U16", 16),
    I32("I32", 32),
    U32("U32", 32),
    I64("I64", 64),
    U64("U64", 64),
    F16("F16", 16),
    BF16("BF16", 16),
    F32("F32", 32),
    F64("F64", 64),
    C64("C64", 64),
    F8_E4M3("F8_E4M3", 8),
    F8_E5M2("F8_E5M2", 8),
    F8_E8M0("F8_E8M0", 8),
    F8_E4M3FNUZ("F8_E4M3FNUZ", 8),
    F8_E5M2FNUZ("F8_E5M2FNUZ", 8),
    F4("F4", 4),
    F6_E2M3("F6_E2M3", 6),
    F6_E3M2("F6_E3M2", 6);

    private static final Map<String, DType> BY_NAME = new HashMap<>();

    static {
        for (DType t : values()) {
            BY_NAME.put(t.safetensorsName, t);
        }
    }

    private final String safetensorsName;
    private final int bits;

    DType(String safetensorsName, int bits) {
        this.safetensorsName = safetensorsName;
        this.bits = bits;
    }

    /** The name a safetensors header uses for this dtype, e.g. {@code "BF16"}. */
    public String safetensorsName() {
        return safetensorsName;
    }

    /** Width of one element in bits (4 for F4, 6 for the F6 formats, else a multiple of 8). */
    public int bits() {
        return bits;
    }

    /** True when an element is a whole number of bytes, so that strided views and element copies work. */
    public boolean isByteAligned() {
        return bits % 8 == 0;
    }

    /** Width of one element in bytes; only for byte-aligned dtypes. */
    public int byteSize() {
        if (!isByteAligned()) {
            throw new UnsupportedOperationException(this + " is " + bits + " bits wide: it has no whole-byte element size");
        }
        return bits / 8;
    }

    /**
     * Bytes that {@code elements} elements occupy, rounded up to a whole byte for the sub-byte formats.
     *
     * @throws ArithmeticException if the size does not fit a {@code long}
     */
    public long storageBytes(long elements) {
        return Math.ceilDiv(Math.multiplyExact(elements, (long) bits), 8L);
    }

    /** True for the dtypes that convert by value: F64, F32, F16, BF16, F8_E4M3, F8_E5M2. */
    public boolean isConvertible() {
        return FloatFormat.of(this).isPresent();
    }

    /** True for the 8-bit float formats that block-quantized checkpoints use for weights. */
    public boolean isFp8() {
        return this == F8_E4M3 || this == F8_E5M2 || this == F8_E4M3FNUZ || this == F8_E5M2FNUZ;
    }

    /** The dtype named {@code name} in a safetensors header, if there is one. */
    public static Optional<DType> fromSafetensorsName(String name) {
        return Optional.ofNullable(BY_NAME.get(name));
    }

    /** Parses a user-facing name, case-insensitively: {@code bf16}, {@code BF16}, {@code f8_e4m3}. */
    public static DType parse(String name) {
        DType t = BY_NAME.get(name.toUpperCase(Locale.ROOT));
        if (t == null) {
            throw new IllegalArgumentException("unknown dtype '" + name + "'; expected one of " + BY_NAME.keySet());
        }
        return t;
    }
}
