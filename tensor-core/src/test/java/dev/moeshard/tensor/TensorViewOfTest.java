package dev.moeshard.tensor;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import org.junit.jupiter.api.Test;

/**
 * {@link Tensor#sharesStorageWith}, {@link Tensor#isViewOf}, {@link Tensor#offsetWithin} and {@link Tensor#rebase}:
 * which tensor a view is of and where it lies there, against offsets worked out by hand.
 */
class TensorViewOfTest {

    @Test
    void aTensorIsAViewOfItselfAtOffsetZero() {
        Tensor t = Tensor.allocate(DType.F32, 4, 6);
        assertTrue(t.sharesStorageWith(t));
        assertTrue(t.isViewOf(t));
        assertEquals(0, t.offsetWithin(t));
    }

    @Test
    void viewsOfViewsLieWhereTheirIndicesSay() {
        Tensor t = Tensor.allocate(DType.BF16, 4, 6, 8); // strides [48, 8, 1]
        Tensor expert = t.select(0, 2);                 // offset 96
        Tensor rows = expert.narrow(0, 1, 3);           // offset 104
        Tensor stepped = rows.slice(1, 3, 8, 2);        // offset 107, [3, 3] strides [8, 2]
        for (Tensor v : new Tensor[] {expert, rows, stepped}) {
            assertTrue(v.isViewOf(t), v.toString());
            assertTrue(v.sharesStorageWith(t));
        }
        assertEquals(96, expert.offsetWithin(t));
        assertEquals(104, rows.offsetWithin(t));
        assertEquals(107, stepped.offsetWithin(t));
        assertEquals(8, rows.offsetWithin(expert));
        assertEquals(11, stepped.offsetWithin(expert));
        assertEquals(3, stepped.offsetWithin(rows));
        // The other way round: a base is no view of a part of it, it reaches outside.
        assertFalse(t.isViewOf(expert));
        assertFalse(expert.isViewOf(rows));
        assertThrows(IllegalArgumentException.class, () -> expert.offsetWithin(rows));
    }

    @Test
    void aViewOutsideItsSiblingSharesStorageButIsNoViewOfIt() {
        Tensor t = Tensor.allocate(DType.F32, 4, 6);
        Tensor first = t.narrow(0, 0, 2);
        Tensor second = t.narrow(0, 2, 2);
        Tensor straddling = t.narrow(0, 1, 2);
        assertTrue(second.sharesStorageWith(first));
        assertFalse(second.isViewOf(first));
        assertFalse(straddling.isViewOf(first), "its last row lies past first's last element");
        assertFalse(straddling.isViewOf(second), "its first row lies before second's first element");
        assertTrue(t.narrow(0, 1, 1).isViewOf(first), "first's last row");
        assertTrue(t.select(0, 2).narrow(0, 0, 1).isViewOf(second), "second's first element");
        assertFalse(t.select(0, 1).narrow(0, 5, 1).isViewOf(second), "the element just before second");
        assertFalse(t.select(0, 2).narrow(0, 0, 1).isViewOf(first), "the element just after first");
    }

    @Test
    void transposedViewsAreViewsBothWays() {
        Tensor t = Tensor.allocate(DType.F64, 3, 5);
        Tensor tt = t.t(); // [5, 3] strides [1, 5]
        assertTrue(tt.isViewOf(t));
        assertTrue(t.isViewOf(tt));
        assertEquals(0, tt.offsetWithin(t));
        Tensor column = tt.select(1, 2); // row 2 of t: offset 10
        assertEquals(10, column.offsetWithin(t));
        assertEquals(10, column.offsetWithin(tt));
        Tensor corner = tt.narrow(0, 1, 3).narrow(1, 1, 2); // t[1:3, 1:4]ᵀ: offset 6
        assertEquals(6, corner.offsetWithin(tt));
        assertTrue(corner.isViewOf(t.narrow(0, 1, 2)));
        assertFalse(corner.isViewOf(t.narrow(0, 2, 1)));
        Tensor cube = Tensor.allocate(DType.U8, 2, 3, 4);
        Tensor permuted = cube.permute(2, 0, 1).select(0, 3); // cube[:, :, 3]: [2, 3] strides [12, 4] at offset 3
        assertEquals(3, permuted.offsetWithin(cube));
        assertEquals(0, permuted.offsetWithin(permuted.permute(1, 0)));
        assertFalse(cube.isViewOf(permuted));
    }

