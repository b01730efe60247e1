// The GPU side of moeshard's copy engine. Every kernel moves elements between two strided tensors that the host
// has already planned (dev.moeshard.tensor.copy.CopyPlan): size-1 dimensions dropped, dimensions contiguous in
// both tensors merged, strides in elements. Elements move as raw bits, so one kernel per element width serves
// every dtype of that width.
//
// Regenerate the PTX with scripts/build-ptx.sh after changing this file; the build checks that they match.

#include <stdint.h>

#define MAX_RANK 8

// Sizes and strides of a planned copy, passed by value (a kernel parameter block holds up to 4 KiB).
struct Layout {
    int rank;
    long long sizes[MAX_RANK];
    long long dst_strides[MAX_RANK];
    long long src_strides[MAX_RANK];
};

// Any planned copy: one thread per element, the linear index decomposed over the sizes. Used for gathers and
// for whatever the faster kernels below do not cover.
template <typename T>
__device__ void strided_copy(T* __restrict__ dst, const T* __restrict__ src, long long n, const Layout& layout) {
    for (long long i = blockIdx.x * (long long) blockDim.x + threadIdx.x; i < n; i += (long long) gridDim.x * blockDim.x) {
        long long rest = i;
        long long d = 0;
        long long s = 0;
        for (int k = layout.rank - 1; k >= 0; k--) {
            long long index = rest % layout.sizes[k];
            rest /= layout.sizes[k];
            d += index * layout.dst_strides[k];
            s += index * layout.src_strides[k];
        }
        dst[d] = src[s];
    }
}

extern "C" __global__ void strided_copy_1(uint8_t* dst, const uint8_t* src, long long n, Layout layout) { strided_copy(dst, src, n, layout); }
extern "C" __global__ void strided_copy_2(uint16_t* dst, const uint16_t* src, long long n, Layout layout) { strided_copy(dst, src, n, layout); }
extern "C" __global__ void strided_copy_4(uint32_t* dst, const uint32_t* src, long long n, Layout layout) { strided_copy(dst, src, n, layout); }
extern "C" __global__ void strided_copy_8(uint64_t* dst, const uint64_t* src, long long n, Layout layout) { strided_copy(dst, src, n, layout); }

// A batch of 2-d transposes: dst[b][r][c] = src[b][c][r], where the destination is contiguous along c and the
// source along r. Both sides are read and written along their contiguous direction through a shared-memory tile,
// so every global access of a warp is coalesced. blockIdx.z walks the batch (the plan's outer dimensions,
// decomposed like the strided copy's); the tile has one padding column so that the transposed reads from shared
// memory hit 32 different banks.
#define TILE 32
#define ROWS_PER_PASS 8

template <typename T>
__device__ void transpose_tiles(T* __restrict__ dst, const T* __restrict__ src,
                                long long rows, long long cols,
                                long long dst_row_stride, long long src_col_stride,
                                const Layout& outer) {
    __shared__ T tile[TILE][TILE + 1];
    long long batch = blockIdx.z;
    long long d0 = 0;
    long long s0 = 0;
    for (int k = outer.rank - 1; k >= 0; k--) {
        long long index = batch % outer.sizes[k];
        batch /= outer.sizes[k];
        d0 += index * outer.dst_strides[k];
        s0 += index * outer.src_strides[k];
    }
    long long r_base = (long long) blockIdx.x * TILE;
    long long c_base = (long long) blockIdx.y * TILE;
    // Read: consecutive threads take consecutive r, the source's contiguous direction.
    for (int j = threadIdx.y; j < TILE; j += ROWS_PER_PASS) {
        long long r = r_base + threadIdx.x;
        long long c = c_base + j;
        if (r < rows && c < cols) {
            tile[j][threadIdx.x] = src[s0 + c * src_col_stride + r];
        }
    }
    __syncthreads();
    // Write: consecutive threads take consecutive c, the destination's contiguous direction.
    for (int j = threadIdx.y; j < TILE; j += ROWS_PER_PASS) {
        long long r = r_base + j;
        long long c = c_base + threadIdx.x;
        if (r < rows && c < cols) {
            dst[d0 + r * dst_row_stride + c] = tile[threadIdx.x][j];
        }
    }
}

