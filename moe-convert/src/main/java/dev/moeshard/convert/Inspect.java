package dev.moeshard.convert;

import dev.moeshard.moe.ExpertNaming;
import dev.moeshard.moe.FusedExperts;
import dev.moeshard.moe.GroupedLayout;
import dev.moeshard.moe.GroupedLayoutDetection;
import dev.moeshard.moe.MoeConfig;
import dev.moeshard.moe.family.ModelFamily;
import dev.moeshard.moe.parallel.ExpertRange;
import dev.moeshard.safetensors.Checkpoint;
import dev.moeshard.safetensors.TensorSplit;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * What a checkpoint holds and whether it can be converted, from its headers, index and config.json only; no tensor
 * data is read.
 */
final class Inspect {
    private Inspect() {}

    /** {@code given}, or the snapshot {@code revision} names when it is a cache repository folder (null: main's). */
    static InspectReport run(Path given, String revision) {
        Path input = InputPaths.atRevision(given, revision);
        if (GroupedToGrouped.isGroupedInput(input)) {
            try (GroupedRanks ranks = GroupedRanks.open(List.of(input), null, null)) {
                return inspectGrouped(ranks);
            }
        }
        try (ModelInput in = ModelInput.open(input)) {
            return inspect(in);
        }
    }

    /**
     * A grouped checkpoint, or the ranks of one run ({@code ep-rank-R/} folders): its layers and experts from the
     * grouped tensors, each rank's experts, and what stops the ranks from being merged back.
     */
    private static InspectReport inspectGrouped(GroupedRanks ranks) {
        ExpertNaming naming = ranks.model().naming();
        Map<String, Integer> dtypes = new TreeMap<>();
        long bytes = 0;
        int tensors = 0;
        int expertTensors = 0;
        List<String> files = new ArrayList<>();
        List<String> rankLines = new ArrayList<>();
        Set<String> layers = new LinkedHashSet<>();
        for (GroupedRanks.Rank r : ranks.ranks()) {
            Checkpoint c = r.checkpoint();
            c.files().forEach(f -> files.add(ranks.ranks().size() == 1 ? f.getFileName().toString()
                    : f.getParent().getFileName() + "/" + f.getFileName()));
            rankLines.add(r.path().getFileName() + ": experts [" + r.range().start() + ", " + r.range().end() + ")");
            tensors += countStored(c, dtypes);
            for (String key : c.keys()) {
                bytes += c.entry(key).byteSize();
                GroupedLayout.Key g = ranks.layout().parse(naming, key);
                if (g != null && !ranks.isGroupedOnDisk()) {
                    layers.add(g.layerPath());
                    expertTensors++;
                } else if (ranks.isOnDiskExpertKey(key)) {
                    layers.add(key.substring(0, key.indexOf("." + naming.segment() + ".")));
                    expertTensors++;
                }
            }
        }
        MoeConfig config = ranks.model().config();
        // GPT-OSS ranks keep the family's own layout, under the reference adapter's names or (hf-v5) their own; any
        // other grouped ranks, those of Llama-4, Granite and Qwen3-VL-MoE included, are in the grouped layout they
        // were written in, whatever its names.
        boolean ownLayout = ranks.isGroupedOnDisk() && GroupedOnDiskLayout.onDiskLayout(ranks.model().family()) == null;
        String layout = ownLayout ? GroupedOnDiskLayout.describe(ranks.model().family(), ranks.layout())
                : describe(ranks.layout());
        Checkpoint first = ranks.ranks().getFirst().checkpoint();
        return new InspectReport(ranks.ranks().size() == 1 ? first.path().toString()
                : first.path().toAbsolutePath().getParent().toString(), files, ranks.model().family().modelType(),
                ranks.configFile().isPresent() ? "config.json" : "grouped tensor names and shapes", layout,
                config.numExperts(), config.hidden(), config.intermediate(), config.gated(), List.copyOf(layers),
                List.of(), Map.of(), dtypes, tensors, expertTensors, bytes, ranks.problems(), List.of(), rankLines);
    }

