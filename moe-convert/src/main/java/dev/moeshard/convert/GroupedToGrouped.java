package dev.moeshard.convert;

import com.fasterxml.jackson.databind.JsonNode;
import dev.moeshard.moe.ExpertNaming;
import dev.moeshard.moe.GroupedLayout;
import dev.moeshard.moe.LayoutConversion;
import dev.moeshard.moe.MoeConfig;
import dev.moeshard.moe.Projection;
import dev.moeshard.moe.family.DetectedModel;
import dev.moeshard.moe.family.FamilyDetection;
import dev.moeshard.moe.family.ModelFamily;
import dev.moeshard.moe.parallel.DeviceMesh;
import dev.moeshard.moe.parallel.ExpertRange;
import dev.moeshard.safetensors.Checkpoint;
import dev.moeshard.safetensors.ShardedCheckpointWriter;
import dev.moeshard.safetensors.TensorEntry;
import dev.moeshard.safetensors.TensorSpec;
import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.Tensor;
import dev.moeshard.tensor.copy.CopyEngine;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.IntPredicate;
import java.util.stream.Stream;

/**
 * {@code to-grouped} from a grouped INPUT: the checkpoint (or the ep-rank-R/ folders of one run) regrouped into
 * {@code --layout} for the requested ranks, with no per-expert step. Each target layer's tensors are views of the
 * mapped output shards; each projection of each source rank's experts moves into them with one strided copy between
 * the two layouts' views (see {@link LayoutConversion}), so every byte moves once, from mapping to mapping. Non-expert
 * tensors are copied from the first source rank; grouped LoRA (the same in every layout) holds each rank's experts on
 * its first axis, and each target rank's rows are copied from the source ranks that hold them. Outputs of Llama-4,
 * Granite and Qwen3-VL-MoE are grouped checkpoints of the layout their moeshard.json records and regroup the same way;
 * to-hf takes any of them back to the family's own tensors ({@link OnDiskRestoration}).
 */
final class GroupedToGrouped implements StagedJob {
    private static final List<ExpertNaming> NAMINGS = List.of(ExpertNaming.DEFAULT, ExpertNaming.MIXTRAL, ExpertNaming.NEMOTRON_H);

    private final ToGroupedRequest request;
    private final GroupedRanks ranks;
    private final CopyEngine engine;
    private final List<RankUnit> units;
    private SideFiles.Copied copied = new SideFiles.Copied(List.of(), List.of());
    /** Identity experts' tensors of an hf-v5 output that the input lacks, written as zeros. */
    private final Set<String> zeroFilled = new LinkedHashSet<>();

    private GroupedToGrouped(ToGroupedRequest request, GroupedRanks ranks, IntPredicate planned) {
        this.request = request;
        this.ranks = ranks;
        this.engine = request.writing().engine();
        this.units = units(planned);
    }

    /**
     * Whether {@code input} is grouped rather than per-expert: rank folders, or grouped tensors of a moeshard layout
     * and no per-expert ones. transformers-v5 fused input without a moeshard.json keeps to the per-expert path, which
     * reads it too. A family grouped on disk is grouped input only as to-grouped wrote it (rank folders or a
     * moeshard.json): its own checkpoints are renamed and cut ({@link ToGrouped}); GPT-OSS's outputs are such input
     * too, which is refused ({@link #open}: never regrouped) and inspected as the ranks they are.
     */
    static boolean isGroupedInput(Path given) {
        Path input = InputPaths.resolve(given);
        if (!Files.exists(input)) {
            return false;
        }
        Path dir = Files.isDirectory(input) ? input : input.toAbsolutePath().getParent();
        boolean manifest = Files.isRegularFile(dir.resolve(GroupedManifest.FILE_NAME));
        Path config = dir.resolve("config.json");
        JsonNode json = Files.isRegularFile(config) ? FamilyDetection.readConfig(config) : null;
        ModelFamily family = json == null ? null : ModelFamily.ofModelType(FamilyDetection.modelType(json)).orElse(null);
        if (family != null && family.layout() == ModelFamily.Layout.GROUPED_ON_DISK) {
            return manifest || hasRankFolders(input);
        }
        if (hasRankFolders(input)) {
            return true;
        }
        // The family's own naming for this model: what it holds under identity experts' ids passes through, so it
        // stands beside the grouped tensors of a grouped checkpoint (LongCat-Flash's) and tells nothing.
        ExpertNaming own = family == null || family.identityExpertsKey().isEmpty() ? null
                : new DetectedModel(family, FamilyDetection.sizes(json, config.toString(), family)).naming();
        try (Checkpoint c = Checkpoint.open(input)) {
            boolean grouped = false;
            for (String key : c.keys()) {
                for (ExpertNaming naming : NAMINGS) {
                    ExpertNaming n = own != null && naming.equals(family.naming()) ? own : naming;
                    if (n.parsePerExpert(key) != null) {
                        return false;
                    }
                    for (GroupedLayout l : GroupedLayout.values()) {
                        grouped |= l.parse(n, key) != null && (!l.isHfV5() || manifest);
                    }
                }
                // GPT-OSS's router, beside experts grouped on disk; LongCat-Flash's lies on the same path, and its
                // config.json has told the family
                if (own == null && key.contains(".mlp.router.")) {
                    return false;
                }
            }
            return grouped;
        }
    }

