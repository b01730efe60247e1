package dev.moeshard.tensor;

/**
 * Whether this library may call native code (libc's {@code fallocate}, libcudart) without the JVM printing a
 * warning about it. Java 25 lets code that was not granted native access call restricted methods such as
 * {@code Linker.downcallHandle}, but warns on standard error the first time; a library used from plain
 * {@code java} must not print that on its users' behalf. So every native binding asks first, and where access was not
 * granted ({@code --enable-native-access=ALL-UNNAMED}, the module's name, or the jar manifest's
 * {@code Enable-Native-Access}), it does without: preallocation is skipped, CUDA reports itself unavailable with the
 * flag to pass.
 */
public final class NativeAccess {
    private NativeAccess() {}

    /** Whether this library's module (the unnamed one on a class path) was granted native access. */
    public static boolean enabled() {
        return NativeAccess.class.getModule().isNativeAccessEnabled();
    }

    /** Why native code is not used, for messages: the flag that grants it. */
    public static String howToEnable() {
        Module module = NativeAccess.class.getModule();
        return "native access is not enabled for " + (module.isNamed() ? "module " + module.getName()
                : "the class path") + "; run java with --enable-native-access="
                + (module.isNamed() ? module.getName() : "ALL-UNNAMED");
    }
}
