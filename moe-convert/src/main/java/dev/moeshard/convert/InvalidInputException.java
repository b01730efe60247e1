package dev.moeshard.convert;

import java.util.List;

/**
 * The input cannot be converted as asked; carries every problem found, not only the first, so that a user fixes them
 * all in one go. Raised by the plan, before anything is written; the command line maps it to exit code 3.
 */
public final class InvalidInputException extends RuntimeException {
    private final String source;
    private final List<String> problems;

    /** {@code source}: the file or directory the problems are in; each problem names the key and what was found. */
    public InvalidInputException(String source, List<String> problems) {
        super(describe(source, problems));
        this.source = source;
        this.problems = List.copyOf(problems);
    }

    /** The most problems the message lists; {@link #problems()} has them all. */
    static final int LISTED = 50;

    // One problem fits the one line an error gets; several are listed below it, one a line, so that all are seen,
    // up to LISTED: a hostile input can have problems by the million, and a terminal needs the first few.
    private static String describe(String what, List<String> problems) {
        if (problems.size() == 1) {
            return what + ": nothing written: " + problems.getFirst();
        }
        String listed = String.join(System.lineSeparator() + "  ", problems.subList(0, Math.min(LISTED, problems.size())));
        String more = problems.size() > LISTED
                ? System.lineSeparator() + "  ... and " + (problems.size() - LISTED) + " more" : "";
        return what + ": " + problems.size() + " problems, nothing written:" + System.lineSeparator() + "  " + listed + more;
    }

    /** The file or directory the problems were found in (several, comma-separated, for the ranks of one run). */
    public String source() {
        return source;
    }

    /** Every problem, each a sentence naming the tensor or file, what was expected and what was found. */
    public List<String> problems() {
        return problems;
    }
}
