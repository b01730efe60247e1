package dev.moeshard.spark;

import dev.moeshard.cli.Requests;
import dev.moeshard.convert.ConversionRequest;
import dev.moeshard.convert.UsageException;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * The job's command line: {@code to-grouped IN OUT [options]} or {@code to-hf IN... OUT [options]}, exactly as the
 * moeshard command takes them ({@link Requests#parse}), {@code IN OUT [options]} meaning to-grouped; plus how the
 * driver reports ({@code --json}, {@code --quiet}, {@code --verbose}).
 *
 * @param command {@code to-grouped} or {@code to-hf}
 * @param request the conversion, its paths made absolute against the driver's working directory
 * @param json print the summary as JSON on stdout
 * @param quiet print no progress and no text summary
 * @param verbose print a stack trace with an error
 */
record JobArguments(String command, ConversionRequest request, boolean json, boolean quiet, boolean verbose) {
    static final String USAGE = "give [to-grouped] INPUT OUTPUT [options] or to-hf INPUT... OUTPUT [options], with "
            + "the options of the moeshard command";

    private static final Set<String> COMMANDS = Set.of("to-grouped", "to-hf");

    static JobArguments parse(String... args) {
        List<String> words = new ArrayList<>();
        boolean json = false;
        boolean quiet = false;
        boolean verbose = false;
        for (String a : args) {
            switch (a) {
                case "--json" -> json = true;
                case "--quiet" -> quiet = true;
                case "--verbose" -> verbose = true;
                case "--unit", "--units" -> throw new UsageException(a + " slices the units among workers started by "
                        + "hand or by a scheduler; the Spark job gives every unit to Spark");
                default -> words.add(a);
            }
            if (a.startsWith("--unit=") || a.startsWith("--units=")) {
                throw new UsageException("--unit and --units slice the units among workers started by hand or by a "
                        + "scheduler; the Spark job gives every unit to Spark");
            }
        }
        if (words.isEmpty()) {
            throw new UsageException(USAGE);
        }
        if (!COMMANDS.contains(words.getFirst())) {
            words.addFirst("to-grouped");
        }
        ConversionRequest request = Requests.parse(words.toArray(String[]::new));
        return new JobArguments(words.getFirst(), request.withAbsolutePaths(), json, quiet, verbose);
    }
}