    /** Whether {@code input} is a directory of {@code ep-rank-R/} folders, the ranks of one run. */
    private static boolean hasRankFolders(Path input) {
        if (!Files.isDirectory(input)) {
            return false;
        }
        try (Stream<Path> children = Files.list(input)) {
            return children.anyMatch(p -> Files.isDirectory(p) && p.getFileName().toString().matches("ep-rank-\\d+"));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot list " + input + ": " + e.getMessage(), e);
        }
    }

    /** The job of regrouping {@code request.input()}, planned from headers; every problem is raised here. */
    static GroupedToGrouped open(ToGroupedRequest request, IntPredicate planned) {
        GroupedRanks ranks = openRanks(request);
        try {
            // hf-v5 in the form transformers 5 holds this family's experts in (Llama-4's transposed, non-gated up_proj)
            return new GroupedToGrouped(request.withLayout(ranks.model().form(request.layout())), ranks, planned);
        } catch (RuntimeException e) {
            ranks.close();
            throw e;
        }
    }

    @Override
    public String name() {
        return "to-grouped";
    }

    @Override
    public String fingerprint() {
        return PlanFingerprint.of(ranks.checkpoints(),
                request.outputShaping());
    }

    @Override
    public List<RankUnit> checkpoints() {
        return units;
    }

    @Override
    public String layoutName() {
        return request.layout().cliName();
    }

    @Override
    public List<String> decisions() {
        List<String> decisions = new ArrayList<>(List.of(
                "grouped input in " + ranks.layout().cliName() + " regrouped into " + request.layout().cliName(),
                "copies on cpu (regrouping has no device path)"));
        IdentityExpertRows identityRows = IdentityExpertRows.of(ranks.model(), request.layout());
        if (identityRows != null) {
            decisions.add(identityRows.decision(zeroFilled));
        }
        decisions.addAll(copied.decisions());
        return decisions;
    }

    @Override
    public InputGuard guard() {
        return new InputGuard(ranks.checkpoints());
    }

    @Override
    public List<String> finishedFiles() {
        List<String> files = new ArrayList<>(SideFiles.planned(ranks.ranks().getFirst().path(), ranks.configFile()));
        files.add(GroupedManifest.FILE_NAME);
        return files;
    }

    @Override
    public SideFiles.Copied finish(RankUnit unit, Path dir) throws IOException {
        GroupedRanks.Rank first = ranks.ranks().get(0);
        copied = SideFiles.write(first.path(), ranks.configFile(), dir, unit.specs(), false);
        GroupedManifest.of(first.path(), ranks.model().family().modelType(), request.layout().cliName(),
                ranks.model().config().numExperts(), unit.mesh(), unit.range(), request.dtype()).writeTo(dir);
        return copied;
    }

    @Override
    public void close() {
        ranks.close();
    }

