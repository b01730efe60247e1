package dev.moeshard.convert;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.Tensor;
import org.junit.jupiter.api.Test;

class ReusedScratchTest {
    @Test
    void aTensorOfTheAskedShapeAndDtypeIsContiguous() {
        Tensor t = new ReusedScratch().tensor(DType.BF16, 3, 5);
        assertEquals(DType.BF16, t.dtype());
        assertArrayEquals(new long[] {3, 5}, t.sizes());
        assertTrue(t.isContiguous());
        assertEquals(30, t.byteSize());
    }

    @Test
    void theSameMemoryServesEveryRequestThatFits() {
        ReusedScratch scratch = new ReusedScratch();
        long first = scratch.tensor(DType.F32, 64, 64).storage().address();
        assertEquals(first, scratch.tensor(DType.BF16, 64, 64).storage().address());
        assertEquals(first, scratch.tensor(DType.F32, 8, 512).storage().address());
    }

    @Test
    void aLargerRequestGetsALargerBuffer() {
        ReusedScratch scratch = new ReusedScratch();
        Tensor small = scratch.tensor(DType.U8, 16);
        Tensor large = scratch.tensor(DType.F64, 1000);
        assertEquals(8000, large.byteSize());
        assertNotEquals(small.storage().address(), large.storage().address());
        large.segment().fill((byte) 7); // the whole of it is writable
        assertEquals(large.storage().address(), scratch.tensor(DType.U8, 16).storage().address());
    }
}
