package dev.moeshard.convert;

import dev.moeshard.moe.ExpertNaming;
import dev.moeshard.moe.FromHfOptions;
import dev.moeshard.moe.GroupedLayout;
import dev.moeshard.moe.MoeConfig;
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
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.IntPredicate;

/**
 * A per-expert HF checkpoint to the grouped layout, for one rank, every rank, or no expert parallelism at all.
 *
 * <p>Plan, then execute. The plan reads headers only and refuses the whole job, listing every problem, before the
 * output exists. The execution maps each rank's output shards and lets {@link MoeStateDictAdapter#loadInto} copy every
 * expert straight from the mapped input into the mapped grouped tensors: the adapter decides names and layouts, and no
 * tensor is ever held whole in memory. Everything is written into a hidden sibling of the output that is renamed into
 * place at the end.
 */
final class ToGrouped implements StagedJob {
    private final ToGroupedRequest request;
    private final ModelInput in;
    private final LayerCopies copies;
    private final CopyEngine engine;
    /** Each rank's grouped tensors, by rank. */
    private final Map<Integer, GroupedPlan> plans = new HashMap<>();
    private ExpertSurvey survey;
    /** What the last checkpoint copied beside its weights (the same for every checkpoint). */
    private SideFiles.Copied copied = new SideFiles.Copied(List.of(), List.of());
    private LoraPlan lora;
    private List<RankUnit> units;
    /** The ranks to plan: every rank of the request, or those of the units one worker writes. */
    private IntPredicate planned = rank -> true;
    private InputFeeds feeds;
    /** {@link #inputsFeeding} of the rank {@link #reads} last described. */
    private Map<String, List<String>> feeding;
    private int feedingRank = -1;
    /** A family grouped on disk written into a layout other than its own, or null. */
    private OnDiskRegrouping regrouping;
    /** Identity experts' tensors of an hf-v5 output that the input lacks, written as zeros. */
    private final Set<String> zeroFilled = new LinkedHashSet<>();

    private ToGrouped(ToGroupedRequest request, ModelInput in, LayerCopies copies) {
        this.request = request;
        this.in = in;
        this.copies = copies;
        this.engine = request.writing().engine();
    }

    /**
     * The job of {@code request} for the ranks {@code ranks} accepts, planned from headers; every problem with the
     * input (and with those ranks) is raised here.
     */
    static ToGrouped open(ToGroupedRequest request, IntPredicate ranks) {
        LayerCopies copies = LayerCopies.on(request.writing().device());
        ModelInput in = ModelInput.open(request.input(), request.model(), request.numExperts());
        try {
            // hf-v5 in the form transformers 5 holds this family's experts in (Llama-4's transposed, non-gated up_proj)
            ToGrouped job = new ToGrouped(request.withLayout(in.model().form(request.layout())), in, copies);
            job.planned = ranks;
            job.units = job.plan();
            if (!job.isGroupedOnDisk()) {
                job.feeds = new InputFeeds(in.checkpoint(), in.model().naming(), in.model().config(),
                        job.request.layout(), request.keepFp8(), job.lora,
                        job.units.stream().flatMap(u -> u.specs().stream()).toList());
            }
            return job;
        } catch (RuntimeException e) {
            in.close();
            throw e;
        }
    }

    @Override
    public String name() {
        return "to-grouped";
    }

    @Override
    public String fingerprint() {
        return PlanFingerprint.of(List.of(in.checkpoint()), request.outputShaping());
    }

    @Override
    public List<RankUnit> checkpoints() {
        return units;
    }

    @Override
    public String layoutName() {
        return null;
    }

    @Override
    public List<String> decisions() {
        String layoutName = layoutWritten();
        List<String> decisions = new ArrayList<>(List.of(
                "family " + in.model().family().modelType() + " from " + in.detectedFrom(),
                (isGroupedOnDisk() ? "input grouped on disk" : "per-expert input") + " written as " + layoutName,
                "expert copies on " + (isGroupedOnDisk() ? "cpu" : copies.where())));
        MoeConfig config = in.model().config();
        long identityTensors = in.checkpoint().keys().stream()
                .filter(k -> in.model().naming().parseIdentityExpert(k) != null).count();
        IdentityExpertRows identityRows = IdentityExpertRows.of(in.model(), request.layout());
        if (identityRows != null) {
            decisions.add(identityRows.decision(zeroFilled));
        } else if (identityTensors > 0) {
            decisions.add(identityTensors + " tensors under the " + config.identityExperts() + " identity experts "
                    + "(ids " + config.numExperts() + " to " + (config.numExperts() + config.identityExperts() - 1)
                    + ", which compute nothing) kept as they are on every rank: they are no routed experts");
        }
        decisions.addAll(copied.decisions());
        return decisions;
    }

