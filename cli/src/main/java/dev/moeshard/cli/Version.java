package dev.moeshard.cli;

import picocli.CommandLine.IVersionProvider;

/** The tool's version, from the jar manifest (or "dev" when run from classes). */
final class Version implements IVersionProvider {
    static String current() {
        String v = Version.class.getPackage().getImplementationVersion();
        return v == null ? "dev" : v;
    }

    @Override
    public String[] getVersion() {
        return new String[] {"moeshard " + current()};
    }
}
