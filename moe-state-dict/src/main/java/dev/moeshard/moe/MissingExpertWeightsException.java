package dev.moeshard.moe;

import java.util.List;

/** A checkpoint lacks expert weights that this rank needs; raised before any data moves. */
public final class MissingExpertWeightsException extends RuntimeException {
    private final List<String> missingKeys;

    public MissingExpertWeightsException(String message, List<String> missingKeys) {
        super(message);
        this.missingKeys = List.copyOf(missingKeys);
    }

    /** Every missing key, not only the few the message names. */
    public List<String> missingKeys() {
        return missingKeys;
    }
}
