package dev.moeshard.cli;

import dev.moeshard.convert.MoeConvert;
import java.io.PrintWriter;
import java.util.Arrays;
import picocli.AutoComplete;
import picocli.CommandLine;

/** Entry point: runs the picocli application and turns failures into one line on stderr and an exit code. */
public final class Main {
    private Main() {}

    public static void main(String[] args) {
        OutputMode.terminal = System.console() != null && System.console().isTerminal();
        // SIGINT and SIGTERM run shutdown hooks and exit with 130 and 143: the unfinished output goes with them, or,
        // for a worker or a resumable run, everything but its finished units.
        Runtime.getRuntime().addShutdownHook(new Thread(() -> MoeConvert.abandonUnfinishedOutputs().forEach(line ->
                System.err.println("moeshard: stopped before the end; " + line)), "moeshard-stop"));
        System.exit(run(args));
    }

    /** Runs the command line and returns its exit code (for tests). */
    public static int run(String... args) {
        return run(new PrintWriter(System.out, true), new PrintWriter(System.err, true), args);
    }

    /** Runs the command line with its output and errors going to {@code out} and {@code err}. */
    public static int run(PrintWriter out, PrintWriter err, String... args) {
        CommandLine cli = new CommandLine(new MoeshardCommand());
        cli.addSubcommand("generate-completion", new AutoComplete.GenerateCompletion());
        cli.getSubcommands().values().forEach(sub -> sub.getCommandSpec().usageMessage().exitCodeListHeading(
                "%nExit codes:%n").exitCodeList(ExitCode.DESCRIPTIONS));
        cli.getCommandSpec().usageMessage().exitCodeListHeading("%nExit codes:%n").exitCodeList(ExitCode.DESCRIPTIONS);
        cli.setOut(out);
        cli.setErr(err);
        cli.setExecutionExceptionHandler((e, commandLine, fullParseResult) -> {
            // --verbose belongs to the subcommand that failed: the full parse result is the top command's, which
            // never matches it.
            boolean verbose = commandLine.getParseResult().hasMatchedOption("--verbose");
            commandLine.getErr().println("moeshard: " + describe(e));
            if (verbose) {
                e.printStackTrace(commandLine.getErr());
            }
            return ExitCode.of(e);
        });
        try {
            return cli.execute(args);
        } catch (OutOfMemoryError | InternalError e) {
            // Errors pass picocli's handler: still one line and an exit code, the stack trace only when asked.
            err.println("moeshard: " + describe(e));
            if (Arrays.asList(args).contains("--verbose")) {
                e.printStackTrace(err);
            }
            err.flush();
            return ExitCode.IO_FAILURE;
        }
    }


    /**
     * The error's message, each line with its control characters shown escaped (a tensor name or path from the input
     * could otherwise move the cursor or forge a line), the lines of a problem list kept apart.
     */
    private static String describe(Throwable e) {
        String message = e.getMessage();
        if (message == null || message.isBlank()) {
            return e.getClass().getSimpleName();
        }
        if (e instanceof OutOfMemoryError) {
            return "out of memory (" + message + "); raise -Xmx through MOESHARD_JAVA_OPTS or use fewer --threads";
        }
        return String.join(System.lineSeparator(), message.lines().map(Text::escaped).toList());
    }
}
