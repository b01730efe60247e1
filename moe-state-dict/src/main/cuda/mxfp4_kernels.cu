// GPT-OSS MXFP4 expert weights decoded on the GPU, with the bits of the CPU decoders
// (dev.moeshard.moe.quant.Mxfp4Decoder): blocks [E, rows, G, 16] U8 and scales [E, rows, G] U8 become
// [E, G·32, rows] (that is [E, in, out]), BF16 or F32.
//
//   byte j of a block:   hhhh llll   ->   in index 32g + 2j = fp4(llll) × 2^(s − 127),   32g + 2j + 1 = fp4(hhhh) × …
//
// The source is contiguous along the input dimension and the destination along the output one, so a thread block
// decodes a tile of 32 rows × 2 MX blocks (64 input values) into shared memory while reading along the blocks, then
// writes the tile transposed, consecutive threads taking consecutive output features.
//
// Regenerate the PTX with scripts/build-ptx.sh after changing this file; the build checks that they match.

#include <stdint.h>

#define TILE_ROWS 32        // output features per tile: one warp's width when writing
#define TILE_BLOCKS 2       // MX blocks per row in a tile
#define BLOCK_VALUES 32
#define BLOCK_BYTES 16
#define TILE_VALUES (TILE_BLOCKS * BLOCK_VALUES)
#define THREADS_X 32
#define THREADS_Y 8         // 256 threads: one 32-bit word (8 values) each when reading

// F32 bits of FP4 E2M1 code `code`: s ee m -> s | (ee + 126) << 23 | m << 22 for the normal codes; 0 and the
// subnormal 0.5 set apart (see Fp4E2M1).
__device__ __forceinline__ float fp4_value(uint32_t code) {
    uint32_t magnitude = code & 7u;
    uint32_t sign = (code & 8u) << 28;
    uint32_t bits = magnitude == 0u ? 0u : magnitude == 1u ? 0x3F000000u : (magnitude << 22) + (126u << 23);
    return __uint_as_float(sign | bits);
}

// 2^(s − 128) as an exact F32 for every byte s (see E8M0Scale): the exponent field s − 1 for s ≥ 2, and the
// subnormals 2^-127 (0x00400000) and 2^-128 (0x00200000) for s = 1 and 0.
__device__ __forceinline__ float half_scale(uint32_t s) {
    uint32_t bits = s >= 2u ? (s - 1u) << 23 : 0x00200000u << s;
    return __uint_as_float(bits);
}

// fp4 × 2^(s − 128) × 2, as the CPU computes it: two IEEE multiplications, each rounded to nearest (the _rn
// intrinsics are never fused or flushed to zero), so that s = 255 gives 0 × 2^127 × 2 = 0, not 0 × inf = NaN.
__device__ __forceinline__ float decode(uint32_t code, float half) {
    return __fmul_rn(__fmul_rn(fp4_value(code), half), 2.0f);
}

// The BF16 nearest to f (ties to even), as Bf16Converters rounds: add 0x7fff plus the lowest kept bit, truncate;
// NaN becomes the quiet NaN of its sign.
__device__ __forceinline__ uint16_t to_bf16(float f) {
    uint32_t bits = __float_as_uint(f);
    if ((bits & 0x7FFFFFFFu) > 0x7F800000u) {
        return (uint16_t) (((bits & 0x80000000u) | 0x7FC00000u) >> 16);
    }
    return (uint16_t) ((bits + 0x7FFFu + ((bits >> 16) & 1u)) >> 16);
}

__device__ __forceinline__ void store(uint16_t* dst, float f) { *dst = to_bf16(f); }
__device__ __forceinline__ void store(float* dst, float f) { *dst = f; }

// Grid: x over tiles of 32 rows, y over tiles of 2 MX blocks, z over experts. Block: 32 × 8 threads.
// `blocks` must be 4-byte aligned (the host passes 16-byte aligned, contiguous tensors).
template <typename T>
__device__ void mxfp4_decode(T* __restrict__ dst, const uint8_t* __restrict__ blocks,
                             const uint8_t* __restrict__ scales, long long rows, long long groups) {
    // [input value][row]; the padding column keeps the transposed reads on distinct banks.
    __shared__ float tile[TILE_VALUES][TILE_ROWS + 1];
    long long expert = blockIdx.z;
    long long r_base = (long long) blockIdx.x * TILE_ROWS;
    long long g_base = (long long) blockIdx.y * TILE_BLOCKS;
    const uint8_t* expert_blocks = blocks + expert * rows * groups * BLOCK_BYTES;
    const uint8_t* expert_scales = scales + expert * rows * groups;

    // Read: thread t takes word t % 4 of MX block (t / 4) % 2 of row t / 8 in the tile, so a warp reads four rows'
    // 32 contiguous bytes each.
    int t = threadIdx.y * THREADS_X + threadIdx.x;
    int word = t & 3;
    int block_in_tile = (t >> 2) & 1;
    int row_in_tile = t >> 3;
    long long r = r_base + row_in_tile;
    long long g = g_base + block_in_tile;
    if (r < rows && g < groups) {
        long long at = r * groups + g;
        uint32_t packed = reinterpret_cast<const uint32_t*>(expert_blocks + at * BLOCK_BYTES)[word];
        float half = half_scale(expert_scales[at]);
        int value = block_in_tile * BLOCK_VALUES + word * 8;
        #pragma unroll
        for (int i = 0; i < 4; i++) {
            uint32_t byte = (packed >> (8 * i)) & 0xFFu; // little-endian: byte 4·word + i of the block
            tile[value + 2 * i][row_in_tile] = decode(byte & 0xFu, half);
            tile[value + 2 * i + 1][row_in_tile] = decode(byte >> 4, half);
        }
    }
    __syncthreads();

    // Write: consecutive threads take consecutive rows, the destination's contiguous direction.
    long long in_size = groups * BLOCK_VALUES;
    long long k_base = g_base * BLOCK_VALUES;
    long long out_r = r_base + threadIdx.x;
    T* expert_dst = dst + expert * in_size * rows;
    for (int v = threadIdx.y; v < TILE_VALUES; v += THREADS_Y) {
        long long k = k_base + v;
        if (k < in_size && out_r < rows) {
            store(expert_dst + k * rows + out_r, tile[v][threadIdx.x]);
        }
    }
}

extern "C" __global__ void mxfp4_decode_bf16(uint16_t* dst, const uint8_t* blocks, const uint8_t* scales,
                                             long long rows, long long groups) {
    mxfp4_decode(dst, blocks, scales, rows, groups);
}

extern "C" __global__ void mxfp4_decode_f32(float* dst, const uint8_t* blocks, const uint8_t* scales,
                                            long long rows, long long groups) {
    mxfp4_decode(dst, blocks, scales, rows, groups);
}
