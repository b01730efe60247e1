package dev.moeshard.convert;

import dev.moeshard.moe.ExpertNaming;
import dev.moeshard.moe.FromHfOptions;
import dev.moeshard.moe.GroupedLayout;
import dev.moeshard.moe.MoeStateDictAdapter;
import dev.moeshard.moe.family.ModelFamily;
import dev.moeshard.moe.parallel.DeviceMesh;
import dev.moeshard.moe.parallel.ExpertRange;
import dev.moeshard.moe.quant.Fp8BlockDequantizer;
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
import java.util.Map;
import java.util.Set;

/**
 * A per-expert HF checkpoint to the grouped layout, for one rank, every rank, or no expert parallelism at all.
 *
 * <p>Plan, then execute. The plan reads headers only and refuses the whole job, listing every problem, before the
 * output exists. The execution maps each rank's output shards and lets {@link MoeStateDictAdapter#loadInto} copy every
 * expert straight from the mapped input into the mapped grouped tensors: the adapter decides names and layouts, and no
 * tensor is ever held whole in memory. Everything is written into a hidden sibling of the output that is renamed into
 * place at the end.
 */
final class ToGrouped {
    private final ToGroupedRequest request;
    private final ModelInput in;
    private final LayerCopies copies;
    private final CopyEngine engine;
    /** Each rank's grouped tensors, by rank. */
    private final Map<Integer, GroupedPlan> plans = new HashMap<>();
    private ExpertSurvey survey;
    /** What the last unit copied beside its weights (the same for every unit). */
    private SideFiles.Copied copied = new SideFiles.Copied(List.of(), List.of());
    private LoraPlan lora;
    /** A family grouped on disk written into a layout other than its own, or null. */
    private OnDiskRegrouping regrouping;

    private ToGrouped(ToGroupedRequest request, ModelInput in, LayerCopies copies) {
        this.request = request;
        this.in = in;
        this.copies = copies;
        this.engine = request.writing().engine();
    }

    static ConversionReport run(ToGroupedRequest asked, ProgressListener listener) {
        long start = System.nanoTime();
        asked.writing().requireWritable(asked.output(), List.of(asked.input())); // the whole cache folder, if one
        ToGroupedRequest request = asked.atSnapshot();
        LayerCopies copies = LayerCopies.on(request.writing().device());
        if (GroupedToGrouped.isGroupedInput(request.input())) {
            return GroupedToGrouped.run(request, listener, start);
        }
        try (ModelInput in = ModelInput.open(request.input(), request.model(), request.numExperts())) {
            ToGrouped job = new ToGrouped(request, in, copies);
            List<RankUnit> units = job.plan();
            String layoutName = job.layoutWritten();
            List<ConversionReport.WrittenCheckpoint> written = StagedRun.run(request.output(),
                    request.writing().replaceExisting(), units, null, new InputGuard(List.of(in.checkpoint())), job::write,
                    listener);
            List<String> decisions = new ArrayList<>(List.of(
                    "family " + in.model().family().modelType() + " from " + in.detectedFrom(),
                    "per-expert input written as " + layoutName,
                    "expert copies on " + (job.isGroupedOnDisk() ? "cpu" : copies.where())));
            decisions.addAll(job.copied.decisions());
            return Reports.of(request.output(), written, start, decisions);
        }
    }

    /** The plan of {@code request}, from headers alone; nothing is written. */
    static ConversionPlan plan(ToGroupedRequest asked) {
        ToGroupedRequest request = asked.atSnapshot();
        if (GroupedToGrouped.isGroupedInput(request.input())) {
            return GroupedToGrouped.plan(request);
        }
        try (ModelInput in = ModelInput.open(request.input(), request.model(), request.numExperts())) {
            ToGrouped job = new ToGrouped(request, in, LayerCopies.onCpu());
            return job.describe(job.plan());
        }
    }

    private ConversionPlan describe(List<RankUnit> units) {
        List<String> extra = SideFiles.planned(inputDir(), in.configFile());
        List<WorkUnit> described = new ArrayList<>();
        for (RankUnit unit : units) {
            described.add(unit.describe(reads(unit), request.writing().maxShardBytes(), extra));
        }
        return new ConversionPlan("to-grouped", request.input().toString(), request.output().toString(),
                PlanFingerprint.of(List.of(in.checkpoint()), request.outputShaping()), described);
    }

