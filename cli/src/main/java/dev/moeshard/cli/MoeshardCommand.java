package dev.moeshard.cli;

import picocli.CommandLine.Command;

/** The top-level {@code moeshard} command; the work is in its subcommands. */
@Command(name = "moeshard",
        mixinStandardHelpOptions = true,
        versionProvider = Version.class,
        description = "Converts Mixture-of-Experts checkpoints between per-expert and grouped-expert layouts.",
        subcommands = {ToGroupedCommand.class, ToHfCommand.class, FinalizeCommand.class, VerifyCommand.class, InspectCommand.class, DemoCommand.class, BenchCommand.class})
final class MoeshardCommand {
}
