package dev.moeshard.tensor.simd;

import java.lang.management.ManagementFactory;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Decides once whether the SIMD kernels (jdk.incubator.vector) may be used, and loads them reflectively.
 *
 * <p>The Vector API is an incubator module: a class that touches it fails to load unless the JVM was started with
 * {@code --add-modules jdk.incubator.vector}. So nothing outside the package-private Panama classes names a vector
 * type, and those classes are only loaded by name, after the checks here pass:
 * <ul>
 *   <li>the module is in the boot layer;</li>
 *   <li>the JIT is C2 (under C1 or the interpreter, vector operations are boxed and far slower than scalar code);</li>
 *   <li>the preferred vector width is at least 128 bits (narrower vectors gain nothing over 64-bit scalar moves);</li>
 *   <li>the system property {@value #DISABLE_PROPERTY} is not {@code true}.</li>
 * </ul>
 * The first use logs one line saying which path was chosen and why.
 */
public final class VectorSupport {
    /** Set to {@code true} to force the scalar kernels, e.g. to compare the two paths on one machine. */
    public static final String DISABLE_PROPERTY = "moeshard.simd.disable";

    private static final Logger LOG = LoggerFactory.getLogger(VectorSupport.class);
    private static final String VECTOR_MODULE = "jdk.incubator.vector";
    private static final Decision DECISION = decide();

    private VectorSupport() {}

    private record Decision(boolean enabled, String reason) {}

    /** True when the SIMD kernels are in use. */
    public static boolean enabled() {
        return DECISION.enabled;
    }

    /** Why SIMD is or is not in use, in words. */
    public static String reason() {
        return DECISION.reason;
    }

    /**
     * Instantiates the SIMD implementation {@code className} (a class with a no-argument constructor in this
     * library) when SIMD is enabled; empty otherwise.
     */
    public static <T> Optional<T> load(String className, Class<T> type) {
        if (!DECISION.enabled) {
            return Optional.empty();
        }
        try {
            var constructor = Class.forName(className).asSubclass(type).getDeclaredConstructor();
            constructor.setAccessible(true);
            return Optional.of(constructor.newInstance());
        } catch (ReflectiveOperationException | LinkageError e) {
            LOG.warn("SIMD implementation {} could not be loaded, using scalar code: {}", className, e.toString());
            return Optional.empty();
        }
    }

    private static Decision decide() {
        Decision d = check();
        LOG.info(d.enabled ? "moeshard copies use SIMD: {}" : "moeshard copies use scalar code: {}", d.reason);
        return d;
    }

    private static Decision check() {
        if (Boolean.getBoolean(DISABLE_PROPERTY)) {
            return new Decision(false, "-D" + DISABLE_PROPERTY + "=true");
        }
        if (ModuleLayer.boot().findModule(VECTOR_MODULE).isEmpty()) {
            return new Decision(false, VECTOR_MODULE + " is not in the boot layer (start java with --add-modules "
                    + VECTOR_MODULE + " for SIMD)");
        }
        String jit = jitName();
        if (!jit.contains("C2") && !jit.contains("Graal") && !jit.contains("JVMCI")) {
            return new Decision(false, "the JIT is '" + jit + "', not C2; vector code would run boxed");
        }
        int bits;
        try {
            bits = Class.forName("dev.moeshard.tensor.simd.PreferredVectorBits")
                    .asSubclass(java.util.function.IntSupplier.class)
                    .getDeclaredConstructor().newInstance().getAsInt();
        } catch (ReflectiveOperationException | LinkageError e) {
            return new Decision(false, "the vector API could not be probed: " + e);
        }
        if (bits < 128) {
            return new Decision(false, "the preferred vector width is " + bits + " bits, under 128");
        }
        return new Decision(true, bits + "-bit vectors, JIT " + jit);
    }

    private static String jitName() {
        try {
            var compilation = ManagementFactory.getCompilationMXBean();
            if (compilation == null) {
                return "none";
            }
            String name = compilation.getName();
            // HotSpot reports tiered compilation as "HotSpot 64-Bit Tiered Compilers", which ends in C2.
            if (name.contains("Tiered") && !isC2Disabled()) {
                return name + " (C2)";
            }
            return name;
        } catch (LinkageError | RuntimeException e) {
            return "unknown";
        }
    }

    private static boolean isC2Disabled() {
        for (String arg : ManagementFactory.getRuntimeMXBean().getInputArguments()) {
            if (arg.startsWith("-XX:TieredStopAtLevel=") && !arg.endsWith("=4")) {
                return true;
            }
            if (arg.equals("-Xint")) {
                return true;
            }
        }
        return false;
    }
}
