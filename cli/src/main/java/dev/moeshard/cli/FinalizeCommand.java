package dev.moeshard.cli;

import dev.moeshard.convert.MoeConvert;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Parameters;

/** {@code moeshard finalize OUTPUT}: finishes a conversion whose units workers wrote ({@code --unit}). */
@Command(name = "finalize", mixinStandardHelpOptions = true,
        description = "Finishes a conversion whose units were written by workers (to-grouped/to-hf --unit I/N, a Slurm "
                + "array, an Indexed Job, Spark): checks every unit done and intact, writes each checkpoint's index, "
                + "config and copied files, and moves OUTPUT into place. Harmless when run again.")
final class FinalizeCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "OUTPUT", description = "The output the workers wrote units of.")
    Path output;

    @Mixin
    OutputMode mode;

    @Mixin
    VerboseOption verbose;

    @Override
    public Integer call() {
        return mode.report(listener -> MoeConvert.finalizeOutput(output, listener));
    }
}
