package dev.moeshard.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.SymbolLookup;
import java.util.ArrayList;
import java.util.List;

/**
 * Finds libcudart: the path in the system property {@value #PATH_PROPERTY} or the environment variable
 * {@value #PATH_ENV} when set, else the dynamic linker's search for the usual sonames, newest first.
 */
final class CudaLibraryLocator {
    /** A full path to a libcudart to use instead of the linker's search. */
    static final String PATH_PROPERTY = "moeshard.cuda.library";
    static final String PATH_ENV = "MOESHARD_CUDART";
    private static final List<String> SONAMES = List.of("libcudart.so", "libcudart.so.13", "libcudart.so.12");

    record Found(SymbolLookup lookup, String name) {}

    /** The library found, or null; every failed attempt is added to {@code reasons}. */
    static Found locate(List<String> reasons) {
        List<String> candidates = new ArrayList<>();
        String explicit = System.getProperty(PATH_PROPERTY, System.getenv(PATH_ENV));
        if (explicit != null && !explicit.isBlank()) {
            candidates.add(explicit);
        } else {
            candidates.addAll(SONAMES);
        }
        List<String> failures = new ArrayList<>();
        for (String candidate : candidates) {
            try {
                return new Found(SymbolLookup.libraryLookup(candidate, Arena.global()), candidate);
            } catch (IllegalArgumentException e) {
                failures.add(candidate);
            }
        }
        reasons.add("no libcudart could be loaded (tried " + String.join(", ", failures)
                + "; set -D" + PATH_PROPERTY + "=/path/to/libcudart.so or " + PATH_ENV + ")");
        return null;
    }

    private CudaLibraryLocator() {}
}
