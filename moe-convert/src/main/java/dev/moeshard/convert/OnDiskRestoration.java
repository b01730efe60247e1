package dev.moeshard.convert;

import dev.moeshard.moe.ExpertNaming;
import dev.moeshard.moe.GroupedLayout;
import dev.moeshard.moe.MoeConfig;
import dev.moeshard.moe.Projection;
import dev.moeshard.moe.family.GroupedOnDiskConversion;
import dev.moeshard.safetensors.TensorSpec;
import dev.moeshard.tensor.Tensor;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * to-hf of ranks of a family grouped on disk (Llama-4, Granite, Qwen3-VL-MoE) in a layout other than its own, as
 * {@link OnDiskRegrouping} wrote them or {@link GroupedToGrouped} regrouped them again. Each layer's tensors go back into the family's own orientation under its HF names,
 * every rank's experts at their place along the first axis, one projection at a time: a piece is the rank's view of
 * one projection in the layout written, and it lands in the own layout's view of that projection in the output.
 * Since only views are involved, the input comes back byte for byte.
 */
final class OnDiskRestoration {
    /**
     * One rank's share of an output tensor: {@code source}, the rank's {@code projection} view [E_local, ...] in HF
     * orientation, fills experts [{@code at}, +E_local) of that projection's view in the output tensor.
     */
    record Piece(Tensor source, long at, Projection projection) {}

    private final GroupedRanks ranks;
    private final GroupedLayout written;
    private final GroupedLayout own;
    private final GroupedOnDiskConversion names;

    private OnDiskRestoration(GroupedRanks ranks, GroupedLayout own) {
        this.ranks = ranks;
        this.written = ranks.layout();
        this.own = own;
        this.names = new GroupedOnDiskConversion(ranks.model().family(), ranks.model().config().numExperts(), own);
    }

    /** The restoration of {@code ranks}, or null when they are not regrouped ({@link GroupedRanks#isRegroupedOnDisk}). */
    static OnDiskRestoration of(GroupedRanks ranks) {
        return ranks.isRegroupedOnDisk()
                ? new OnDiskRestoration(ranks, GroupedOnDiskLayout.onDiskLayout(ranks.model().family())) : null;
    }

    /** Whether {@code key} is one of the regrouped layers' tensors, restored by this and not taken as it is. */
    boolean restores(String key) {
        return written.parse(ranks.model().naming(), key) != null;
    }

    /**
     * For {@code key}, a tensor of a layer not yet planned: the layer's own tensors under their HF names, in the own
     * layout's order, each with its pieces from every rank by expert. Empty when {@code key}'s layer was planned
     * with an earlier key ({@code planned} holds each layer's path once it is).
     */
    Map<String, List<Piece>> layer(String key, List<String> planned) {
        ExpertNaming naming = ranks.model().naming();
        MoeConfig config = ranks.model().config();
        GroupedLayout.Key k = written.parse(naming, key);
        String layer = k.layerPath();
        Map<String, List<Piece>> out = new LinkedHashMap<>();
        if (planned.contains(layer)) {
            return out;
        }
        planned.add(layer);
        for (String name : own.tensorNames(config.gated())) {
            List<Piece> pieces = new ArrayList<>();
            for (GroupedRanks.Rank r : ranks.byFirstExpert()) {
                for (Projection p : own.projectionsIn(name, config.gated())) {
                    String writtenKey = written.key(naming, k.prefix(), k.layer(), written.tensorOf(p));
                    if (!r.checkpoint().contains(writtenKey)) {
                        throw new InvalidInputException(r.path().toString(), List.of("lacks " + writtenKey + ", the "
                                + written.cliName() + " tensor of the " + p.name().toLowerCase(java.util.Locale.ROOT)
                                + " projection of " + layer));
                    }
                    pieces.add(new Piece(written.projection(r.checkpoint().tensor(writtenKey), p,
                            config.intermediate(), config.gated()), r.range().start(), p));
                }
            }
            out.put(names.hfName(own.key(naming, k.prefix(), k.layer(), name)), pieces);
        }
        return out;
    }

    /**
     * The pieces rank {@code r}'s tensor {@code key} (one {@link #restores}) holds, each under the HF name of the
     * output tensor it lands in: one per projection the written layout keeps in it.
     */
    List<Map.Entry<String, Piece>> pieces(GroupedRanks.Rank r, String key) {
        ExpertNaming naming = ranks.model().naming();
        MoeConfig config = ranks.model().config();
        GroupedLayout.Key k = written.parse(naming, key);
        List<Map.Entry<String, Piece>> out = new ArrayList<>();
        for (Projection p : written.projectionsIn(k.name(), config.gated())) {
            Tensor view = written.projection(r.checkpoint().tensor(key), p, config.intermediate(), config.gated());
            out.add(Map.entry(names.hfName(own.key(naming, k.prefix(), k.layer(), own.tensorOf(p))),
                    new Piece(view, r.range().start(), p)));
        }
        return out;
    }

    /** The output tensor {@code hfName} (one {@link #layer} named) for all experts, in the dtype the ranks hold. */
    TensorSpec spec(String hfName, List<Piece> pieces) {
        MoeConfig config = ranks.model().config();
        String ownName = own.parse(ranks.model().naming(), names.groupedName(hfName)).name();
        return new TensorSpec(hfName, pieces.getFirst().source().dtype(),
                own.shape(ownName, config.numExperts(), config));
    }

    /** Where {@code piece} lands in {@code output}, the mapped output tensor it belongs to: a view. */
    Tensor target(Tensor output, Piece piece) {
        MoeConfig config = ranks.model().config();
        return own.projection(output, piece.projection(), config.intermediate(), config.gated())
                .narrow(0, piece.at(), piece.source().size(0));
    }
}
