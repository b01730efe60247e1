package dev.moeshard.cli;

/** A device the command line asked for (CUDA) is not there; exit code 5, so scripts can fall back to the CPU. */
final class DeviceMissingException extends RuntimeException {
    DeviceMissingException(String message) {
        super(message);
    }
}