    /** The source ranks, refused with every problem before anything is planned. */
    private static GroupedRanks openRanks(ToGroupedRequest request) {
        GroupedRanks ranks = GroupedRanks.open(List.of(request.input()), null, request.inputLayout());
        try {
            ModelFamily family = ranks.model().family();
            if (ranks.isGroupedOnDisk() && GroupedOnDiskLayout.onDiskLayout(family) == null) {
                // Its deepep and hf-v5 outputs differ in names only, but no grouped layout reads its interleaved
                // tensors, and every output of it is made from the original by one rename and cut.
                throw new InvalidInputException(request.input().toString(), List.of(family.modelType()
                        + " checkpoints, grouped on disk in their own interleaved layout, are not regrouped: this is "
                        + "to-grouped's " + GroupedOnDiskLayout.layoutName(family, ranks.layout()) + " output of one;"
                        + " convert the original checkpoint (to-hf gives it back) with --layout "
                        + GroupedLayout.DEEPEP.cliName() + " or " + GroupedLayout.HF_V5.cliName()));
            }
            List<String> problems = new ArrayList<>(ranks.problems());
            IdentityExpertRows identityRows = IdentityExpertRows.of(ranks.model(), request.layout());
            String rankProblem = identityRows == null ? null : identityRows.rankProblem(family.modelType(),
                    request.ranks());
            if (rankProblem != null) {
                problems.add(rankProblem);
            }
            if (ranks.isGroupedOnDisk()) {
                problems.addAll(onDiskProblems(request, ranks));
            }
            String tooMany = request.ranks().tooManyRanks(ranks.model().config().numExperts());
            if (tooMany != null) {
                problems.add(tooMany);
            }
            if (!problems.isEmpty()) {
                throw new InvalidInputException(request.input().toString(), problems);
            }
            return ranks;
        } catch (RuntimeException e) {
            ranks.close();
            throw e;
        }
    }

    /**
     * What stops ranks that to-grouped wrote of a family grouped on disk (Llama-4, Granite, Qwen3-VL-MoE) from being
     * regrouped as any grouped checkpoint is: --dtype, which their direct conversion refuses too, so that a regrouped
     * output is always what converting directly would have written; and a tensor cut per rank along its experts that
     * is none of the layout's, which would be taken whole from the first rank.
     */
    private static List<String> onDiskProblems(ToGroupedRequest request, GroupedRanks ranks) {
        List<String> problems = new ArrayList<>();
        ModelFamily family = ranks.model().family();
        if (request.dtype() != null) {
            problems.add("--dtype " + request.dtypeName() + ": " + family.modelType() + " experts are moved, not "
                    + "converted; use --dtype keep");
        }
        for (GroupedRanks.Rank r : ranks.ranks()) {
            for (String key : r.checkpoint().keys()) {
                if (ranks.isOnDiskExpertKey(key) && ranks.layout().parse(family.naming(), key) == null) {
                    problems.add(r.path() + ": " + key + " holds the rank's experts but is no " + ranks.layout().cliName()
                            + " tensor " + ranks.layout().allTensorNames() + "; only those are regrouped");
                }
            }
        }
        return problems;
    }

    private List<RankUnit> units(IntPredicate planned) {
        List<RankUnit> units = new ArrayList<>();
        int experts = ranks.model().config().numExperts();
        IdentityExpertRows identityRows = IdentityExpertRows.of(ranks.model(), request.layout());
        for (int rank : request.ranks().ranks().stream().filter(planned::test).toList()) {
            DeviceMesh mesh = request.ranks().mesh(rank);
            ExpertRange range = ExpertRange.forMesh(mesh, experts);
            if (identityRows == null) {
                units.add(new RankUnit(rank, mesh, range, specs(range), request.ranks().subdirectory(rank)));
            } else {
                IdentityExpertRows.Joined joined = identityRows.join(specs(range));
                zeroFilled.addAll(joined.zeroFilled());
                units.add(new RankUnit(rank, mesh, range, joined.specs(), request.ranks().subdirectory(rank),
                        joined.splits()));
            }
        }
        return units;
    }

    /**
     * The first source rank's non-expert tensors among {@code keys}, and the rows of each source rank's experts that
     * {@code unit} holds in the layers {@code keys} has tensors of.
     */
    @Override
    public List<ByteRange> reads(RankUnit unit, Set<String> keys) {
        GroupedLayout layout = request.layout();
        MoeConfig config = ranks.model().config();
        GroupedLayout from = ranks.layout();
        ExpertNaming naming = ranks.model().naming();
        List<ByteRange> all = new ArrayList<>();
        for (GroupedRanks.Rank r : ranks.ranks()) {
            ReadSet reads = new ReadSet(r.checkpoint());
            long lo = Math.max(r.range().start(), unit.range().start());
            long hi = Math.min(r.range().end(), unit.range().end());
            for (String key : r.checkpoint().keys()) {
                GroupedLayout.Key g = from.parse(naming, key);
                if (ranks.isGroupedLoraKey(key)) {
                    if (lo < hi && keys.contains(key)) {
                        reads.leadingRows(key, lo - r.range().start(), hi - lo);
                    }
                } else if (g == null) {
                    if (r.index() == 0 && keys.contains(key)) {
                        reads.whole(key);
                    }
                } else if (lo < hi && layout.tensorNames(config.gated()).stream()
                        .anyMatch(name -> keys.contains(layout.key(naming, g.prefix(), g.layer(), name)))) {
                    reads.leadingRows(key, lo - r.range().start(), hi - lo);
                }
            }
            all.addAll(reads.ranges());
        }
        return ByteRange.merged(all);
    }

