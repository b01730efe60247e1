package dev.moeshard.properties.moe;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.moeshard.convert.MoeConvert;
import dev.moeshard.convert.OutputOptions;
import dev.moeshard.convert.RankSelection;
import dev.moeshard.convert.ToGroupedRequest;
import dev.moeshard.convert.ToHfRequest;
import dev.moeshard.convert.VerifyReport;
import dev.moeshard.convert.VerifyRequest;
import dev.moeshard.moe.GroupedLayout;
import dev.moeshard.moe.parallel.ExpertRange;
import dev.moeshard.properties.harness.Gen;
import dev.moeshard.properties.harness.PropertyCheck;
import dev.moeshard.safetensors.Checkpoint;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The file-to-file conversions of {@link MoeConvert}, over random small models written as checkpoint directories
 * (families told from config.json, gated or not, E, H, I, layers, prefix, input shards), every grouped layout,
 * expert-parallel sizes 1..E, BF16 and F32: to-grouped then to-hf gives back the input checkpoint byte for byte (and
 * verify finds the grouped checkpoints in between identical to the input), and
 * regrouping a grouped checkpoint of layout A (and some EP size) into layout B gives, rank for rank, exactly what
 * grouping the per-expert input into B directly gives.
 */
class FileConversionProperties {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path dir;
    private int caseNumber;

    /** Each case writes and converts checkpoints on disk: a 25th of the in-memory properties' cases (40 by default). */
    static int tries() {
        return Math.max(1, PropertyCheck.tries() / 25);
    }

    @Test
    void toGroupedThenToHfGivesBackTheInputCheckpoint() {
        // verify of the grouped checkpoints against the input is checked on the way: it must find them identical.
        PropertyCheck.forAll("file to-grouped then to-hf", tries(), gen -> {
            Path root = Files.createDirectories(dir.resolve("case-" + caseNumber++));
            ModelDirectory input = ModelDirectory.write(gen, root.resolve("hf"));
            MoeModel model = input.model();
            GroupedLayout layout = gen.oneOf(GroupedLayout.named());
            int world = worldSize(gen, model.experts());
            String where = input + ", " + layout.cliName() + ", W " + world;
            ToGroupedRequest base = ToGroupedRequest.of(input.path(), root.resolve("grouped")).withLayout(layout)
                    .withWriting(writing(gen));
            if (gen.chance(0.2)) {
                base = base.withDtype(model.dtype()); // asked for, and the input's already: nothing to convert
            }
            // The grouped checkpoints to-hf is given, and each with the experts it must hold.
            List<Path> inputs = new ArrayList<>();
            double how = gen.between(0, 99) / 100.0;
            if (world == 1 && how < 0.4) {
                MoeConvert.toGrouped(base);
                requireGrouped(base.output(), model, layout, ExpertRange.all(model.experts()), where);
                inputs.add(base.output());
                where += " (no expert parallelism)";
            } else if (how < 0.7) {
                MoeConvert.toGrouped(base.withRanks(RankSelection.all(world)));
                List<Path> ranks = new ArrayList<>();
                for (int r = 0; r < world; r++) {
                    Path rank = base.output().resolve("ep-rank-" + r);
                    requireGrouped(rank, model, layout, ExpertRange.forRank(r, world, model.experts()), where);
                    ranks.add(rank);
                }
                if (gen.chance(0.5)) {
                    inputs.add(base.output());
                    where += " (all ranks, their folder)";
                } else {
                    inputs.addAll(shuffled(gen, ranks));
                    where += " (all ranks, given as " + inputs.stream().map(p -> p.getFileName().toString()).toList() + ")";
                }
            } else {
                List<Path> ranks = new ArrayList<>();
                for (int r = 0; r < world; r++) {
                    Path rank = root.resolve("rank-" + r);
                    MoeConvert.toGrouped(ToGroupedRequest.of(input.path(), rank).withLayout(layout)
                            .withRanks(RankSelection.one(world, r)).withWriting(writing(gen)));
                    requireGrouped(rank, model, layout, ExpertRange.forRank(r, world, model.experts()), where);
                    ranks.add(rank);
                }
                inputs.addAll(shuffled(gen, ranks));
                where += " (one rank a run, given as " + inputs.stream().map(p -> p.getFileName().toString()).toList() + ")";
            }
            VerifyReport verified = MoeConvert.verify(VerifyRequest.of(input.path(), inputs));
            if (!verified.identical()) {
                throw new AssertionError(where + ": verify of a fresh conversion found " + verified.differences());
            }
            Path back = root.resolve("back");
            MoeConvert.toHf(ToHfRequest.of(inputs, back).withWriting(writing(gen)));
            try (Checkpoint c = Checkpoint.open(back)) {
                input.original().assertSame(c.tensors(), where + ": to-hf of to-grouped");
            }
            ModelDirectory.delete(root);
        });
    }

