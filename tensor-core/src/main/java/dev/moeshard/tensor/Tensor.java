package dev.moeshard.tensor;

import dev.moeshard.tensor.copy.CopyEngine;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * A strided view of elements in a {@link MemorySegment}: dtype, sizes, strides and an element offset, all in elements.
 *
 * <p>Every view ({@link #select}, {@link #narrow}, {@link #slice}, {@link #transpose}, {@link #permute},
 * {@link #view}, {@link #unsqueeze}, {@link #squeeze}, {@link #expand}) shares the storage and copies nothing.
 * Data moves only through {@link #copyFrom(Tensor)}; {@link #contiguous()}, {@link #to(DType)},
 * {@link #reshape} and the {@link TensorOps} helpers are built on it. Strides may be zero (expanded dimensions)
 * but never negative.
 *
 * <p>Tensors of sub-byte dtypes (F4, F6) exist only as whole contiguous tensors: they can be read, written and copied
 * to a tensor of the same dtype and shape, but not viewed with strides.
 */
public final class Tensor {
    private final MemorySegment storage;
    private final DType dtype;
    private final long offset;
    private final long[] sizes;
    private final long[] strides;
    private final Device device;

    private Tensor(MemorySegment storage, DType dtype, long offset, long[] sizes, long[] strides, Device device) {
        this.storage = storage;
        this.dtype = dtype;
        this.offset = offset;
        this.sizes = sizes;
        this.strides = strides;
        this.device = device;
    }

    // ------------------------------------------------------------------------------------------------ creation

    /** A zero-filled contiguous tensor in memory owned by {@code arena}. */
    public static Tensor allocate(Arena arena, DType dtype, long... sizes) {
        long[] checked = Shapes.checkSizes(sizes);
        long bytes = dtype.storageBytes(Shapes.numel(checked));
        MemorySegment segment = arena.allocate(Math.max(bytes, 1), 64).asSlice(0, bytes);
        return new Tensor(segment, dtype, 0, checked, Shapes.contiguousStrides(checked), Device.CPU);
    }

    /** A zero-filled contiguous tensor whose memory is freed when it is no longer reachable. */
    public static Tensor allocate(DType dtype, long... sizes) {
        return allocate(Arena.ofAuto(), dtype, sizes);
    }

    /**
     * A contiguous tensor on {@code device}, freed when no view of it is reachable any more. Host memory is
     * zero-filled; device memory is not initialised.
     *
     * @throws dev.moeshard.cuda.CudaUnavailableException for a CUDA device where CUDA cannot be used, with the reasons
     */
    public static Tensor allocate(Device device, DType dtype, long... sizes) {
        return allocate(Arena.ofAuto(), device, dtype, sizes);
    }

    /**
     * A contiguous tensor on {@code device} in memory freed when {@code arena} closes. Host memory is zero-filled;
     * device memory is not initialised.
     *
     * @throws dev.moeshard.cuda.CudaUnavailableException for a CUDA device where CUDA cannot be used, with the reasons
     */
    public static Tensor allocate(Arena arena, Device device, DType dtype, long... sizes) {
        if (device.isCpu()) {
            return allocate(arena, dtype, sizes);
        }
        long[] checked = Shapes.checkSizes(sizes);
        MemorySegment memory = DeviceCopiesLookup.provider().allocate(device, dtype.storageBytes(Shapes.numel(checked)),
                arena);
        return new Tensor(memory, dtype, 0, checked, Shapes.contiguousStrides(checked), device);
    }

    /**
     * A contiguous tensor over device memory the caller owns (for example a {@link dev.moeshard.cuda.DeviceBuffer}),
     * which must hold exactly the shape's bytes.
     */
    public static Tensor wrapDevice(MemorySegment deviceMemory, Device device, DType dtype, long... sizes) {
        Tensor host = wrap(deviceMemory, dtype, sizes);
        return new Tensor(deviceMemory, dtype, 0, host.sizes, host.strides, device);
    }

    /**
     * A contiguous tensor over exactly the bytes of {@code segment} (no copy).
     *
     * @throws IllegalArgumentException if the segment's size is not that of the shape
     */
    public static Tensor wrap(MemorySegment segment, DType dtype, long... sizes) {
        long[] checked = Shapes.checkSizes(sizes);
        long bytes = dtype.storageBytes(Shapes.numel(checked));
        if (segment.byteSize() != bytes) {
            throw new IllegalArgumentException("a " + dtype + " tensor of shape " + Shapes.format(checked) + " needs "
                    + bytes + " bytes, the segment has " + segment.byteSize());
        }
        return new Tensor(segment, dtype, 0, checked, Shapes.contiguousStrides(checked), Device.CPU);
    }

    /**
     * A strided view over {@code storage}: sizes, strides and offset in elements.
     *
     * @throws IllegalArgumentException if an element of the view would lie outside the storage
     */
    public static Tensor strided(MemorySegment storage, DType dtype, long offset, long[] sizes, long[] strides) {
        return stridedOn(Device.CPU, storage, dtype, offset, sizes, strides);
    }

    /** Another view of this tensor's storage (same dtype and device): sizes, strides and offset in elements. */
    public Tensor asStrided(long newOffset, long[] newSizes, long[] newStrides) {
        return stridedOn(device, storage, dtype, newOffset, newSizes, newStrides);
    }

    private static Tensor stridedOn(Device device, MemorySegment storage, DType dtype, long offset, long[] sizes,
                                    long[] strides) {
        requireByteAligned(dtype, "a strided view");
        long[] checkedSizes = Shapes.checkSizes(sizes);
        if (strides.length != sizes.length) {
            throw new IllegalArgumentException("shape " + Shapes.format(sizes) + " has " + sizes.length
                    + " dimensions but " + strides.length + " strides were given");
        }
        for (long s : strides) {
            if (s < 0) {
                throw new IllegalArgumentException("negative stride in " + Arrays.toString(strides));
            }
        }
        Tensor t = new Tensor(storage, dtype, offset, checkedSizes, strides.clone(), device);
        t.checkInBounds();
        return t;
    }

    private void checkInBounds() {
        if (offset < 0) {
            throw new IllegalArgumentException("negative offset " + offset);
        }
        if (numel() == 0) {
            return;
        }
        long last = offset;
        for (int d = 0; d < sizes.length; d++) {
            last = Math.addExact(last, Math.multiplyExact(sizes[d] - 1, strides[d]));
        }
        long endByte = Math.multiplyExact(last + 1, (long) dtype.byteSize());
        if (endByte > storage.byteSize()) {
            throw new IllegalArgumentException("view of shape " + Shapes.format(sizes) + " with strides "
                    + Arrays.toString(strides) + " at offset " + offset + " reaches byte " + endByte
                    + " of a " + storage.byteSize() + "-byte storage");
        }
    }

    // ------------------------------------------------------------------------------------------------ properties

    /**
     * The memory the elements lie in. For a CUDA tensor it holds a device address, which the host must not read or
     * write through.
     */
    public MemorySegment storage() { return storage; }

    /** Where the elements live. */
    public Device device() { return device; }

    public DType dtype() { return dtype; }

    /** Offset of the first element in the storage, in elements. */
    public long offset() { return offset; }

    public int dim() { return sizes.length; }

    public long[] sizes() { return sizes.clone(); }

    public long size(int dim) { return sizes[checkDim(dim, sizes.length)]; }

    /** Strides in elements. */
    public long[] strides() { return strides.clone(); }

    public long stride(int dim) { return strides[checkDim(dim, sizes.length)]; }

    public long numel() { return Shapes.numel(sizes); }

    /** Bytes the elements of this tensor occupy when contiguous. */
    public long byteSize() { return dtype.storageBytes(numel()); }

    /** Offset of the first element in the storage, in bytes. */
    public long byteOffset() {
        return dtype.isByteAligned() ? offset * dtype.byteSize() : 0;
    }

    /**
     * True when the elements lie in row-major order with no gaps (size-1 dimensions may have any stride).
     * An empty tensor is contiguous whatever its strides.
     */
    public boolean isContiguous() {
        if (numel() == 0) {
            return true;
        }
        long expected = 1;
        for (int d = sizes.length - 1; d >= 0; d--) {
            if (sizes[d] == 1) {
                continue;
            }
            if (strides[d] != expected) {
                return false;
            }
            expected *= sizes[d];
        }
        return true;
    }

    /**
     * The bytes of a contiguous tensor, as a slice of its storage (no copy).
     *
     * @throws IllegalStateException if the tensor is not contiguous
     */
    public MemorySegment segment() {
        requireHost("segment()");
        if (!isContiguous()) {
            throw new IllegalStateException("tensor of shape " + Shapes.format(sizes) + " with strides "
                    + Arrays.toString(strides) + " is not contiguous; call contiguous() first");
        }
        long bytes = byteSize();
        // The offset of an empty view is arbitrary (select() on an empty tensor moves it) and may lie past the end.
        return storage.asSlice(bytes == 0 ? 0 : byteOffset(), bytes);
    }

    // ------------------------------------------------------------------------------------------------ whose view

    /**
     * True when this tensor and {@code other} lie in the same storage on the same device, whatever their offsets,
     * shapes and strides: the same segment, from the same first byte to the same last. Tensors wrapped over two
     * different slices of one mapping do not share storage, even where the slices overlap; two allocations of equal
     * size never do.
     */
    public boolean sharesStorageWith(Tensor other) {
        // MemorySegment.equals compares where a segment starts (its address, and the array of a heap segment) but
        // not its length.
        return device.equals(other.device) && storage.equals(other.storage)
                && storage.byteSize() == other.storage.byteSize();
    }

    /**
     * True when this tensor is a view of {@code base}: it {@linkplain #sharesStorageWith shares base's storage}, has
     * base's dtype, and every element of it lies between base's first element and base's last. For a base with gaps
     * (a stepped slice, a narrowed row) that span includes the gaps, so a tensor lying in them counts too; for a
     * contiguous base it is exactly base's elements. An empty tensor of the same storage and dtype is a view of any
     * base, wherever its offset: it has no element to lie outside. Every tensor is a view of itself.
     */
    public boolean isViewOf(Tensor base) {
        if (!sharesStorageWith(base) || dtype != base.dtype) {
            return false;
        }
        if (numel() == 0) {
            return true;
        }
        return base.numel() > 0 && offset >= base.offset && lastElement() <= base.lastElement();
    }

    /**
     * Where this view lies within {@code base}: the offset of its first element from base's first element, in
     * elements ({@code offset() - base.offset()}). With strides never negative, a tensor's first element is also the
     * lowest it reaches, so the result is never negative for a view that has elements.
     *
     * @throws IllegalArgumentException naming both tensors when this is not a {@linkplain #isViewOf view of} base
     */
    public long offsetWithin(Tensor base) {
        if (!isViewOf(base)) {
            throw new IllegalArgumentException(this + " is not a view of " + base + (sharesStorageWith(base)
                    ? ": it lies outside it or has another dtype" : ": they lie in different storage"));
        }
        return offset - base.offset;
    }

    /**
     * This view of {@code base}, taken of {@code twin} instead: the same sizes and strides, at the same element offset
     * from twin's first element as this has from base's, in twin's storage and on twin's device. For a layout built in
     * one place and used in another, such as a view of a host tensor taken of the device copy it is built in.
     *
     * @throws IllegalArgumentException when this is not a view of base, when twin's dtype is not base's, or when the
     *     view would reach outside twin's storage
     */
    public Tensor rebase(Tensor base, Tensor twin) {
        long within = offsetWithin(base);
        if (twin.dtype != base.dtype) {
            throw new IllegalArgumentException("cannot take a view of " + base + " of " + twin
                    + ": element offsets mean different bytes in another dtype");
        }
        return twin.asStrided(twin.offset + within, sizes, strides);
    }

    /**
     * The bytes from this tensor's first element to just past its last, gaps included: the run of its storage that a
     * copy of it touches, starting at {@link #byteOffset()}. 0 for an empty tensor.
     */
    public long byteSpan() {
        requireByteAligned(dtype, "a byte span");
        return numel() == 0 ? 0 : (lastElement() - offset + 1) * dtype.byteSize();
    }

    /** The offset of the last element this tensor reaches, which is its highest (no stride is negative); numel() > 0. */
    private long lastElement() {
        long last = offset;
        for (int d = 0; d < sizes.length; d++) {
            last += (sizes[d] - 1) * strides[d];
        }
        return last;
    }

    // ------------------------------------------------------------------------------------------------ views

    /** Drops dimension {@code dim}, keeping index {@code index} of it. */
    public Tensor select(int dim, long index) {
        int d = checkDimForView(dim);
        checkIndex(d, index);
        return new Tensor(storage, dtype, offset + index * strides[d], remove(sizes, d), remove(strides, d), device);
    }

    /** Keeps {@code length} indices of {@code dim} starting at {@code start}. */
    public Tensor narrow(int dim, long start, long length) {
        return slice(dim, start, start + length, 1);
    }

    /** Keeps indices {@code start, start+step, ...} below {@code end} of dimension {@code dim}. */
    public Tensor slice(int dim, long start, long end, long step) {
        int d = checkDimForView(dim);
        if (step <= 0) {
            throw new IllegalArgumentException("slice step must be positive, got " + step + " for shape " + Shapes.format(sizes));
        }
        if (start < 0 || end < start || end > sizes[d]) {
            throw new IllegalArgumentException("slice [" + start + ", " + end + ") is outside dimension " + d
                    + " of size " + sizes[d] + " in shape " + Shapes.format(sizes));
        }
        long[] newSizes = sizes.clone();
        long[] newStrides = strides.clone();
        // (end - start + step - 1) / step would overflow for a step near Long.MAX_VALUE.
        newSizes[d] = end == start ? 0 : (end - start - 1) / step + 1;
        // The stride of a dimension of size 0 or 1 is never used: keep it rather than overflow it.
        newStrides[d] = newSizes[d] > 1 ? Math.multiplyExact(strides[d], step) : strides[d];
        long newOffset = newSizes[d] == 0 ? offset : offset + start * strides[d];
        return new Tensor(storage, dtype, newOffset, newSizes, newStrides, device);
    }

    /** Swaps two dimensions. */
    public Tensor transpose(int dim0, int dim1) {
        int a = checkDimForView(dim0);
        int b = checkDim(dim1, sizes.length);
        long[] newSizes = sizes.clone();
        long[] newStrides = strides.clone();
        newSizes[a] = sizes[b];
        newSizes[b] = sizes[a];
        newStrides[a] = strides[b];
        newStrides[b] = strides[a];
        return new Tensor(storage, dtype, offset, newSizes, newStrides, device);
    }

    /** The transpose of a 2-d tensor. */
    public Tensor t() {
        if (sizes.length != 2) {
            throw new IllegalArgumentException("t() needs a 2-d tensor, got shape " + Shapes.format(sizes));
        }
        return transpose(0, 1);
    }

    /** Reorders the dimensions: dimension {@code i} of the result is dimension {@code order[i]} of this tensor. */
    public Tensor permute(int... order) {
        requireByteAligned(dtype, "permute");
        if (order.length != sizes.length) {
            throw new IllegalArgumentException("permute order " + Arrays.toString(order) + " does not match shape "
                    + Shapes.format(sizes));
        }
        boolean[] seen = new boolean[order.length];
        long[] newSizes = new long[order.length];
        long[] newStrides = new long[order.length];
        for (int i = 0; i < order.length; i++) {
            int d = checkDim(order[i], sizes.length);
            if (seen[d]) {
                throw new IllegalArgumentException("permute order " + Arrays.toString(order) + " repeats dimension " + d
                        + " (shape " + Shapes.format(sizes) + ")");
            }
            seen[d] = true;
            newSizes[i] = sizes[d];
            newStrides[i] = strides[d];
        }
        return new Tensor(storage, dtype, offset, newSizes, newStrides, device);
    }

    /**
     * The same elements under another shape, without copying. One size may be -1 and is inferred.
     *
     * @throws IllegalArgumentException if the element counts differ, or the strides make a copy unavoidable
     *     (use {@link #reshape} then)
     */
    public Tensor view(long... newShape) {
        long[] target = inferShape(newShape);
        long[] newStrides = ViewStrides.compute(sizes, strides, target);
        if (newStrides == null) {
            throw new IllegalArgumentException("cannot view shape " + Shapes.format(sizes) + " with strides "
                    + Arrays.toString(strides) + " as " + Shapes.format(target)
                    + " without copying; use reshape() or contiguous() first");
        }
        return new Tensor(storage, dtype, offset, target, newStrides, device);
    }

    /**
     * Like {@link #view}, but copies into a new contiguous tensor when the strides forbid a view.
     * Whether it copied can be told by {@code result.storage() != this.storage()}.
     */
    public Tensor reshape(long... newShape) {
        long[] target = inferShape(newShape);
        long[] newStrides = dtype.isByteAligned() ? ViewStrides.compute(sizes, strides, target) : null;
        if (newStrides != null) {
            return new Tensor(storage, dtype, offset, target, newStrides, device);
        }
        if (!dtype.isByteAligned() && isContiguous()) {
            return new Tensor(storage, dtype, offset, target, Shapes.contiguousStrides(target), device);
        }
        return contiguousCopy().view(target);
    }

    /** Inserts a dimension of size 1 at {@code dim} (0 ≤ dim ≤ dim()). */
    public Tensor unsqueeze(int dim) {
        requireByteAligned(dtype, "unsqueeze");
        int d = checkDim(dim, sizes.length + 1);
        long innerExtent = d < sizes.length ? strides[d] * sizes[d] : 1;
        return new Tensor(storage, dtype, offset, insert(sizes, d, 1), insert(strides, d, Math.max(innerExtent, 1)), device);
    }

    /** Removes every dimension of size 1. */
    public Tensor squeeze() {
        requireByteAligned(dtype, "squeeze");
        int kept = 0;
        for (long s : sizes) {
            if (s != 1) {
                kept++;
            }
        }
        long[] newSizes = new long[kept];
        long[] newStrides = new long[kept];
        for (int d = 0, k = 0; d < sizes.length; d++) {
            if (sizes[d] != 1) {
                newSizes[k] = sizes[d];
                newStrides[k++] = strides[d];
            }
        }
        return new Tensor(storage, dtype, offset, newSizes, newStrides, device);
    }

    /** Removes dimension {@code dim}, which must have size 1. */
    public Tensor squeeze(int dim) {
        int d = checkDimForView(dim);
        if (sizes[d] != 1) {
            throw new IllegalArgumentException("cannot squeeze dimension " + d + " of size " + sizes[d] + " in shape "
                    + Shapes.format(sizes));
        }
        return new Tensor(storage, dtype, offset, remove(sizes, d), remove(strides, d), device);
    }

    /**
     * Repeats size-1 dimensions to larger sizes with stride 0; new leading dimensions may be added.
     * -1 keeps a size. The result must not be written to where it repeats elements.
     */
    public Tensor expand(long... newSizes) {
        requireByteAligned(dtype, "expand");
        if (newSizes.length < sizes.length) {
            throw new IllegalArgumentException("cannot expand shape " + Shapes.format(sizes) + " to fewer dimensions "
                    + Shapes.format(newSizes));
        }
        int lead = newSizes.length - sizes.length;
        long[] outSizes = new long[newSizes.length];
        long[] outStrides = new long[newSizes.length];
        for (int i = 0; i < newSizes.length; i++) {
            int d = i - lead;
            long want = newSizes[i];
            if (d < 0) {
                if (want < 0) {
                    throw new IllegalArgumentException("-1 is not allowed for new leading dimension " + i
                            + " when expanding " + Shapes.format(sizes) + " to " + Shapes.format(newSizes));
                }
                outSizes[i] = want;
                outStrides[i] = 0;
            } else if (want == -1 || want == sizes[d]) {
                outSizes[i] = sizes[d];
                outStrides[i] = strides[d];
            } else if (sizes[d] == 1 && want >= 0) {
                outSizes[i] = want;
                outStrides[i] = 0;
            } else {
                throw new IllegalArgumentException("cannot expand dimension " + d + " of size " + sizes[d] + " to "
                        + want + " (shape " + Shapes.format(sizes) + " to " + Shapes.format(newSizes) + ")");
            }
        }
        return new Tensor(storage, dtype, offset, Shapes.checkSizes(outSizes), outStrides, device);
    }

    // ------------------------------------------------------------------------------------------------ data movement

    /**
     * Copies {@code src} into this tensor element by element, converting the dtype when the two differ.
     * Shapes must be equal. Returns this tensor.
     */
    public Tensor copyFrom(Tensor src) {
        if (device.isCpu() && src.device.isCpu()) {
            CopyEngine.shared().copy(this, src);
        } else {
            DeviceCopiesLookup.provider().copy(this, src);
        }
        return this;
    }

    /** This tensor if it is contiguous, else a contiguous copy. */
    public Tensor contiguous() {
        return isContiguous() ? this : contiguousCopy();
    }

    /** A new contiguous copy on the same device, always. */
    public Tensor contiguousCopy() {
        return Tensor.allocate(device, dtype, sizes).copyFrom(this);
    }

    /** This tensor if it has {@code target} dtype, else a contiguous converted copy on the same device. */
    public Tensor to(DType target) {
        if (target == dtype) {
            return this;
        }
        return Tensor.allocate(device, target, sizes).copyFrom(this);
    }

    /** This tensor if it is on {@code target}, else a contiguous copy there. */
    public Tensor to(Device target) {
        if (target.equals(device)) {
            return this;
        }
        return Tensor.allocate(target, dtype, sizes).copyFrom(this);
    }

    // ------------------------------------------------------------------------------------------------ elements

    /** Byte offset of the element at {@code index} in the storage. */
    public long byteOffsetOf(long... index) {
        requireByteAligned(dtype, "element access");
        if (index.length != sizes.length) {
            throw new IllegalArgumentException("index " + Arrays.toString(index) + " does not match shape " + Shapes.format(sizes));
        }
        long element = offset;
        for (int d = 0; d < index.length; d++) {
            checkIndex(d, index[d]);
            element += index[d] * strides[d];
        }
        return element * dtype.byteSize();
    }

    /** The raw bits of one element, zero-extended to a long. */
    public long getBits(long... index) {
        requireHost("element access");
        return ElementAccess.readBits(storage, byteOffsetOf(index), dtype.byteSize());
    }

    /** Writes the raw bits of one element (the low bits of {@code bits}). */
    public void setBits(long bits, long... index) {
        requireHost("element access");
        ElementAccess.writeBits(storage, byteOffsetOf(index), dtype.byteSize(), bits);
    }

    /** The value of one element of an arithmetic dtype, exactly. */
    public double getDouble(long... index) {
        return FloatFormat.require(dtype).decode(getBits(index));
    }

    /** Writes one element of an arithmetic dtype, rounding to nearest even. */
    public void setDouble(double value, long... index) {
        setBits(FloatFormat.require(dtype).encode(value), index);
    }

    @Override
    public String toString() {
        return "Tensor(" + dtype + Shapes.format(sizes) + ", strides " + Arrays.toString(strides) + ", offset " + offset
                + (device.isCpu() ? "" : ", " + device) + ")";
    }

    // ------------------------------------------------------------------------------------------------ helpers

    private int checkDimForView(int dim) {
        requireByteAligned(dtype, "a strided view");
        return checkDim(dim, sizes.length);
    }

    private int checkDim(int dim, int rank) {
        int d = dim < 0 ? dim + rank : dim;
        if (d < 0 || d >= rank) {
            throw new IllegalArgumentException("dimension " + dim + " is out of range for shape " + Shapes.format(sizes));
        }
        return d;
    }

    private void checkIndex(int d, long index) {
        if (index < 0 || index >= sizes[d]) {
            throw new IndexOutOfBoundsException("index " + index + " is out of range for dimension " + d + " of size "
                    + sizes[d] + " in shape " + Shapes.format(sizes));
        }
    }

    private long[] inferShape(long[] shape) {
        long known = 1;
        int inferred = -1;
        for (int i = 0; i < shape.length; i++) {
            if (shape[i] == -1) {
                if (inferred >= 0) {
                    throw new IllegalArgumentException("only one size may be -1 in " + Shapes.format(shape)
                            + " (shape " + Shapes.format(sizes) + ")");
                }
                inferred = i;
            } else if (shape[i] < 0) {
                throw new IllegalArgumentException("invalid size " + shape[i] + " in " + Shapes.format(shape)
                        + " (shape " + Shapes.format(sizes) + ")");
            } else {
                try {
                    known = Math.multiplyExact(known, shape[i]);
                } catch (ArithmeticException e) {
                    throw new IllegalArgumentException("shape " + Shapes.format(shape)
                            + " has more elements than a long can count (shape " + Shapes.format(sizes) + ")", e);
                }
            }
        }
        long[] target = shape.clone();
        long n = numel();
        if (inferred >= 0) {
            if (known == 0 || n % known != 0) {
                throw new IllegalArgumentException("shape " + Shapes.format(shape) + " is invalid for " + n
                        + " elements (shape " + Shapes.format(sizes) + ")");
            }
            target[inferred] = n / known;
        } else if (known != n) {
            throw new IllegalArgumentException("shape " + Shapes.format(shape) + " has " + known
                    + " elements, but shape " + Shapes.format(sizes) + " has " + n);
        }
        return target;
    }

    private void requireHost(String what) {
        if (!device.isCpu()) {
            throw new IllegalStateException("tensor " + Shapes.format(sizes) + " is on " + device + ": " + what
                    + " needs it on the host; use to(Device.CPU) first");
        }
    }

    static void requireByteAligned(DType dtype, String what) {
        if (!dtype.isByteAligned()) {
            throw new UnsupportedOperationException(dtype + " is " + dtype.bits()
                    + " bits wide: tensors of it support only whole contiguous copies, not " + what);
        }
    }

    private static long[] remove(long[] a, int i) {
        long[] out = new long[a.length - 1];
        System.arraycopy(a, 0, out, 0, i);
        System.arraycopy(a, i + 1, out, i, a.length - i - 1);
        return out;
    }

    private static long[] insert(long[] a, int i, long value) {
        long[] out = new long[a.length + 1];
        System.arraycopy(a, 0, out, 0, i);
        out[i] = value;
        System.arraycopy(a, i, out, i + 1, a.length - i);
        return out;
    }
}
