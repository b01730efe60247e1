package dev.moeshard.spark;

import dev.moeshard.convert.ProgressListener;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A unit's progress on an executor, into the executor's log through SLF4J (Spark binds it to its log4j): the
 * executor has no terminal, and its log is where Spark's UI and the cluster manager show what a task said.
 */
final class ExecutorLog implements ProgressListener {
    private static final Logger LOG = LoggerFactory.getLogger(ExecutorLog.class);

    private final String unit;

    ExecutorLog(String unit) {
        this.unit = unit;
    }

    @Override
    public void step(String what, long doneBytes, long totalBytes) {
        LOG.info("unit {}: {} ({} of {} bytes)", unit, Lines.escaped(what), doneBytes, totalBytes);
    }

    @Override
    public void message(String text) {
        LOG.info("unit {}: {}", unit, Lines.escaped(text));
    }
}
