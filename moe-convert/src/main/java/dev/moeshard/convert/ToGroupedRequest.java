package dev.moeshard.convert;

import dev.moeshard.moe.GroupedLayout;
import dev.moeshard.tensor.DType;
import java.nio.file.Path;

/**
 * A per-expert (or grouped) checkpoint directory to grouped experts in {@link #layout}, as
 * {@link MoeConvert#toGrouped} runs it. Start from {@link #of} and change what differs from the defaults.
 *
 * @param input a checkpoint directory (with an index or {@code *.safetensors} files), one {@code .safetensors} file,
 *              or a grouped checkpoint (one, or a folder of {@code ep-rank-R/} folders of one run), or a Hugging Face
 *              cache repository folder ({@code models--org--name/})
 * @param revision which snapshot of a cache repository folder {@code input} to read: a ref name ({@code main}, a
 *                 branch), a commit hash or a unique prefix of one; null reads {@code refs/main}. Refused for any
 *                 other input
 * @param output the directory to create
 * @param ranks which expert-parallel ranks to write
 * @param dtype the grouped expert tensors' dtype, or null to keep each layer's input dtype
 * @param keepFp8 group FP8 block-quantized experts as FP8 with grouped scales instead of dequantizing them
 * @param layout the grouped layout written, e.g. {@code gate_and_up_projs} [E, H, 2I] and {@code down_projs}
 *               [E, I, H] for {@link GroupedLayout#DEEPEP}
 * @param inputLayout a grouped input's layout where its names and shapes leave it ambiguous, or null to tell it
 * @param model the model family (a config.json {@code model_type}), or null to detect it
 * @param numExperts experts per layer in place of config.json's or the tensors', or null
 * @param lora the PEFT layout of the input's expert LoRA keys
 * @param writing how the output is written
 */
public record ToGroupedRequest(Path input, String revision, Path output, RankSelection ranks, DType dtype,
                               boolean keepFp8, GroupedLayout layout, GroupedLayout inputLayout, String model,
                               Integer numExperts, LoraInputFormat lora, OutputOptions writing)
        implements ConversionRequest {

    public ToGroupedRequest {
        if (keepFp8 && dtype != null) {
            throw new UsageException("keeping FP8 experts and converting them to " + dtype + " exclude each other");
        }
        if (numExperts != null && numExperts < 1) {
            throw new UsageException("--num-experts must be at least 1, got " + numExperts);
        }
    }

    /** {@code input} to {@code output} in the DeepEP layout, every expert in one checkpoint, dtypes kept. */
    public static ToGroupedRequest of(Path input, Path output) {
        return new ToGroupedRequest(input, null, output, RankSelection.none(), null, false, GroupedLayout.DEEPEP,
                null, null, null, LoraInputFormat.AUTO, OutputOptions.DEFAULTS);
    }

    /** The snapshot of a cache repository folder input; null reads {@code refs/main}. */
    @Override
    public ToGroupedRequest withRevision(String revision) {
        return new ToGroupedRequest(input, revision, output, ranks, dtype, keepFp8, layout, inputLayout, model,
                numExperts, lora, writing);
    }

    /** This request with a cache repository folder input replaced by the snapshot its revision names. */
    ToGroupedRequest atSnapshot() {
        return new ToGroupedRequest(InputPaths.atRevision(input, revision), null, output, ranks, dtype, keepFp8, layout,
                inputLayout, model, numExperts, lora, writing);
    }

    @Override
    public ToGroupedRequest withAbsolutePaths() {
        return new ToGroupedRequest(input.toAbsolutePath().normalize(), revision, output.toAbsolutePath().normalize(),
                ranks, dtype, keepFp8, layout, inputLayout, model, numExperts, lora, writing);
    }

    /** The same request into another output directory. */
    public ToGroupedRequest withOutput(Path output) {
        return new ToGroupedRequest(input, revision, output, ranks, dtype, keepFp8, layout, inputLayout, model,
                numExperts, lora, writing);
    }

    public ToGroupedRequest withRanks(RankSelection ranks) {
        return new ToGroupedRequest(input, revision, output, ranks, dtype, keepFp8, layout, inputLayout, model,
                numExperts, lora, writing);
    }

    /** The grouped experts' dtype; null keeps each layer's. */
    public ToGroupedRequest withDtype(DType dtype) {
        return new ToGroupedRequest(input, revision, output, ranks, dtype, false, layout, inputLayout, model,
                numExperts, lora, writing);
    }

    /** FP8 block-quantized experts grouped as FP8 with their scales, not dequantized. */
    public ToGroupedRequest withKeepFp8() {
        return new ToGroupedRequest(input, revision, output, ranks, null, true, layout, inputLayout, model, numExperts,
                lora, writing);
    }

    public ToGroupedRequest withLayout(GroupedLayout layout) {
        return new ToGroupedRequest(input, revision, output, ranks, dtype, keepFp8, layout, inputLayout, model,
                numExperts, lora, writing);
    }

    public ToGroupedRequest withInputLayout(GroupedLayout inputLayout) {
        return new ToGroupedRequest(input, revision, output, ranks, dtype, keepFp8, layout, inputLayout, model,
                numExperts, lora, writing);
    }

    /** The family by its config.json {@code model_type}; null detects it. */
    public ToGroupedRequest withModel(String model) {
        return new ToGroupedRequest(input, revision, output, ranks, dtype, keepFp8, layout, inputLayout, model,
                numExperts, lora, writing);
    }

    public ToGroupedRequest withNumExperts(Integer numExperts) {
        return new ToGroupedRequest(input, revision, output, ranks, dtype, keepFp8, layout, inputLayout, model,
                numExperts, lora, writing);
    }

    public ToGroupedRequest withLora(LoraInputFormat lora) {
        return new ToGroupedRequest(input, revision, output, ranks, dtype, keepFp8, layout, inputLayout, model,
                numExperts, lora, writing);
    }

    public ToGroupedRequest withWriting(OutputOptions writing) {
        return new ToGroupedRequest(input, revision, output, ranks, dtype, keepFp8, layout, inputLayout, model,
                numExperts, lora, writing);
    }

    /** The options that decide the output's bytes, for the plan's fingerprint (not paths, threads or device). */
    String outputShaping() {
        return "to-grouped ranks=" + ranks + " dtype=" + dtypeName() + " layout=" + layout + " inputLayout="
                + inputLayout + " model=" + model + " numExperts=" + numExperts + " lora=" + lora + " maxShardBytes="
                + writing.maxShardBytes();
    }

    /** How the dtype asked for reads in a manifest and in messages: keep, keep-fp8 or a dtype name. */
    String dtypeName() {
        return keepFp8 ? "keep-fp8" : dtype == null ? "keep" : dtype.name().toLowerCase(java.util.Locale.ROOT);
    }
}
