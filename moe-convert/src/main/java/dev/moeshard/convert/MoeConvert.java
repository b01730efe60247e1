package dev.moeshard.convert;

import dev.moeshard.tensor.Device;
import java.nio.file.Path;
import java.util.Collection;
import java.util.List;

/**
 * The checkpoint-directory conversions of Mixture-of-Experts models, file to file with bounded memory: data moves
 * from the mapped input to the output a few MB at a time, and no tensor is ever held whole.
 *
 * <ul>
 *   <li>{@link #toGrouped}: per-expert {@code ...experts.{e}.gate_proj/up_proj/down_proj.weight} (or a grouped
 *       checkpoint of another layout or EP size) to grouped experts, e.g. {@code gate_and_up_projs} [E, H, 2I] and
 *       {@code down_projs} [E, I, H], for one expert-parallel rank, every rank, or none;</li>
 *   <li>{@link #toHf}: one grouped checkpoint, or the ranks of one run, back to per-expert tensors;</li>
 *   <li>{@link #verify}: whether grouped checkpoints hold exactly a per-expert checkpoint's data;</li>
 *   <li>{@link #inspect}: what a checkpoint holds, from headers only.</li>
 * </ul>
 *
 * <p>Every job plans from headers first and refuses the whole request with {@link InvalidInputException}, listing
 * every problem, before a byte is written; the output is built in a hidden sibling directory and renamed into place
 * whole at the end, so a failed job leaves nothing behind. Requests that cannot be carried out whatever the input
 * holds raise {@link UsageException}; a named CUDA device that cannot be used raises {@link DeviceMissingException};
 * I/O failures surface as {@link java.io.UncheckedIOException}.
 */
public final class MoeConvert {
    private MoeConvert() {}

    /** Converts {@code request.input()} to grouped experts in {@code request.output()}. */
    public static ConversionReport toGrouped(ToGroupedRequest request, ProgressListener listener) {
        return StagedRun.run(request, false, listener);
    }

    /**
     * The plan {@link #toGrouped} would run for {@code request}, from headers alone: its work units (one per rank
     * written), the input byte ranges each reads, the files each writes, and the plan's fingerprint. Nothing is
     * written; every problem with the input is raised as {@link #toGrouped} would raise it.
     */
    public static ConversionPlan planToGrouped(ToGroupedRequest request) {
        return StagedRun.plan(request);
    }

    /** The plan {@code request} runs (to-grouped or to-hf), as {@link #planToGrouped} gives it. */
    public static ConversionPlan plan(ConversionRequest request) {
        return StagedRun.plan(request);
    }

    /** {@link #toGrouped(ToGroupedRequest, ProgressListener)} with no progress reported. */
    public static ConversionReport toGrouped(ToGroupedRequest request) {
        return toGrouped(request, ProgressListener.NONE);
    }

    /** Converts grouped checkpoints back to one per-expert checkpoint in {@code request.output()}. */
    public static ConversionReport toHf(ToHfRequest request, ProgressListener listener) {
        return StagedRun.run(request, false, listener);
    }

    /** Runs {@code request}: {@link #toGrouped} or {@link #toHf}, whichever it is. */
    public static ConversionReport run(ConversionRequest request, ProgressListener listener) {
        return StagedRun.run(request, false, listener);
    }

    /**
     * Runs {@code request} as {@link #toGrouped} or {@link #toHf} would, continuing the unfinished output of an earlier
     * run of the same plan that was stopped (a killed process, or workers that did not all finish): units found done
     * and intact are kept, the rest written. Without an earlier run's staging it is a plain run, except that a failure
     * or a stop then keeps the finished units too, for the next resume.
     *
     * @throws InvalidInputException when the staging there was planned for another input, options or version
     */
    public static ConversionReport resume(ConversionRequest request, ProgressListener listener) {
        return StagedRun.run(request, true, listener);
    }

    // ---------------------------------------------------------------------------------------------- many workers