    /**
     * The input bytes {@code unit} reads: its experts' tensors (with their scales), its experts' rows of fused and
     * GPT-OSS expert tensors, and every other tensor whole (LoRA is grouped whole on every rank).
     */
    private List<ByteRange> reads(RankUnit unit) {
        ReadSet reads = new ReadSet(in.checkpoint());
        ExpertNaming naming = in.model().family().naming();
        ExpertRange range = unit.range();
        for (String key : in.checkpoint().keys()) {
            if (isGroupedOnDisk()) {
                if (GroupedOnDiskLayout.isExpertKey(in.model().family(), key)) {
                    reads.leadingRows(key, range.start(), range.count());
                } else {
                    reads.whole(key);
                }
                continue;
            }
            String weight = key.endsWith(Fp8BlockDequantizer.SCALE_SUFFIX)
                    ? key.substring(0, key.length() - Fp8BlockDequantizer.SCALE_SUFFIX.length()) : key;
            ExpertNaming.ExpertKey expert = naming.parsePerExpert(weight);
            if (expert != null && !lora.inputKeys().contains(key)) {
                if (range.contains(expert.expert())) {
                    reads.whole(key);
                }
            } else if (GroupedPlan.fusedGroupedKey(key, in.checkpoint().entry(key), naming) != null) {
                reads.leadingRows(key, range.start(), range.count());
            } else {
                reads.whole(key);
            }
        }
        return reads.ranges();
    }

    /**
     * The checkpoint folder whose files beside the weights go with the output, or null for a lone
     * {@code .safetensors} file, whose folder may hold anything.
     */
    private Path inputDir() {
        Path checkpoint = in.checkpoint().path();
        return Files.isDirectory(checkpoint) ? checkpoint : null;
    }

    /** The layout the output is in: --layout's, but GPT-OSS's own for GPT-OSS. */
    private String layoutWritten() {
        return isGroupedOnDisk() && regrouping == null ? GroupedOnDiskLayout.layoutName(in.model().family())
                : request.layout().cliName();
    }

    private boolean isGroupedOnDisk() {
        return in.model().family().layout() == ModelFamily.Layout.GROUPED_ON_DISK;
    }

    /** Every rank's unit, or every problem with the input for any of them. */
    private List<RankUnit> plan() {
        int experts = in.model().config().numExperts();
        GroupedLayout layout = request.layout();
        if (isGroupedOnDisk()) {
            if (GroupedOnDiskLayout.onDiskLayout(in.model().family()) == null && layout != GroupedLayout.DEEPEP) {
                throw new InvalidInputException(request.input().toString(), List.of("--layout " + layout.cliName()
                        + ": " + in.model().family().modelType() + "'s experts are grouped on disk already and are kept"
                        + " in that layout; use --layout " + GroupedLayout.DEEPEP.cliName()));
            }
            regrouping = OnDiskRegrouping.of(in.model().family(), layout, in.checkpoint(), in.model().config());
            return planGroupedOnDisk();
        }
        Set<String> problems = new LinkedHashSet<>(GroupedPlan.unsupported(in.checkpoint(), in.model().family(),
                in.model().config()));
        addIfPresent(problems, request.ranks().tooManyRanks(experts));
        survey = new ExpertSurvey(in.checkpoint(), in.model());
        lora = LoraPlan.of(in.checkpoint(), in.model().family().naming(), in.model().config(), request.lora());
        problems.addAll(lora.problems());
        if (survey.layers().isEmpty() && lora.inputKeys().isEmpty() && problems.isEmpty()
                && GroupedPlan.fusedCount(in.checkpoint(), in.model().family().naming()) == 0) {
            problems.add("no per-expert tensors found under " + in.model().family().naming().segment());
        }
        problems.addAll(QuantizationCheck.problems(in.checkpoint()));
        problems.addAll(ScaleKinds.problems(in.checkpoint(), in.configJson(),
                request.dtype() != null && !request.dtype().isFp8()));
        problems.addAll(unconvertible());
        if (request.keepFp8()) {
            problems.addAll(KeptFp8Plan.problems(in.checkpoint(), in.model().config(), layout));
        }
        if (!problems.isEmpty()) {
            throw new InvalidInputException(request.input().toString(), new ArrayList<>(problems));
        }
        // Every rank is checked before any is planned, so that the list names what all of them lack.
        List<RankUnit> units = new ArrayList<>();
        for (int rank : request.ranks().ranks()) {
            DeviceMesh mesh = request.ranks().mesh(rank);
            ExpertRange range = ExpertRange.forMesh(mesh, experts);
            problems.addAll(survey.problems(range, mesh));
            if (problems.isEmpty()) {
                GroupedPlan plan = GroupedPlan.of(in.checkpoint(), survey, in.model().adapter(layout),
                        GroupedPlan.options(request, mesh));
                plans.put(rank, plan);
                units.add(new RankUnit(rank, mesh, range, plan.specs(), request.ranks().subdirectory(rank)));
            }
        }
        if (!problems.isEmpty()) {
            throw new InvalidInputException(request.input().toString(), new ArrayList<>(problems));
        }
        return units;
    }

