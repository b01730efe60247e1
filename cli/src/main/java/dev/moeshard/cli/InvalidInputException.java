package dev.moeshard.cli;

import java.util.List;

/**
 * The input cannot be converted as asked; carries every problem found, not only the first, so that a user fixes them
 * all in one go. Raised by the plan, before anything is written; exit code 3.
 */
final class InvalidInputException extends RuntimeException {
    private final List<String> problems;

    InvalidInputException(String what, List<String> problems) {
        super(what + ": " + problems.size() + (problems.size() == 1 ? " problem" : " problems")
                + ", nothing written:" + System.lineSeparator() + "  " + String.join(System.lineSeparator() + "  ", problems));
        this.problems = List.copyOf(problems);
    }

    List<String> problems() {
        return problems;
    }
}
