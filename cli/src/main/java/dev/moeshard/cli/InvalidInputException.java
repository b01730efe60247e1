package dev.moeshard.cli;

import java.util.List;

/**
 * The input cannot be converted as asked; carries every problem found, not only the first, so that a user fixes them
 * all in one go. Raised by the plan, before anything is written; exit code 3.
 */
final class InvalidInputException extends RuntimeException {
    private final List<String> problems;

    InvalidInputException(String what, List<String> problems) {
        super(describe(what, problems));
        this.problems = List.copyOf(problems);
    }

    // One problem fits the one line an error gets; several are listed below it, one a line, so that all are seen.
    private static String describe(String what, List<String> problems) {
        if (problems.size() == 1) {
            return what + ": nothing written: " + problems.getFirst();
        }
        return what + ": " + problems.size() + " problems, nothing written:" + System.lineSeparator() + "  "
                + String.join(System.lineSeparator() + "  ", problems);
    }

    List<String> problems() {
        return problems;
    }
}
