package dev.moeshard.tensor;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

/**
 * Bad arguments to views throw {@link IllegalArgumentException} (or {@link IndexOutOfBoundsException} for an index)
 * whose message names the tensor's shape in bracket notation, so that a user can tell which tensor was wrong.
 */
class TensorViewErrorsTest {
    private static final String SHAPE = "[2, 3, 4]";
    private final Tensor t = Tensor.allocate(DType.F32, 2, 3, 4);

    private static void assertFails(Class<? extends RuntimeException> type, Executable call, String... fragments) {
        RuntimeException e = assertThrows(type, call);
        assertTrue(e.getClass() == type, () -> "expected exactly " + type.getSimpleName() + ", got " + e);
        for (String f : fragments) {
            assertTrue(e.getMessage() != null && e.getMessage().contains(f),
                    () -> "message should contain '" + f + "': " + e.getMessage());
        }
    }

    private void iae(Executable call, String... fragments) {
        String[] all = new String[fragments.length + 1];
        all[0] = SHAPE;
        System.arraycopy(fragments, 0, all, 1, fragments.length);
        assertFails(IllegalArgumentException.class, call, all);
    }

    @Test
    void wrongDimension() {
        iae(() -> t.select(3, 0));
        iae(() -> t.select(-4, 0));
        iae(() -> t.narrow(3, 0, 1));
        iae(() -> t.slice(-4, 0, 1, 1));
        iae(() -> t.transpose(0, 3));
        iae(() -> t.transpose(5, 0));
        iae(() -> t.squeeze(3));
        iae(() -> t.unsqueeze(4));
        iae(() -> t.unsqueeze(-5));
        iae(() -> t.permute(0, 1, 3));
        iae(() -> t.size(3));
        iae(() -> t.stride(-4));
        assertFails(IllegalArgumentException.class, () -> Tensor.allocate(DType.F32).select(0, 0), "[]");
        assertFails(IllegalArgumentException.class, () -> t.select(0, 0).select(0, 0).t(), "[4]");
        iae(() -> t.t());
    }

    @Test
    void indexOutOfRange() {
        assertFails(IndexOutOfBoundsException.class, () -> t.select(1, 3), SHAPE);
        assertFails(IndexOutOfBoundsException.class, () -> t.select(0, -1), SHAPE);
        assertFails(IndexOutOfBoundsException.class, () -> t.getBits(0, 3, 0), SHAPE);
        assertFails(IndexOutOfBoundsException.class, () -> t.setBits(0, 0, 0, 4), SHAPE);
        assertFails(IndexOutOfBoundsException.class, () -> t.byteOffsetOf(2, 0, 0), SHAPE);
        iae(() -> t.getBits(0, 0));
        iae(() -> t.getBits(0, 0, 0, 0));
    }

    @Test
    void sliceOutOfRange() {
        iae(() -> t.slice(2, 0, 5, 1));
        iae(() -> t.slice(2, 3, 2, 1));
        iae(() -> t.slice(2, -1, 2, 1));
        iae(() -> t.narrow(1, 2, 2));
        iae(() -> t.narrow(1, 4, 0));
        iae(() -> t.narrow(1, 1, -1));
    }

    @Test
    void stepNotPositive() {
        iae(() -> t.slice(1, 0, 3, 0), "step");
        iae(() -> t.slice(1, 0, 3, -1), "step");
        iae(() -> t.slice(1, 0, 3, Long.MIN_VALUE), "step");
    }

    @Test
    void permuteWithRepeatsOrWrongLength() {
        iae(() -> t.permute(0, 1, 1), "repeats");
        iae(() -> t.permute(0, 2, -1), "repeats");
        iae(() -> t.permute(0, 1));
        iae(() -> t.permute(0, 1, 2, 3));
        iae(() -> t.permute());
    }

    @Test
    void viewWithWrongCountOrSizes() {
        iae(() -> t.view(5, 5), "[5, 5]");
        iae(() -> t.view(25), "[25]");
        iae(() -> t.reshape(2, 3), "[2, 3]");
        iae(() -> t.view(-1, -1), "-1");
        iae(() -> t.reshape(-1, 2, -1), "-1");
        iae(() -> t.view(-1, 5));
        iae(() -> t.view(-2, -12));
        iae(() -> t.view(0, -1));
        iae(() -> t.view(Long.MAX_VALUE, 4, 2));
        assertFails(IllegalArgumentException.class, () -> t.transpose(0, 2).view(24), "[4, 3, 2]", "reshape");
    }

    @Test
    void squeezeOfANonUnitDimension() {
        iae(() -> t.squeeze(1), "squeeze");
        iae(() -> t.squeeze(-1), "squeeze");
    }

    @Test
    void expandOfANonUnitDimension() {
        iae(() -> t.expand(2, 5, 4), "expand");
        iae(() -> t.expand(3, 3, 4), "expand");
        iae(() -> t.expand(3, 4), "expand");
        iae(() -> t.expand(-1, 2, 3, 4), "expand");
        iae(() -> t.expand(2, 3, -2), "expand");
        Tensor one = Tensor.allocate(DType.F32, 1, 3);
        assertFails(IllegalArgumentException.class, () -> one.expand(-2, 3), "[1, 3]");
        assertFails(IllegalArgumentException.class, () -> one.expand(2, 4), "[1, 3]");
    }

    @Test
    void copyWithMismatchedShapes() {
        Tensor other = Tensor.allocate(DType.F32, 4, 3, 2);
        assertFails(IllegalArgumentException.class, () -> t.copyFrom(other), SHAPE, "[4, 3, 2]");
        assertFails(IllegalArgumentException.class, () -> other.copyFrom(t), SHAPE, "[4, 3, 2]");
        Tensor scalar = Tensor.allocate(DType.F32);
        assertFails(IllegalArgumentException.class, () -> scalar.copyFrom(Tensor.allocate(DType.F32, 1)), "[]", "[1]");
    }
}
