package dev.moeshard.cli;

/**
 * The command line asks for something that cannot be done (an OUTPUT that exists without --force, an ep-rank not
 * below ep-size); found by a command after picocli accepted the options, so it maps to exit code 2 by hand.
 */
final class UsageException extends RuntimeException {
    UsageException(String message) {
        super(message);
    }
}
