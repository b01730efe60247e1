package dev.moeshard.cli;

import dev.moeshard.convert.Quantization;
import dev.moeshard.convert.ToHfRequest;
import dev.moeshard.convert.UsageException;
import dev.moeshard.moe.ToHfOptions;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code moeshard to-hf INPUT... OUTPUT}: the options into a {@link ToHfRequest}, run by the library. */
@Command(name = "to-hf", mixinStandardHelpOptions = true,
        customSynopsis = "moeshard to-hf [OPTIONS] INPUT... OUTPUT",
        description = "Converts grouped checkpoints (one, or every rank of one expert-parallel run) back to one "
                + "per-expert HF checkpoint.")
final class ToHfCommand implements Callable<Integer> {
    @Parameters(arity = "2..*", paramLabel = "INPUT... OUTPUT", hideParamSyntax = true,
            description = "Grouped checkpoints (or one directory holding ep-rank-R/ folders), then the directory to create.")
    List<Path> paths;

    @Option(names = "--layout", paramLabel = "auto|deepep|grouped|hf-v5|vllm", defaultValue = "auto",
            description = "The grouped inputs' layout, where their names, shapes, config.json and moeshard.json leave "
                    + "it ambiguous (default: ${DEFAULT-VALUE}).")
    String layoutName;

    @Option(names = "--lora-format", paramLabel = "per-expert|paramwrapper", defaultValue = "per-expert",
            description = "The PEFT layout grouped expert LoRA tensors are written in: per-expert keys "
                    + "(transformers v4) or ParamWrapper keys of fused experts (v5) (default: ${DEFAULT-VALUE}).")
    String loraFormat;

    @Option(names = "--quantize", paramLabel = "fp8-block128|none", defaultValue = "none",
            description = "Write expert and attention projections as F8_E4M3 with 128x128 block scales "
                    + "(weight_scale_inv), as DeepSeek-V3 checkpoints are (default: ${DEFAULT-VALUE}).")
    String quantize;

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
    ToHfRequest request() {
        return ToHfRequest.of(paths.subList(0, paths.size() - 1), paths.get(paths.size() - 1))
                .withRevision(cacheRevision.revision)
                .withLayout(Choices.layoutOrAuto("--layout", layoutName))
                .withLora(switch (loraFormat.toLowerCase(Locale.ROOT)) {
                    case "per-expert" -> ToHfOptions.LoraFormat.PER_EXPERT;
                    case "paramwrapper" -> ToHfOptions.LoraFormat.PARAM_WRAPPER;
                    default -> throw new UsageException("--lora-format must be per-expert or paramwrapper, got '"
                            + loraFormat + "'");
                })
                .withQuantization(switch (quantize.toLowerCase(Locale.ROOT)) {
                    case "none" -> Quantization.NONE;
                    case "fp8-block128" -> Quantization.FP8_BLOCK128;
                    default -> throw new UsageException("--quantize must be fp8-block128 or none, got '" + quantize + "'");
                })
                .withWriting(writing.toOptions());
    }
}
