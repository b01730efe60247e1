package dev.moeshard.convert;

/**
 * A device the request named (CUDA) cannot be used here; the message says why. Never turned into a silent fall back
 * to the CPU: the command line maps it to exit code 5, so that scripts can choose to retry on the CPU.
 */
public final class DeviceMissingException extends RuntimeException {
    public DeviceMissingException(String message) {
        super(message);
    }
}