    @Test
    void tensorsOfOtherStorageAreNoViews() {
        try (Arena arena = Arena.ofConfined()) {
            Tensor a = Tensor.allocate(arena, DType.F32, 4, 6);
            Tensor b = Tensor.allocate(arena, DType.F32, 4, 6); // same size, same arena, another allocation
            assertFalse(a.sharesStorageWith(b));
            assertFalse(a.isViewOf(b));
            assertFalse(b.select(0, 1).isViewOf(a));
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> b.select(0, 1).offsetWithin(a));
            assertTrue(e.getMessage().contains(b.select(0, 1).toString()), e.getMessage());
            assertTrue(e.getMessage().contains(a.toString()), e.getMessage());
            assertTrue(e.getMessage().contains("different storage"), e.getMessage());
            assertFalse(Tensor.allocate(DType.F32, 4, 6).sharesStorageWith(a), "an allocation of another arena");
        }
    }

    @Test
    void storageIsTheSegmentNotTheMemoryBehindIt() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment bytes = arena.allocate(64, 64);
            Tensor whole = Tensor.wrap(bytes, DType.F32, 16);
            assertTrue(Tensor.wrap(bytes, DType.F32, 4, 4).sharesStorageWith(whole), "the same segment, wrapped again");
            assertTrue(Tensor.wrap(bytes, DType.F32, 4, 4).isViewOf(whole));
            Tensor front = Tensor.wrap(bytes.asSlice(0, 32), DType.F32, 8);
            assertFalse(front.sharesStorageWith(whole), "same first byte, shorter: another storage");
            assertFalse(Tensor.wrap(bytes.asSlice(32, 32), DType.F32, 8).isViewOf(whole), "a slice of it");
            Tensor asBytes = Tensor.wrap(bytes, DType.U8, 64);
            assertTrue(asBytes.sharesStorageWith(whole));
            assertFalse(asBytes.isViewOf(whole), "element offsets of another dtype mean other bytes");
            assertThrows(IllegalArgumentException.class, () -> asBytes.offsetWithin(whole));
        }
        // Heap segments of two arrays both start at address 0: the arrays tell them apart.
        Tensor heapA = Tensor.wrap(MemorySegment.ofArray(new byte[16]), DType.U8, 16);
        Tensor heapB = Tensor.wrap(MemorySegment.ofArray(new byte[16]), DType.U8, 16);
        assertFalse(heapA.sharesStorageWith(heapB));
        assertTrue(heapA.narrow(0, 3, 4).isViewOf(heapA));
    }

    @Test
    void aDeviceTensorOverTheSameAddressIsNotTheHostOne() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment bytes = arena.allocate(32, 64);
            Tensor host = Tensor.wrap(bytes, DType.F32, 8);
            Tensor device = Tensor.wrapDevice(bytes, Device.cuda(0), DType.F32, 8); // never dereferenced here
            assertFalse(device.sharesStorageWith(host));
            assertFalse(host.isViewOf(device));
            assertTrue(device.narrow(0, 2, 3).isViewOf(device));
            assertEquals(2, device.narrow(0, 2, 3).offsetWithin(device));
        }
    }

    @Test
    void emptyViewsAreViewsOfTheirStorageWhereverTheirOffset() {
        Tensor t = Tensor.allocate(DType.F32, 4, 6);
        Tensor empty = t.narrow(0, 2, 0);
        assertTrue(empty.isViewOf(t));
        assertTrue(empty.isViewOf(t.narrow(0, 0, 1)), "no element of it lies outside");
        assertFalse(t.narrow(0, 0, 1).isViewOf(empty), "an element cannot lie in an empty base");
        assertFalse(empty.isViewOf(Tensor.allocate(DType.F32, 4, 6)), "another storage");
    }

    @Test
    void rebaseTakesTheSameViewOfTheTwin() {
        long e = 3;
        long h = 5;
        long i = 4;
        Tensor grouped = Tensor.allocate(DType.BF16, e, h, 2 * i);
        Tensor twin = Tensor.allocate(DType.BF16, e, h, 2 * i);
        Tensor up = grouped.select(0, 1).narrow(1, i, i); // gu[1, :, I:2I], [H, I] strides [2I, 1]
        Tensor upThere = up.rebase(grouped, twin);
        assertTrue(upThere.isViewOf(twin));
        assertArrayEquals(up.sizes(), upThere.sizes());
        assertArrayEquals(up.strides(), upThere.strides());
        assertEquals(up.offsetWithin(grouped), upThere.offsetWithin(twin));
        // Filling the view of either gives the same bytes.
        Tensor source = Tensor.allocate(DType.BF16, i, h);
        RandomBits.fill(source, 3);
        up.copyFrom(source.t());
        upThere.copyFrom(source.t());
        assertEquals(-1, grouped.segment().mismatch(twin.segment()));
    }

    @Test
    void rebaseCountsFromTheTwinsFirstElement() {
        Tensor base = Tensor.allocate(DType.F32, 2, 3);
        Tensor view = base.select(0, 1).narrow(0, 1, 2); // offset 4
        Tensor larger = Tensor.allocate(DType.F32, 4, 3);
        Tensor twin = larger.narrow(0, 2, 2); // offset 6
        Tensor there = view.rebase(base, twin);
        assertEquals(10, there.offset());
        assertTrue(there.isViewOf(twin));
        Tensor onDevice = view.rebase(base, Tensor.wrapDevice(MemorySegment.ofAddress(1 << 20).reinterpret(24),
                Device.cuda(0), DType.F32, 2, 3));
        assertEquals(Device.cuda(0), onDevice.device());
        assertEquals(4, onDevice.offset());
    }

    @Test
    void rebaseRefusesWhatIsNoViewAndTwinsOfAnotherDtype() {
        Tensor base = Tensor.allocate(DType.F32, 2, 3);
        Tensor other = Tensor.allocate(DType.F32, 2, 3);
        assertThrows(IllegalArgumentException.class, () -> other.select(0, 1).rebase(base, other));
        IllegalArgumentException dtype = assertThrows(IllegalArgumentException.class,
                () -> base.select(0, 1).rebase(base, Tensor.allocate(DType.BF16, 2, 3)));
        assertTrue(dtype.getMessage().contains("BF16"), dtype.getMessage());
        Tensor smaller = Tensor.allocate(DType.F32, 1, 3);
        assertThrows(IllegalArgumentException.class, () -> base.select(0, 1).rebase(base, smaller),
                "the view would reach past the smaller twin");
    }

    @Test
    void theDeviceCopyProviderIsFoundWithoutTouchingCuda() {
        // Constructing the provider binds nothing: CUDA is probed only by a real allocation or copy.
        assertEquals(DeviceCopiesLookup.PROVIDER, DeviceCopiesLookup.provider().getClass().getName());
    }
}
