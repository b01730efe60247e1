package dev.moeshard.properties.moe;

import dev.moeshard.moe.FromHfOptions;
import dev.moeshard.moe.parallel.ExpertRange;
import dev.moeshard.properties.harness.PropertyCheck;
import dev.moeshard.tensor.Tensor;
import java.io.ByteArrayOutputStream;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Expert parallelism only partitions: for random models and W in [1, E + 1], the grouped tensors of all W ranks'
 * fromHf outputs, concatenated along dim 0 in rank order, equal those of ep size 1 byte for byte, and every rank
 * carries every non-expert tensor unchanged. A rank that owns no expert may leave its grouped tensors out.
 */
class ExpertParallelUnionProperties {

    @Test
    void ranksTogetherEqualEpSizeOne() {
        PropertyCheck.forAll("ep union", PropertyCheck.tries(), gen -> {
            MoeModel model = MoeModel.random(gen);
            int world = gen.between(1, model.experts() + 1);
            Map<String, Tensor> hf = model.hf(gen);
            StateDictSnapshot whole = StateDictSnapshot.of(model.adapter().fromHf(new LinkedHashMap<>(hf),
                    ConversionRoundTripProperties.fromHfOptions(gen, model, 1, 0)));
            List<StateDictSnapshot> ranks = new java.util.ArrayList<>();
            for (int rank = 0; rank < world; rank++) {
                ranks.add(StateDictSnapshot.of(model.adapter().fromHf(new LinkedHashMap<>(hf),
                        ConversionRoundTripProperties.fromHfOptions(gen, model, world, rank))));
            }
            String where = model + ", W " + world;
            for (Map.Entry<String, StateDictSnapshot.Entry> e : whole.entries().entrySet()) {
                String key = e.getKey();
                StateDictSnapshot.Entry want = e.getValue();
                if (model.naming().parseGrouped(key) == null) {
                    for (int rank = 0; rank < world; rank++) {
                        StateDictSnapshot.Entry got = ranks.get(rank).entries().get(key);
                        if (got == null || got.dtype() != want.dtype() || !Arrays.equals(got.shape(), want.shape())
                                || !Arrays.equals(got.bytes(), want.bytes())) {
                            throw new AssertionError(where + ", rank " + rank + ", " + key + ": " + got + ", expected "
                                    + want + " as at ep size 1");
                        }
                    }
                    continue;
                }
                ByteArrayOutputStream union = new ByteArrayOutputStream();
                for (int rank = 0; rank < world; rank++) {
                    int count = ExpertRange.forRank(rank, world, model.experts()).count();
                    StateDictSnapshot.Entry got = ranks.get(rank).entries().get(key);
                    if (got == null && count == 0) {
                        continue;
                    }
                    long[] shape = want.shape().clone();
                    shape[0] = count;
                    if (got == null || got.dtype() != want.dtype() || !Arrays.equals(got.shape(), shape)) {
                        throw new AssertionError(where + ", rank " + rank + ", " + key + ": " + got + ", expected "
                                + want.dtype() + Arrays.toString(shape));
                    }
                    union.writeBytes(got.bytes());
                }
                int at = Arrays.mismatch(union.toByteArray(), want.bytes());
                if (at != -1) {
                    throw new AssertionError(where + ", " + key + ": the ranks' tensors concatenated differ from ep size 1"
                            + " from byte " + at);
                }
            }
            for (int rank = 0; rank < world; rank++) {
                for (String key : ranks.get(rank).entries().keySet()) {
                    if (!whole.entries().containsKey(key)) {
                        throw new AssertionError(where + ", rank " + rank + " has " + key + ", which ep size 1 has not");
                    }
                }
            }
        });
    }
}
