package dev.moeshard.moe.quant;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.moeshard.cuda.Cuda;
import dev.moeshard.cuda.CudaAvailability;
import dev.moeshard.moe.FromHfOptions;
import dev.moeshard.moe.family.GroupedOnDiskConversion;
import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.Device;
import dev.moeshard.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * MXFP4 decoded on a CUDA device gives exactly the CPU decoder's bytes. Runs where a CUDA device is available;
 * elsewhere the GPU tests are skipped with the reasons CUDA is unavailable.
 */
class GpuMxfp4DecoderTest {
    private static final Device GPU = Device.cuda(0);
    // The edges of E8M0: 2^-127, 2^-126, 1, the largest finite scale (2^127) and 2^128, where 0 must stay 0.
    private static final int[] EDGE_EXPONENTS = {0, 1, 2, 126, 127, 128, 253, 254, 255};
    // E, rows, G: tiles of 32 rows × 2 blocks, whole and ragged, one row, one block, several experts.
    private static final int[][] SHAPES = {{1, 1, 1}, {1, 32, 2}, {2, 33, 3}, {3, 70, 5}, {1, 64, 16}, {4, 95, 9},
            {2, 200, 1}, {1, 7, 45}};

    private static void requireCuda() {
        CudaAvailability a = Cuda.availability();
        assumeTrue(a.available(), a::describe);
    }

    @Test
    void randomBlocksDecodeToTheCpuBytes() {
        requireCuda();
        SplittableRandom random = new SplittableRandom(9);
        for (int[] shape : SHAPES) {
            Tensor[] in = random(random, shape[0], shape[1], shape[2]);
            for (DType target : new DType[] {DType.BF16, DType.F32}) {
                Tensor cpu = Mxfp4Decoder.decode(in[0], in[1], target, "w");
                Tensor gpu = Mxfp4Decoder.decode(in[0], in[1], target, "w", GPU);
                assertEquals(GPU, gpu.device());
                assertSameBytes(cpu, gpu.to(Device.CPU), target + " " + shape[0] + "x" + shape[1] + "x" + shape[2]);
            }
        }
    }

    @Test
    void everyByteWithEveryExponentDecodesToTheCpuBytes() {
        requireCuda();
        // 256 rows × 16 blocks: row r holds every byte value once (shifted by r), with scale r in every block,
        // so each of the 256 exponents meets each of the 256 bytes.
        int rows = 256;
        int groups = 16;
        Tensor blocks = Tensor.allocate(DType.U8, 1, rows, groups, 16);
        Tensor scales = Tensor.allocate(DType.U8, 1, rows, groups);
        for (int r = 0; r < rows; r++) {
            for (int i = 0; i < groups * 16; i++) {
                blocks.segment().set(ValueLayout.JAVA_BYTE, (long) r * groups * 16 + i, (byte) (i + r));
            }
            for (int g = 0; g < groups; g++) {
                scales.segment().set(ValueLayout.JAVA_BYTE, (long) r * groups + g, (byte) r);
            }
        }
        for (DType target : new DType[] {DType.BF16, DType.F32}) {
            assertSameBytes(Mxfp4Decoder.decode(blocks, scales, target, "w"),
                    Mxfp4Decoder.decode(blocks, scales, target, "w", GPU).to(Device.CPU), target + " every byte");
        }
    }

    @Test
    void viewsE8m0ScalesAndDeviceInputsDecodeToTheCpuBytes() {
        requireCuda();
        Tensor[] in = random(new SplittableRandom(3), 5, 40, 6);
        // A rank's experts: narrowed host views, uploaded as they lie.
        Tensor blocks = in[0].narrow(0, 2, 3);
        Tensor scales = in[1].narrow(0, 2, 3);
        Tensor cpu = Mxfp4Decoder.decode(blocks, scales, DType.BF16, "w");
        assertSameBytes(cpu, Mxfp4Decoder.decode(blocks, scales, DType.BF16, "w", GPU).to(Device.CPU), "narrowed");
        // Scales typed F8_E8M0, as some checkpoints store them.
        Tensor e8m0 = Tensor.wrap(scales.contiguousCopy().segment(), DType.F8_E8M0, scales.sizes());
        assertSameBytes(cpu, Mxfp4Decoder.decode(blocks, e8m0, DType.BF16, "w", GPU).to(Device.CPU), "E8M0 scales");
        // Inputs already on the device, whole and as an expert slice.
        Tensor deviceBlocks = in[0].to(GPU);
        Tensor deviceScales = in[1].to(GPU);
        assertSameBytes(cpu, Mxfp4Decoder.decode(deviceBlocks.narrow(0, 2, 3), deviceScales.narrow(0, 2, 3),
                DType.BF16, "w", GPU).to(Device.CPU), "device slices");
        assertSameBytes(Mxfp4Decoder.decode(in[0], in[1], DType.F32, "w"),
                Mxfp4Decoder.decode(deviceBlocks, deviceScales, DType.F32, "w", GPU).to(Device.CPU), "device inputs");
    }

