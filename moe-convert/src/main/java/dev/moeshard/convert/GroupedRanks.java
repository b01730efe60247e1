package dev.moeshard.convert;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.moeshard.moe.ExpertNaming;
import dev.moeshard.moe.GroupedLayout;
import dev.moeshard.moe.GroupedLayoutDetection;
import dev.moeshard.moe.Projection;
import dev.moeshard.moe.ExpertNaming.GroupedKey;
import dev.moeshard.moe.quant.Fp8GroupedScales;
import dev.moeshard.moe.MoeConfig;
import dev.moeshard.moe.ToHfOptions;
import dev.moeshard.moe.family.DetectedModel;
import dev.moeshard.moe.family.FamilyDetection;
import dev.moeshard.moe.family.ModelFamily;
import dev.moeshard.moe.lora.LoraExpertSuffix;
import dev.moeshard.moe.parallel.ExpertRange;
import dev.moeshard.safetensors.Checkpoint;
import dev.moeshard.safetensors.InputFile;
import dev.moeshard.safetensors.TensorEntry;
import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.Tensor;
import dev.moeshard.tensor.TensorOps;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.stream.Stream;

/**
 * The grouped checkpoints of one conversion: a single one, or the rank directories of one expert-parallel run, each
 * with the global experts it holds. A rank's range comes from its {@code moeshard.json}; without one, the ranks are
 * taken in the order given and get {@link ExpertRange#forRank}'s ranges, which is what to-grouped wrote.
 *
 * <p>Only headers are read: the per-expert tensors handed out are zero-copy views of the mapped grouped storage.
 */