    static InspectReport inspect(ModelInput in) {
        Checkpoint checkpoint = in.checkpoint();
        ExpertSurvey survey = new ExpertSurvey(checkpoint, in.model());
        ExpertNaming naming = in.model().naming();
        Map<String, Integer> dtypes = new TreeMap<>();
        int tensors = countStored(checkpoint, dtypes);
        long bytes = 0;
        for (String key : checkpoint.keys()) {
            bytes += checkpoint.entry(key).byteSize();
        }
        List<String> layers = new ArrayList<>();
        Map<String, List<Integer>> missing = new LinkedHashMap<>();
        for (ExpertSurvey.Layer layer : survey.layers()) {
            String name = layer.path();
            layers.add(name);
            List<Integer> absent = survey.absentExperts(layer);
            if (!absent.isEmpty()) {
                missing.put(name, absent);
            }
        }
        int grouped = 0; // expert tensors that hold every expert: fused by transformers 5, or the family's own
        boolean groupedOnDisk = in.model().family().layout() == ModelFamily.Layout.GROUPED_ON_DISK;
        for (String key : groupedOnDisk ? List.<String>of() : checkpoint.keys()) {
            // transformers 5's fused experts ([E, 2I, H] gate_up_proj, [E, H, I] down_proj) hold every expert
            FusedExperts f = FusedExperts.parse(naming, key, checkpoint.entry(key).shape().length);
            if (f != null) {
                grouped++;
                if (!layers.contains(f.layerPath())) {
                    layers.add(f.layerPath());
                }
            }
        }
        if (groupedOnDisk) {
            // grouped on disk: a layer is where its expert tensors are, before the expert path
            String path = "." + naming.segment() + ".";
            checkpoint.keys().stream().filter(k -> k.contains(path)).map(k -> k.substring(0, k.indexOf(path)))
                    .distinct().forEach(layers::add);
            grouped += (int) checkpoint.keys().stream().filter(in.model().family()::isOnDiskExpertKey).count();
        }
        int experts = in.model().config().numExperts();
        List<String> problems = new ArrayList<>(survey.problems(ExpertRange.all(experts), null));
        String layout = layoutOf(in, survey, problems);
        problems.addAll(QuantizationCheck.problems(checkpoint));
        problems.addAll(ScaleKinds.problems(checkpoint, in.configJson(), false));
        return new InspectReport(checkpoint.path().toString(),
                checkpoint.files().stream().map(p -> p.getFileName().toString()).toList(),
                in.model().family().modelType(), in.detectedFrom(), layout,
                experts, in.model().config().hidden(), in.model().config().intermediate(), in.model().config().gated(),
                layers, survey.projections().stream().map(naming::name).toList(), missing, dtypes,
                tensors, survey.expertTensorCount() + grouped, bytes, problems,
                QuantizedGroup.of(checkpoint), List.of());
    }

    /**
     * Counts {@code c}'s tensors by dtype into {@code dtypes} as its files list them, and returns how many: a tensor
     * read as its parts (LongCat's identity rows inside hf-v5 {@code gate_up_proj}) is one.
     */
    private static int countStored(Checkpoint c, Map<String, Integer> dtypes) {
        int count = c.keys().size();
        for (String key : c.keys()) {
            dtypes.merge(c.entry(key).dtype().name(), 1, Integer::sum);
        }
        for (TensorSplit split : c.splits()) {
            count -= split.parts().size() - 1;
            dtypes.merge(split.whole().dtype().name(), 1 - split.parts().size(), Integer::sum);
        }
        return count;
    }

    /** How inspect names a grouped layout: hf-v5's forms say whose they are. */
    private static String describe(GroupedLayout layout) {
        return switch (layout) {
            case HF_V5 -> "hf-v5 (transformers v5 fused)";
            case HF_V5_TRANSPOSED -> "hf-v5 (transformers v5 fused, transposed as Llama-4 holds it)";
            case HF_V5_UP -> "hf-v5 (transformers v5 fused, non-gated up_proj)";
            default -> layout.cliName();
        };
    }

    /**
     * per-expert, gpt-oss grouped, or the grouped layout the names, shapes, config.json and moeshard.json tell
     * ({@link GroupedLayoutDetection}); an ambiguity is reported as a problem.
     */
    private static String layoutOf(ModelInput in, ExpertSurvey survey, List<String> problems) {
        if (!survey.layers().isEmpty()) {
            return "per-expert";
        }
        if (in.model().family().layout() == ModelFamily.Layout.GROUPED_ON_DISK) {
            return GroupedOnDiskLayout.describe(in.model().family());
        }
        Checkpoint checkpoint = in.checkpoint();
        Map<String, long[]> shapes = new LinkedHashMap<>();
        checkpoint.keys().forEach(k -> shapes.put(k, checkpoint.entry(k).shape()));
        GroupedLayout recorded = GroupedRanks.readManifest(checkpoint.path()).map(GroupedRanks::recordedLayout)
                .map(in.model()::form).orElse(null);
        try {
            return GroupedLayoutDetection.detect(shapes, in.model().naming(),
                            in.configFile().isPresent() ? in.model().config() : null, recorded)
                    .map(Inspect::describe)
                    .orElse("unknown");
        } catch (IllegalArgumentException e) {
            problems.add(e.getMessage());
            return "ambiguous";
        }
    }

}
