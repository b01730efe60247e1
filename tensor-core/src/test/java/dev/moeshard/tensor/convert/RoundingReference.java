package dev.moeshard.tensor.convert;

import java.math.BigInteger;
import java.util.Arrays;

/**
 * An independent reference for rounding to a narrow float format, sharing nothing with {@code FloatFormat}: every
 * finite value of the format is listed as an exact integer count of 2^-1074 (the smallest double subnormal, a unit
 * in which every double and every value of these formats is whole), and a double is rounded by searching that list
 * for its two neighbours and taking the nearer, the even code on a tie. "Even" needs no special case at the top: the
 * list ends with the step past the largest finite value (2^(emax+1) for IEEE formats, the number 480 that
 * F8_E4M3's NaN code would stand for), and a value that rounds to it, or lies beyond it, overflows by the format's
 * rule.
 */
final class RoundingReference {
    private static final int UNIT_EXPONENT = -1074;

    private final String name;
    private final int exponentBits;
    private final int mantissaBits;
    private final boolean ieee;
    private final int signBit;
    /** {@code values[c]} is the value of magnitude code {@code c}; the last entry is the step past the maximum. */
    private final BigInteger[] values;

    private RoundingReference(String name, int exponentBits, int mantissaBits, boolean ieee) {
        this.name = name;
        this.exponentBits = exponentBits;
        this.mantissaBits = mantissaBits;
        this.ieee = ieee;
        this.signBit = 1 << (exponentBits + mantissaBits);
        int maxExponentField = (1 << exponentBits) - 1;
        // IEEE: codes below the all-ones exponent are finite and code (all-ones << m) is the step past them.
        // F8_E4M3: codes up to 0x7e are finite and 0x7f, read as a number, is the step past them.
        int stepPast = ieee ? maxExponentField << mantissaBits : (1 << (exponentBits + mantissaBits)) - 1;
        values = new BigInteger[stepPast + 1];
        for (int code = 0; code <= stepPast; code++) {
            values[code] = unitsOf(code);
        }
    }

    static RoundingReference bf16() {
        return new RoundingReference("BF16", 8, 7, true);
    }

    static RoundingReference f16() {
        return new RoundingReference("F16", 5, 10, true);
    }

    static RoundingReference e4m3() {
        return new RoundingReference("F8_E4M3", 4, 3, false);
    }

    static RoundingReference e5m2() {
        return new RoundingReference("F8_E5M2", 5, 2, true);
    }

    /** The code nearest to {@code x}, ties to even, with the format's overflow, infinity and NaN rules. */
    int round(double x) {
        int sign = Double.doubleToRawLongBits(x) < 0 ? signBit : 0;
        int stepPast = values.length - 1;
        int nan = ieee ? stepPast | (1 << (mantissaBits - 1)) : stepPast;
        int overflow = ieee ? stepPast : stepPast - 1; // infinity, or F8_E4M3's saturation to 448
        if (Double.isNaN(x)) {
            return sign | nan;
        }
        if (Double.isInfinite(x)) {
            return sign | (ieee ? stepPast : nan);
        }
        BigInteger units = unitsOfDouble(Math.abs(x));
        if (units.compareTo(values[stepPast]) >= 0) {
            return sign | overflow;
        }
        int below = Arrays.binarySearch(values, units);
        if (below >= 0) {
            return sign | (below == stepPast ? overflow : below);
        }
        below = -below - 2; // the largest code whose value is under x
        int above = below + 1;
        int cmp = units.subtract(values[below]).compareTo(values[above].subtract(units));
        int nearest = cmp < 0 ? below : cmp > 0 ? above : (below % 2 == 0 ? below : above);
        return sign | (nearest == stepPast ? overflow : nearest);
    }

    /** The exact value of magnitude code {@code code} (finite, or the step past the maximum) as a double. */
    double valueOf(int code) {
        return doubleOfUnits(values[code]);
    }

    /** Halfway between the values of magnitude codes {@code code} and {@code code + 1}, as a double (exact). */
    double midpoint(int code) {
        return doubleOfUnits(values[code].add(values[code + 1]).shiftRight(1));
    }

    /** The number of finite magnitude codes; code {@code finiteCodes() - 1} is the largest finite value. */
    int finiteCodes() {
        return values.length - 1;
    }

    int signBit() {
        return signBit;
    }

    @Override
    public String toString() {
        return "reference " + name;
    }

    private BigInteger unitsOf(int code) {
        int exponentField = code >>> mantissaBits;
        int mantissa = code & ((1 << mantissaBits) - 1);
        int bias = (1 << (exponentBits - 1)) - 1;
        // value = significand * 2^(1 - bias - mantissaBits), significand = m (subnormal) or (1.m << (e - 1))
        BigInteger significand = exponentField == 0
                ? BigInteger.valueOf(mantissa)
                : BigInteger.valueOf(mantissa | (1 << mantissaBits)).shiftLeft(exponentField - 1);
        return significand.shiftLeft(1 - bias - mantissaBits - UNIT_EXPONENT);
    }

    private static BigInteger unitsOfDouble(double magnitude) {
        long bits = Double.doubleToRawLongBits(magnitude);
        int exponentField = (int) (bits >>> 52);
        long mantissa = bits & ((1L << 52) - 1);
        return exponentField == 0
                ? BigInteger.valueOf(mantissa)
                : BigInteger.valueOf(mantissa | (1L << 52)).shiftLeft(exponentField - 1);
    }

    private static double doubleOfUnits(BigInteger units) {
        if (units.signum() == 0) {
            return 0.0;
        }
        int trailing = units.getLowestSetBit();
        BigInteger odd = units.shiftRight(trailing);
        if (odd.bitLength() > 53) {
            throw new IllegalArgumentException(units + " units of 2^-1074 are not a double");
        }
        return Math.scalb(odd.doubleValue(), trailing + UNIT_EXPONENT);
    }
}
