package dev.moeshard.moe.parallel;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;

/**
 * A grid of ranks with named dimensions ({@code ep}, {@code ep_shard}, {@code dp_shard_cp}, ...), their sizes, and
 * the coordinate of this rank in the grid. It describes where one process sits; it moves no data.
 */
public record DeviceMesh(List<String> dimNames, int[] sizes, int[] coordinate) {

    public DeviceMesh {
        dimNames = List.copyOf(dimNames);
        sizes = sizes.clone();
        coordinate = coordinate.clone();
        if (dimNames.size() != sizes.length || sizes.length != coordinate.length) {
            throw new IllegalArgumentException("a mesh needs one size and one coordinate per dimension name: names "
                    + dimNames + ", sizes " + Arrays.toString(sizes) + ", coordinate " + Arrays.toString(coordinate));
        }
        if (new HashSet<>(dimNames).size() != dimNames.size()) {
            throw new IllegalArgumentException("mesh dimension names must be distinct, got " + dimNames);
        }
        for (int d = 0; d < sizes.length; d++) {
            if (sizes[d] <= 0 || coordinate[d] < 0 || coordinate[d] >= sizes[d]) {
                throw new IllegalArgumentException("mesh dimension '" + dimNames.get(d) + "' has size " + sizes[d]
                        + " and coordinate " + coordinate[d] + "; the coordinate must lie in [0, size)");
            }
        }
    }

    /** A one-dimensional mesh named {@code name} of {@code size} ranks, seen from {@code rank}. */
    public static DeviceMesh of1d(String name, int size, int rank) {
        return new DeviceMesh(List.of(name), new int[] {size}, new int[] {rank});
    }

    /** An expert-parallel mesh: one dimension named {@code ep}. */
    public static DeviceMesh expertParallel(int size, int rank) {
        return of1d("ep", size, rank);
    }

    public int ndim() {
        return sizes.length;
    }

    public boolean hasDim(String name) {
        return dimNames.contains(name);
    }

    public int indexOf(String name) {
        int i = dimNames.indexOf(name);
        if (i < 0) {
            throw new IllegalArgumentException("mesh has no dimension '" + name + "'; its dimensions are " + dimNames);
        }
        return i;
    }

    public int size(String name) {
        return sizes[indexOf(name)];
    }

    /** This rank's coordinate along dimension {@code name}. */
    public int localRank(String name) {
        return coordinate[indexOf(name)];
    }

    /** Number of ranks in the whole mesh. */
    public int size() {
        int n = 1;
        for (int s : sizes) {
            n *= s;
        }
        return n;
    }

    /** This rank's position in the mesh in row-major order (its rank in a mesh that starts at global rank 0). */
    public int rank() {
        int r = 0;
        for (int d = 0; d < sizes.length; d++) {
            r = r * sizes[d] + coordinate[d];
        }
        return r;
    }

    /** The sub-mesh over the named dimensions, in the order given, at this rank's coordinates. */
    public DeviceMesh submesh(List<String> names) {
        int[] subSizes = new int[names.size()];
        int[] subCoordinate = new int[names.size()];
        for (int i = 0; i < names.size(); i++) {
            int d = indexOf(names.get(i));
            subSizes[i] = sizes[d];
            subCoordinate[i] = coordinate[d];
        }
        return new DeviceMesh(names, subSizes, subCoordinate);
    }

    /** This mesh without dimension {@code index}. */
    public DeviceMesh without(int index) {
        List<String> names = new ArrayList<>(dimNames);
        names.remove(index);
        return submesh(names);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof DeviceMesh m && dimNames.equals(m.dimNames) && Arrays.equals(sizes, m.sizes)
                && Arrays.equals(coordinate, m.coordinate);
    }

    @Override
    public int hashCode() {
        return dimNames.hashCode() * 31 + Arrays.hashCode(sizes) * 17 + Arrays.hashCode(coordinate);
    }

    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder("DeviceMesh(");
        for (int d = 0; d < sizes.length; d++) {
            sb.append(d == 0 ? "" : ", ").append(dimNames.get(d)).append('=').append(coordinate[d]).append('/')
                    .append(sizes[d]);
        }
        return sb.append(')').toString();
    }
}
