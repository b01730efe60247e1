package dev.moeshard.cli;

import dev.moeshard.convert.MoeshardVersion;
import picocli.CommandLine.IVersionProvider;

/** {@code --version}: the library's version, which the manifests it writes record too. */
final class Version implements IVersionProvider {
    @Override
    public String[] getVersion() {
        return new String[] {"moeshard " + MoeshardVersion.current()};
    }
}
