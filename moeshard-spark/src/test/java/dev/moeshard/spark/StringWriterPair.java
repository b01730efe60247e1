package dev.moeshard.spark;

import java.io.PrintWriter;
import java.io.StringWriter;

/** stdout and stderr of a driver run kept as text. */
final class StringWriterPair {
    private final StringWriter out = new StringWriter();
    private final StringWriter err = new StringWriter();

    PrintWriter out() {
        return new PrintWriter(out, true);
    }

    PrintWriter err() {
        return new PrintWriter(err, true);
    }

    String errText() {
        return err.toString();
    }
}
