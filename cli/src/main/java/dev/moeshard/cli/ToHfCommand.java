package dev.moeshard.cli;

import dev.moeshard.moe.ToHfOptions;
import dev.moeshard.moe.lora.LoraExpertSuffix;
import dev.moeshard.safetensors.ShardLayout;
import dev.moeshard.safetensors.ShardedCheckpointWriter;
import dev.moeshard.safetensors.TensorSpec;
import dev.moeshard.tensor.Tensor;
import dev.moeshard.tensor.copy.CopyEngine;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/**
 * {@code moeshard to-hf INPUT... OUTPUT}: one grouped checkpoint, or the rank directories of one expert-parallel run,
 * back to one per-expert HF checkpoint, merged by global expert id.
 *
 * <p>Plan, then execute, as to-grouped does. The plan reads headers and manifests only and refuses the job, listing
 * every problem, when an expert is held by no rank or by two, or shapes disagree. The execution maps the output
 * shards and copies each per-expert tensor straight from a transposed view of the mapped grouped input into its
 * mapped output slice; non-expert tensors are taken once, from the first rank.
 */
@Command(name = "to-hf", mixinStandardHelpOptions = true,
        description = "Converts grouped checkpoints (one, or every rank of one expert-parallel run) back to one "
                + "per-expert HF checkpoint.")
final class ToHfCommand implements Callable<Integer> {
    @Parameters(arity = "2..*", paramLabel = "INPUT... OUTPUT",
            description = "Grouped checkpoints (or one directory holding ep-rank-R/ folders), then the directory to create.")
    List<Path> paths;

    @Option(names = "--layout", paramLabel = "auto|deepep|grouped|hf-v5|vllm", defaultValue = "auto",
            description = "The grouped inputs' layout, where their names, shapes, config.json and moeshard.json leave "
                    + "it ambiguous (default: ${DEFAULT-VALUE}).")
    String layoutName;

    @Mixin
    VerboseOption verbose;

    @Mixin
    WriteOptions writing;

    @Option(names = "--lora-format", paramLabel = "per-expert|paramwrapper", defaultValue = "per-expert",
            description = "The PEFT layout grouped expert LoRA tensors are written in: per-expert keys "
                    + "(transformers v4) or ParamWrapper keys of fused experts (v5) (default: ${DEFAULT-VALUE}).")
    String loraFormat;

    @Option(names = "--quantize", paramLabel = "fp8-block128|none", defaultValue = "none",
            description = "Write expert and attention projections as F8_E4M3 with 128x128 block scales "
                    + "(weight_scale_inv), as DeepSeek-V3 checkpoints are (default: ${DEFAULT-VALUE}).")
    String quantize;

    @Mixin
    CopyOptions copy;

    @Spec
    CommandSpec spec;

    /**
     * Where an output tensor's data comes from: {@code view} is all of it, or, for a GPT-OSS expert tensor, the
     * experts from {@code at} on along its first axis.
     */
    private record Source(String name, Tensor view, long at) {
        Source(String name, Tensor view) {
            this(name, view, -1);
        }
    }

