package dev.moeshard.tensor.copy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.function.Consumer;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** runEach hands every job to exactly one thread, with a one-thread engine, and reports a failure. */
class RunEachTest {

    @ParameterizedTest(name = "threads={0}")
    @ValueSource(ints = {1, 2, 4})
    void everyJobRunsExactlyOnceOnAOneThreadEngine(int threads) {
        CopyEngine engine = CopyEngine.create(true, threads);
        AtomicIntegerArray runs = new AtomicIntegerArray(57);
        Set<Thread> used = ConcurrentHashMap.newKeySet();
        List<Consumer<CopyEngine>> jobs = new ArrayList<>();
        for (int i = 0; i < runs.length(); i++) {
            int job = i;
            jobs.add(single -> {
                assertEquals(1, single.threads());
                used.add(Thread.currentThread());
                runs.incrementAndGet(job);
            });
        }
        engine.runEach(jobs);
        for (int i = 0; i < runs.length(); i++) {
            assertEquals(1, runs.get(i), "job " + i);
        }
        assertTrue(used.size() <= threads, used.size() + " threads for an engine of " + threads);
    }

    @ParameterizedTest(name = "threads={0}")
    @ValueSource(ints = {1, 3})
    void aFailingJobIsRethrownAfterTheOthersStop(int threads) {
        IllegalStateException boom = new IllegalStateException("job 5 failed");
        List<Consumer<CopyEngine>> jobs = new ArrayList<>();
        for (int i = 0; i < 20; i++) {
            int job = i;
            jobs.add(single -> {
                if (job == 5) {
                    throw boom;
                }
            });
        }
        assertSame(boom, assertThrows(IllegalStateException.class, () -> CopyEngine.create(false, threads).runEach(jobs)));
    }
}