    /**
     * The expert tensors that {@code --dtype} asks to convert but whose dtype has no arithmetic conversion (integers,
     * booleans): refused while planning, not found when the first of them is copied.
     */
    private List<String> unconvertible() {
        List<String> problems = new ArrayList<>();
        DType to = request.dtype();
        if (to == null) {
            return problems;
        }
        ExpertNaming naming = in.model().family().naming();
        for (String key : in.checkpoint().keys()) {
            DType from = in.checkpoint().entry(key).dtype();
            boolean expert = naming.parsePerExpert(key) != null
                    || GroupedPlan.fusedGroupedKey(key, in.checkpoint().entry(key), naming) != null;
            if (expert && from != to && !from.isConvertible()) {
                problems.add(key + ": dtype " + from + " has no conversion to " + to + " (--dtype " + request.dtypeName()
                        + "); only floating-point dtypes convert: use --dtype keep");
            }
        }
        return problems;
    }

    private static void addIfPresent(Set<String> problems, String problem) {
        if (problem != null) {
            problems.add(problem);
        }
    }

    /** A family grouped on disk (GPT-OSS, Llama-4, ...) is converted already: each rank's tensors are the conversion's renamed, narrowed views. */
    private List<RankUnit> planGroupedOnDisk() {
        int experts = in.model().config().numExperts();
        Set<String> problems = new LinkedHashSet<>(GroupedOnDiskLayout.problems(in.model().family(), in.checkpoint(), experts));
        if (request.dtype() != null && !GroupedOnDiskLayout.hasMxfp4(in.checkpoint())) {
            problems.add("--dtype " + request.dtypeName() + ": " + in.model().family().modelType() + " experts are renamed and cut, not converted; use "
                    + "--dtype keep (--dtype applies only to MXFP4 experts, which are decoded)");
        }
        addIfPresent(problems, request.ranks().tooManyRanks(experts));
        if (problems.isEmpty()) {
            problems.addAll(OnDiskRegrouping.orientationProblems(in.model().family(), in.checkpoint(),
                    in.model().config()));
        }
        if (!problems.isEmpty()) {
            throw new InvalidInputException(request.input().toString(), new ArrayList<>(problems));
        }
        List<RankUnit> units = new ArrayList<>();
        for (int rank : request.ranks().ranks()) {
            DeviceMesh mesh = request.ranks().mesh(rank);
            List<TensorSpec> specs = new ArrayList<>();
            if (regrouping != null) {
                specs.addAll(regrouping.specs(mesh));
            } else {
                GroupedOnDiskLayout.grouped(in.model().family(), in.checkpoint(), experts, mesh, request.dtype())
                        .forEach((k, v) -> specs.add(v.spec(k)));
            }
            units.add(new RankUnit(rank, mesh, ExpertRange.forMesh(mesh, experts), specs,
                    request.ranks().subdirectory(rank)));
        }
        return units;
    }

    private void write(RankUnit unit, Path dir, ByteProgress progress) throws IOException {
        if (regrouping != null) {
            regrouping.write(unit.mesh(), unit.specs(), dir, request.writing().maxShardBytes(), engine, progress);
        } else if (isGroupedOnDisk()) {
            writeGroupedOnDisk(unit, dir, progress);
        } else {
            writePerExpert(unit, plans.get(unit.rank()), dir, progress);
        }
        copied = SideFiles.write(inputDir(), in.configFile(), dir, unit.specs(), false);
        GroupedManifest.of(in.checkpoint().path(), in.model().family().modelType(),
                layoutWritten(),
                in.model().config().numExperts(), unit.mesh(),
                unit.range(), request.dtype()).writeTo(dir);
    }

    private ShardedCheckpointWriter open(Path dir, List<TensorSpec> specs) {
        return ShardedCheckpointWriter.open(dir, ShardLayout.of(specs, request.writing().maxShardBytes()),
                Map.of("format", "pt"));
    }