final class GroupedRanks implements AutoCloseable {
    private static final ObjectMapper JSON = new ObjectMapper()
            .configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, false);

    /** One rank's checkpoint and the global experts [start, end) its grouped tensors hold. */
    record Rank(int index, Path path, Checkpoint checkpoint, ExpertRange range, Optional<GroupedManifest> manifest) {}

    private final List<Rank> ranks;
    private final DetectedModel model;
    private final GroupedLayout layout;
    private final Optional<Path> configFile;

    private GroupedRanks(List<Rank> ranks, DetectedModel model, GroupedLayout layout, Optional<Path> configFile) {
        this.ranks = ranks;
        this.model = model;
        this.layout = layout;
        this.configFile = configFile;
    }

    static GroupedRanks open(List<Path> inputs, DetectedModel model) {
        return open(inputs, model, null);
    }

    /**
     * Opens every grouped checkpoint of {@code inputs}; a single directory that holds {@code ep-rank-R/} folders stands
     * for all of them. {@code model} null detects the model from the first rank's config.json, else from the grouped
     * shapes. {@code layout} null tells the grouped layout from names, shapes and the manifest
     * ({@link GroupedLayoutDetection}).
     */
    static GroupedRanks open(List<Path> inputs, DetectedModel model, GroupedLayout layout) {
        List<Path> paths = expand(inputs.stream().map(p -> InputPaths.resolve(p)).toList());
        List<Checkpoint> opened = new ArrayList<>();
        try {
            List<Optional<GroupedManifest>> manifests = new ArrayList<>();
            for (Path p : paths) {
                if (!Files.exists(p)) {
                    throw new IllegalArgumentException(p + ": no such file or directory");
                }
                opened.add(Checkpoint.open(p));
                opened.getLast().tensors(); // maps every file now, so that one that cannot be mapped fails the plan
                manifests.add(readManifest(p));
            }
            Path dir0 = directoryOf(paths.get(0));
            Optional<Path> config = Optional.of(dir0.resolve("config.json")).filter(InputFile::exists);
            DetectedModel known = model != null ? model
                    : config.isPresent() ? knownFamily(config.get()) : null;
            DetectedModel detected = known;
            GroupedLayout chosen = GroupedLayout.DEEPEP;
            if (known != null) { // hf-v5 as the family has it (a manifest and --layout say only "hf-v5")
                layout = known.form(layout);
            }
            if (known != null && known.family().layout() == ModelFamily.Layout.GROUPED_ON_DISK) {
                chosen = known.form(onDiskRanksLayout(known.family(), manifests.get(0), layout));
            } else {
                GroupedLayout recorded = manifests.get(0).map(GroupedRanks::recordedLayout)
                        .map(l -> known == null ? l : known.form(l)).orElse(null);
                Map<String, long[]> shapes = new LinkedHashMap<>();
                opened.get(0).keys().forEach(k -> shapes.put(k, opened.get(0).entry(k).shape()));
                List<ModelFamily> families = known != null ? List.of(known.family())
                        : List.of(ModelFamily.QWEN3_MOE, ModelFamily.MIXTRAL, ModelFamily.NEMOTRON_H);
                for (ModelFamily family : families) {
                    Optional<GroupedLayout> found = layout != null ? Optional.of(layout) : GroupedLayoutDetection.detect(
                            shapes, family.naming(), known == null ? null : known.config(), recorded);
                    if (found.isPresent() && (known != null || hasLayoutKeys(opened.get(0), family, found.get()))) {
                        chosen = found.get();
                        detected = known != null ? known : fromGroupedShapes(opened, manifests, family, chosen);
                        break;
                    }
                }
                if (detected == null) {
                    throw new IllegalArgumentException(opened.get(0).path() + ": no config.json and no grouped expert "
                            + "tensors of any layout " + GroupedLayout.names() + " to tell the model from");
                }
            }
            if (chosen == GroupedLayout.HF_V5) {
                for (int i = 0; i < opened.size(); i++) {
                    opened.set(i, IdentityExpertRows.readable(opened.get(i), detected));
                }
            }
            int experts = detected.config().numExperts();
            List<Rank> ranks = new ArrayList<>();
            for (int i = 0; i < paths.size(); i++) {
                Optional<GroupedManifest> m = manifests.get(i);
                if (m.isPresent() && (m.get().expertStart() < 0 || m.get().expertEnd() < m.get().expertStart()
                        || m.get().expertEnd() > experts)) {
                    throw new InvalidInputException(directoryOf(paths.get(i)).resolve(GroupedManifest.FILE_NAME)
                            .toString(), List.of("expertStart " + m.get().expertStart() + " and expertEnd "
                            + m.get().expertEnd() + " are not a range of the model's " + experts + " experts"));
                }
                ExpertRange range = m.isPresent() ? new ExpertRange(m.get().expertStart(), m.get().expertEnd())
                        : ExpertRange.forRank(i, paths.size(), experts);
                ranks.add(new Rank(i, paths.get(i), opened.get(i), range, m));
            }
            return new GroupedRanks(List.copyOf(ranks), detected, chosen, config);
        } catch (RuntimeException e) {
            opened.forEach(Checkpoint::close);
            throw e;
        }
    }

    /** Each rank's checkpoint, in rank order. */
    List<Checkpoint> checkpoints() {
        return ranks().stream().map(Rank::checkpoint).toList();
    }

    List<Rank> ranks() {
        return ranks;
    }

    DetectedModel model() {
        return model;
    }

    /**
     * The grouped layout of these ranks' expert tensors: for a family grouped on disk, its own orientation's or the
     * layout to-grouped regrouped it into; for GPT-OSS, whose own layout is never split, the layout whose names it was
     * written under (deepep's renames, or hf-v5's, its own).
     */
    GroupedLayout layout() {
        return layout;
    }

    /** The first rank's config.json, copied to an HF output. */
    Optional<Path> configFile() {
        return configFile;
    }

    /** Whether {@code key} is a grouped expert tensor that the adapter splits into per-expert tensors. */
    boolean isGroupedExpertKey(String key) {
        ExpertNaming naming = model.naming();
        return !isGroupedOnDisk() && (layout.parse(naming, key) != null || Fp8GroupedScales.parse(naming, key) != null);
    }

    /**
     * Whether {@code key} is grouped expert LoRA ({@code lora_gate_and_up_A} [E_local, H, r] ...), which holds the
     * rank's experts on its first axis as its grouped weights do.
     */
    boolean isGroupedLoraKey(String key) {
        return !isGroupedOnDisk() && LoraExpertSuffix.of(key, model.naming().segment()) != null;
    }

    /**
     * The PEFT tensors of grouped LoRA {@code key} of every rank, in expert order: each rank's experts' own tensors, or,
     * for ParamWrapper, which folds all E experts into one tensor, the ranks' tensors gathered in memory first (LoRA is
     * r/H the size of the experts).
     */
    List<Map.Entry<String, Tensor>> loraToHf(String key, ToHfOptions.LoraFormat format) {
        List<Map.Entry<String, Tensor>> out = new ArrayList<>();
        if (format == ToHfOptions.LoraFormat.PARAM_WRAPPER) {
            List<Tensor> pieces = byFirstExpert().stream().filter(r -> r.checkpoint().contains(key))
                    .map(r -> r.checkpoint().tensor(key)).toList();
            out.addAll(model.adapter(layout).toHf(key, TensorOps.cat(pieces, 0),
                    ToHfOptions.defaults().withLoraFormat(format)));
            return out;
        }
        for (Rank r : byFirstExpert()) {
            out.addAll(loraToHf(r, key));
        }
        return out;
    }

    /** The per-expert PEFT tensors of rank {@code r}'s experts of grouped LoRA {@code key}; none where it lacks it. */
    List<Map.Entry<String, Tensor>> loraToHf(Rank r, String key) {
        if (!r.checkpoint().contains(key)) {
            return List.of();
        }
        return model.adapter(layout).toHf(key, r.checkpoint().tensor(key),
                ToHfOptions.defaults().withLocalExperts(r.range()));
    }

    /** Whether these are ranks of a family grouped on disk (GPT-OSS, Llama-4, ...), whose expert tensors are cut along their first axis and never split. */
    boolean isGroupedOnDisk() {
        return model.family().layout() == ModelFamily.Layout.GROUPED_ON_DISK;
    }

    /** Whether {@code key} is an expert tensor of a family grouped on disk, holding the rank's experts on its first axis. */
    boolean isOnDiskExpertKey(String key) {
        return isGroupedOnDisk() && (GroupedOnDiskLayout.isExpertKey(model.family(), key)
                || isRegroupedOnDisk() && layout.parse(model.naming(), key) != null);
    }

    /** Whether these are ranks of a family grouped on disk that to-grouped wrote in a layout other than its own. */
    boolean isRegroupedOnDisk() {
        GroupedLayout own = GroupedOnDiskLayout.onDiskLayout(model.family());
        return isGroupedOnDisk() && own != null && layout != own;
    }

    /**
     * The layout ranks of {@code family} (grouped on disk) are in: the one the manifest records (to-grouped writes
     * one with every rank), else the one asked for, else the family's own orientation. GPT-OSS, with no grouped
     * layout's orientation, is in hf-v5 (its own names kept) where the manifest, or without one the request, says so,
     * and otherwise deepep (its renamed tensors, recorded as "gpt-oss"), as these ranks have always been read.
     */
    private static GroupedLayout onDiskRanksLayout(ModelFamily family, Optional<GroupedManifest> manifest,
                                                   GroupedLayout asked) {
        GroupedLayout own = GroupedOnDiskLayout.onDiskLayout(family);
        GroupedLayout recorded = manifest.map(GroupedRanks::recordedLayout).orElse(null);
        if (own == null) {
            GroupedLayout named = manifest.isPresent() ? recorded : asked;
            return family.keepsOnDiskNamesIn(named) ? named : GroupedLayout.DEEPEP;
        }
        return recorded != null ? recorded : asked != null ? asked : own;
    }

    /**
     * What stops these ranks from being merged, from headers alone: ranges outside the model, grouped tensors of a
     * shape other than [E_local, H, 2I] / [E_local, I, H] or of different dtypes across ranks, experts that no rank or
     * two ranks hold, non-expert tensors that differ between ranks.
     */
    List<String> problems() {
        List<String> problems = new ArrayList<>();
        MoeConfig config = model.config();
        ExpertNaming naming = model.naming();
        for (Rank r : ranks) {
            if (r.range().end() > config.numExperts()) {
                problems.add(r.path() + ": holds experts [" + r.range().start() + ", " + r.range().end()
                        + ") but the model has " + config.numExperts());
            }
            if (r.manifest().isPresent() && r.manifest().get().numExperts() != config.numExperts()) {
                problems.add(r.path() + ": " + GroupedManifest.FILE_NAME + " says " + r.manifest().get().numExperts()
                        + " experts, the model has " + config.numExperts());
            }
        }
        // grouped key -> expert id -> ranks holding it; and its dtype as the first rank had it
        Map<String, Map<Integer, List<Integer>>> holders = new LinkedHashMap<>();
        Map<String, DType> dtypes = new LinkedHashMap<>();
        Map<String, long[]> loraInner = new LinkedHashMap<>(); // grouped LoRA key -> the [X, r] of one expert
        for (Rank r : ranks) {
            for (String key : r.checkpoint().keys()) {
                GroupedLayout.Key g = layout.parse(naming, key);
                TensorEntry e = r.checkpoint().entry(key);
                GroupedKey scalesOf = isGroupedOnDisk() ? null : Fp8GroupedScales.parse(naming, key);
                if (scalesOf != null) {
                    long[] want = Fp8GroupedScales.shape(scalesOf.projection(), r.range().count(), config);
                    if (!Arrays.equals(e.shape(), want)) {
                        problems.add(r.path() + ": " + key + ": FP8 scales of shape " + Arrays.toString(e.shape())
                                + ", expected " + Arrays.toString(want) + " (one per 128x128 block of the grouped tensor)");
                    }
                    continue;
                }
                // A layout's tensor has that layout's shape, also for a family grouped on disk in a layout's
                // orientation; GPT-OSS's interleaved tensors, and others cut per rank, only the rank's experts first.
                boolean layoutShaped = g != null
                        && (!isGroupedOnDisk() || GroupedOnDiskLayout.onDiskLayout(model.family()) != null);
                if (isGroupedLoraKey(key)) {
                    if (e.shape().length != 3 || e.shape()[0] != r.range().count()) {
                        problems.add(r.path() + ": " + key + ": shape " + Arrays.toString(e.shape()) + ", expected "
                                + r.range().count() + " experts (those of [" + r.range().start() + ", " + r.range().end()
                                + ")) on the first axis of a 3-d grouped LoRA tensor");
                        continue;
                    }
                    long[] inner = Arrays.copyOfRange(e.shape(), 1, 3);
                    long[] seen = loraInner.putIfAbsent(key, inner);
                    if (seen != null && !Arrays.equals(seen, inner)) {
                        problems.add(r.path() + ": " + key + ": shape " + Arrays.toString(e.shape()) + ", but another"
                                + " rank's experts are [" + seen[0] + ", " + seen[1] + "] each");
                    }
                } else if (isOnDiskExpertKey(key) && !layoutShaped) {
                    if (e.shape().length == 0 || e.shape()[0] != r.range().count()) {
                        problems.add(r.path() + ": " + key + ": shape " + Arrays.toString(e.shape()) + ", expected "
                                + r.range().count() + " experts on the first axis");
                    }
                } else if (!layoutShaped) {
                    continue;
                }
                long[] want = layoutShaped && !isGroupedLoraKey(key) ? layout.shape(g.name(), r.range().count(), config)
                        : e.shape();
                if (!Arrays.equals(e.shape(), want)) {
                    problems.add(r.path() + ": " + key + ": shape " + Arrays.toString(e.shape()) + ", expected "
                            + Arrays.toString(want) + " for experts [" + r.range().start() + ", " + r.range().end() + ")");
                }
                DType first = dtypes.putIfAbsent(key, e.dtype());
                if (first != null && first != e.dtype()) {
                    problems.add(r.path() + ": " + key + ": dtype " + e.dtype() + ", rank 0 has " + first);
                }
                Map<Integer, List<Integer>> byExpert = holders.computeIfAbsent(key, k -> new TreeMap<>());
                for (int id : r.range().ids()) {
                    byExpert.computeIfAbsent(id, x -> new ArrayList<>()).add(r.index());
                }
            }
        }
        for (Map.Entry<String, Map<Integer, List<Integer>>> h : holders.entrySet()) {
            List<Integer> missing = new ArrayList<>();
            for (int id = 0; id < config.numExperts(); id++) {
                List<Integer> on = h.getValue().get(id);
                if (on == null) {
                    missing.add(id);
                } else if (on.size() > 1) {
                    problems.add(h.getKey() + ": expert " + id + " is held by ranks " + on);
                }
            }
            if (!missing.isEmpty()) {
                problems.add(h.getKey() + ": experts " + missing + " are held by no rank");
            }
        }
        problems.addAll(nonExpertDisagreements());
        return problems;
    }

    private List<String> nonExpertDisagreements() {
        List<String> problems = new ArrayList<>();
        Checkpoint first = ranks.get(0).checkpoint();
        Set<String> shared = nonExpertKeys(first);
        for (Rank r : ranks.subList(1, ranks.size())) {
            Set<String> own = nonExpertKeys(r.checkpoint());
            for (String key : shared) {
                if (!own.contains(key)) {
                    problems.add(r.path() + ": lacks " + key + ", which rank 0 has");
                } else if (!first.entry(key).spec().equals(r.checkpoint().entry(key).spec())) {
                    problems.add(r.path() + ": " + key + " is " + r.checkpoint().entry(key).spec() + ", rank 0 has "
                            + first.entry(key).spec());
                }
            }
            for (String key : own) {
                if (!shared.contains(key)) {
                    problems.add(r.path() + ": has " + key + ", which rank 0 lacks");
                }
            }
        }
        return problems;
    }

    private Set<String> nonExpertKeys(Checkpoint c) {
        Set<String> keys = new LinkedHashSet<>();
        for (String k : c.keys()) {
            if (!isGroupedExpertKey(k) && !isOnDiskExpertKey(k) && !isGroupedLoraKey(k)) {
                keys.add(k);
            }
        }
        return keys;
    }

    /**
     * The per-expert tensors of grouped key {@code key} on rank {@code r}, named by global expert id: zero-copy
     * transposed views of the mapped grouped tensor, as the adapter splits it.
     */
    List<Map.Entry<String, Tensor>> perExpertViews(Rank r, String key) {
        return model.adapter(layout).toHf(key, r.checkpoint().tensor(key),
                ToHfOptions.defaults().withViews(true).withLocalExperts(r.range()));
    }

    /** The ranks in order of the experts they hold, so that per-expert keys come out by global expert id. */
    List<Rank> byFirstExpert() {
        return ranks.stream().sorted(Comparator.comparingInt((Rank r) -> r.range().start())).toList();
    }

    @Override
    public void close() {
        ranks.forEach(r -> r.checkpoint().close());
    }

    private static List<Path> expand(List<Path> inputs) {
        if (inputs.size() != 1 || !Files.isDirectory(inputs.get(0))) {
            return inputs;
        }
        try (Stream<Path> children = Files.list(inputs.get(0))) {
            List<Path> rankDirs = children.filter(p -> Files.isDirectory(p)
                            && p.getFileName().toString().matches("ep-rank-\\d+"))
                    .sorted(Comparator.comparingInt(p -> Integer.parseInt(p.getFileName().toString().substring(8))))
                    .toList();
            return rankDirs.isEmpty() ? inputs : rankDirs;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot list " + inputs.get(0) + ": " + e.getMessage(), e);
        }
    }

    private static Path directoryOf(Path p) {
        return Files.isDirectory(p) ? p : p.toAbsolutePath().getParent();
    }

    static Optional<GroupedManifest> readManifest(Path p) {
        Path file = directoryOf(p).resolve(GroupedManifest.FILE_NAME);
        if (!Files.isRegularFile(file)) {
            return Optional.empty();
        }
        try {
            return Optional.of(JSON.readValue(file.toFile(), GroupedManifest.class));
        } catch (IOException e) {
            throw new InvalidInputException(file.toString(), List.of("not a readable moeshard manifest: " + e.getMessage()));
        }
    }

    /** The layout a manifest names; manifests written before layouts existed say "grouped" for DeepEP's. */
    static GroupedLayout recordedLayout(GroupedManifest m) {
        try {
            return m.layout() == null ? null : GroupedLayout.ofName(m.layout());
        } catch (IllegalArgumentException e) {
            return null;
        }
    }

    /** The model config.json describes, or null where its model_type is not in the family table (then: shapes). */
    private static DetectedModel knownFamily(Path config) {
        var json = FamilyDetection.readConfig(config);
        return ModelFamily.ofModelType(FamilyDetection.modelType(json))
                .map(f -> new DetectedModel(f, FamilyDetection.sizes(json, config.toString(), f))).orElse(null);
    }

    private static boolean hasLayoutKeys(Checkpoint c, ModelFamily family, GroupedLayout layout) {
        return c.keys().stream().anyMatch(k -> layout.parse(family.naming(), k) != null);
    }

    /**
     * Without config.json: H and I from the layout's down tensor, a gate when the layout's gate/up tensors say so, and
     * E from a manifest or the ranks' experts added up.
     */
    private static DetectedModel fromGroupedShapes(List<Checkpoint> ranks, List<Optional<GroupedManifest>> manifests,
                                                   ModelFamily family, GroupedLayout layout) {
        // The first layer's tensors, by key suffix.
        Map<String, long[]> layer = new LinkedHashMap<>();
        String downKey = null;
        GroupedLayout.Key first = null;
        for (String key : ranks.get(0).keys()) {
            GroupedLayout.Key g = layout.parse(family.naming(), key);
            if (g == null || (first != null && (!g.prefix().equals(first.prefix()) || g.layer() != first.layer()))) {
                continue;
            }
            first = g;
            layer.put(g.name(), ranks.get(0).entry(key).shape());
            if (g.name().equals(layout.tensorOf(Projection.DOWN))) {
                downKey = key;
            }
        }
        long[] down = layer.get(layout.tensorOf(Projection.DOWN));
        if (downKey == null || down == null || down.length != 3) {
            throw new IllegalArgumentException(ranks.get(0).path() + ": no config.json and no 3-d "
                    + layout.tensorOf(Projection.DOWN) + " tensor to read the expert sizes from");
        }
        long[] hi = layout.hiddenAndIntermediate(down);
        int experts = 0;
        if (manifests.get(0).isPresent()) {
            experts = manifests.get(0).get().numExperts();
        } else {
            for (Checkpoint c : ranks) {
                experts += c.contains(downKey) ? (int) c.entry(downKey).shape()[0] : 0;
            }
        }
        return new DetectedModel(family, new MoeConfig(experts, hi[0], hi[1], layout.gated(layer, hi[1])));
    }
}
