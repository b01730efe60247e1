package dev.moeshard.moe.family;

import dev.moeshard.moe.ExpertNaming;
import dev.moeshard.moe.GroupedLayout;
import dev.moeshard.moe.MoeConfig;
import dev.moeshard.moe.MoeStateDictAdapter;

/** A checkpoint's family and expert shape, as config.json or its tensors told them. */
public record DetectedModel(ModelFamily family, MoeConfig config) {

    /**
     * The family's naming for this model: its identity experts' ids (see {@link MoeConfig#identityExperts}) hold no
     * per-expert keys, so that what a checkpoint has under them passes through.
     */
    public ExpertNaming naming() {
        return family.naming().withIdentityExperts(config);
    }

    /** The per-expert ↔ grouped adapter for this model (for GPT-OSS see {@link GroupedOnDiskConversion}). */
    public MoeStateDictAdapter adapter() {
        return new MoeStateDictAdapter(config, naming());
    }

    /** The per-expert ↔ grouped adapter for this model and grouped {@code layout}, in the model's form of it. */
    public MoeStateDictAdapter adapter(GroupedLayout layout) {
        return new MoeStateDictAdapter(config, naming(), form(layout));
    }

    /**
     * {@code layout} in the form this model is written in ({@link GroupedLayout#formFor}): hf-v5 as transformers 5
     * holds this family's experts; every other layout as it is.
     */
    public GroupedLayout form(GroupedLayout layout) {
        return layout == null ? null : layout.formFor(family.transposedExperts(), config.gated());
    }
}
