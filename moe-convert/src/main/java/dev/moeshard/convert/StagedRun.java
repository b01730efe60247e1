package dev.moeshard.convert;

import dev.moeshard.safetensors.AtomicReplace;
import dev.moeshard.safetensors.SafetensorsIndex;
import dev.moeshard.safetensors.ShardLayout;
import dev.moeshard.safetensors.ShardedCheckpointWriter;
import dev.moeshard.safetensors.TensorSpec;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashSet;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Runs conversions as units in a staging directory ({@link StagedDirectory}): each unit (one shard file of one
 * checkpoint, {@link ShardUnit}) is written under a temporary name, forced to disk, renamed into place, and then
 * recorded done ({@link DoneRecord}); finishing the job checks that every unit is done and intact, writes what each
 * checkpoint holds besides its shards, and moves the whole into place in one rename. One process can run all of it
 * ({@link #run}), or many workers can share the units ({@link #runUnits}) and one of them finish it
 * ({@link #finish}); a unit found done and intact is never written twice, so a stopped run continues where it was.
 */
final class StagedRun {
    /** What a run leaves of its staging when it fails or is stopped. */
    private enum Leaving {
        /** A plain run: nothing; its staging is removed. */
        NOTHING,
        /** A resumable run, the staging's only writer: its finished units, and none of its unfinished files. */
        FINISHED_UNITS,
        /**
         * A worker among others: everything, since the unfinished files there may be other workers' at work (its
         * own writers remove their files as they fail; a killed worker's are removed by finalize).
         */
        EVERYTHING
    }

    /** The staging directories this process is writing into, for {@link #abandonAll}. */
    private static final Map<StagedDirectory, Leaving> RUNNING = new ConcurrentHashMap<>();
    /** Set once this process is being stopped: no unit starts or is recorded after that. */
    private static volatile boolean stopping;
    /** What the jobs that stopped themselves left, for {@link #abandonAll} to report. */
    private static final List<String> LEFT = new java.util.concurrent.CopyOnWriteArrayList<>();
    /** How long a stopping process waits for its jobs to stop at a unit's end before it cleans up under them. */
    private static final long STOP_WAIT_NANOS = 10_000_000_000L;

    private StagedRun() {}

    /** The plan of {@code request}, from headers alone; nothing is written. */
    static ConversionPlan plan(ConversionRequest request) {
        try (StagedJob job = StagedJobs.open(request)) {
            return describe(job, request);
        }
    }

    /**
     * The whole job in this process: plan, write every unit, finish. An earlier run's staging is continued with
     * {@code resume} (its finished units kept) and refused without it; without {@code resume} a run that fails or is
     * stopped removes its staging, with it a run keeps its finished units for the next {@code resume}.
     */
    static ConversionReport run(ConversionRequest request, boolean resume, ProgressListener listener) {
        long start = System.nanoTime();
        request.writing().requireWritable(request.output(), StagedJobs.inputs(request));
        try (StagedJob job = StagedJobs.open(request)) {
            ConversionPlan plan = describe(job, request);
            StagedDirectory staged = StagedDirectory.of(request.output());
            if (staged.exists()) {
                OptionalLong other = StagingOwner.liveOther(staged);
                if (other.isPresent()) {
                    throw new UsageException(request.output() + " is being written by another moeshard run (pid "
                            + other.getAsLong() + ") into " + staged.path());
                }
                if (!resume) {
                    throw new UsageException("found " + staged.path() + ", the unfinished output of an earlier run "
                            + "that was stopped (" + doneCount(staged, plan) + " of " + plan.units().size()
                            + " units done): continue it with --resume, or remove it with rm -rf '" + staged.path() + "'");
                }
            }
            join(staged, request, plan);
            Leaving leaving = resume ? Leaving.FINISHED_UNITS : Leaving.NOTHING;
            RUNNING.put(staged, leaving);
            try {
                StagingOwner.write(staged);
                List<ShardUnit> units = ShardUnit.of(job, request.writing().maxShardBytes());
                write(job, staged, units, listener);
                // Each unit was either written just now or found intact, bytes and all.
                Set<String> checked = new HashSet<>(units.stream().map(ShardUnit::id).toList());
                return finish(job, request, staged, checked, listener, start);
            } catch (IOException e) {
                throw new UncheckedIOException("cannot write " + request.output() + ": " + e.getMessage(), e);
            } catch (RuntimeException | Error e) {
                if (RUNNING.containsKey(staged)) {
                    String left = leave(staged, leaving);
                    if (stopping) {
                        LEFT.add(left);
                    }
                }
                throw e;
            } finally {
                RUNNING.remove(staged);
            }
        }
    }

    /** Plans {@code request} and creates its output's staging directory, or joins it; see {@link MoeConvert#stage}. */
    static ConversionPlan stage(ConversionRequest request) {
        if (!StagedDirectory.of(request.output()).exists()) {
            request.writing().requireWritable(request.output(), StagedJobs.inputs(request));
        }
        try (StagedJob job = StagedJobs.open(request)) {
            ConversionPlan plan = describe(job, request);
            join(StagedDirectory.of(request.output()), request, plan);
            return plan;
        }
    }

    /** Runs units {@code ids} of the job staged for {@code output}; see {@link MoeConvert#runUnits}. */
    static UnitsReport runUnits(Path output, Collection<String> ids, ProgressListener listener) {
        long start = System.nanoTime();
        StagedDirectory staged = StagedDirectory.of(output);
        JobRecord record = requireRecord(staged);
        Set<String> wanted = new LinkedHashSet<>(ids);
        wanted.removeAll(record.units());
        if (!wanted.isEmpty()) {
            throw new UsageException("no unit " + String.join(", ", wanted) + " in the plan staged in "
                    + staged.path() + " (" + record.units().size() + " units)");
        }
        try (StagedJob job = StagedJobs.open(record.request(), StagedJobs.ranksOf(ids))) {
            requireSamePlan(staged, record, job.fingerprint());
            Set<String> asked = new HashSet<>(ids);
            List<ShardUnit> mine = ShardUnit.of(job, record.request().writing().maxShardBytes()).stream()
                    .filter(u -> asked.contains(u.id())).toList();
            RUNNING.put(staged, Leaving.EVERYTHING);
            Set<String> written;
            try {
                written = write(job, staged, mine, listener);
            } catch (IOException e) {
                throw new UncheckedIOException("cannot write " + output + ": " + e.getMessage(), e);
            } catch (RuntimeException | Error e) {
                if (stopping) {
                    LEFT.add(leave(staged, Leaving.EVERYTHING));
                }
                throw e;
            } finally {
                RUNNING.remove(staged);
            }
            List<String> ran = new ArrayList<>();
            List<String> skipped = new ArrayList<>();
            long bytes = 0;
            for (ShardUnit u : mine) {
                if (written.contains(u.id())) {
                    ran.add(u.id());
                    bytes += u.bytes();
                } else {
                    skipped.add(u.id());
                }
            }
            return new UnitsReport(staged.target(), staged.path(), ran, skipped, bytes,
                    (System.nanoTime() - start) / 1e9, doneCount(staged, record), record.units().size());
        }
    }

    /** Finishes the job staged for {@code output}; see {@link MoeConvert#finalizeOutput}. */
    static ConversionReport finalizeOutput(Path output, ProgressListener listener) {
        long start = System.nanoTime();
        StagedDirectory staged = StagedDirectory.of(output);
        if (!staged.exists()) {
            if (Files.isDirectory(staged.target())) {
                listener.message(output + " is finished already; nothing to do");
                return Reports.of(staged.target(), List.of(), start, List.of("the output was finished already"));
            }
            throw new InvalidInputException(output.toString(), List.of("no staged conversion: neither " + output
                    + " nor its staging directory " + staged.path() + " exists"));
        }
        JobRecord record = requireRecord(staged);
        try (StagedJob job = StagedJobs.open(record.request())) {
            requireSamePlan(staged, record, job.fingerprint());
            try {
                return finish(job, record.request(), staged, Set.of(), listener, start);
            } catch (IOException e) {
                throw new UncheckedIOException("cannot finish " + output + ": " + e.getMessage(), e);
            }
        }
    }

    /**
     * Leaves the staging directories of this process, which is being stopped: each is removed, or, where its run
     * keeps its units, stripped of unfinished files. Returns one line each saying which.
     */
    static List<String> abandonAll() {
        // The jobs stop themselves at their next unit's start or end and clean up behind them, so that nothing is
        // written into a staging directory after it is removed; a job still in one long unit after the wait is
        // cleaned up under it.
        stopping = true;
        long deadline = System.nanoTime() + STOP_WAIT_NANOS;
        while (!RUNNING.isEmpty() && System.nanoTime() < deadline) {
            try {
                Thread.sleep(10);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        List<String> lines = new ArrayList<>(LEFT);
        for (Map.Entry<StagedDirectory, Leaving> e : Map.copyOf(RUNNING).entrySet()) {
            RUNNING.remove(e.getKey());
            lines.add(leave(e.getKey(), e.getValue()));
        }
        return lines;
    }

    private static String leave(StagedDirectory staged, Leaving leaving) {
        try {
            switch (leaving) {
                case NOTHING -> {
                    staged.delete();
                    return "removed the unfinished output " + staged.path();
                }
                case FINISHED_UNITS -> {
                    staged.removeTemporaryFiles();
                    StagingOwner.remove(staged);
                    return "kept the finished units in " + staged.path() + ": run the same command with --resume to "
                            + "continue, or remove it with rm -rf '" + staged.path() + "'";
                }
                default -> {
                    return "kept the finished units in " + staged.path() + ": run this worker again to finish its "
                            + "units, then moeshard finalize " + staged.target();
                }
            }
        } catch (IOException | RuntimeException e) {
            return "could not clean up " + staged.path() + ": " + e.getMessage();
        }
    }

    /** The plan as {@link ConversionPlan} names it: every unit with the input bytes it reads. */
    private static ConversionPlan describe(StagedJob job, ConversionRequest request) {
        List<WorkUnit> units = new ArrayList<>();
        for (ShardUnit u : ShardUnit.of(job, request.writing().maxShardBytes())) {
            units.add(u.describe(job.reads(u.checkpoint(), u.keys())));
        }
        return new ConversionPlan(job.name(), String.join(", ", StagedJobs.readInputs(request).stream()
                .map(Path::toString).toList()), request.output().toString(), job.fingerprint(), units);
    }

    /** Creates {@code staged} with {@code request}'s record, or checks that the record there is of the same plan. */
    private static void join(StagedDirectory staged, ConversionRequest request, ConversionPlan plan) {
        staged.create();
        JobRecord record = JobRecord.readFrom(staged);
        if (record == null) {
            JobRecord.of(request, plan).writeTo(staged);
            record = JobRecord.readFrom(staged); // another worker may have written its own at the same moment
        }
        requireSamePlan(staged, record, plan.fingerprint());
    }

    private static JobRecord requireRecord(StagedDirectory staged) {
        JobRecord record = staged.exists() ? JobRecord.readFrom(staged) : null;
        if (record == null) {
            throw new InvalidInputException(staged.target().toString(), List.of("no staged conversion in "
                    + staged.path() + ": stage it first (moeshard to-grouped|to-hf IN OUT --unit I/N, or "
                    + "MoeConvert.stage)"));
        }
        return record;
    }

    private static void requireSamePlan(StagedDirectory staged, JobRecord record, String fingerprint) {
        if (!record.fingerprint().equals(fingerprint)) {
            throw new InvalidInputException(staged.path().toString(), List.of("staged for another plan: its job record"
                    + " has fingerprint " + record.fingerprint() + " (moeshard " + record.version() + "), this request"
                    + " plans " + fingerprint + " (moeshard " + MoeshardVersion.current() + "): the input, the options "
                    + "that shape the output or the version differ; finish that job, or remove its staging with rm -rf '"
                    + staged.path() + "'"));
        }
    }

    private static int doneCount(StagedDirectory staged, ConversionPlan plan) {
        return (int) plan.units().stream()
                .filter(u -> DoneRecord.problem(staged, u.id(), plan.fingerprint(), false) == null).count();
    }

    private static int doneCount(StagedDirectory staged, JobRecord record) {
        return (int) record.units().stream()
                .filter(id -> DoneRecord.problem(staged, id, record.fingerprint(), false) == null).count();
    }

    /**
     * Writes each of {@code units} not done and intact already (bytes checked), one after another, with one progress
     * count over them. Returns the ids of the units it wrote.
     */
    private static Set<String> write(StagedJob job, StagedDirectory staged, List<ShardUnit> units,
                                     ProgressListener listener) throws IOException {
        String fingerprint = job.fingerprint();
        List<ShardUnit> todo = new ArrayList<>();
        int intact = 0;
        for (ShardUnit u : units) {
            String problem = DoneRecord.problem(staged, u.id(), fingerprint, true);
            if (problem == null) {
                intact++;
            } else {
                if (!problem.equals("not done")) {
                    listener.message("redoing unit " + u.id() + ": " + problem);
                    DoneRecord.remove(staged, u.id());
                }
                todo.add(u);
            }
        }
        if (intact > 0) {
            listener.message("kept " + intact + " of " + units.size() + " units already done and intact in "
                    + staged.path());
        }
        long total = todo.stream().mapToLong(ShardUnit::bytes).sum();
        FreeSpace.require(staged.target(), total);
        ByteProgress progress = new ByteProgress(listener, total);
        long finished = 0;
        Set<String> written = new LinkedHashSet<>();
        for (ShardUnit u : todo) {
            requireNotStopping();
            Path dir = folderOf(staged, u.checkpoint());
            Map<Path, List<Integer>> checksums = new HashMap<>();
            job.guard().around(() -> {
                try (ShardedCheckpointWriter out = ShardedCheckpointWriter.openShard(dir, u.layout(), u.shard(),
                        Map.of("format", "pt"))) {
                    job.writeShard(u.checkpoint(), out, progress);
                    out.commit();
                    checksums.putAll(out.blockChecksums());
                }
            });
            requireNotStopping();
            DoneRecord.write(staged, u.id(), fingerprint, List.of(u.id()), checksums);
            finished += u.bytes();
            progress.reach(finished, "wrote unit " + u.id());
            written.add(u.id());
        }
        return written;
    }

    /**
     * Checks every unit done and intact (the bytes of those not in {@code checked}), writes each checkpoint's index
     * and side files, and moves the output into place.
     */
    private static ConversionReport finish(StagedJob job, ConversionRequest request, StagedDirectory staged,
                                           Set<String> checked, ProgressListener listener, long start)
            throws IOException {
        List<ShardUnit> units = ShardUnit.of(job, request.writing().maxShardBytes());
        List<String> problems = new ArrayList<>();
        for (ShardUnit u : units) {
            String problem = checked.contains(u.id()) ? null : DoneRecord.problem(staged, u.id(), job.fingerprint(), true);
            if (problem != null) {
                problems.add("unit " + u.id() + ": " + problem);
            }
        }
        if (!problems.isEmpty()) {
            problems.add(problems.size() + " of " + units.size() + " units are missing or damaged: run their workers "
                    + "again (done units are kept), then finalize");
            throw new InvalidInputException(staged.path().toString(), problems);
        }
        List<ConversionReport.WrittenCheckpoint> written = new ArrayList<>();
        for (RankUnit checkpoint : job.checkpoints()) {
            Path dir = folderOf(staged, checkpoint);
            Files.createDirectories(dir);
            ShardLayout layout = checkpoint.layout(request.writing().maxShardBytes());
            if (layout.isSharded()) {
                AtomicReplace.write(dir.resolve(SafetensorsIndex.FILE_NAME), SafetensorsIndex.encode(layout));
            }
            job.finish(checkpoint, dir);
            Path shown = checkpoint.subdirectory() == null ? request.output() : request.output().resolve(checkpoint.subdirectory());
            String layoutName = job.layoutName();
            listener.message(String.format("wrote %s: experts [%d, %d)%s, %d tensors", shown, checkpoint.range().start(),
                    checkpoint.range().end(), layoutName == null ? "" : " as " + layoutName, checkpoint.tensorCount()));
            written.add(new ConversionReport.WrittenCheckpoint(shown, checkpoint.range().start(),
                    checkpoint.range().end(), checkpoint.tensorCount(),
                    checkpoint.specs().stream().mapToLong(TensorSpec::byteSize).sum()));
        }
        staged.commit(request.writing().replaceExisting());
        RUNNING.remove(staged);
        return Reports.of(request.output(), written, start, job.decisions());
    }

    /** Stops the calling job where this process is being stopped, before it writes into a staging being left. */
    private static void requireNotStopping() {
        if (stopping) {
            throw new IllegalStateException("stopped: this process is shutting down");
        }
    }

    private static Path folderOf(StagedDirectory staged, RankUnit checkpoint) {
        return checkpoint.subdirectory() == null ? staged.path() : staged.path().resolve(checkpoint.subdirectory());
    }
}
