package dev.moeshard.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.moeshard.convert.MoeConvert;
import dev.moeshard.convert.SampleCheckpoint;
import dev.moeshard.convert.ToGroupedRequest;
import java.nio.file.Path;
import java.util.List;
import org.apache.spark.api.java.JavaSparkContext;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Spark itself on this JDK: a local session starts, ships a closure to its executor threads, and a whole moeshard
 * conversion runs inside a task with the same bytes as outside Spark.
 */
class SparkOnJava25Test {

    @Test
    void aConversionInsideATaskMatchesOneOutside(@TempDir Path dir) {
        Path input = dir.resolve("in");
        new SampleCheckpoint(2, 8, 64, 32).write(input, 7, 64 * 1024);
        Path outside = dir.resolve("outside");
        MoeConvert.toGrouped(ToGroupedRequest.of(input, outside));

        JavaSparkContext sc = JavaSparkContext.fromSparkContext(LocalSpark.session().sparkContext());
        String in = input.toString();
        String out = dir.resolve("inside").toString();
        List<Long> bytes = sc.parallelize(List.of(out), 1)
                .map(o -> MoeConvert.toGrouped(ToGroupedRequest.of(Path.of(in), Path.of(o))).bytes())
                .collect();

        assertEquals(1, bytes.size());
        OutputFiles.assertSame(outside, dir.resolve("inside"));
    }
}