    /** The first source rank's keys in order, each grouped layer's tensors replaced by the target layout's. */
    private List<TensorSpec> specs(ExpertRange range) {
        GroupedLayout from = ranks.layout();
        GroupedLayout layout = request.layout();
        ExpertNaming naming = ranks.model().naming();
        MoeConfig config = ranks.model().config();
        Checkpoint first = ranks.ranks().get(0).checkpoint();
        List<TensorSpec> specs = new ArrayList<>();
        Set<String> layers = new LinkedHashSet<>();
        for (String key : first.keys()) {
            GroupedLayout.Key g = from.parse(naming, key);
            TensorEntry e = first.entry(key);
            if (ranks.isGroupedLoraKey(key)) {
                long[] shape = e.shape();
                shape[0] = range.count();
                if (range.count() > 0) { // a rank with no experts has no LoRA of them either
                    specs.add(new TensorSpec(key, e.dtype(), shape));
                }
                continue;
            }
            if (g == null) {
                specs.add(new TensorSpec(key, e.dtype(), e.shape()));
                continue;
            }
            // A rank with no experts gets no grouped tensors, as the adapter emits none for an empty range.
            if (range.count() == 0 || !layers.add(g.layerPath())) {
                continue;
            }
            for (String name : layout.tensorNames(config.gated())) {
                Projection p = layout.projectionsIn(name, config.gated()).get(0);
                String sourceKey = from.key(naming, g.prefix(), g.layer(), from.tensorOf(p));
                DType d = request.dtype() != null ? request.dtype() : first.entry(sourceKey).dtype();
                specs.add(new TensorSpec(layout.key(naming, g.prefix(), g.layer(), name), d,
                        layout.shape(name, range.count(), config)));
            }
        }
        return specs;
    }

    @Override
    public void writeShard(RankUnit job, ShardedCheckpointWriter out, ByteProgress progress) {
        GroupedLayout from = ranks.layout();
        GroupedLayout layout = request.layout();
        ExpertNaming naming = ranks.model().naming();
        MoeConfig config = ranks.model().config();
        GroupedRanks.Rank first = ranks.ranks().get(0);
        try (StagedWrites writes = new StagedWrites(engine, out);
             LayerReadAhead<String> keys = new LayerReadAhead<>(first.checkpoint().keys(), LayerReadAhead::layerOf,
                     key -> inputsOf(key, job, out))) {
            Set<String> layers = new LinkedHashSet<>();
            Map<String, ReusedScratch> scratch = new HashMap<>();
            for (String key : keys) {
                GroupedLayout.Key g = from.parse(naming, key);
                if (ranks.isGroupedLoraKey(key)) {
                    if (out.holds(key)) {
                        writeLora(key, job.range(), out.tensor(key), writes);
                        progress.add(out.tensor(key).byteSize());
                    }
                    continue;
                }
                if (g == null) {
                    if (!out.holds(key)) {
                        continue; // another unit's
                    }
                    Tensor target = out.tensor(key);
                    writes.copy(target, first.checkpoint().tensor(key));
                    MappedPages.release(target);
                    progress.add(target.byteSize());
                    continue;
                }
                if (job.range().count() == 0 || !layers.add(g.layerPath())) {
                    continue;
                }
                Map<String, Tensor> targets = new HashMap<>();
                for (String name : layout.tensorNames(config.gated())) {
                    String targetKey = layout.key(naming, g.prefix(), g.layer(), name);
                    if (out.holds(targetKey)) {
                        targets.put(name, out.tensor(targetKey));
                    }
                }
                if (targets.isEmpty()) {
                    continue; // the layer's tensors are other units'
                }
                // Only the projections of the tensors this unit holds.
                List<Projection> projections = LayoutConversion.projections(config).stream()
                        .filter(p -> targets.containsKey(layout.tensorOf(p))).toList();
                for (Overlap o : overlaps(job.range())) {
                    GroupedRanks.Rank r = o.rank();
                    long lo = o.lo();
                    long hi = o.hi();
                    Map<String, Tensor> sources = new LinkedHashMap<>();
                    for (String name : from.tensorNames(config.gated())) {
                        String sourceKey = from.key(naming, g.prefix(), g.layer(), name);
                        if (!r.checkpoint().contains(sourceKey)) {
                            throw new InvalidInputException(r.path().toString(), List.of("lacks " + sourceKey));
                        }
                        sources.put(name, r.checkpoint().tensor(sourceKey));
                    }
                    // Expert by expert, each source expert's rows read from the file into scratch first, never
                    // through the mapping: see SourceReads.
                    for (long e = lo; e < hi; e++) {
                        Map<String, Tensor> read = new LinkedHashMap<>();
                        for (Map.Entry<String, Tensor> source : sources.entrySet()) {
                            List<Tensor> one = List.of(source.getValue().narrow(0, e - r.range().start(), 1));
                            ReusedScratch bytes = scratch.computeIfAbsent(source.getKey(), k -> new ReusedScratch());
                            read.put(source.getKey(), SourceReads.read(one,
                                    bytes.tensor(DType.U8, Math.max(1, SourceReads.bytes(one))).segment()).getFirst());
                        }
                        LayoutConversion.copy(from, read, 0, layout, targets, e - job.range().start(), 1, config,
                                projections);
                    }
                }
                long bytes = 0;
                for (Tensor t : targets.values()) {
                    MappedPages.release(t);
                    bytes += t.byteSize();
                }
                progress.step("layer " + g.layerPath() + " (experts [" + job.range().start() + ", "
                        + job.range().end() + "))", bytes);
            }
            IdentityExpertRows.writeZeros(zeroFilled, out, progress);
        }
    }

