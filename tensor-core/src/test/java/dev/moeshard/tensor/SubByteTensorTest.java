package dev.moeshard.tensor;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.ValueLayout;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

/**
 * F4, F6_E2M3 and F6_E3M2 tensors exist only whole and contiguous: they allocate, reshape and copy to the same dtype
 * as raw bytes; every strided view, element access and value conversion is refused with
 * {@link UnsupportedOperationException}.
 */
class SubByteTensorTest {

    @Test
    void allocateF4() {
        Tensor t = Tensor.allocate(DType.F4, 8);
        assertArrayEquals(new long[] {8}, t.sizes());
        assertEquals(8, t.numel());
        assertEquals(4, t.byteSize());
        assertEquals(4, t.storage().byteSize());
        assertTrue(t.isContiguous());
        assertEquals(4, t.segment().byteSize());
        assertSame(t, t.contiguous());
        assertSame(t, t.to(DType.F4));
        assertEquals(3, Tensor.allocate(DType.F6_E2M3, 4).byteSize());
        assertEquals(3, Tensor.allocate(DType.F6_E3M2, 2, 2).storage().byteSize());
        assertEquals(0, Tensor.allocate(DType.F4, 0).byteSize());
    }

    @Test
    void contiguousViewAndReshapeWork() {
        Tensor t = Tensor.allocate(DType.F4, 8);
        Tensor v = t.view(2, 4);
        assertSame(t.storage(), v.storage());
        assertTrue(v.isContiguous());
        assertEquals(4, v.segment().byteSize());
        Tensor r = v.reshape(-1);
        assertSame(t.storage(), r.storage());
        assertArrayEquals(new long[] {8}, r.sizes());
    }

    /** Sub-byte tensors move as raw bytes between whole contiguous tensors of the same dtype. */
    @Test
    void contiguousCopyToTheSameDtype() {
        for (DType dtype : List.of(DType.F4, DType.F6_E2M3, DType.F6_E3M2)) {
            for (long[] shape : List.of(new long[] {8}, new long[] {2, 4}, new long[] {4, 16})) {
                Tensor src = Tensor.allocate(dtype, shape);
                byte[] bytes = RandomBits.fillBytes(src.storage(), shape.length);
                Tensor dst = Tensor.allocate(dtype, shape);
                assertSame(dst, dst.copyFrom(src));
                assertArrayEquals(bytes, dst.storage().toArray(ValueLayout.JAVA_BYTE), dtype + " copy");
                // Through views of the same contiguous bytes, too.
                Tensor again = Tensor.allocate(dtype, Shapes.numel(shape));
                again.view(shape).copyFrom(src);
                assertArrayEquals(bytes, again.storage().toArray(ValueLayout.JAVA_BYTE), dtype + " copy into a view");
                assertArrayEquals(bytes, src.contiguousCopy().storage().toArray(ValueLayout.JAVA_BYTE), "contiguousCopy");
            }
        }
    }

    @Test
    void copyWithMismatchedShapesOrConversionIsRefused() {
        Tensor f4 = Tensor.allocate(DType.F4, 8);
        var e = assertThrows(IllegalArgumentException.class, () -> f4.copyFrom(Tensor.allocate(DType.F4, 2, 4)));
        assertTrue(e.getMessage().contains("[8]") && e.getMessage().contains("[2, 4]"), e.getMessage());
        assertThrows(UnsupportedOperationException.class, () -> f4.copyFrom(Tensor.allocate(DType.F32, 8)));
        assertThrows(UnsupportedOperationException.class, () -> Tensor.allocate(DType.BF16, 8).copyFrom(f4));
        assertThrows(UnsupportedOperationException.class, () -> f4.to(DType.F32));
    }

    @Test
    void stridedViewsAndElementAccessThrow() {
        Tensor t = Tensor.allocate(DType.F4, 2, 4);
        List<Executable> refused = List.of(
                () -> t.select(0, 1),
                () -> t.narrow(1, 0, 2),
                () -> t.slice(1, 0, 4, 2),
                () -> t.transpose(0, 1),
                () -> t.t(),
                () -> t.permute(1, 0),
                () -> t.unsqueeze(0),
                () -> t.squeeze(),
                () -> t.squeeze(0),
                () -> t.expand(3, 2, 4),
                () -> t.getBits(0, 0),
                () -> t.setBits(1, 0, 0),
                () -> t.byteOffsetOf(1, 1),
                () -> Tensor.strided(t.storage(), DType.F4, 0, new long[] {2, 4}, new long[] {4, 1}),
                () -> Tensor.allocate(DType.F6_E2M3, 4).narrow(0, 0, 2));
        for (Executable call : refused) {
            var e = assertThrows(UnsupportedOperationException.class, call);
            assertTrue(e.getMessage().contains("bits wide"), e.getMessage());
        }
        assertThrows(UnsupportedOperationException.class, () -> t.getDouble(0, 0)); // F4 has no value conversion either
    }
}
