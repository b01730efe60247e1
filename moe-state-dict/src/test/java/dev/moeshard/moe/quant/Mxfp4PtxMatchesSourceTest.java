package dev.moeshard.moe.quant;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The committed MXFP4 PTX is what nvcc makes of the committed CUDA source (checked where nvcc is installed). */
class Mxfp4PtxMatchesSourceTest {

    @Test
    void committedPtxMatchesAFreshCompile(@TempDir Path tmp) throws Exception {
        assumeTrue(onPath("nvcc"), "nvcc is not on PATH: the PTX cannot be regenerated here, so it is not compared");
        Path script = Path.of("..", "scripts", "build-ptx.sh").toAbsolutePath().normalize();
        assumeTrue(Files.exists(script), "not run from the repository: " + script + " is not here");
        Path fresh = tmp.resolve("mxfp4_kernels.ptx");
        Process p = new ProcessBuilder("bash", script.toString(), "mxfp4_kernels", fresh.toString())
                .redirectErrorStream(true).start();
        String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(true, p.waitFor(120, TimeUnit.SECONDS), "nvcc took too long");
        assertEquals(0, p.exitValue(), "build-ptx.sh failed: " + output);
        String committed;
        try (InputStream in = Mxfp4PtxMatchesSourceTest.class.getResourceAsStream(CudaMxfp4Decoder.RESOURCE)) {
            committed = new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
        assertEquals(committed, Files.readString(fresh),
                "mxfp4_kernels.ptx is stale: run scripts/build-ptx.sh and commit the result");
    }

    private static boolean onPath(String tool) {
        for (String dir : System.getenv().getOrDefault("PATH", "").split(":")) {
            if (!dir.isEmpty() && Files.isExecutable(Path.of(dir, tool))) {
                return true;
            }
        }
        return false;
    }
}