    /**
     * Plans {@code request} from headers and creates its output's staging directory, {@code .OUTPUT.tmp-staging}
     * beside it, recording the request and the plan's fingerprint there; where the staging exists already (another
     * worker staged it) checks that it was planned the same way. Returns the plan: its units, each one shard file of
     * one output checkpoint, are the pieces workers share ({@link #runUnits}); nothing of them is written yet.
     *
     * @throws InvalidInputException when the input is refused, or the staging there was planned for another input,
     *     other options or another moeshard version
     */
    public static ConversionPlan stage(ConversionRequest request) {
        return StagedRun.stage(request);
    }

    /**
     * Writes units {@code unitIds} of the job staged for {@code output} (the request is read from the staging, so a
     * worker needs nothing else), skipping those done and intact already. Each unit's shard is written under a
     * temporary name, forced to disk and renamed, then recorded done with its size and checksums; a worker stopped
     * half-way leaves its unit unrecorded, to be written again from scratch. Workers on any number of machines can
     * run units of one staging at once, given a file system they all see.
     */
    public static UnitsReport runUnits(Path output, Collection<String> unitIds, ProgressListener listener) {
        return StagedRun.runUnits(output, unitIds, listener);
    }

    /** {@link #stage}s {@code request}, then runs {@code slice}'s units of its plan ({@link UnitSlice#select}). */
    public static UnitsReport runUnits(ConversionRequest request, UnitSlice slice, ProgressListener listener) {
        ConversionPlan plan = stage(request);
        return runUnits(request.output(), slice.select(plan.units()).stream().map(WorkUnit::id).toList(), listener);
    }

    /**
     * Finishes the job staged for {@code output} once every unit is done: checks each unit's files against its
     * done-record (sizes and checksums, so a damaged or missing unit is named rather than shipped), writes each
     * checkpoint's index, config.json, copied files and manifest, and renames the whole into place. Running it again
     * on a finished output does nothing.
     *
     * @throws InvalidInputException listing the units missing or damaged (nothing is moved then)
     */
    public static ConversionReport finalizeOutput(Path output, ProgressListener listener) {
        return StagedRun.finalizeOutput(output, listener);
    }

    /** {@link #toHf(ToHfRequest, ProgressListener)} with no progress reported. */
    public static ConversionReport toHf(ToHfRequest request) {
        return toHf(request, ProgressListener.NONE);
    }

    /** Compares grouped checkpoints with a per-expert one, byte for byte, as the conversions split them. */
    public static VerifyReport verify(VerifyRequest request) {
        return Verify.run(request);
    }

    /** What {@code input} (a checkpoint directory or one {@code .safetensors} file) holds, from headers only. */
    public static InspectReport inspect(Path input) {
        return Inspect.run(input, null);
    }

    /**
     * What snapshot {@code revision} (a ref name, a commit hash or a unique prefix of one) of the Hugging Face cache
     * repository folder {@code input} holds; a revision for any other input is refused with {@link UsageException}.
     */
    public static InspectReport inspect(Path input, String revision) {
        return Inspect.run(input, revision);
    }

    /**
     * Leaves the staging directories of every job of this process that has not finished its output, for a process
     * that is being stopped (a shutdown hook on SIGINT or SIGTERM), whose jobs will never finish: a plain run's is
     * removed; a resumable run's ({@link #resume}) or a worker's ({@link #runUnits}) keeps its finished units and
     * loses only the files of units not finished. Returns one line for each, saying what it did. Without it a stopped
     * job leaves its staging whole, which a later run reports.
     */
    public static List<String> abandonUnfinishedOutputs() {
        return StagedRun.abandonAll();
    }

    /**
     * Refuses {@code device} with {@link DeviceMissingException} (and the reasons) when it is a CUDA device that
     * cannot be used here; null and the CPU always pass.
     */
    public static void requireUsable(Device device) {
        LayerCopies.requireUsable(device);
    }
}