    @Override
    public InputGuard guard() {
        return new InputGuard(List.of(in.checkpoint()));
    }

    @Override
    public List<String> finishedFiles() {
        List<String> files = new ArrayList<>(SideFiles.planned(inputDir(), in.configFile()));
        files.add(GroupedManifest.FILE_NAME);
        return files;
    }

    @Override
    public void close() {
        in.close();
    }

    /**
     * The input bytes writing {@code keys} of {@code unit} reads: the tensors that feed them ({@link InputFeeds}), of
     * fused and grouped-on-disk expert tensors only the rows of the unit's experts.
     */
    @Override
    public List<ByteRange> reads(RankUnit unit, Set<String> keys) {
        if (feeding == null || feedingRank != unit.rank()) {
            // Units come rank by rank: one pass over the input per rank, not per unit, and one rank's map held.
            feeding = inputsFeeding(unit.range());
            feedingRank = unit.rank();
        }
        Set<String> inputs = new LinkedHashSet<>();
        keys.forEach(key -> inputs.addAll(feeding.getOrDefault(key, List.of())));
        ReadSet reads = new ReadSet(in.checkpoint());
        ExpertNaming naming = in.model().naming();
        ExpertRange range = unit.range();
        for (String key : inputs) {
            boolean expertRows = isGroupedOnDisk() ? GroupedOnDiskLayout.isExpertKey(in.model().family(), key)
                    : GroupedPlan.fusedGroupedKey(key, in.checkpoint().entry(key), naming) != null;
            if (expertRows) {
                reads.leadingRows(key, range.start(), range.count());
            } else {
                reads.whole(key);
            }
        }
        return reads.ranges();
    }

    /** For each output tensor of a rank with the experts of {@code range}, the input tensors that feed it. */
    private Map<String, List<String>> inputsFeeding(ExpertRange range) {
        Map<String, String> onDiskNames = isGroupedOnDisk()
                ? GroupedOnDiskLayout.groupedNames(in.model().family(), request.layout(), in.checkpoint(),
                        in.model().config().numExperts())
                : Map.of();
        Map<String, List<String>> inputs = new HashMap<>();
        for (String key : in.checkpoint().keys()) {
            Set<String> outputs;
            if (isGroupedOnDisk()) {
                outputs = regrouping != null ? regrouping.outputsOf(onDiskNames.get(key)) : Set.of(onDiskNames.get(key));
            } else {
                outputs = feeds.outputsOf(key, range);
            }
            outputs.forEach(output -> inputs.computeIfAbsent(output, k -> new ArrayList<>(1)).add(key));
        }
        return inputs;
    }

    /**
     * The checkpoint folder whose files beside the weights go with the output, or null for a lone
     * {@code .safetensors} file, whose folder may hold anything.
     */
    private Path inputDir() {
        Path checkpoint = in.checkpoint().path();
        return Files.isDirectory(checkpoint) ? checkpoint : null;
    }

