package dev.moeshard.cli;

import dev.moeshard.convert.LoraInputFormat;
import dev.moeshard.convert.RankSelection;
import dev.moeshard.convert.ToGroupedRequest;
import dev.moeshard.convert.UsageException;
import dev.moeshard.tensor.DType;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code moeshard to-grouped INPUT OUTPUT}: the options into a {@link ToGroupedRequest}, run by the library. */
@Command(name = "to-grouped", mixinStandardHelpOptions = true,
        description = "Converts a per-expert HF checkpoint, or a grouped one, to grouped experts in --layout.")
final class ToGroupedCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "INPUT",
            description = "A checkpoint directory (with an index or *.safetensors files), one .safetensors file, or "
                    + "a Hugging Face cache folder (models--ORG--NAME/).")
    Path input;

    @Parameters(index = "1", paramLabel = "OUTPUT", description = "The directory to create.")
    Path output;

    @Option(names = "--ep-size", paramLabel = "W", description = "Expert-parallel group size (default: no expert parallelism).")
    Integer epSize;

    @Option(names = "--ep-rank", paramLabel = "R", description = "The rank to write, below --ep-size.")
    Integer epRank;

    @Option(names = "--all-ranks", description = "Write every rank of --ep-size into OUTPUT/ep-rank-R/.")
    boolean allRanks;

    @Option(names = "--dtype", paramLabel = "keep|keep-fp8|bf16|f16|f32", defaultValue = "keep",
            description = "dtype of the grouped expert tensors (default: ${DEFAULT-VALUE}); other tensors are kept as they are. "
                    + "keep-fp8 groups FP8 block-quantized experts as FP8 with grouped scales instead of dequantizing them.")
    String dtype;

    @Option(names = "--layout", paramLabel = "deepep|grouped|hf-v5|vllm", defaultValue = "deepep",
            description = "The grouped layout to write (default: ${DEFAULT-VALUE}). INPUT may itself be grouped in any "
                    + "layout (one checkpoint or the ep-rank-R/ folders of one run): it is then regrouped directly.")
    String layoutName;

    @Option(names = "--input-layout", paramLabel = "auto|deepep|grouped|hf-v5|vllm", defaultValue = "auto",
            description = "The layout of a grouped INPUT, where its names, shapes, config.json and moeshard.json leave it "
                    + "ambiguous (default: ${DEFAULT-VALUE}).")
    String inputLayoutName;

    @Option(names = "--model", paramLabel = "auto|NAME", defaultValue = "auto",
            description = "The model family (a config.json model_type), or auto to tell it from config.json, else from "
                    + "the tensors (default: ${DEFAULT-VALUE}).")
    String model;

    @Option(names = "--num-experts", paramLabel = "N",
            description = "Experts per layer, in place of config.json's or the count the tensors suggest.")
    Integer numExperts;

    @Option(names = "--lora-format", paramLabel = "auto|per-expert|paramwrapper", defaultValue = "auto",
            description = "Which PEFT layout the input's expert LoRA keys are in: auto takes either (their names tell "
                    + "them apart), a layout named refuses input in the other (default: ${DEFAULT-VALUE}).")
    String loraFormat;

    @Mixin
    WriteOptions writing;

    @Mixin
    UnitOptions units;

    @Mixin
    RevisionOption cacheRevision;

    @Mixin
    OutputMode mode;

    @Mixin
    VerboseOption verbose;

    @Override
    public Integer call() {
        return units.run(request(), mode);
    }

    /** The request these options describe. */
    ToGroupedRequest request() {
        ToGroupedRequest request = ToGroupedRequest.of(input, output)
                .withRevision(cacheRevision.revision)
                .withRanks(ranks())
                .withLayout(Choices.layout("--layout", layoutName))
                .withInputLayout(Choices.layoutOrAuto("--input-layout", inputLayoutName))
                .withModel(model.equals("auto") ? null : model)
                .withNumExperts(numExperts)
                .withLora(switch (loraFormat.toLowerCase(Locale.ROOT)) {
                    case "auto" -> LoraInputFormat.AUTO;
                    case "per-expert" -> LoraInputFormat.PER_EXPERT;
                    case "paramwrapper" -> LoraInputFormat.PARAM_WRAPPER;
                    default -> throw new UsageException("--lora-format must be auto, per-expert or paramwrapper, got '"
                            + loraFormat + "'");
                })
                .withWriting(writing.toOptions());
        return dtype.equalsIgnoreCase("keep-fp8") ? request.withKeepFp8() : request.withDtype(parseDtype(dtype));
    }

    private RankSelection ranks() {
        if (epSize == null) {
            if (epRank != null || allRanks) {
                throw new UsageException("--ep-rank and --all-ranks need --ep-size");
            }
            return RankSelection.none();
        }
        if (epSize < 1) {
            throw new UsageException("--ep-size must be at least 1, got " + epSize);
        }
        if (allRanks == (epRank != null)) {
            throw new UsageException("with --ep-size give exactly one of --ep-rank R or --all-ranks");
        }
        return allRanks ? RankSelection.all(epSize) : RankSelection.one(epSize, epRank);
    }

    private static DType parseDtype(String text) {
        return switch (text.toLowerCase(Locale.ROOT)) {
            case "keep" -> null;
            case "bf16" -> DType.BF16;
            case "f16" -> DType.F16;
            case "f32" -> DType.F32;
            default -> throw new UsageException("--dtype must be keep, keep-fp8, bf16, f16 or f32, got '" + text + "'");
        };
    }
}
