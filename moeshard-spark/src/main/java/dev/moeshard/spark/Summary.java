package dev.moeshard.spark;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.module.SimpleModule;
import com.fasterxml.jackson.databind.ser.std.ToStringSerializer;
import dev.moeshard.convert.ConversionReport;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * What the driver prints when the job is done, on stderr: a line for each unit that did not go plainly (retried, or
 * found done by an earlier attempt or submission), a count of the units, then the moeshard command's summary line and
 * decisions; with {@code --json}, the command's JSON summary on stdout, so that scripts read both the same way. A job
 * of a 2 TB checkpoint has thousands of units, so the plain ones are only counted.
 */
final class Summary {
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT)
            .registerModule(new SimpleModule().addSerializer(Path.class, ToStringSerializer.instance));

    private Summary() {}

    static void print(ConversionReport report, List<UnitOutcome> units, JobArguments job, PrintWriter out,
                      PrintWriter err) {
        if (!job.quiet()) {
            for (UnitOutcome u : units) {
                if (u.ran() && u.attempt() == 0) {
                    continue;
                }
                err.println(String.format("unit %s: %s on executor %s (attempt %d), %d bytes in %.2f s",
                        Lines.escaped(u.unit()), u.ran() ? "written" : "done already", u.executor(), u.attempt() + 1,
                        u.bytes(), u.seconds()));
            }
            Set<String> executors = units.stream().map(UnitOutcome::executor).collect(Collectors.toSet());
            long written = units.stream().filter(UnitOutcome::ran).count();
            long retried = units.stream().filter(u -> u.attempt() > 0).count();
            err.println(String.format("units: %d written, %d done already, %d retried, on %d executor%s", written,
                    units.size() - written, retried, executors.size(), executors.size() == 1 ? "" : "s"));
            err.println(String.format("done: %d tensors, %d bytes in %.2f s (%.2f GB/s) -> %s", report.tensors(),
                    report.bytes(), report.seconds(), report.bytesPerSecond() / 1e9, report.output()));
            report.decisions().forEach(d -> err.println("  " + Lines.escaped(d)));
            err.flush();
        }
        if (job.json()) {
            try {
                out.println(JSON.writeValueAsString(report));
                out.flush();
            } catch (JsonProcessingException e) {
                throw new UncheckedIOException("cannot write the summary as JSON: " + e.getMessage(), e);
            }
        }
    }
}
