package dev.moeshard.cli;

import picocli.CommandLine.Option;

/** {@code --verbose}: a stack trace after the one-line error. {@link Main} looks it up on the failing subcommand. */
final class VerboseOption {
    @Option(names = "--verbose", description = "Print a stack trace on failure.")
    boolean verbose;
}
