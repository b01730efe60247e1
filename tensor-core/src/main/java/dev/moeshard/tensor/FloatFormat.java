package dev.moeshard.tensor;

import java.util.EnumMap;
import java.util.Map;
import java.util.Optional;

/**
 * The bit layout of one arithmetic float dtype, with exact decoding and round-to-nearest-even encoding.
 *
 * <pre>
 *   F64      s eeeeeeeeeee mmmm...(52)     bias 1023   IEEE: infinities, NaN
 *   F32      s eeeeeeee    mmmm...(23)     bias 127    IEEE
 *   F16      s eeeee       mmmmmmmmmm      bias 15     IEEE, largest finite 65504
 *   BF16     s eeeeeeee    mmmmmmm         bias 127    IEEE (the top half of an F32)
 *   F8_E5M2  s eeeee       mm              bias 15     IEEE, largest finite 57344
 *   F8_E4M3  s eeee        mmm             bias 7      "FN": no infinities; only s.1111.111 is NaN, so the
 *                                                      top exponent holds normal numbers up to 448 (s.1111.110)
 * </pre>
 *
 * <p>Encoding rounds to nearest, ties to even, from a {@code double}, so a float input is rounded once, never twice.
 * Rules at the edges, per format:
 * <ul>
 *   <li>IEEE formats (F32, F16, BF16, F8_E5M2): a value that rounds past the largest finite number becomes an
 *       infinity of its sign; infinities stay infinities.</li>
 *   <li>F8_E4M3 saturates: a finite value that rounds past 448 becomes ±448 (a large weight must not turn into a
 *       NaN); ±infinity, which the format cannot hold, becomes NaN, so that it is not hidden as a finite number.</li>
 *   <li>NaN stays NaN, with its sign: the format's quiet NaN (all-ones exponent, top mantissa bit set), or s.1111.111
 *       for F8_E4M3. Payloads are not kept.</li>
 *   <li>Values below half the smallest subnormal round to a zero of their sign.</li>
 * </ul>
 */
public final class FloatFormat {
    private static final long DOUBLE_SIGN = 0x8000_0000_0000_0000L;
    private static final long DOUBLE_QUIET_NAN = 0x7ff8_0000_0000_0000L;
    private static final Map<DType, FloatFormat> FORMATS = new EnumMap<>(DType.class);

    static {
        FORMATS.put(DType.F64, new FloatFormat(DType.F64, 11, 52, true));
        FORMATS.put(DType.F32, new FloatFormat(DType.F32, 8, 23, true));
        FORMATS.put(DType.F16, new FloatFormat(DType.F16, 5, 10, true));
        FORMATS.put(DType.BF16, new FloatFormat(DType.BF16, 8, 7, true));
        FORMATS.put(DType.F8_E5M2, new FloatFormat(DType.F8_E5M2, 5, 2, true));
        FORMATS.put(DType.F8_E4M3, new FloatFormat(DType.F8_E4M3, 4, 3, false));
    }

    private final DType dtype;
    private final int exponentBits;
    private final int mantissaBits;
    private final boolean ieee;
    private final int bias;
    private final int maxExponentField;
    private final long signBit;
    private final long maxFiniteCode;
    private final long infinityCode;
    private final long nanCode;

    private FloatFormat(DType dtype, int exponentBits, int mantissaBits, boolean ieee) {
        this.dtype = dtype;
        this.exponentBits = exponentBits;
        this.mantissaBits = mantissaBits;
        this.ieee = ieee;
        this.bias = (1 << (exponentBits - 1)) - 1;
        this.maxExponentField = (1 << exponentBits) - 1;
        this.signBit = 1L << (exponentBits + mantissaBits);
        long mantissaMask = (1L << mantissaBits) - 1;
        if (ieee) {
            this.infinityCode = (long) maxExponentField << mantissaBits;
            this.maxFiniteCode = infinityCode - 1;
            this.nanCode = infinityCode | (1L << (mantissaBits - 1));
        } else {
            this.infinityCode = -1;
            this.nanCode = ((long) maxExponentField << mantissaBits) | mantissaMask;
            this.maxFiniteCode = nanCode - 1;
        }
    }

