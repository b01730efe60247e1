package dev.moeshard.moe.family;

import dev.moeshard.moe.ExpertNaming;
import dev.moeshard.moe.GroupedLayout;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The family table: per config.json {@code model_type}, where the family keeps its experts, what it calls their
 * projections, whether they are gated, and how they lie on disk. Sizes (E, H, I) are read from config.json by
 * {@link FamilyDetection}, nested {@code text_config} / {@code language_config} included; everything outside the
 * routed experts (shared experts, dense layers, MTP layers, attention, vision towers) passes through unchanged.
 * Adding a family whose experts are stored one tensor per expert is one entry here and a fixture.
 */
public enum ModelFamily {
    QWEN2_MOE("qwen2_moe", ExpertNaming.DEFAULT, true, Layout.PER_EXPERT),
    QWEN3_MOE("qwen3_moe", ExpertNaming.DEFAULT, true, Layout.PER_EXPERT),
    QWEN3_NEXT("qwen3_next", ExpertNaming.DEFAULT, true, Layout.PER_EXPERT),
    QWEN3_5_MOE("qwen3_5_moe", ExpertNaming.DEFAULT, true, Layout.PER_EXPERT),
    QWEN3_5_MOE_TEXT("qwen3_5_moe_text", ExpertNaming.DEFAULT, true, Layout.PER_EXPERT),
    OLMOE("olmoe", ExpertNaming.DEFAULT, true, Layout.PER_EXPERT),
    GLM4_MOE("glm4_moe", ExpertNaming.DEFAULT, true, Layout.PER_EXPERT),
    DEEPSEEK_V2("deepseek_v2", ExpertNaming.DEFAULT, true, Layout.PER_EXPERT),
    DEEPSEEK_V3("deepseek_v3", ExpertNaming.DEFAULT, true, Layout.PER_EXPERT),
    DEEPSEEK_V32("deepseek_v32", ExpertNaming.DEFAULT, true, Layout.PER_EXPERT),
    /** DeepSeek-V3's architecture and weights under its own model_type. */
    KIMI_K2("kimi_k2", ExpertNaming.DEFAULT, true, Layout.PER_EXPERT),
    ERNIE4_5_MOE("ernie4_5_moe", ExpertNaming.DEFAULT, true, Layout.PER_EXPERT),
    DOTS1("dots1", ExpertNaming.DEFAULT, true, Layout.PER_EXPERT),
    HUNYUAN_V1_MOE("hunyuan_v1_moe", ExpertNaming.DEFAULT, true, Layout.PER_EXPERT),
    /**
     * Beside its {@code n_routed_experts} routed experts, {@code zero_expert_num} identity ("zero-computation")
     * experts, ids [E, E + Z), which the router ({@code classifier} [E + Z, H]) picks like the others and the experts
     * module answers with {@code nn.Identity}. transformers 5 allocates the fused {@code gate_up_proj} for all E + Z
     * ([E + Z, 2I, H]) but {@code down_proj} for the E routed ones, and saves the Z extra rows as
     * {@code experts.{E..E+Z-1}.gate_proj / up_proj} with no {@code down_proj}: its forward never reads them.
     * Decision: they are not routed experts (there is no expert to group; a grouped tensor of E + Z gate/up rows
     * beside E down rows would fit no grouped layout and put weights that do nothing on some ranks only), so they pass
     * through as they are, on every rank, and to-hf restores them byte for byte, as transformers needs them to load.
     */
    LONGCAT_FLASH("longcat_flash", ExpertNaming.DEFAULT, true, Layout.PER_EXPERT, List.of(), "zero_expert_num"),
    MIXTRAL("mixtral", ExpertNaming.MIXTRAL, true, Layout.PER_EXPERT),
    MINIMAX("minimax", ExpertNaming.MIXTRAL, true, Layout.PER_EXPERT),
    MINIMAX_M2("minimax_m2", ExpertNaming.MIXTRAL, true, Layout.PER_EXPERT),
    PHIMOE("phimoe", ExpertNaming.MIXTRAL, true, Layout.PER_EXPERT),
    NEMOTRON_H("nemotron_h", ExpertNaming.NEMOTRON_H, false, Layout.PER_EXPERT),
    /**
     * Grouped on disk: {@code mlp.experts.gate_up_proj} [E, H, 2I] with gate and up interleaved (even, odd columns),
     * biases, MXFP4 experts in some checkpoints. Written as deepep, its tensors take the reference adapter's names;
     * written as hf-v5 they keep their own, since transformers 5's experts module loads them as they are.
     */
    GPT_OSS("gpt_oss", ExpertNaming.DEFAULT, true, Layout.GROUPED_ON_DISK, List.of(
            Map.entry("mlp.router.weight", "mlp.gate.weight"),
            Map.entry("mlp.router.bias", "mlp.gate.bias"),
            Map.entry("mlp.experts.gate_up_proj", "mlp.experts.gate_and_up_projs"),
            Map.entry("mlp.experts.down_proj", "mlp.experts.down_projs")), GroupedLayout.HF_V5),
    /**
     * Grouped on disk in the DeepEP orientation already: {@code feed_forward.experts.gate_up_proj} [E, H, 2I] with the
     * gate columns first ({@code gate, up = (x @ gate_up_proj).chunk(2, -1)}), {@code down_proj} [E, I, H]. Its
     * grouped form is those tensors under DeepEP's names; a shared expert and the router pass through. transformers
     * 5 keeps them so (its experts module is transposed), which is therefore their hf-v5 form.
     */
    LLAMA4("llama4", Llama4.NAMING, true, Layout.GROUPED_ON_DISK, Llama4.RENAMES, null, true),
    LLAMA4_TEXT("llama4_text", Llama4.NAMING, true, Layout.GROUPED_ON_DISK, Llama4.RENAMES, null, true),
    /**
     * Grouped on disk in the transformers-v5 orientation under its own names: {@code block_sparse_moe.input_linear}
     * [E, 2I, H], gate rows first, and {@code output_linear} [E, H, I]. Its grouped form is those tensors under the
     * hf-v5 layout's names in transformers 5's experts module ({@code block_sparse_moe.experts.gate_up_proj},
     * {@code down_proj}); the router ({@code block_sparse_moe.router.layer}) passes through whole.
     */
    GRANITEMOE("granitemoe", Granite.NAMING, true, Layout.GROUPED_ON_DISK, Granite.RENAMES),
    GRANITEMOESHARED("granitemoeshared", Granite.NAMING, true, Layout.GROUPED_ON_DISK, Granite.RENAMES),
    /**
     * Grouped on disk exactly in the hf-v5 layout, names included, under {@code model.language_model.}:
     * {@code mlp.experts.gate_up_proj} [E, 2I, H], gate rows first, and {@code down_proj} [E, H, I]; sizes in
     * {@code text_config}. Nothing is renamed; the vision tower passes through.
     */
    QWEN3_VL_MOE("qwen3_vl_moe", ExpertNaming.DEFAULT, true, Layout.GROUPED_ON_DISK, List.of());