    private void writeGroupedOnDisk(RankUnit unit, Path dir, ByteProgress progress) {
        try (ShardedCheckpointWriter out = open(dir, unit.specs());
             StagedWrites staged = new StagedWrites(engine, out)) {
            String layer = null;
            for (Map.Entry<String, GroupedOnDiskSource> e : GroupedOnDiskLayout.grouped(in.model().family(), in.checkpoint(),
                    in.model().config().numExperts(), unit.mesh(), request.dtype()).entrySet()) {
                Tensor target = out.tensor(e.getKey());
                e.getValue().writeInto(target, staged);
                MappedPages.release(target);
                progress.add(target.byteSize());
                if (GroupedOnDiskLayout.isExpertKey(in.model().family(), e.getKey())) {
                    layer = e.getKey().substring(0, e.getKey().indexOf("." + in.model().family().naming().segment() + "."));
                } else if (layer != null) {
                    progress.step("layer " + layer + " (experts [" + unit.range().start() + ", " + unit.range().end()
                            + "))");
                    layer = null;
                }
            }
            out.commit();
        }
    }

    private void writePerExpert(RankUnit unit, GroupedPlan plan, Path dir, ByteProgress progress) {
        GroupedLayout layout = request.layout();
        Set<String> planned = new LinkedHashSet<>();
        plan.specs().forEach(s -> planned.add(s.name()));
        try (ShardedCheckpointWriter out = open(dir, plan.specs());
             StagedWrites staged = new StagedWrites(engine, out)) {
            // The per-expert slices of the grouped tensors, as views of the mapped output shards: each expert is
            // copied straight from the mapped input into its slice. Registered as write-through with the adapter, so
            // that its fromHf below leaves these grouped tensors alone.
            MoeStateDictAdapter adapter = in.model().adapter(layout);
            Map<String, Tensor> grouped = new LinkedHashMap<>();
            plan.groupedKeys().forEach(key -> grouped.put(key, out.tensor(key)));
            Map<String, Tensor> targets = adapter.writeThroughTargets(grouped, unit.range());
            Map<String, Tensor> hf = in.checkpoint().tensors();
            ExpertNaming naming = in.model().family().naming();
            DequantizedExperts fp8Experts = new DequantizedExperts(staged);
            for (ExpertSurvey.Layer layer : survey.layers()) {
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
                for (String key : survey.keysOf(layer)) {
                    Tensor target = targets.get(key);
                    if (target == null) {
                        continue; // another rank's expert
                    }
                    Tensor source = hf.get(key);
                    Tensor scale = hf.get(key + Fp8BlockDequantizer.SCALE_SUFFIX);
                    layerKeys.add(key);
                    bytes += target.byteSize();
                    experts++;
                    if (scale != null && source.dtype().isFp8() && !request.keepFp8()) {
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
                progress.step("layer " + layer.prefix() + "layers." + layer.layer() + " (" + experts
                        + " expert tensors)", bytes);
            }
            // Everything else, written as the adapter emits it, so that no converted tensor waits in memory.
            FromHfOptions options = FromHfOptions.defaults().withMesh(unit.mesh()).withOutputDtype(request.dtype())
                    .withKeepFp8(request.keepFp8());
            if (!request.keepFp8()) {
                dequantizeInPlace(hf, out, planned, plan.groupedKeys(), options.dequantizedDtype(), progress);
            }
            adapter.fromHf(hf, options, (key, value) -> {
                if (!planned.contains(key) || plan.groupedKeys().contains(key)) {
                    throw new IllegalStateException("the adapter produced " + key + ", which the plan did not expect");
                }
                Tensor target = out.tensor(key);
                staged.copy(target, value);
                MappedPages.release(target);
                MappedPages.release(value);
                progress.add(target.byteSize());
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
                                          Set<String> groupedKeys, DType dequantizedDtype, ByteProgress progress) {
        ReusedScratch raw = new ReusedScratch(); // each weight and its scales, read from the file (SourceReads)
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
            List<Tensor> inputs = List.of(value, scale);
            List<Tensor> read = SourceReads.read(inputs, raw.tensor(DType.U8, Math.max(1, SourceReads.bytes(inputs)))
                    .segment());
            Fp8BlockDequantizer.dequantizeInto(read.get(0), read.get(1), target, key);
            hf.remove(key);
            hf.remove(key + Fp8BlockDequantizer.SCALE_SUFFIX);
            MappedPages.release(target);
            MappedPages.release(value);
            progress.add(target.byteSize());
        }
    }
}