    /** The format of an arithmetic dtype, or empty for dtypes that only move as bytes. */
    public static Optional<FloatFormat> of(DType dtype) {
        return Optional.ofNullable(FORMATS.get(dtype));
    }

    /** The format of {@code dtype}, or an exception saying that it has no arithmetic conversion. */
    public static FloatFormat require(DType dtype) {
        FloatFormat f = FORMATS.get(dtype);
        if (f == null) {
            throw new UnsupportedOperationException(dtype + " has no value conversion; only F64, F32, F16, BF16, "
                    + "F8_E4M3 and F8_E5M2 convert, other dtypes move as raw bytes");
        }
        return f;
    }

    public DType dtype() { return dtype; }

    public int exponentBits() { return exponentBits; }

    public int mantissaBits() { return mantissaBits; }

    /** True when the format has infinities (IEEE-style); false for F8_E4M3, which saturates. */
    public boolean hasInfinity() { return ieee; }

    /** The largest finite value. */
    public double maxFinite() { return decode(maxFiniteCode); }

    /** The bit pattern of a quiet NaN, positive. */
    public long nanBits() { return nanCode; }

    /**
     * The exact value of a bit pattern (the low bits of {@code bits}). A NaN pattern decodes to a quiet NaN of the
     * same sign (for F64, the pattern itself).
     */
    public double decode(long bits) {
        if (dtype == DType.F64) {
            return Double.longBitsToDouble(bits);
        }
        boolean negative = (bits & signBit) != 0;
        long code = bits & (signBit - 1);
        int exponentField = (int) (code >>> mantissaBits);
        long mantissa = code & ((1L << mantissaBits) - 1);
        if ((ieee && exponentField == maxExponentField && mantissa != 0) || (!ieee && code == nanCode)) {
            // Built from bits, not by negating Double.NaN: the JLS leaves the sign of -NaN unspecified.
            return Double.longBitsToDouble((negative ? DOUBLE_SIGN : 0) | DOUBLE_QUIET_NAN);
        }
        double magnitude;
        if (ieee && exponentField == maxExponentField) {
            magnitude = Double.POSITIVE_INFINITY;
        } else if (exponentField == 0) {
            magnitude = Math.scalb((double) mantissa, 1 - bias - mantissaBits);
        } else {
            magnitude = Math.scalb((double) (mantissa | (1L << mantissaBits)), exponentField - bias - mantissaBits);
        }
        return negative ? -magnitude : magnitude;
    }

    /** The bit pattern nearest to {@code value}, ties to even, with this format's overflow rule. */
    public long encode(double value) {
        if (dtype == DType.F64) {
            long raw = Double.doubleToRawLongBits(value);
            // NaN payloads are not kept, in F64 as in every other format.
            return Double.isNaN(value) ? (raw & DOUBLE_SIGN) | DOUBLE_QUIET_NAN : raw;
        }
        long sign = (Double.doubleToRawLongBits(value) < 0) ? signBit : 0;
        if (Double.isNaN(value)) {
            return sign | nanCode;
        }
        double magnitude = Math.abs(value);
        if (Double.isInfinite(magnitude)) {
            return sign | (ieee ? infinityCode : nanCode);
        }
        int minNormalExponent = 1 - bias;
        int exponent = Math.max(Math.getExponent(magnitude), minNormalExponent);
        // Scaling by a power of two is exact, so rint (ties to even) sees the true fraction.
        double scaled = Math.scalb(magnitude, mantissaBits - exponent);
        long significand = (long) Math.rint(scaled);
        if (significand == 1L << (mantissaBits + 1)) {
            significand >>= 1;
            exponent++;
        }
        long code;
        if (significand < (1L << mantissaBits)) {
            code = significand; // subnormal (or zero): exponent field 0
        } else {
            long exponentField = exponent + bias;
            code = exponentField > maxExponentField ? Long.MAX_VALUE
                    : (exponentField << mantissaBits) | (significand - (1L << mantissaBits));
        }
        if (code > maxFiniteCode) {
            code = ieee ? infinityCode : maxFiniteCode;
        }
        return sign | code;
    }

    @Override
    public String toString() {
        return "FloatFormat(" + dtype + ", e" + exponentBits + "m" + mantissaBits + ", bias " + bias + ")";
    }
}
