package dev.moeshard.safetensors;

/**
 * The CRC32C of two byte strings one after the other, from the CRC32C of each and the second's length, without the
 * bytes: what lets a file's checksums be taken from the pieces as they are written, in any order and on any thread,
 * instead of reading the file back.
 *
 * <p>The arithmetic is over polynomials with coefficients in GF(2), in the reflected bit order CRC32C uses (bit 31 is
 * the coefficient of x⁰). Appending n zero bytes to a message multiplies its remainder by x^(8n) modulo the
 * Castagnoli polynomial; the CRC of A‖B is then that product for A's CRC, plus (xor) B's CRC. The initial value and
 * final xor of the standard CRC cancel in that sum, so the finished CRCs combine as they are.
 */
final class Crc32cConcatenation {
    /** The Castagnoli polynomial 0x1EDC6F41, reflected. */
    private static final int POLYNOMIAL = 0x82F63B78;
    /** x^(2^k) modulo the polynomial, for every k a byte count's bit needs (8n = n·2³, n below 2⁶³): squarings of x. */
    private static final int[] X_TO_2_TO_THE = new int[3 + 64];

    static {
        X_TO_2_TO_THE[0] = 1 << 30; // x¹
        for (int k = 1; k < X_TO_2_TO_THE.length; k++) {
            X_TO_2_TO_THE[k] = multiply(X_TO_2_TO_THE[k - 1], X_TO_2_TO_THE[k - 1]);
        }
    }

    private Crc32cConcatenation() {}

    /** The CRC32C of A‖B, where {@code crcA} is A's, {@code crcB} B's and B is {@code lengthB} bytes long. */
    static int of(int crcA, int crcB, long lengthB) {
        if (lengthB < 0) {
            throw new IllegalArgumentException("a length of " + lengthB + " bytes");
        }
        return multiply(xToThe8Times(lengthB), crcA) ^ crcB;
    }

    /** a·b modulo the polynomial. */
    private static int multiply(int a, int b) {
        int product = 0;
        for (int bit = 1 << 31; bit != 0; bit >>>= 1) {
            if ((a & bit) != 0) {
                product ^= b;
            }
            b = (b & 1) != 0 ? (b >>> 1) ^ POLYNOMIAL : b >>> 1; // b·x
        }
        return product;
    }

    /** x^(8n) modulo the polynomial: the factor that appending n zero bytes applies. */
    private static int xToThe8Times(long n) {
        int power = 1 << 31; // x⁰
        int k = 3; // 8n = n·2³
        for (long rest = n; rest != 0; rest >>>= 1, k++) {
            if ((rest & 1) != 0) {
                power = multiply(X_TO_2_TO_THE[k], power);
            }
        }
        return power;
    }
}
