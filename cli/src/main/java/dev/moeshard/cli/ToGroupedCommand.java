package dev.moeshard.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.moeshard.moe.ExpertNaming;
import dev.moeshard.moe.FromHfOptions;
import dev.moeshard.moe.GroupedLayout;
import dev.moeshard.moe.MoeStateDictAdapter;
import dev.moeshard.moe.ToHfOptions;
import dev.moeshard.moe.family.ModelFamily;
import dev.moeshard.moe.quant.Fp8BlockDequantizer;
import dev.moeshard.moe.parallel.DeviceMesh;
import dev.moeshard.moe.parallel.ExpertRange;
import dev.moeshard.safetensors.ShardLayout;
import dev.moeshard.safetensors.ShardedCheckpointWriter;
import dev.moeshard.safetensors.TensorSpec;
import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.Tensor;
import dev.moeshard.tensor.copy.CopyEngine;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/**
 * {@code moeshard to-grouped INPUT OUTPUT}: a per-expert HF checkpoint to the grouped layout, for one rank, every rank,
 * or no expert parallelism at all.
 *
 * <p>Plan, then execute. The plan reads headers only and refuses the whole job, listing every problem, before the
 * output exists. The execution maps each rank's output shards and lets {@link MoeStateDictAdapter#loadInto} copy every
 * expert straight from the mapped input into the mapped grouped tensors: the adapter decides names and layouts, and no
 * tensor is ever held whole in memory. Everything is written into a hidden sibling of OUTPUT that is renamed into
 * place at the end.
 */
@Command(name = "to-grouped", mixinStandardHelpOptions = true,
        description = "Converts a per-expert HF checkpoint, or a grouped one, to grouped experts in --layout.")
