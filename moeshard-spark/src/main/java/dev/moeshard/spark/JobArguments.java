package dev.moeshard.spark;

import dev.moeshard.cli.Requests;
import dev.moeshard.convert.ConversionRequest;
import dev.moeshard.convert.ToGroupedRequest;
import dev.moeshard.convert.ToHfRequest;
import dev.moeshard.convert.UsageException;
import java.nio.file.Path;
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
        return new JobArguments(words.getFirst(), absolute(request), json, quiet, verbose);
    }

    /**
     * {@code request} with every path absolute: the driver plans and records the request, executors in other working
     * directories (on other machines) read it back.
     */
    static ConversionRequest absolute(ConversionRequest request) {
        return switch (request) {
            case ToGroupedRequest g -> new ToGroupedRequest(absolute(g.input()), absolute(g.output()), g.ranks(),
                    g.dtype(), g.keepFp8(), g.layout(), g.inputLayout(), g.model(), g.numExperts(), g.lora(),
                    g.writing());
            case ToHfRequest h -> new ToHfRequest(h.inputs().stream().map(JobArguments::absolute).toList(),
                    absolute(h.output()), h.layout(), h.lora(), h.quantization(), h.writing());
        };
    }

    private static Path absolute(Path p) {
        return p.toAbsolutePath().normalize();
    }
}
