package dev.moeshard.properties.moe;

import dev.moeshard.moe.FromHfOptions;
import dev.moeshard.moe.MoeStateDictAdapter;
import dev.moeshard.moe.ToHfOptions;
import dev.moeshard.moe.ExpertNaming.ExpertKey;
import dev.moeshard.moe.parallel.ExpertRange;
import dev.moeshard.properties.harness.Gen;
import dev.moeshard.properties.harness.PropertyCheck;
import dev.moeshard.tensor.Tensor;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * For random models (E, H, I, dtype, gated or not, prefix, naming, layers) and expert-parallel sizes W, each rank's
 * conversions are identities byte for byte: toHf of rank r's fromHf output gives exactly rank r's experts of the
 * original plus every non-expert tensor, and fromHf of rank r's toHf output gives back its grouped tensors.
 */
class ConversionRoundTripProperties {
    @Test
    void toHfAfterFromHfGivesEachRankItsExpertsAndEveryOtherTensor() {
        PropertyCheck.forAll("toHf after fromHf", gen -> {
            MoeModel model = MoeModel.random(gen);
            int world = worldSize(gen, model.experts() + 1);
            Map<String, Tensor> hf = model.hf(gen);
            StateDictSnapshot original = StateDictSnapshot.of(hf);
            for (int rank = 0; rank < world; rank++) {
                ExpertRange range = ExpertRange.forRank(rank, world, model.experts());
                MoeStateDictAdapter adapter = model.adapter();
                Map<String, Tensor> grouped = adapter.fromHf(new LinkedHashMap<>(hf), fromHfOptions(gen, model, world, rank));
                requireLayout(grouped, model, range.count() == 0 ? 0 : 2 * model.layers(), false,
                        model + ", W " + world + ", rank " + rank + ", fromHf");
                Map<String, Tensor> back = adapter.toHf(grouped, toHfOptions(gen, world, range));
                original.filter(key -> {
                    ExpertKey k = model.naming().parsePerExpert(key);
                    return k == null || range.contains(k.expert());
                }).assertSame(back, model + ", W " + world + ", rank " + rank);
            }
            original.assertSame(hf, model + ": the inputs after converting them");
        });
    }

    @Test
    void fromHfAfterToHfGivesBackEachRanksGroupedTensors() {
        PropertyCheck.forAll("fromHf after toHf", gen -> {
            MoeModel model = MoeModel.random(gen);
            // A rank without experts has no per-expert keys to bring its empty grouped tensors back from.
            int world = worldSize(gen, model.experts());
            for (int rank = 0; rank < world; rank++) {
                ExpertRange range = ExpertRange.forRank(rank, world, model.experts());
                Map<String, Tensor> grouped = model.grouped(gen, range);
                StateDictSnapshot original = StateDictSnapshot.of(grouped);
                MoeStateDictAdapter adapter = model.adapter();
                Map<String, Tensor> hf = adapter.toHf(grouped, toHfOptions(gen, world, range));
                requireLayout(hf, model, 0, true, model + ", W " + world + ", rank " + rank + ", toHf");
                Map<String, Tensor> back = adapter.fromHf(new LinkedHashMap<>(hf), fromHfOptions(gen, model, world, rank));
                original.assertSame(back, model + ", W " + world + ", rank " + rank);
                original.assertSame(grouped, model + ": the inputs after converting them");
            }
        });
    }

    /**
     * The conversion in the middle happened: {@code stateDict} holds {@code groupedKeys} grouped expert tensors and
     * per-expert ones only if {@code perExpert}; a round trip through two pass-throughs would prove nothing.
     */
    static void requireLayout(Map<String, Tensor> stateDict, MoeModel model, int groupedKeys, boolean perExpert,
                              String where) {
        long grouped = stateDict.keySet().stream().filter(k -> model.naming().parseGrouped(k) != null).count();
        boolean hasPerExpert = stateDict.keySet().stream().anyMatch(k -> model.naming().parsePerExpert(k) != null);
        if (grouped != groupedKeys || (hasPerExpert && !perExpert)) {
            throw new AssertionError(where + " gave " + grouped + " grouped keys, expected " + groupedKeys
                    + (hasPerExpert && !perExpert ? ", and per-expert keys" : "") + ": " + stateDict.keySet());
        }
    }

    /** W in [1, max], W = 1 more often than its share. */
    static int worldSize(Gen gen, int max) {
        return gen.chance(0.25) ? 1 : gen.between(1, max);
    }

    static FromHfOptions fromHfOptions(Gen gen, MoeModel model, int world, int rank) {
        FromHfOptions options = FromHfOptions.defaults().withMesh(ExpertMeshes.random(gen, world, rank));
        return gen.chance(0.3) ? options.withOutputDtype(model.dtype()) : options;
    }

    /** This rank's experts; with all of them, now and then left implicit. Views or copies. */
    private static ToHfOptions toHfOptions(Gen gen, int world, ExpertRange range) {
        ToHfOptions options = ToHfOptions.defaults().withViews(gen.chance(0.5));
        return world == 1 && gen.chance(0.5) ? options : options.withLocalExperts(range);
    }
}