final class ToGroupedCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "INPUT",
            description = "A checkpoint directory (with an index or *.safetensors files) or one .safetensors file.")
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
    CopyOptions copy;

    @Mixin
    VerboseOption verbose;

    @Mixin
    WriteOptions writing;

    @Spec
    CommandSpec spec;

    static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    private GroupedLayout layout = GroupedLayout.DEEPEP;

    /** One rank's part of the job: its mesh (null without expert parallelism), its experts and its tensors. */
    private record RankJob(DeviceMesh mesh, ExpertRange range, GroupedPlan plan, ExpertSurvey survey, String subdirectory) {}

    @Override
    public Integer call() throws IOException {
        DType outputDtype = parseDtype(dtype);
        LoraPlan.Expected expectedLora = switch (loraFormat.toLowerCase(Locale.ROOT)) {
            case "auto" -> LoraPlan.Expected.AUTO;
            case "per-expert" -> LoraPlan.Expected.PER_EXPERT;
            case "paramwrapper" -> LoraPlan.Expected.PARAM_WRAPPER;
            default -> throw new UsageException("--lora-format must be auto, per-expert or paramwrapper, got '" + loraFormat + "'");
        };
        long maxShardBytes = writing.maxShardBytes();
        GroupedLayout layout = LayoutOption.parse("--layout", layoutName);
        GroupedLayout inputLayout = inputLayoutName.equalsIgnoreCase("auto") ? null
                : LayoutOption.parse("--input-layout", inputLayoutName);
        checkRanks();
        CopyEngine engine = copy.engine();
        copies = copy.layerCopies();
        writing.requireWritable(output);
        Progress progress = writing.progress(spec.commandLine().getErr());
        long start = System.nanoTime();
        if (GroupedToGrouped.isGroupedInput(input)) {
            new GroupedToGrouped(this, inputLayout, layout, outputDtype, maxShardBytes, progress).run(start);
            return ExitCode.OK;
        }
        this.layout = layout;
        try (ModelInput in = ModelInput.open(input, model, numExperts)) {
            List<RankJob> jobs = plan(in, outputDtype, expectedLora);
            long total = 0;
            for (RankJob job : jobs) {
                for (TensorSpec s : job.plan().specs()) {
                    total += s.byteSize();
                }
            }
            long[] done = {0};
            long bytes = 0;
            int tensors = 0;
            try (StagedDirectory staged = StagedDirectory.create(output, writing.force)) {
                for (RankJob job : jobs) {
                    Path dir = job.subdirectory() == null ? staged.path() : staged.path().resolve(job.subdirectory());
                    write(in, job, outputDtype, maxShardBytes, dir, engine, progress, done, total, start);
                    for (TensorSpec s : job.plan().specs()) {
                        bytes += s.byteSize();
                    }
                    tensors += job.plan().specs().size();
                    progress.line("wrote %s: experts [%d, %d), %d tensors", job.subdirectory() == null ? output
                            : output.resolve(job.subdirectory()), job.range().start(), job.range().end(),
                            job.plan().specs().size());
                }
                staged.commit();
            }
            double seconds = (System.nanoTime() - start) / 1e9;
            progress.line("done: %d tensors, %d bytes in %.2f s (%.2f GB/s) -> %s", tensors, bytes, seconds,
                    bytes / seconds / 1e9, output);
        }
        return ExitCode.OK;
    }

    void checkRanks() {
        if (epSize == null) {
            if (epRank != null || allRanks) {
                throw new UsageException("--ep-rank and --all-ranks need --ep-size");
            }
            return;
        }
        if (epSize < 1) {
            throw new UsageException("--ep-size must be at least 1, got " + epSize);
        }
        if (allRanks == (epRank != null)) {
            throw new UsageException("with --ep-size give exactly one of --ep-rank R or --all-ranks");
        }
        if (epRank != null && (epRank < 0 || epRank >= epSize)) {
            throw new UsageException("--ep-rank must lie in [0, " + epSize + "), got " + epRank);
        }
    }

    /** Every rank's plan, or every problem with the input for any of them. */
    private List<RankJob> plan(ModelInput in, DType outputDtype, LoraPlan.Expected expectedLora) {
        int experts = in.model().config().numExperts();
        if (isGptOss(in)) {
            if (layout != GroupedLayout.DEEPEP) {
                throw new InvalidInputException(input.toString(), List.of("--layout " + layout.cliName() + ": GPT-OSS "
                        + "experts are kept in their own interleaved layout; use the default --layout deepep"));
            }
            return planGptOss(in, outputDtype);
        }
        Set<String> problems = new LinkedHashSet<>(GroupedPlan.unsupported(in.checkpoint(), in.model().family(), in.model().config()));
        if (epSize != null && epSize > experts) {
            problems.add("--ep-size " + epSize + " is more ranks than the model's " + experts + " experts");
        }
        ExpertSurvey survey = new ExpertSurvey(in.checkpoint(), in.model());
        LoraPlan lora = LoraPlan.of(in.checkpoint(), in.model().family().naming(), in.model().config(), expectedLora);
        problems.addAll(lora.problems());
        if (survey.layers().isEmpty() && lora.specs().isEmpty() && problems.isEmpty()
                && GroupedPlan.fusedCount(in.checkpoint(), in.model().family().naming()) == 0) {
            problems.add("no per-expert tensors found under " + in.model().family().naming().segment());
        }
        problems.addAll(QuantizationCheck.problems(in.checkpoint()));
        if (keepFp8()) {
            problems.addAll(KeptFp8Plan.problems(in.checkpoint(), in.model().config()));
        }
        if (!problems.isEmpty()) {
            throw new InvalidInputException(input.toString(), new ArrayList<>(problems));
        }
        // Every rank is checked before any is planned, so that the list names what all of them lack.
        List<RankJob> jobs = new ArrayList<>();
        List<Integer> ranks = epSize == null ? List.of(0) : allRanks ? rangeOf(epSize) : List.of(epRank);
        for (int rank : ranks) {
            DeviceMesh mesh = epSize == null ? null : DeviceMesh.expertParallel(epSize, rank);
            ExpertRange range = ExpertRange.forMesh(mesh, experts);
            problems.addAll(survey.problems(range, mesh));
            if (problems.isEmpty()) {
                GroupedPlan plan = GroupedPlan.of(in.checkpoint(), survey, in.model().family(), in.model().config(),
                        range, outputDtype, lora, layout);
                if (keepFp8()) {
                    plan = KeptFp8Plan.apply(plan, in.checkpoint(), in.model(), range);
                }
                jobs.add(new RankJob(mesh, range, plan, survey, allRanks ? "ep-rank-" + rank : null));
            }
        }
        if (!problems.isEmpty()) {
            throw new InvalidInputException(input.toString(), new ArrayList<>(problems));
        }
        return jobs;
    }

    private static boolean isGptOss(ModelInput in) {
        return in.model().family().layout() == ModelFamily.Layout.GPT_OSS_GROUPED;
    }

    /** GPT-OSS is grouped on disk already: each rank's tensors are the conversion's renamed, narrowed views. */
    private List<RankJob> planGptOss(ModelInput in, DType outputDtype) {
        int experts = in.model().config().numExperts();
        List<String> problems = new ArrayList<>(GptOssLayout.problems(in.checkpoint(), experts));
        if (outputDtype != null && !GptOssLayout.hasMxfp4(in.checkpoint())) {
            problems.add("--dtype " + dtype + ": GPT-OSS experts are renamed and cut, not converted; use --dtype keep"
                    + " (--dtype applies only to MXFP4 experts, which are decoded)");
        }
        if (epSize != null && epSize > experts) {
            problems.add("--ep-size " + epSize + " is more ranks than the model's " + experts + " experts");
        }
        if (!problems.isEmpty()) {
            throw new InvalidInputException(input.toString(), problems);
        }
        List<RankJob> jobs = new ArrayList<>();
        List<Integer> ranks = epSize == null ? List.of(0) : allRanks ? rangeOf(epSize) : List.of(epRank);
        for (int rank : ranks) {
            DeviceMesh mesh = epSize == null ? null : DeviceMesh.expertParallel(epSize, rank);
            List<TensorSpec> specs = new ArrayList<>();
            GptOssLayout.grouped(in.checkpoint(), experts, mesh, outputDtype).forEach((k, v) -> specs.add(v.spec(k)));
            jobs.add(new RankJob(mesh, ExpertRange.forMesh(mesh, experts), new GroupedPlan(List.copyOf(specs), Set.of()),
                    null, allRanks ? "ep-rank-" + rank : null));
        }
        return jobs;
    }

    private void writeGptOss(ModelInput in, RankJob job, DType outputDtype, long maxShardBytes, Path dir, CopyEngine engine,
                             Progress progress, long[] done, long total, long start) {
        try (ShardedCheckpointWriter out = ShardedCheckpointWriter.open(dir,
                ShardLayout.of(job.plan().specs(), maxShardBytes), Map.of("format", "pt"))) {
            String layer = null;
            for (Map.Entry<String, GptOssSource> e : GptOssLayout.grouped(in.checkpoint(),
                    in.model().config().numExperts(), job.mesh(), outputDtype).entrySet()) {
                Tensor target = out.tensor(e.getKey());
                e.getValue().writeInto(target, engine);
                MappedPages.release(target);
                done[0] += target.byteSize();
                if (GptOssLayout.isExpertKey(e.getKey())) {
                    layer = e.getKey().substring(0, e.getKey().indexOf(".mlp.experts."));
                } else if (layer != null) {
                    progress.step("layer " + layer + " (experts [" + job.range().start() + ", " + job.range().end()
                            + "))", done[0], total, start);
                    layer = null;
                }
            }
            out.commit();
        }
    }

    private void write(ModelInput in, RankJob job, DType outputDtype, long maxShardBytes, Path dir, CopyEngine engine,
                       Progress progress, long[] done, long total, long start) throws IOException {
        if (isGptOss(in)) {
            writeGptOss(in, job, outputDtype, maxShardBytes, dir, engine, progress, done, total, start);
        } else {
            writePerExpert(in, job, outputDtype, maxShardBytes, dir, engine, progress, done, total, start);
        }
        if (in.configFile().isPresent()) {
            Files.copy(in.configFile().get(), dir.resolve("config.json"));
        }
        int[] ep = job.mesh() == null ? new int[] {1, 0} : new int[] {job.mesh().size("ep"), job.mesh().localRank("ep")};
        GroupedManifest manifest = new GroupedManifest(in.checkpoint().path().toAbsolutePath().toString(),
                in.model().family().modelType(), isGptOss(in) ? "gpt-oss" : layout.cliName(),
                in.model().config().numExperts(), ep[0], ep[1],
                job.range().start(), job.range().end(), outputDtype == null ? "keep" : outputDtype.name(),
                "moeshard", Version.current());
        Files.write(dir.resolve(GroupedManifest.FILE_NAME), JSON.writeValueAsBytes(manifest));
    }

    /** Where the experts' copies run (chosen by --device before anything is written). */
    private LayerCopies copies;

    private void writePerExpert(ModelInput in, RankJob job, DType outputDtype, long maxShardBytes, Path dir,
                                CopyEngine engine, Progress progress, long[] done, long total, long start) {
        GroupedPlan plan = job.plan();
        Set<String> planned = new LinkedHashSet<>();
        plan.specs().forEach(s -> planned.add(s.name()));
        try (ShardedCheckpointWriter out = ShardedCheckpointWriter.open(dir,
                ShardLayout.of(plan.specs(), maxShardBytes), Map.of("format", "pt"));
             StagedWrites staged = new StagedWrites(engine, out)) {
            // The per-expert slices of the grouped tensors, as views of the mapped output shards: each expert is
            // copied straight from the mapped input into its slice. Registered as write-through with the adapter, so
            // that its fromHf below leaves these grouped tensors alone.
            MoeStateDictAdapter adapter = in.model().adapter(layout);
            ToHfOptions targetsOptions = ToHfOptions.defaults().withWriteThrough(true).withLocalExperts(job.range());
            Map<String, Tensor> targets = new HashMap<>();
            for (String key : plan.groupedKeys()) {
                for (Map.Entry<String, Tensor> t : adapter.toHf(key, out.tensor(key), targetsOptions)) {
                    targets.put(t.getKey(), t.getValue());
                }
            }
            Map<String, Tensor> hf = ModelInput.views(in.checkpoint());
            ExpertNaming naming = in.model().family().naming();
            DequantizedExperts fp8Experts = new DequantizedExperts(staged);
            for (ExpertSurvey.Layer layer : job.survey().layers()) {
                List<Tensor> groupedOutputs = new ArrayList<>();
                for (String name : layout.tensorNames(in.model().config().gated())) {
                    String key = layout.key(naming, layer.prefix(), layer.layer(), name);
                    if (plan.groupedKeys().contains(key)) {
                        groupedOutputs.add(out.tensor(key));
                    }
                }
                long bytes = 0;
                int experts = 0;
                List<Tensor> layerTargets = new ArrayList<>();
                List<Tensor> layerSources = new ArrayList<>();
                List<String> layerKeys = new ArrayList<>();
                for (String key : job.survey().keysOf(layer)) {
                    Tensor target = targets.get(key);
                    if (target == null) {
                        continue; // another rank's expert
                    }
                    Tensor source = hf.get(key);
                    Tensor scale = hf.get(key + Fp8BlockDequantizer.SCALE_SUFFIX);
                    layerKeys.add(key);
                    bytes += target.byteSize();
                    experts++;
                    if (scale != null && source.dtype().isFp8() && !keepFp8()) {
                        if (copies.writesTargetsInPlace()) {
                            // Dequantized into scratch and written an expert at a time, before the scratch is reused.
                            fp8Experts.add(naming.parsePerExpert(key).expert(), target, source, scale, key,
                                    groupedOutputs);
                            continue;
                        }
                        // The device path uploads a layer's sources together, so each expert has its own.
                        source = Fp8BlockDequantizer.dequantize(source, scale, target.dtype(), key);
                    }
                    layerTargets.add(target);
                    layerSources.add(source);
                }
                fp8Experts.flush();
                copies.copyLayer(layerTargets, layerSources, groupedOutputs, staged);
                // The layer's grouped tensors are complete: the disk takes them while the next layer is built, and
                // their pages, like the input's, leave this process.
                out.startWriteBack(groupedOutputs.stream().map(Tensor::segment).toList());
                layerKeys.forEach(key -> MappedPages.release(hf.get(key)));
                groupedOutputs.forEach(MappedPages::release);
                done[0] += bytes;
                progress.step("layer " + layer.prefix() + "layers." + layer.layer() + " (" + experts + " expert tensors)",
                        done[0], total, start);
            }
            // Everything else, written as the adapter emits it, so that no converted tensor waits in memory.
            FromHfOptions options = FromHfOptions.defaults().withMesh(job.mesh()).withOutputDtype(outputDtype)
                    .withKeepFp8(keepFp8());
            if (!keepFp8()) {
                dequantizeInPlace(hf, out, planned, plan.groupedKeys(), options.dequantizedDtype(), done);
            }
            adapter.fromHf(hf, options, (key, value) -> {
                if (!planned.contains(key) || plan.groupedKeys().contains(key)) {
                    throw new IllegalStateException("the adapter produced " + key + ", which the plan did not expect");
                }
                Tensor target = out.tensor(key);
                staged.copy(target, value);
                MappedPages.release(target);
                MappedPages.release(value);
                done[0] += target.byteSize();
            });
            if (!adapter.viewLoadedKeys().containsAll(plan.groupedKeys())) {
                throw new IllegalStateException("the adapter did not fill the planned grouped tensors "
                        + plan.groupedKeys() + "; it filled " + adapter.viewLoadedKeys());
            }
            out.commit();
        }
    }

    /**
     * Dequantizes the FP8 weights outside the routed experts (attention, shared experts, dense MLPs) straight into
     * their place in the output and takes them and their scales out of {@code hf}, where the output holds them in
     * the dtype the adapter would dequantize them to: the adapter would give each its own temporary, freed only
     * when the collector next runs, which over a large checkpoint is gigabytes of memory held for nothing.
     */
    private static void dequantizeInPlace(Map<String, Tensor> hf, ShardedCheckpointWriter out, Set<String> planned,
                                          Set<String> groupedKeys, DType dequantizedDtype, long[] done) {
        for (String key : new ArrayList<>(hf.keySet())) {
            Tensor value = hf.get(key);
            Tensor scale = hf.get(key + Fp8BlockDequantizer.SCALE_SUFFIX);
            if (scale == null || !value.dtype().isFp8() || !planned.contains(key) || groupedKeys.contains(key)) {
                continue;
            }
            Tensor target = out.tensor(key);
            if (target.dtype() != dequantizedDtype || !target.isContiguous()
                    || !Arrays.equals(target.sizes(), value.sizes())) {
                continue;
            }
            Fp8BlockDequantizer.dequantizeInto(value, scale, target, key);
            hf.remove(key);
            hf.remove(key + Fp8BlockDequantizer.SCALE_SUFFIX);
            MappedPages.release(target);
            MappedPages.release(value);
            done[0] += target.byteSize();
        }
    }

    static List<Integer> rangeOf(int n) {
        List<Integer> out = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            out.add(i);
        }
        return out;
    }

    private boolean keepFp8() {
        return dtype.equalsIgnoreCase("keep-fp8");
    }

    static DType parseDtype(String text) {
        return switch (text.toLowerCase(Locale.ROOT)) {
            case "keep", "keep-fp8" -> null;
            case "bf16" -> DType.BF16;
            case "f16" -> DType.F16;
            case "f32" -> DType.F32;
            default -> throw new UsageException("--dtype must be keep, keep-fp8, bf16, f16 or f32, got '" + text + "'");
        };
    }
}
