package dev.moeshard.convert;

/**
 * A request asks for something that cannot be done whatever the input holds: an expert-parallel rank not below the
 * group size, an unknown family name, an output that exists while replacing it was not allowed. Raised before any
 * work; the command line maps it to exit code 2.
 */
public final class UsageException extends RuntimeException {
    public UsageException(String message) {
        super(message);
    }
}
