package dev.moeshard.cli;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.module.SimpleModule;
import com.fasterxml.jackson.databind.ser.std.ToStringSerializer;
import dev.moeshard.convert.ConversionReport;
import dev.moeshard.convert.ProgressListener;
import dev.moeshard.convert.UnitsReport;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.function.Function;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code --json} and {@code --quiet}, on every command, and what follows from them: progress on stderr (a bar on a
 * terminal, lines elsewhere, nothing when quiet) and the summary as text or, with {@code --json}, as JSON on stdout.
 * Errors still go to stderr as one line.
 */
final class OutputMode {
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT)
            .registerModule(new SimpleModule().addSerializer(Path.class, ToStringSerializer.instance));

    /** Whether stderr is a terminal, for a bar; set by {@link Main#main} only, so tests and pipes get lines. */
    static volatile boolean terminal;

    @Option(names = "--json", description = "Print the summary as JSON on stdout.")
    boolean json;

    @Option(names = "--quiet", description = "Print no progress and no text summary; only errors (and --json's summary).")
    boolean quiet;

    @Spec(Spec.Target.MIXEE)
    CommandSpec spec;

    /** Runs a conversion with progress shown, then prints its summary; exit code 0. */
    int report(Function<ProgressListener, ConversionReport> job) {
        ConversionReport report;
        try (Progress progress = Progress.create(err(), quiet, terminal)) {
            report = job.apply(progress);
            progress.line(String.format("done: %d tensors, %d bytes in %.2f s (%.2f GB/s) -> %s", report.tensors(),
                    report.bytes(), report.seconds(), report.bytesPerSecond() / 1e9, report.output()));
            report.decisions().forEach(d -> progress.line("  " + Text.escaped(d)));
        }
        if (json) {
            printJson(report);
        }
        return ExitCode.OK;
    }

    /** Runs one worker's units with progress shown, then prints their summary; exit code 0. */
    int reportUnits(Function<ProgressListener, UnitsReport> job) {
        UnitsReport report;
        try (Progress progress = Progress.create(err(), quiet, terminal)) {
            report = job.apply(progress);
            progress.line(String.format("done: %d units, %d bytes in %.2f s -> %s", report.ran().size(),
                    report.bytes(), report.seconds(), report.staging()));
        }
        if (json) {
            printJson(report);
        }
        return ExitCode.OK;
    }

    /** Prints {@code value} as JSON on stdout. */
    void printJson(Object value) {
        try {
            PrintWriter out = out();
            out.println(JSON.writeValueAsString(value));
            out.flush();
        } catch (JsonProcessingException e) {
            throw new UncheckedIOException("cannot write the summary as JSON: " + e.getMessage(), e);
        }
    }

    PrintWriter out() {
        return spec.commandLine().getOut();
    }

    PrintWriter err() {
        return spec.commandLine().getErr();
    }
}
