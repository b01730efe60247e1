package dev.moeshard.convert;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.tools.JavaCompiler;
import javax.tools.ToolProvider;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The README's "Use it from Java" example, taken from the README itself, compiled against this module and run in a
 * JVM started with no flags at all, as a user's program would be: it must convert, verify, and print nothing of the
 * library's own on stderr (no JVM warning about restricted or incubator modules).
 */
class ReadmeExampleTest {
    private static final Path README = Path.of("../README.md");
    private static final Path QWEN = Path.of("../moe-state-dict/src/test/resources/fixtures/qwen3_moe");

    @Test
    void theReadmeExampleCompilesAndConvertsUnderPlainJava(@TempDir Path dir) throws Exception {
        String source = javaBlockAfter(Files.readString(README), "## Use it from Java");
        assertTrue(source.contains("public class ConvertCheckpoint"), source);
        Path src = Files.createDirectories(dir.resolve("src")).resolve("ConvertCheckpoint.java");
        Files.writeString(src, source);
        Path classes = Files.createDirectories(dir.resolve("classes"));
        String classPath = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
        JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
        assertEquals(0, javac.run(null, null, null, "-d", classes.toString(), "-cp", classPath, src.toString()),
                "the README example does not compile");

        Path output = dir.resolve("grouped");
        Path java = Path.of(System.getProperty("java.home"), "bin", "java");
        Process run = new ProcessBuilder(java.toString(), "-cp", classes + File.pathSeparator + classPath,
                "ConvertCheckpoint", QWEN.toString(), output.toString())
                .redirectOutput(dir.resolve("stdout").toFile()).redirectError(dir.resolve("stderr").toFile()).start();
        assertTrue(run.waitFor(120, TimeUnit.SECONDS), "the example did not finish");
        String out = Files.readString(dir.resolve("stdout"), StandardCharsets.UTF_8);
        String err = Files.readString(dir.resolve("stderr"), StandardCharsets.UTF_8);
        assertEquals(0, run.exitValue(), out + err);
        assertTrue(out.contains("experts [0, 4), ") && out.contains("experts [4, 8), "), out);
        assertTrue(out.strip().endsWith("identical"), out);
        assertTrue(Files.isDirectory(output.resolve("ep-rank-1")));
        // SLF4J's own note that the program has no logging provider is the user's to settle; nothing else may appear.
        List<String> foreign = err.lines().filter(l -> !l.isBlank() && !l.startsWith("SLF4J")).toList();
        assertEquals(List.of(), foreign, "stderr of a plain java run");
    }

    private static String javaBlockAfter(String markdown, String heading) {
        int at = markdown.indexOf(heading);
        assertTrue(at >= 0, "README has no section " + heading);
        Matcher m = Pattern.compile("```java\\n(.*?)```", Pattern.DOTALL).matcher(markdown);
        assertTrue(m.find(at), "no java block after " + heading);
        return m.group(1);
    }
}
