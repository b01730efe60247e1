package dev.moeshard.cli;

/** Entry point of the moeshard command. */
public final class Main {
    private Main() {}

    public static void main(String[] args) {
        System.exit(0);
    }
}