    @Test
    void regroupingEqualsGroupingThePerExpertInputDirectly() {
        PropertyCheck.forAll("file regroup A to B", tries(), gen -> {
            Path root = Files.createDirectories(dir.resolve("case-" + caseNumber++));
            ModelDirectory input = ModelDirectory.write(gen, root.resolve("hf"));
            MoeModel model = input.model();
            int experts = model.experts();
            GroupedLayout from = gen.oneOf(GroupedLayout.named());
            GroupedLayout to = gen.oneOf(GroupedLayout.named());
            int sourceWorld = worldSize(gen, experts);
            RankSelection sourceRanks = sourceWorld == 1 && gen.chance(0.5) ? RankSelection.none()
                    : RankSelection.all(sourceWorld);
            int world = worldSize(gen, experts);
            double how = gen.between(0, 99) / 100.0;
            RankSelection ranks = world == 1 && how < 0.3 ? RankSelection.none()
                    : how < 0.75 ? RankSelection.all(world) : RankSelection.one(world, gen.between(0, world - 1));
            String where = input + ", " + from.cliName() + " on " + describe(sourceRanks) + " to " + to.cliName() + " on "
                    + describe(ranks);

            Path source = root.resolve("source");
            MoeConvert.toGrouped(ToGroupedRequest.of(input.path(), source).withLayout(from).withRanks(sourceRanks)
                    .withWriting(writing(gen)));
            Path direct = root.resolve("direct");
            MoeConvert.toGrouped(ToGroupedRequest.of(input.path(), direct).withLayout(to).withRanks(ranks)
                    .withWriting(writing(gen)));
            Path regrouped = root.resolve("regrouped");
            ToGroupedRequest regroup = ToGroupedRequest.of(source, regrouped).withLayout(to).withRanks(ranks)
                    .withWriting(writing(gen));
            MoeConvert.toGrouped(gen.chance(0.3) ? regroup.withInputLayout(from) : regroup);

            for (int r : ranks.ranks()) {
                String sub = ranks.subdirectory(r);
                Path want = sub == null ? direct : direct.resolve(sub);
                Path got = sub == null ? regrouped : regrouped.resolve(sub);
                ExpertRange range = ranks.expertParallel() ? ExpertRange.forRank(r, world, experts) : ExpertRange.all(experts);
                requireGrouped(want, model, to, range, where + ", rank " + r + " direct");
                try (Checkpoint a = Checkpoint.open(want); Checkpoint b = Checkpoint.open(got)) {
                    StateDictSnapshot.of(a.tensors()).assertSame(b.tensors(), where + ", rank " + r);
                }
                requireSameManifest(want, got, where + ", rank " + r);
                if (!Files.isRegularFile(got.resolve("config.json"))) {
                    throw new AssertionError(where + ", rank " + r + ": the regrouped checkpoint has no config.json");
                }
            }
            ModelDirectory.delete(root);
        });
    }

    /** W in [1, max], W = 1 a little more often than its share. */
    private static int worldSize(Gen gen, int max) {
        return gen.chance(0.15) ? 1 : gen.between(1, max);
    }

    /** Random ways of writing that must not change a byte: shard size, copy threads. */
    private static OutputOptions writing(Gen gen) {
        OutputOptions o = OutputOptions.DEFAULTS.withThreads(gen.between(0, 2));
        return gen.chance(0.5) ? o.withMaxShardBytes(gen.between(1L, 1L << 14)) : o;
    }

    /**
     * The conversion in the middle happened: {@code path} holds no per-expert tensor, and for every layer exactly
     * {@code layout}'s grouped tensors, of {@code range}'s experts and the layout's shapes (none for a rank without
     * experts); a round trip through two pass-throughs would prove nothing.
     */
    static void requireGrouped(Path path, MoeModel model, GroupedLayout named, ExpertRange range, String where) {
        // hf-v5 of a non-gated model is up_proj alone, as transformers 5 holds it; these families have no other form
        GroupedLayout layout = named.formFor(false, model.config().gated());
        try (Checkpoint c = Checkpoint.open(path)) {
            int grouped = 0;
            for (String key : c.keys()) {
                if (model.naming().parsePerExpert(key) != null) {
                    throw new AssertionError(where + ": " + path.getFileName() + " still holds per-expert " + key);
                }
                grouped += layout.parse(model.naming(), key) != null ? 1 : 0;
            }
            List<String> names = layout.tensorNames(model.config().gated());
            int want = range.count() == 0 ? 0 : model.layers() * names.size();
            if (grouped != want) {
                throw new AssertionError(where + ": " + path + " holds " + grouped + " " + layout.cliName()
                        + " tensors, expected " + want + ": " + c.keys());
            }
            for (int l = 0; l < model.layers() && range.count() > 0; l++) {
                for (String name : names) {
                    String key = layout.key(model.naming(), model.prefix(), l, name);
                    long[] shape = layout.shape(name, range.count(), model.config());
                    if (!c.contains(key) || !Arrays.equals(c.entry(key).shape(), shape)) {
                        throw new AssertionError(where + ": " + path + " lacks " + key + " " + Arrays.toString(shape)
                                + ": " + (c.contains(key) ? Arrays.toString(c.entry(key).shape()) : c.keys()));
                    }
                }
            }
        }
    }

    /** Both checkpoints' moeshard.json say the same of their experts and layout; only where each came from differs. */
    private static void requireSameManifest(Path want, Path got, String where) throws IOException {
        ObjectNode a = (ObjectNode) JSON.readTree(want.resolve("moeshard.json").toFile());
        ObjectNode b = (ObjectNode) JSON.readTree(got.resolve("moeshard.json").toFile());
        a.remove("source");
        b.remove("source");
        if (!a.equals(b)) {
            throw new AssertionError(where + ": moeshard.json " + b + ", direct conversion wrote " + a);
        }
        JsonNode layout = b.get("layout");
        if (layout == null || layout.asText().isEmpty()) {
            throw new AssertionError(where + ": moeshard.json names no layout: " + b);
        }
    }

    private static String describe(RankSelection ranks) {
        return !ranks.expertParallel() ? "one checkpoint"
                : ranks.allRanks() ? "all " + ranks.size() + " ranks" : "rank " + ranks.rank() + " of " + ranks.size();
    }

    private static <T> List<T> shuffled(Gen gen, List<T> items) {
        List<T> out = new ArrayList<>(items);
        for (int i = out.size() - 1; i > 0; i--) {
            Collections.swap(out, i, gen.between(0, i));
        }
        return out;
    }
}