    @Override
    public Integer call() throws IOException {
        List<Path> inputs = paths.subList(0, paths.size() - 1);
        Path output = paths.get(paths.size() - 1);
        long maxShardBytes = writing.maxShardBytes();
        ToHfOptions.LoraFormat lora = switch (loraFormat.toLowerCase(Locale.ROOT)) {
            case "per-expert" -> ToHfOptions.LoraFormat.PER_EXPERT;
            case "paramwrapper" -> ToHfOptions.LoraFormat.PARAM_WRAPPER;
            default -> throw new UsageException("--lora-format must be per-expert or paramwrapper, got '" + loraFormat + "'");
        };
        Requantization requantization = Requantization.parse(quantize);
        CopyEngine engine = copy.engine();
        writing.requireWritable(output);
        Progress progress = writing.progress(spec.commandLine().getErr());
        long start = System.nanoTime();
        try (GroupedRanks ranks = GroupedRanks.open(inputs, null, LayoutOption.parseOrAuto("--layout", layoutName))) {
            List<String> problems = ranks.problems();
            if (!problems.isEmpty()) {
                throw new InvalidInputException(String.join(", ", inputs.stream().map(Path::toString).toList()), problems);
            }
            // Grouped key -> its per-expert tensors from every rank; other keys map to themselves, from rank 0.
            Map<String, List<Source>> plan = plan(ranks, lora);
            List<TensorSpec> specs = new ArrayList<>();
            for (List<Source> sources : plan.values()) {
                if (sources.get(0).at() < 0) {
                    sources.forEach(s -> specs.addAll(requantization.specs(s.name(), s.view())));
                } else { // one tensor of every rank's experts
                    long[] shape = sources.get(0).view().sizes();
                    shape[0] = sources.stream().mapToLong(s -> s.view().size(0)).sum();
                    specs.add(new TensorSpec(sources.get(0).name(), sources.get(0).view().dtype(), shape));
                }
            }
            long total = specs.stream().mapToLong(TensorSpec::byteSize).sum();
            long bytes = 0;
            try (StagedDirectory staged = StagedDirectory.create(output, writing.force)) {
                try (ShardedCheckpointWriter out = ShardedCheckpointWriter.open(staged.path(),
                        ShardLayout.of(specs, maxShardBytes), Map.of("format", "pt"));
                     StagedWrites writes = new StagedWrites(engine, out)) {
                    for (Map.Entry<String, List<Source>> group : plan.entrySet()) {
                        long groupBytes = 0;
                        List<MemorySegment> written = new ArrayList<>();
                        for (Source s : group.getValue()) {
                            // The output view is a slice of the shard, the source a view of the mapped input; the
                            // engine lays the transposed source out contiguously on the way into the shard.
                            Tensor target = out.tensor(s.name());
                            if (s.at() >= 0) {
                                target = target.narrow(0, s.at(), s.view().size(0));
                            }
                            if (!requantization.write(s.name(), s.view(), out)) {
                                writes.copy(target, s.view());
                            }
                            // Done with these pages; they stay in the page cache but leave the resident set.
                            MappedPages.release(target);
                            written.add(target.segment());
                            groupBytes += s.view().byteSize();
                        }
                        bytes += groupBytes;
                        if (group.getValue().size() > 1) { // a grouped tensor's experts: to disk while the next is split
                            out.startWriteBack(written);
                        }
                        if (ranks.isGroupedExpertKey(group.getKey()) || ranks.isGptOssExpertKey(group.getKey())) {
                            for (GroupedRanks.Rank r : ranks.ranks()) {
                                if (r.checkpoint().contains(group.getKey())) {
                                    MappedPages.release(r.checkpoint().tensor(group.getKey()));
                                }
                            }
                            progress.step("split " + group.getKey() + " (" + group.getValue().size() + " tensors)",
                                    bytes, total, start);
                        }
                    }
                    out.commit();
                }
                if (ranks.configFile().isPresent()) {
                    Files.copy(ranks.configFile().get(), staged.path().resolve("config.json"));
                }
                staged.commit();
            }
            double seconds = (System.nanoTime() - start) / 1e9;
            progress.line("done: %d tensors from %d rank%s, %d bytes in %.2f s (%.2f GB/s) -> %s", specs.size(),
                    ranks.ranks().size(), ranks.ranks().size() == 1 ? "" : "s", bytes, seconds, bytes / seconds / 1e9,
                    output);
        }
        return ExitCode.OK;
    }

    /** The output tensors in order: rank 0's key order, each grouped key expanded over all ranks by expert id. */
    private static Map<String, List<Source>> plan(GroupedRanks ranks, ToHfOptions.LoraFormat lora) {
        Map<String, List<Source>> plan = new LinkedHashMap<>();
        GroupedRanks.Rank first = ranks.ranks().get(0);
        Map<String, String> gptOssNames = ranks.isGptOss()
                ? GptOssLayout.hfNames(first.checkpoint(), ranks.model().config().numExperts()) : Map.of();
        for (String key : first.checkpoint().keys()) {
            List<Source> sources = new ArrayList<>();
            if (ranks.isGptOssExpertKey(key)) {
                // Renamed back, each rank's experts at their place along the first axis.
                for (GroupedRanks.Rank r : ranks.byFirstExpert()) {
                    sources.add(new Source(gptOssNames.get(key), r.checkpoint().tensor(key), r.range().start()));
                }
            } else if (ranks.isGptOss()) {
                sources.add(new Source(gptOssNames.get(key), first.checkpoint().tensor(key)));
            } else if (ranks.isGroupedExpertKey(key)) {
                for (GroupedRanks.Rank r : ranks.byFirstExpert()) {
                    for (Map.Entry<String, Tensor> e : ranks.perExpertViews(r, key)) {
                        sources.add(new Source(e.getKey(), e.getValue()));
                    }
                }
            } else if (LoraExpertSuffix.of(key, ranks.model().family().naming().segment()) != null) {
                // Grouped LoRA is whole on every rank and small (r/H of the experts): the adapter's own conversion,
                // in memory, gives its PEFT tensors.
                for (Map.Entry<String, Tensor> e : ranks.model().adapter().toHf(key, first.checkpoint().tensor(key),
                        ToHfOptions.defaults().withLoraFormat(lora))) {
                    sources.add(new Source(e.getKey(), e.getValue()));
                }
            } else {
                sources.add(new Source(key, first.checkpoint().tensor(key)));
            }
            plan.put(key, sources);
        }
        return plan;
    }
}
