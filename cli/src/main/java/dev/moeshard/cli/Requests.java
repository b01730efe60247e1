package dev.moeshard.cli;

import dev.moeshard.convert.ConversionRequest;
import dev.moeshard.convert.UsageException;
import java.util.Arrays;
import picocli.CommandLine;

/**
 * The request that {@code to-grouped ...} or {@code to-hf ...} arguments describe, read exactly as the command line
 * reads them: for launchers that run the library themselves (the Spark job) and take the same arguments.
 */
public final class Requests {
    private Requests() {}

    /**
     * The request of {@code args}: {@code to-grouped INPUT OUTPUT [options]} or {@code to-hf INPUT... OUTPUT
     * [options]}, with the options of those commands.
     *
     * @throws UsageException for arguments the command would refuse
     */
    public static ConversionRequest parse(String... args) {
        if (args.length == 0) {
            throw new UsageException("give to-grouped INPUT OUTPUT [options] or to-hf INPUT... OUTPUT [options]");
        }
        String[] rest = Arrays.copyOfRange(args, 1, args.length);
        return switch (args[0]) {
            case "to-grouped" -> parsed(new ToGroupedCommand(), rest).request();
            case "to-hf" -> parsed(new ToHfCommand(), rest).request();
            default -> throw new UsageException("'" + args[0] + "': the job is to-grouped or to-hf");
        };
    }

    private static <T> T parsed(T command, String[] args) {
        try {
            new CommandLine(command).parseArgs(args);
        } catch (CommandLine.ParameterException e) {
            throw new UsageException(e.getMessage());
        }
        return command;
    }
}