    /**
     * What {@link #writeShard} reads of the first source rank's {@code key} to fill {@code out}: a non-expert tensor
     * whole; of grouped LoRA, and of a grouped tensor of a layer {@code out} holds target tensors of, the rows of
     * {@code job}'s experts on each source rank that has some.
     */
    private List<Tensor> inputsOf(String key, RankUnit job, ShardedCheckpointWriter out) {
        GroupedLayout from = ranks.layout();
        GroupedLayout layout = request.layout();
        ExpertNaming naming = ranks.model().naming();
        MoeConfig config = ranks.model().config();
        GroupedLayout.Key g = from.parse(naming, key);
        boolean lora = ranks.isGroupedLoraKey(key);
        if (g == null && !lora) {
            return out.holds(key) ? List.of(ranks.ranks().get(0).checkpoint().tensor(key)) : List.of();
        }
        boolean written = lora ? out.holds(key) : from.tensorNames(config.gated()).contains(g.name())
                && layout.tensorNames(config.gated()).stream()
                        .anyMatch(name -> out.holds(layout.key(naming, g.prefix(), g.layer(), name)));
        List<Tensor> rows = new ArrayList<>();
        for (Overlap o : written ? overlaps(job.range()) : List.<Overlap>of()) {
            if (o.rank().checkpoint().contains(key)) {
                rows.add(o.sourceRows(o.rank().checkpoint().tensor(key)));
            }
        }
        return rows;
    }

    /** Experts [lo, hi) of a range that source {@code rank} holds. */
    private record Overlap(GroupedRanks.Rank rank, long lo, long hi) {
        /** Those experts' rows of {@code t}, one of the rank's expert tensors. */
        Tensor sourceRows(Tensor t) {
            return t.narrow(0, lo - rank.range().start(), hi - lo);
        }
    }

    /** Each source rank holding experts of {@code range}, by first expert, with the experts it holds of it. */
    private List<Overlap> overlaps(ExpertRange range) {
        List<Overlap> out = new ArrayList<>();
        for (GroupedRanks.Rank r : ranks.byFirstExpert()) {
            long lo = Math.max(r.range().start(), range.start());
            long hi = Math.min(r.range().end(), range.end());
            if (lo < hi) {
                out.add(new Overlap(r, lo, hi));
            }
        }
        return out;
    }

    /** The rows of grouped LoRA {@code key} that the experts of {@code range} are, from each source rank holding some. */
    private void writeLora(String key, ExpertRange range, Tensor target, StagedWrites writes) {
        for (Overlap o : overlaps(range)) {
            writes.copy(target.narrow(0, o.lo() - range.start(), o.hi() - o.lo()),
                    o.sourceRows(o.rank().checkpoint().tensor(key)));
        }
        MappedPages.release(target);
    }
}