    @Test
    void gptOssFromHfOnTheDeviceMatchesTheHost() {
        requireCuda();
        SplittableRandom random = new SplittableRandom(5);
        int experts = 4;
        Tensor[] gateUp = random(random, experts, 2 * 48, 2);
        Tensor[] down = random(random, experts, 64, 3);
        Tensor bias = Tensor.allocate(DType.BF16, experts, 2 * 48);
        bias.segment().fill((byte) 0x3f);
        Map<String, Tensor> hf = new LinkedHashMap<>();
        String p = "model.layers.0.mlp.experts.";
        hf.put(p + "gate_up_proj_blocks", gateUp[0]);
        hf.put(p + "gate_up_proj_scales", gateUp[1]);
        hf.put(p + "gate_up_proj_bias", bias);
        hf.put(p + "down_proj_blocks", down[0]);
        hf.put(p + "down_proj_scales", down[1]);
        hf.put("model.layers.0.mlp.router.weight", Tensor.allocate(DType.BF16, experts, 64));
        GroupedOnDiskConversion conversion = new GroupedOnDiskConversion(experts);
        Map<String, Tensor> host = conversion.fromHf(hf, null, DType.BF16);
        Map<String, Tensor> device = conversion.fromHf(hf, FromHfOptions.defaults().withDevice(GPU));
        assertEquals(host.keySet(), device.keySet());
        for (String key : host.keySet()) {
            Tensor t = device.get(key);
            assertEquals(key.contains(".mlp.experts.") ? GPU : Device.CPU, t.device(), key);
            assertSameBytes(host.get(key).contiguous(), t.to(Device.CPU).contiguous(), key);
        }
    }

    @Test
    void otherDtypesAreRefusedBeforeAnythingMoves() {
        Tensor[] in = random(new SplittableRandom(1), 1, 2, 1);
        // Refused before CUDA is touched, so this runs on any machine.
        UnsupportedOperationException e = assertThrows(UnsupportedOperationException.class,
                () -> Mxfp4Decoder.decode(in[0], in[1], DType.F16, "w", GPU));
        assertTrue(e.getMessage().contains("BF16 or F32"), e.getMessage());
    }

    /** Blocks [E, rows, G, 16] of random bytes; scales random over all 256 values, the edge exponents often. */
    private static Tensor[] random(SplittableRandom random, int experts, int rows, int groups) {
        Tensor blocks = Tensor.allocate(DType.U8, experts, rows, groups, 16);
        Tensor scales = Tensor.allocate(DType.U8, experts, rows, groups);
        for (long i = 0; i < blocks.numel(); i++) {
            blocks.segment().set(ValueLayout.JAVA_BYTE, i, (byte) random.nextInt(256));
        }
        for (long i = 0; i < scales.numel(); i++) {
            int s = random.nextBoolean() ? EDGE_EXPONENTS[random.nextInt(EDGE_EXPONENTS.length)] : random.nextInt(256);
            scales.segment().set(ValueLayout.JAVA_BYTE, i, (byte) s);
        }
        return new Tensor[] {blocks, scales};
    }

    private static void assertSameBytes(Tensor expected, Tensor actual, String what) {
        assertEquals(expected.dtype(), actual.dtype(), what);
        assertEquals(Arrays.toString(expected.sizes()), Arrays.toString(actual.sizes()), what);
        MemorySegment a = expected.segment();
        MemorySegment b = actual.segment();
        long mismatch = a.mismatch(b);
        assertEquals(-1, mismatch, () -> what + ": first difference at byte " + mismatch);
    }
}
