package dev.moeshard.convert;

import dev.moeshard.tensor.Device;
import java.nio.file.Path;
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
        return ToGrouped.run(request, listener);
    }

    /**
     * The plan {@link #toGrouped} would run for {@code request}, from headers alone: its work units (one per rank
     * written), the input byte ranges each reads, the files each writes, and the plan's fingerprint. Nothing is
     * written; every problem with the input is raised as {@link #toGrouped} would raise it.
     */
    public static ConversionPlan planToGrouped(ToGroupedRequest request) {
        return ToGrouped.plan(request);
    }

    /** {@link #toGrouped(ToGroupedRequest, ProgressListener)} with no progress reported. */
    public static ConversionReport toGrouped(ToGroupedRequest request) {
        return toGrouped(request, ProgressListener.NONE);
    }

    /** Converts grouped checkpoints back to one per-expert checkpoint in {@code request.output()}. */
    public static ConversionReport toHf(ToHfRequest request, ProgressListener listener) {
        return ToHf.run(request, listener);
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
     * Removes the staging directories of every job of this process that has not committed its output, and returns
     * them: for a process that is being stopped (a shutdown hook on SIGINT or SIGTERM), whose jobs will never finish.
     * Without it a stopped job leaves its hidden staging directory behind, which a later job reports as stale.
     */
    public static List<Path> abandonUnfinishedOutputs() {
        return StagedDirectory.abandonAll();
    }

    /**
     * Refuses {@code device} with {@link DeviceMissingException} (and the reasons) when it is a CUDA device that
     * cannot be used here; null and the CPU always pass.
     */
    public static void requireUsable(Device device) {
        LayerCopies.requireUsable(device);
    }
}