extern "C" __global__ void transpose_tiles_1(uint8_t* dst, const uint8_t* src, long long rows, long long cols, long long dst_row_stride, long long src_col_stride, Layout outer) { transpose_tiles(dst, src, rows, cols, dst_row_stride, src_col_stride, outer); }
extern "C" __global__ void transpose_tiles_2(uint16_t* dst, const uint16_t* src, long long rows, long long cols, long long dst_row_stride, long long src_col_stride, Layout outer) { transpose_tiles(dst, src, rows, cols, dst_row_stride, src_col_stride, outer); }
extern "C" __global__ void transpose_tiles_4(uint32_t* dst, const uint32_t* src, long long rows, long long cols, long long dst_row_stride, long long src_col_stride, Layout outer) { transpose_tiles(dst, src, rows, cols, dst_row_stride, src_col_stride, outer); }
extern "C" __global__ void transpose_tiles_8(uint64_t* dst, const uint64_t* src, long long rows, long long cols, long long dst_row_stride, long long src_col_stride, Layout outer) { transpose_tiles(dst, src, rows, cols, dst_row_stride, src_col_stride, outer); }

// The same tiles for a batch of separate tensors of one geometry (the experts of a layer): blockIdx.z picks a
// (destination, source) pointer pair from a table in device memory, so a whole layer's merge is one launch.
template <typename T>
__device__ void transpose_tiles_batched(const unsigned long long* __restrict__ pairs, long long rows, long long cols,
                                        long long dst_row_stride, long long src_col_stride) {
    __shared__ T tile[TILE][TILE + 1];
    T* dst = (T*) pairs[2 * blockIdx.z];
    const T* src = (const T*) pairs[2 * blockIdx.z + 1];
    long long r_base = (long long) blockIdx.x * TILE;
    long long c_base = (long long) blockIdx.y * TILE;
    for (int j = threadIdx.y; j < TILE; j += ROWS_PER_PASS) {
        long long r = r_base + threadIdx.x;
        long long c = c_base + j;
        if (r < rows && c < cols) {
            tile[j][threadIdx.x] = src[c * src_col_stride + r];
        }
    }
    __syncthreads();
    for (int j = threadIdx.y; j < TILE; j += ROWS_PER_PASS) {
        long long r = r_base + j;
        long long c = c_base + threadIdx.x;
        if (r < rows && c < cols) {
            dst[r * dst_row_stride + c] = tile[threadIdx.x][j];
        }
    }
}

extern "C" __global__ void transpose_tiles_batched_1(const unsigned long long* pairs, long long rows, long long cols, long long dst_row_stride, long long src_col_stride) { transpose_tiles_batched<uint8_t>(pairs, rows, cols, dst_row_stride, src_col_stride); }
extern "C" __global__ void transpose_tiles_batched_2(const unsigned long long* pairs, long long rows, long long cols, long long dst_row_stride, long long src_col_stride) { transpose_tiles_batched<uint16_t>(pairs, rows, cols, dst_row_stride, src_col_stride); }
extern "C" __global__ void transpose_tiles_batched_4(const unsigned long long* pairs, long long rows, long long cols, long long dst_row_stride, long long src_col_stride) { transpose_tiles_batched<uint32_t>(pairs, rows, cols, dst_row_stride, src_col_stride); }
extern "C" __global__ void transpose_tiles_batched_8(const unsigned long long* pairs, long long rows, long long cols, long long dst_row_stride, long long src_col_stride) { transpose_tiles_batched<uint64_t>(pairs, rows, cols, dst_row_stride, src_col_stride); }