    /** How the family's experts are stored in its HF checkpoints. */
    public enum Layout {
        /** One tensor per expert and projection (transformers v4 layout; v5 fused input is accepted too). */
        PER_EXPERT,
        /**
         * Already grouped in the family's own names: converted by renaming (see {@link #onDiskRenames()}) and, under
         * expert parallelism, by cutting every expert tensor along its first axis; no data is rearranged.
         */
        GROUPED_ON_DISK
    }

    private final String modelType;
    private final ExpertNaming naming;
    private final boolean gatedByDefault;
    private final Layout layout;
    private final List<Map.Entry<String, String>> onDiskRenames;
    private final String identityExpertsKey;
    private final boolean transposedExperts;
    private final GroupedLayout namesKeptIn;

    ModelFamily(String modelType, ExpertNaming naming, boolean gatedByDefault, Layout layout) {
        this(modelType, naming, gatedByDefault, layout, List.of());
    }

    ModelFamily(String modelType, ExpertNaming naming, boolean gatedByDefault, Layout layout,
                List<Map.Entry<String, String>> onDiskRenames) {
        this(modelType, naming, gatedByDefault, layout, onDiskRenames, null, false, null);
    }

    ModelFamily(String modelType, ExpertNaming naming, boolean gatedByDefault, Layout layout,
                List<Map.Entry<String, String>> onDiskRenames, String identityExpertsKey) {
        this(modelType, naming, gatedByDefault, layout, onDiskRenames, identityExpertsKey, false);
    }

    ModelFamily(String modelType, ExpertNaming naming, boolean gatedByDefault, Layout layout,
                List<Map.Entry<String, String>> onDiskRenames, GroupedLayout namesKeptIn) {
        this(modelType, naming, gatedByDefault, layout, onDiskRenames, null, false, namesKeptIn);
    }

    ModelFamily(String modelType, ExpertNaming naming, boolean gatedByDefault, Layout layout,
                List<Map.Entry<String, String>> onDiskRenames, String identityExpertsKey, boolean transposedExperts) {
        this(modelType, naming, gatedByDefault, layout, onDiskRenames, identityExpertsKey, transposedExperts, null);
    }

    ModelFamily(String modelType, ExpertNaming naming, boolean gatedByDefault, Layout layout,
                List<Map.Entry<String, String>> onDiskRenames, String identityExpertsKey, boolean transposedExperts,
                GroupedLayout namesKeptIn) {
        this.modelType = modelType;
        this.naming = naming;
        this.gatedByDefault = gatedByDefault;
        this.layout = layout;
        this.onDiskRenames = onDiskRenames;
        this.identityExpertsKey = identityExpertsKey;
        this.transposedExperts = transposedExperts;
        this.namesKeptIn = namesKeptIn;
    }

