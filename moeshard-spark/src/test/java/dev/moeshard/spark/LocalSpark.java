package dev.moeshard.spark;

import org.apache.spark.sql.SparkSession;

/**
 * The one SparkSession of the module's tests, started on first use and stopped by Spark's shutdown hook: a session
 * takes seconds to start and a JVM holds only one, so every test class shares it. Master {@code local[2,2]}: two
 * executor threads, and every task may fail once and be retried, as on a cluster (plain {@code local[2]} never
 * retries a task). Its block manager files go under java.io.tmpdir, which the build points into target/.
 */
final class LocalSpark {
    static final String MASTER = "local[2,2]";

    private LocalSpark() {}

    static SparkSession session() {
        return SparkSession.builder()
                .master(MASTER)
                .appName("moeshard-spark tests")
                .config("spark.ui.enabled", "false")
                .config("spark.driver.host", "127.0.0.1")
                .config("spark.driver.bindAddress", "127.0.0.1")
                .getOrCreate();
    }
}