    /** The layout the output is in: --layout's, but "gpt-oss" for GPT-OSS's renamed tensors (its deepep output). */
    private String layoutWritten() {
        return isGroupedOnDisk() ? GroupedOnDiskLayout.layoutName(in.model().family(), request.layout())
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
            ModelFamily family = in.model().family();
            if (GroupedOnDiskLayout.onDiskLayout(family) == null && layout != GroupedLayout.DEEPEP
                    && !family.keepsOnDiskNamesIn(layout)) {
                throw new InvalidInputException(request.input().toString(), List.of("--layout " + layout.cliName()
                        + ": " + family.modelType() + "'s experts are grouped on disk already, gate and up interleaved,"
                        + " and are only renamed and cut: use --layout " + GroupedLayout.DEEPEP.cliName()
                        + " (the reference adapter's names) or " + GroupedLayout.HF_V5.cliName()
                        + " (the checkpoint's own names, as transformers 5 loads them)"));
            }
            regrouping = OnDiskRegrouping.of(family, layout, in.checkpoint(), in.model().config());
            return planGroupedOnDisk();
        }
        Set<String> problems = new LinkedHashSet<>(GroupedPlan.unsupported(in.checkpoint(), in.model().family(),
                in.model().config()));
        addIfPresent(problems, request.ranks().tooManyRanks(experts));
        survey = new ExpertSurvey(in.checkpoint(), in.model());
        lora = LoraPlan.of(in.checkpoint(), in.model().naming(), in.model().config(), request.lora());
        problems.addAll(lora.problems());
        if (survey.layers().isEmpty() && lora.inputKeys().isEmpty() && problems.isEmpty()
                && GroupedPlan.fusedCount(in.checkpoint(), in.model().naming()) == 0) {
            problems.add("no per-expert tensors found under " + in.model().naming().segment());
        }
        problems.addAll(QuantizationCheck.problems(in.checkpoint()));
        problems.addAll(ScaleKinds.problems(in.checkpoint(), in.configJson(),
                request.dtype() != null && !request.dtype().isFp8()));
        problems.addAll(unconvertible());
        if (request.keepFp8()) {
            problems.addAll(KeptFp8Plan.problems(in.checkpoint(), in.model().config(), layout));
        }
        IdentityExpertRows identityRows = IdentityExpertRows.of(in.model(), layout);
        if (identityRows != null) {
            problems.addAll(identityRowProblems(identityRows));
        }
        if (!problems.isEmpty()) {
            throw new InvalidInputException(request.input().toString(), new ArrayList<>(problems));
        }
        // Every rank is checked before any is planned, so that the list names what all of them lack.
        List<RankUnit> units = new ArrayList<>();
        for (int rank : request.ranks().ranks().stream().filter(planned::test).toList()) {
            DeviceMesh mesh = request.ranks().mesh(rank);
            ExpertRange range = ExpertRange.forMesh(mesh, experts);
            problems.addAll(survey.problems(range, mesh));
            if (problems.isEmpty()) {
                GroupedPlan plan = GroupedPlan.of(in.checkpoint(), survey, in.model().adapter(layout),
                        GroupedPlan.options(request, mesh));
                plans.put(rank, plan);
                if (identityRows == null) {
                    units.add(new RankUnit(rank, mesh, range, plan.specs(), request.ranks().subdirectory(rank)));
                } else {
                    problems.addAll(identityRows.problems(plan.specs()));
                    IdentityExpertRows.Joined joined = identityRows.join(plan.specs());
                    zeroFilled.addAll(joined.zeroFilled());
                    units.add(new RankUnit(rank, mesh, range, joined.specs(), request.ranks().subdirectory(rank),
                            joined.splits()));
                }
            }
        }
        if (!problems.isEmpty()) {
            throw new InvalidInputException(request.input().toString(), new ArrayList<>(problems));
        }
        return units;
    }

    /**
     * What keeps the identity experts' rows out of an hf-v5 output: expert parallelism, and kept FP8 (the rows would
     * need block scales of their own).
     */
    private List<String> identityRowProblems(IdentityExpertRows rows) {
        List<String> problems = new ArrayList<>();
        String modelType = in.model().family().modelType();
        String ranks = rows.rankProblem(modelType, request.ranks());
        if (ranks != null) {
            problems.add(ranks);
        }
        if (request.keepFp8()) {
            problems.add(rows.describe(modelType) + "which is written dequantized only: drop --keep-fp8");
        }
        return problems;
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
        ExpertNaming naming = in.model().naming();
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

    /**
     * A family grouped on disk (GPT-OSS, Llama-4, ...) is converted already: each rank's tensors are the conversion's
     * renamed (for the layout written), narrowed views.
     */
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
        for (int rank : request.ranks().ranks().stream().filter(planned::test).toList()) {
            DeviceMesh mesh = request.ranks().mesh(rank);
            List<TensorSpec> specs = new ArrayList<>();
            if (regrouping != null) {
                specs.addAll(regrouping.specs(mesh));
            } else {
                GroupedOnDiskLayout.grouped(in.model().family(), request.layout(), in.checkpoint(), experts, mesh,
                        request.dtype()).forEach((k, v) -> specs.add(v.spec(k)));
            }
            units.add(new RankUnit(rank, mesh, ExpertRange.forMesh(mesh, experts), specs,
                    request.ranks().subdirectory(rank)));
        }
        return units;
    }

    @Override
    public void writeShard(RankUnit unit, ShardedCheckpointWriter out, ByteProgress progress) {
        if (regrouping != null) {
            regrouping.write(unit.mesh(), out, engine, progress);
        } else if (isGroupedOnDisk()) {
            writeGroupedOnDisk(unit, out, progress);
        } else {
            writePerExpert(unit, plans.get(unit.rank()), out, progress);
        }
    }

    @Override
    public SideFiles.Copied finish(RankUnit unit, Path dir) throws IOException {
        copied = SideFiles.write(inputDir(), in.configFile(), dir, unit.specs(), false);
        GroupedManifest.of(in.checkpoint().path(), in.model().family().modelType(),
                layoutWritten(),
                in.model().config().numExperts(), unit.mesh(),
                unit.range(), request.dtype()).writeTo(dir);
        return copied;
    }

    private void writeGroupedOnDisk(RankUnit unit, ShardedCheckpointWriter out, ByteProgress progress) {
        Map<String, GroupedOnDiskSource> grouped = GroupedOnDiskLayout.grouped(in.model().family(), request.layout(),
                in.checkpoint(), in.model().config().numExperts(), unit.mesh(), request.dtype());
        try (StagedWrites staged = new StagedWrites(engine, out);
             LayerReadAhead<Map.Entry<String, GroupedOnDiskSource>> tensors = new LayerReadAhead<>(grouped.entrySet(),
                     e -> LayerReadAhead.layerOf(e.getKey()),
                     e -> out.holds(e.getKey()) ? e.getValue().inputs() : List.of())) {
            String layer = null;
            for (Map.Entry<String, GroupedOnDiskSource> e : tensors) {
                if (!out.holds(e.getKey())) {
                    continue; // another unit's
                }
                Tensor target = out.tensor(e.getKey());
                e.getValue().writeInto(target, staged);
                MappedPages.release(target);
                progress.add(target.byteSize());
                if (GroupedOnDiskLayout.isExpertKey(in.model().family(), e.getKey())) {
                    layer = e.getKey().substring(0, e.getKey().indexOf("." + in.model().naming().segment() + "."));
                } else if (layer != null) {
                    progress.step("layer " + layer + " (experts [" + unit.range().start() + ", " + unit.range().end()
                            + "))");
                    layer = null;
                }
            }
        }
    }

    private void writePerExpert(RankUnit unit, GroupedPlan plan, ShardedCheckpointWriter out, ByteProgress progress) {
        GroupedLayout layout = request.layout();
        Set<String> planned = new LinkedHashSet<>();
        plan.specs().forEach(s -> planned.add(s.name()));
        MoeStateDictAdapter adapter = in.model().adapter(layout);
        // The per-expert slices of this unit's grouped tensors, as views of the mapped output shard: each expert is
        // copied straight from the input into its slice.
        Map<String, Tensor> grouped = new LinkedHashMap<>();
        plan.groupedKeys().stream().filter(out::holds).forEach(key -> grouped.put(key, out.tensor(key)));
        Map<String, Tensor> targets = adapter.writeThroughTargets(grouped, unit.range());
        Map<String, Tensor> hf = in.checkpoint().tensors();
        Map<String, Tensor> rest = restOf(unit, hf, planned, out);
        Map<String, List<Tensor>> restOfLayer = readWithLayers(rest);
        try (StagedWrites staged = new StagedWrites(engine, out);
             LayerReadAhead<ExpertSurvey.Layer> layers = new LayerReadAhead<>(survey.layers(),
                     layer -> layer.path(),
                     layer -> sourcesOf(layer, targets, hf, restOfLayer))) {
            ExpertNaming naming = in.model().naming();
            DequantizedExperts fp8Experts = new DequantizedExperts(staged);
            for (ExpertSurvey.Layer layer : layers) {
                List<Tensor> groupedOutputs = new ArrayList<>();
                for (String name : layout.tensorNames(in.model().config().gated())) {
                    String key = layout.key(naming, layer.prefix(), layer.layer(), name);
                    if (grouped.containsKey(key)) {
                        groupedOutputs.add(out.tensor(key));
                    }
                }
                if (groupedOutputs.isEmpty()) {
                    continue; // the layer's grouped tensors are other units'
                }
                long bytes = 0;
                int experts = 0;
                List<Tensor> layerTargets = new ArrayList<>();
                List<Tensor> layerSources = new ArrayList<>();
                List<String> layerKeys = new ArrayList<>();
                for (String key : survey.keysOf(layer)) {
                    Tensor target = targets.get(key);
                    if (target == null) {
                        continue; // another rank's expert, or another unit's tensor
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
                progress.step("layer " + layer.path() + " (" + experts
                        + " expert tensors)", bytes);
            }
            // Everything else this unit holds (rest), written as the adapter emits it, so that no converted tensor
            // waits in memory.
            FromHfOptions options = FromHfOptions.defaults().withMesh(unit.mesh()).withOutputDtype(request.dtype())
                    .withKeepFp8(request.keepFp8());
            if (!request.keepFp8()) {
                dequantizeInPlace(rest, out, planned, plan.groupedKeys(), options.dequantizedDtype(), progress);
            }
            adapter.fromHf(rest, options, (key, value) -> {
                if (!planned.contains(key) || plan.groupedKeys().contains(key)) {
                    throw new IllegalStateException("the adapter produced " + key + ", which the plan did not expect");
                }
                if (!out.holds(key)) {
                    return; // fed partly by an input this unit shares with another unit's tensor
                }
                Tensor target = out.tensor(key);
                staged.copy(target, value);
                MappedPages.release(target);
                MappedPages.release(value);
                progress.add(target.byteSize());
            });
            IdentityExpertRows.writeZeros(zeroFilled, out, progress);
        }
    }

    /**
     * What the adapter writes after the experts: only the inputs that feed this unit's other tensors of
     * {@code planned}, not the experts' weights, which the layers are copied from, nor what feeds other units'
     * tensors, left unread.
     */
    private Map<String, Tensor> restOf(RankUnit unit, Map<String, Tensor> hf, Set<String> planned,
                                       ShardedCheckpointWriter out) {
        Set<String> held = new LinkedHashSet<>(planned);
        held.removeIf(key -> !out.holds(key));
        Map<String, Tensor> rest = new LinkedHashMap<>();
        hf.forEach((key, value) -> {
            if (!feeds.isExpertWeight(key) && feeds.feeds(key, unit.range(), held)) {
                rest.put(key, value);
            }
        });
        return rest;
    }

    /**
     * {@code rest} by the expert layer it is read ahead with: a layer's other tensors (attention, norms, shared
     * experts) with its experts, so that a cold run does not read them one by one at the end; those outside every
     * expert layer (embeddings, dense layers, the final norm) with the last one, right before the rest is written.
     */
    private Map<String, List<Tensor>> readWithLayers(Map<String, Tensor> rest) {
        Set<String> expertLayers = new HashSet<>();
        survey.layers().forEach(layer -> expertLayers.add(layer.path()));
        String lastLayer = survey.layers().isEmpty() ? null : survey.layers().getLast().path();
        Map<String, List<Tensor>> byLayer = new HashMap<>();
        rest.forEach((key, value) -> {
            String layer = LayerReadAhead.layerOf(key);
            String readWith = expertLayers.contains(layer) ? layer : lastLayer;
            if (readWith != null) {
                byLayer.computeIfAbsent(readWith, k -> new ArrayList<>()).add(value);
            }
        });
        return byLayer;
    }

    /**
     * The inputs {@code layer}'s copies read for this unit: each target's weight and its scale, if any, and the
     * layer's other tensors ({@code restOfLayer}), which the unit writes after the experts.
     */
    private List<Tensor> sourcesOf(ExpertSurvey.Layer layer, Map<String, Tensor> targets, Map<String, Tensor> hf,
                                   Map<String, List<Tensor>> restOfLayer) {
        List<Tensor> sources = new ArrayList<>();
        for (String key : survey.keysOf(layer)) {
            if (targets.containsKey(key)) {
                sources.add(hf.get(key));
                sources.add(hf.get(key + Fp8BlockDequantizer.SCALE_SUFFIX));
            }
        }
        sources.addAll(restOfLayer.getOrDefault(layer.path(), List.of()));
        return sources;
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
            if (scale == null || !value.dtype().isFp8() || !planned.contains(key) || groupedKeys.contains(key)
                    || !out.holds(key)) {
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