// The batched tiles again for 1- and 2-byte elements, moving K elements per thread as one 32-bit word on both the
// read and the write side, so that a warp touches 128 bytes per row instead of 32 or 64. The host uses these only
// when every row start is 4-byte aligned (strides and base addresses multiples of K elements).
template <typename T, int K>
__device__ void transpose_tiles_batched_packed(const unsigned long long* __restrict__ pairs, long long rows,
                                               long long cols, long long dst_row_stride, long long src_col_stride) {
    const int W = TILE * K;
    __shared__ T tile[TILE * K][TILE * K + 2];
    T* dst = (T*) pairs[2 * blockIdx.z];
    const T* src = (const T*) pairs[2 * blockIdx.z + 1];
    long long r_base = (long long) blockIdx.x * W;
    long long c_base = (long long) blockIdx.y * W;
    for (int j = threadIdx.y; j < W; j += ROWS_PER_PASS) {
        long long r = r_base + (long long) threadIdx.x * K;
        long long c = c_base + j;
        if (c < cols) {
            if (r + K <= rows) {
                uint32_t word = *(const uint32_t*) (src + c * src_col_stride + r);
                #pragma unroll
                for (int k = 0; k < K; k++) {
                    tile[j][threadIdx.x * K + k] = (T) (word >> (8 * sizeof(T) * k));
                }
            } else {
                for (int k = 0; k < K && r + k < rows; k++) {
                    tile[j][threadIdx.x * K + k] = src[c * src_col_stride + r + k];
                }
            }
        }
    }
    __syncthreads();
    for (int j = threadIdx.y; j < W; j += ROWS_PER_PASS) {
        long long r = r_base + j;
        long long c = c_base + (long long) threadIdx.x * K;
        if (r < rows) {
            if (c + K <= cols) {
                uint32_t word = 0;
                #pragma unroll
                for (int k = 0; k < K; k++) {
                    word |= ((uint32_t) tile[threadIdx.x * K + k][j]) << (8 * sizeof(T) * k);
                }
                *(uint32_t*) (dst + r * dst_row_stride + c) = word;
            } else {
                for (int k = 0; k < K && c + k < cols; k++) {
                    dst[r * dst_row_stride + c + k] = tile[threadIdx.x * K + k][j];
                }
            }
        }
    }
}

extern "C" __global__ void transpose_tiles_batched_packed_1(const unsigned long long* pairs, long long rows, long long cols, long long dst_row_stride, long long src_col_stride) { transpose_tiles_batched_packed<uint8_t, 4>(pairs, rows, cols, dst_row_stride, src_col_stride); }
extern "C" __global__ void transpose_tiles_batched_packed_2(const unsigned long long* pairs, long long rows, long long cols, long long dst_row_stride, long long src_col_stride) { transpose_tiles_batched_packed<uint16_t, 2>(pairs, rows, cols, dst_row_stride, src_col_stride); }

// Batched 64×64 tiles moved with 16-byte accesses on both sides: each thread reads K = 16 / sizeof(T) consecutive
// elements of a source column and writes K consecutive elements of a destination row, the widest access a thread
// can make. Used when both tensors' rows are 16-byte aligned and the sizes are whole tiles (the real shapes of MoE
// layers: multiples of 64). The shared tile's pitch is padded to an odd number of 4-byte words so that gathering a
// column of it spreads over the banks.
#define WIDE_TILE 64
#define WIDE_THREADS 256

__device__ __forceinline__ void load16(const void* p, uint32_t (&w)[4]) {
    asm volatile("ld.global.nc.v4.u32 {%0, %1, %2, %3}, [%4];" : "=r"(w[0]), "=r"(w[1]), "=r"(w[2]), "=r"(w[3]) : "l"(p));
}

__device__ __forceinline__ void store16(void* p, const uint32_t (&w)[4]) {
    asm volatile("st.global.v4.u32 [%0], {%1, %2, %3, %4};" :: "l"(p), "r"(w[0]), "r"(w[1]), "r"(w[2]), "r"(w[3]) : "memory");
}

