package dev.moeshard.convert;

/** The library's version, from its jar's manifest, or "dev" when run from classes; recorded in every manifest. */
public final class MoeshardVersion {
    private MoeshardVersion() {}

    /** The version, e.g. 0.1.0-SNAPSHOT; "dev" when the classes do not come from a built jar. */
    public static String current() {
        String v = MoeshardVersion.class.getPackage().getImplementationVersion();
        return v == null ? "dev" : v;
    }
}
