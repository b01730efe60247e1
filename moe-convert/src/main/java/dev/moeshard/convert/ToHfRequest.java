package dev.moeshard.convert;

import dev.moeshard.moe.GroupedLayout;
import dev.moeshard.moe.ToHfOptions;
import java.nio.file.Path;
import java.util.List;

/**
 * Grouped checkpoints (one, or every rank of one expert-parallel run) back to one per-expert HF checkpoint, merged by
 * global expert id, as {@link MoeConvert#toHf} runs it.
 *
 * @param inputs the grouped checkpoints, or one folder holding {@code ep-rank-R/} folders; any may be a Hugging Face
 *               cache repository folder ({@code models--org--name/})
 * @param revision which snapshot of each input (all cache repository folders then) to read: a ref name, a commit
 *                 hash or a unique prefix of one; null reads {@code refs/main}
 * @param output the directory to create
 * @param layout the inputs' grouped layout where names, shapes, config.json and moeshard.json leave it ambiguous, or
 *               null to tell it
 * @param lora the PEFT layout grouped expert LoRA is written in
 * @param quantization whether projections are written quantized
 * @param writing how the output is written
 */
public record ToHfRequest(List<Path> inputs, String revision, Path output, GroupedLayout layout,
                          ToHfOptions.LoraFormat lora, Quantization quantization, OutputOptions writing)
        implements ConversionRequest {

    public ToHfRequest {
        inputs = List.copyOf(inputs);
        if (inputs.isEmpty()) {
            throw new UsageException("to-hf needs at least one grouped input");
        }
    }

    /** {@code inputs} to {@code output}: layout told from the inputs, per-expert LoRA, nothing quantized. */
    public static ToHfRequest of(List<Path> inputs, Path output) {
        return new ToHfRequest(inputs, null, output, null, ToHfOptions.LoraFormat.PER_EXPERT, Quantization.NONE,
                OutputOptions.DEFAULTS);
    }

    /** The snapshot of each cache repository folder input; null reads {@code refs/main}. */
    @Override
    public ToHfRequest withRevision(String revision) {
        return new ToHfRequest(inputs, revision, output, layout, lora, quantization, writing);
    }

    @Override
    public ToHfRequest withAbsolutePaths() {
        return new ToHfRequest(inputs.stream().map(p -> p.toAbsolutePath().normalize()).toList(), revision,
                output.toAbsolutePath().normalize(), layout, lora, quantization, writing);
    }

    /** The inputs, a cache repository folder replaced by the snapshot the revision names. */
    List<Path> snapshotInputs() {
        return inputs.stream().map(p -> InputPaths.atRevision(p, revision)).toList();
    }

    public ToHfRequest withLayout(GroupedLayout layout) {
        return new ToHfRequest(inputs, revision, output, layout, lora, quantization, writing);
    }

    public ToHfRequest withLora(ToHfOptions.LoraFormat lora) {
        return new ToHfRequest(inputs, revision, output, layout, lora, quantization, writing);
    }

    public ToHfRequest withQuantization(Quantization quantization) {
        return new ToHfRequest(inputs, revision, output, layout, lora, quantization, writing);
    }

    public ToHfRequest withWriting(OutputOptions writing) {
        return new ToHfRequest(inputs, revision, output, layout, lora, quantization, writing);
    }
}