template <typename T, int TILES>
__device__ void transpose_tiles_batched_wide(const unsigned long long* __restrict__ pairs, long long dst_row_stride,
                                             long long src_col_stride) {
    constexpr int K = 16 / sizeof(T);
    constexpr int LANES_PER_LINE = WIDE_TILE / K;               // threads covering one 64-element line
    constexpr int LINES_PER_PASS = WIDE_THREADS / LANES_PER_LINE;
    constexpr int PASSES = WIDE_TILE / LINES_PER_PASS;
    constexpr int PITCH = WIDE_TILE + (sizeof(T) == 1 ? 4 : sizeof(T) == 2 ? 2 : 1);
    __shared__ T tile[TILES][WIDE_TILE][PITCH];
    T* dst = (T*) pairs[2 * blockIdx.z];
    const T* src = (const T*) pairs[2 * blockIdx.z + 1];
    const long long r_base = (long long) blockIdx.x * WIDE_TILE * TILES;
    const long long c_base = (long long) blockIdx.y * WIDE_TILE;
    const int lane = threadIdx.x % LANES_PER_LINE;
    const int line = threadIdx.x / LANES_PER_LINE;
    // Every load of the block's tiles is issued before any is used, so that many are in flight at once.
    uint32_t w[TILES][PASSES][4];
    #pragma unroll
    for (int t = 0; t < TILES; t++) {
        #pragma unroll
        for (int pass = 0; pass < PASSES; pass++) {
            int c = pass * LINES_PER_PASS + line;
            load16(src + (c_base + c) * src_col_stride + r_base + t * WIDE_TILE + lane * K, w[t][pass]);
        }
    }
    #pragma unroll
    for (int t = 0; t < TILES; t++) {
        #pragma unroll
        for (int pass = 0; pass < PASSES; pass++) {
            int c = pass * LINES_PER_PASS + line;
            #pragma unroll
            for (int j = 0; j < 4; j++) {
                if constexpr (sizeof(T) == 8) {
                    if (j % 2 == 1) {
                        tile[t][c][lane * K + j / 2] = (T) w[t][pass][j - 1] | ((T) w[t][pass][j] << 32);
                    }
                } else {
                    constexpr int PER_WORD = 4 / sizeof(T);
                    #pragma unroll
                    for (int k = 0; k < PER_WORD; k++) {
                        tile[t][c][lane * K + j * PER_WORD + k] = (T) (w[t][pass][j] >> (8 * sizeof(T) * k));
                    }
                }
            }
        }
    }
    __syncthreads();
    #pragma unroll
    for (int t = 0; t < TILES; t++) {
        #pragma unroll
        for (int pass = 0; pass < PASSES; pass++) {
            int r = pass * LINES_PER_PASS + line;
            // Assembled as four 32-bit words by shifts and stored by one explicit 16-byte store: through a uint4
            // pointer, nvcc splits this store into 4-byte pieces.
            uint32_t out[4];
            #pragma unroll
            for (int j = 0; j < 4; j++) {
                if constexpr (sizeof(T) == 8) {
                    unsigned long long x = tile[t][lane * K + j / 2][r];
                    out[j] = (uint32_t) (x >> (32 * (j % 2)));
                } else {
                    constexpr int PER_WORD = 4 / sizeof(T);
                    uint32_t word = 0;
                    #pragma unroll
                    for (int k = 0; k < PER_WORD; k++) {
                        word |= ((uint32_t) tile[t][lane * K + j * PER_WORD + k][r]) << (8 * sizeof(T) * k);
                    }
                    out[j] = word;
                }
            }
            store16(dst + (r_base + t * WIDE_TILE + r) * dst_row_stride + c_base + lane * K, out);
        }
    }
}

extern "C" __global__ void transpose_tiles_batched_wide_1(const unsigned long long* pairs, long long dst_row_stride, long long src_col_stride) { transpose_tiles_batched_wide<uint8_t, 1>(pairs, dst_row_stride, src_col_stride); }
extern "C" __global__ void transpose_tiles_batched_wide_2(const unsigned long long* pairs, long long dst_row_stride, long long src_col_stride) { transpose_tiles_batched_wide<uint16_t, 1>(pairs, dst_row_stride, src_col_stride); }
extern "C" __global__ void transpose_tiles_batched_wide_4(const unsigned long long* pairs, long long dst_row_stride, long long src_col_stride) { transpose_tiles_batched_wide<uint32_t, 1>(pairs, dst_row_stride, src_col_stride); }
extern "C" __global__ void transpose_tiles_batched_wide_8(const unsigned long long* pairs, long long dst_row_stride, long long src_col_stride) { transpose_tiles_batched_wide<uint64_t, 1>(pairs, dst_row_stride, src_col_stride); }