    /**
     * Whether transformers 5 holds the family's fused experts transposed, gate/up as [E, H, 2I] and down as [E, I, H]
     * (Llama-4), which is then the family's hf-v5 form ({@link GroupedLayout#formFor}).
     */
    public boolean transposedExperts() {
        return transposedExperts;
    }

    /**
     * The config.json key that counts the family's identity experts, which follow the routed ones
     * ({@link dev.moeshard.moe.MoeConfig#identityExperts}), or empty for a family without them. What a checkpoint
     * holds under their ids passes through every conversion.
     */
    public Optional<String> identityExpertsKey() {
        return Optional.ofNullable(identityExpertsKey);
    }

    /**
     * For a family grouped on disk: HF key suffix → grouped key suffix, matched at the end of a key, the first match
     * winning; empty for the others.
     */
    public List<Map.Entry<String, String>> onDiskRenames() {
        return onDiskRenames;
    }

    /**
     * The renames of a conversion of this family written in grouped layout {@code written}: none where the family's
     * checkpoint is that layout's already under its own names ({@link #keepsOnDiskNamesIn}: GPT-OSS's hf-v5), else
     * {@link #onDiskRenames()} (also for {@code written} null, the family's own grouped names).
     */
    public List<Map.Entry<String, String>> onDiskRenames(GroupedLayout written) {
        return keepsOnDiskNamesIn(written) ? List.of() : onDiskRenames;
    }

    /**
     * Whether this family's checkpoint, grouped on disk, is {@code layout}'s output as it is, names and shapes
     * included, so that writing it in that layout only cuts the experts per rank: GPT-OSS's is hf-v5's, since
     * transformers 5 keeps its interleaved {@code gate_up_proj} [E, H, 2I] and {@code down_proj} [E, I, H] (and their
     * biases and the router) under the checkpoint's names.
     */
    public boolean keepsOnDiskNamesIn(GroupedLayout layout) {
        return layout != null && layout == namesKeptIn;
    }

    /**
     * For a family grouped on disk, whether {@code key} holds experts on its first axis (and is cut per rank): every
     * tensor under the expert path (weights, biases, MXFP4 blocks and scales), and Granite's projections, which lie
     * beside its router on disk and are renamed under the expert path; the router stays whole.
     */
    public boolean isOnDiskExpertKey(String key) {
        if (key.contains("." + naming.segment() + ".")) {
            return true;
        }
        // a tensor renamed into the experts' segment (Granite's input_linear) holds experts too; one renamed elsewhere
        // (GPT-OSS's router) does not
        return onDiskRenames.stream().anyMatch(r -> r.getValue().startsWith(naming.segment() + ".")
                && (key.endsWith(r.getKey()) || key.endsWith(r.getValue())));
    }

    public String modelType() {
        return modelType;
    }

    public ExpertNaming naming() {
        return naming;
    }

    /** Gated unless the config's activation says otherwise (Nemotron-H is ReLU², non-gated). */
    public boolean gatedByDefault() {
        return gatedByDefault;
    }

    public Layout layout() {
        return layout;
    }

    public static Optional<ModelFamily> ofModelType(String modelType) {
        return Arrays.stream(values()).filter(f -> f.modelType.equals(modelType)).findFirst();
    }

    public static List<String> modelTypes() {
        return Arrays.stream(values()).map(ModelFamily::modelType).toList();
    }

    /** Granite MoE's names (a holder, as for Llama-4). */
    private static final class Granite {
        // transformers 5 holds them as block_sparse_moe.experts.gate_up_proj / down_proj (GraniteMoeExperts under
        // the name experts), which is what an hf-v5 output must be called for it to load
        static final ExpertNaming NAMING = new ExpertNaming("block_sparse_moe.experts", "gate_proj", "up_proj",
                "down_proj");
        static final List<Map.Entry<String, String>> RENAMES = List.of(
                Map.entry("block_sparse_moe.input_linear.weight", "block_sparse_moe.experts.gate_up_proj"),
                Map.entry("block_sparse_moe.output_linear.weight", "block_sparse_moe.experts.down_proj"));
    }

    /** Llama-4's names, in a holder because an enum's constants cannot refer to its own static fields. */
    private static final class Llama4 {
        static final ExpertNaming NAMING = new ExpertNaming("feed_forward.experts", "gate_proj", "up_proj", "down_proj");
        static final List<Map.Entry<String, String>> RENAMES = List.of(
                Map.entry("feed_forward.experts.gate_up_proj", "feed_forward.experts.gate_and_up_projs"),
                Map.entry("feed_forward.experts.down_proj", "feed_forward.experts.down_projs"));
    }
}
