package dev.moeshard.properties.dtype;

import java.util.Arrays;

/**
 * An independent model of a small float format (up to 16 bits): the exact value of every bit pattern, from its fields,
 * and rounding by search rather than by bit tricks. To round x, find the two neighbouring finite values around |x| in
 * the sorted table of every positive finite value; the nearer wins, a tie goes to the even code (its last bit 0).
 * Past the largest finite value, an IEEE format rounds to infinity once |x| reaches the midpoint to the next power of
 * two (that tie goes to the even code, which is infinity's); a saturating format (F8_E4M3) stays at its maximum.
 */
final class NearestEvenReference {
    final String name;
    final int exponentBits;
    final int mantissaBits;
    final boolean ieee;
    private final int bias;
    private final int signBit;
    /** values[c] is the value of positive code c, for every finite positive code, ascending. */
    private final double[] values;

    NearestEvenReference(String name, int exponentBits, int mantissaBits, boolean ieee) {
        this.name = name;
        this.exponentBits = exponentBits;
        this.mantissaBits = mantissaBits;
        this.ieee = ieee;
        this.bias = (1 << (exponentBits - 1)) - 1;
        this.signBit = 1 << (exponentBits + mantissaBits);
        int allOnes = (1 << exponentBits) - 1;
        // IEEE: every code below the all-ones exponent is finite. E4M3 "FN": only s.1111.111 is not finite.
        int finiteCodes = ieee ? allOnes << mantissaBits : signBit - 1;
        this.values = new double[finiteCodes];
        for (int c = 0; c < finiteCodes; c++) {
            values[c] = magnitude(c);
        }
    }

    int codes() {
        return signBit << 1;
    }

    int signBit() {
        return signBit;
    }

    /** The canonical NaN of the given sign. */
    int nan(boolean negative) {
        int code = ieee ? (((1 << exponentBits) - 1) << mantissaBits) | (1 << (mantissaBits - 1)) : signBit - 1;
        return negative ? code | signBit : code;
    }

    boolean isNaN(int code) {
        int c = code & (signBit - 1);
        return ieee ? c > (((1 << exponentBits) - 1) << mantissaBits) : c == signBit - 1;
    }

    /** The value of a code: NaN for NaN codes, infinities for IEEE infinity codes. */
    double decode(int code) {
        if (isNaN(code)) {
            return Double.NaN;
        }
        int c = code & (signBit - 1);
        double m = c < values.length ? values[c] : Double.POSITIVE_INFINITY;
        return (code & signBit) != 0 ? -m : m;
    }

    /** The code nearest to {@code x}, ties to even, with the format's overflow rule. */
    int round(double x) {
        boolean negative = Double.doubleToRawLongBits(x) < 0;
        int sign = negative ? signBit : 0;
        if (Double.isNaN(x)) {
            return nan(negative);
        }
        double a = Math.abs(x);
        int max = values.length - 1;
        if (a > values[max]) {
            if (!ieee) {
                return Double.isInfinite(a) ? nan(negative) : sign | max;
            }
            double ulp = values[max] - values[max - 1];
            return sign | (a >= values[max] + ulp / 2 ? values.length : max);
        }
        int i = Arrays.binarySearch(values, a);
        if (i >= 0) {
            return sign | i;
        }
        int hi = -i - 1;
        int lo = hi - 1;
        double below = a - values[lo];
        double above = values[hi] - a;
        int code = below < above ? lo : above < below ? hi : (lo % 2 == 0 ? lo : hi);
        return sign | code;
    }

    /** Every positive finite code's value, ascending (not a copy). */
    double[] positiveValues() {
        return values;
    }

    /** Exponent and mantissa fields to a value, with integers and an exact power-of-two scaling. */
    private double magnitude(int code) {
        int e = code >>> mantissaBits;
        int f = code & ((1 << mantissaBits) - 1);
        return e == 0
                ? Math.scalb((double) f, 1 - bias - mantissaBits)
                : Math.scalb((double) ((1 << mantissaBits) | f), e - bias - mantissaBits);
    }
}
