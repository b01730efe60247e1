package dev.moeshard.moe.family;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.moeshard.moe.ExpertIds;
import dev.moeshard.moe.ExpertNaming;
import dev.moeshard.moe.ExpertNaming.ExpertKey;
import dev.moeshard.moe.MoeConfig;
import dev.moeshard.moe.Projection;
import dev.moeshard.safetensors.InputFile;
import dev.moeshard.tensor.Tensor;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * Tells a checkpoint's family and expert shape: from config.json when there is one ({@code model_type}, expert
 * count, sizes, activation), else from key names and tensor shapes. What neither can settle is an error that says
 * what to pass, never a guess.
 */
public final class FamilyDetection {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final List<ExpertNaming> NAMINGS = List.of(ExpertNaming.DEFAULT, ExpertNaming.MIXTRAL, ExpertNaming.NEMOTRON_H);

    private FamilyDetection() {}

    /** The largest hidden or intermediate size accepted from a config. */
    public static final long MAX_SIZE = 1 << 24;

    /**
     * Reads {@code config.json} at {@code path}: a regular file of at most {@link InputFile#MAX_JSON_BYTES}, valid
     * JSON; anything else is refused with {@link IllegalArgumentException} naming it.
     */
    public static DetectedModel fromConfigFile(Path path) {
        return fromConfig(readConfig(path), path.toString());
    }

    /**
     * config.json at {@code path} as parsed JSON: a regular file of at most {@link InputFile#MAX_JSON_BYTES} holding
     * one JSON object; anything else is refused with {@link IllegalArgumentException} naming it.
     */
    public static JsonNode readConfig(Path path) {
        byte[] bytes = InputFile.readJson(path, "config.json");
        JsonNode config;
        try {
            config = JSON.readTree(bytes);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException(path + ": config.json is not valid JSON: " + e.getOriginalMessage(), e);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + path + ": " + e.getMessage(), e);
        }
        if (config == null || !config.isObject()) {
            throw new IllegalArgumentException(path + ": config.json must hold a JSON object");
        }
        return config;
    }

    /** Reads a parsed config.json; {@code source} names it in messages. */
    public static DetectedModel fromConfig(JsonNode config, String source) {
        String modelType = config.path("model_type").asText("");
        ModelFamily family = ModelFamily.ofModelType(modelType).orElseThrow(() -> new IllegalArgumentException(
                source + ": model_type '" + modelType + "' is not a known MoE family (known: " + ModelFamily.modelTypes()
                        + "); pass a MoeConfig and an ExpertNaming explicitly (on the command line: --model with the "
                        + "family whose naming its tensors use)"));
        return new DetectedModel(family, sizes(config, source, family));
    }

    /** The config.json's model_type, or "" when it has none. */
    public static String modelType(JsonNode config) {
        return config.path("model_type").asText("");
    }

    /**
     * E, H, I and gating from a config.json for {@code family}: from the top level, else from a nested
     * {@code text_config} / {@code language_config} (multimodal models keep the language model's sizes there).
     * The expert intermediate size is the MoE one where a config has both ({@code moe_intermediate_size},
     * LongCat's {@code expert_ffn_hidden_size}) before the dense {@code intermediate_size}.
     */
    public static MoeConfig sizes(JsonNode config, String source, ModelFamily family) {
        JsonNode text = config;
        for (String nested : List.of("text_config", "language_config")) {
            if (!hasExperts(config) && config.path(nested).isObject() && hasExperts(config.path(nested))) {
                text = config.path(nested);
                source = source + " (" + nested + ")";
            }
        }
        int experts = (int) firstLong(text, source, ExpertIds.MAX_EXPERTS - 1, EXPERT_COUNT_KEYS);
        long inter = firstLong(text, source, MAX_SIZE, "moe_intermediate_size", "expert_ffn_hidden_size",
                "intermediate_size");
        long hidden = firstLong(text, source, MAX_SIZE, "hidden_size");
        String act = text.has("mlp_hidden_act") ? text.path("mlp_hidden_act").asText() : text.path("hidden_act").asText("");
        boolean gated = act.isEmpty() ? family.gatedByDefault() : !act.startsWith("relu");
        return new MoeConfig(experts, hidden, inter, gated, identityExperts(text, source, family, experts));
    }

    /**
     * The family's identity experts beside {@code experts} routed ones: its {@link ModelFamily#identityExpertsKey}
     * as a whole number from 0 (absent or null: 0, as transformers reads it), so that the ids stay within
     * {@link ExpertIds#MAX_EXPERTS}.
     */
    private static int identityExperts(JsonNode config, String source, ModelFamily family, int experts) {
        String key = family.identityExpertsKey().orElse(null);
        JsonNode n = key == null ? null : config.get(key);
        if (n == null || n.isNull()) {
            return 0;
        }
        long max = ExpertIds.MAX_EXPERTS - 1 - experts;
        if (!n.isIntegralNumber() || !n.canConvertToLong() || n.asLong() < 0 || n.asLong() > max) {
            throw new IllegalArgumentException(source + ": " + key + " must be a whole number from 0 to " + max
                    + " beside " + experts + " routed experts, got " + n);
        }
        return (int) n.asLong();
    }

    private static final String[] EXPERT_COUNT_KEYS = {"n_routed_experts", "num_experts", "num_local_experts",
            "moe_num_experts"};

    private static boolean hasExperts(JsonNode config) {
        for (String key : EXPERT_COUNT_KEYS) {
            if (config.has(key) && !config.get(key).isNull()) {
                return true;
            }
        }
        return false;
    }

    /**
     * The first of {@code names} that is present, as a whole number in [1, max]; one present with any other value
     * (8.9, "8", a number past {@code max} or past a long) is an error naming it, never rounded or wrapped.
     */
    private static long firstLong(JsonNode config, String source, long max, String... names) {
        for (String name : names) {
            JsonNode n = config.get(name);
            if (n == null || n.isNull()) {
                continue;
            }
            if (!n.isIntegralNumber() || !n.canConvertToLong() || n.asLong() < 1 || n.asLong() > max) {
                throw new IllegalArgumentException(source + ": " + name + " must be a whole number from 1 to " + max
                        + ", got " + n);
            }
            return n.asLong();
        }
        throw new IllegalArgumentException(source + ": none of " + Arrays.toString(names) + " is a positive integer");
    }

    /**
     * Tells the family from key names and shapes alone. Per-expert keys give the naming, E (highest id + 1), I, H
     * and whether there is a gate; fused {@code mlp.experts.gate_up_proj} tensors are GPT-OSS when a
     * {@code mlp.router} goes with them, else transformers-v5 fused, as long as the shapes agree with only one.
     */
    public static DetectedModel fromTensors(Map<String, Tensor> stateDict) {
        for (ExpertNaming naming : NAMINGS) {
            int maxExpert = -1;
            boolean gate = false;
            Tensor up = null;
            for (Map.Entry<String, Tensor> e : stateDict.entrySet()) {
                ExpertKey k = naming.parsePerExpert(e.getKey());
                if (k == null) {
                    continue;
                }
                maxExpert = Math.max(maxExpert, k.expert());
                gate |= k.projection() == Projection.GATE;
                if (k.projection() == Projection.UP && up == null) {
                    up = e.getValue();
                }
            }
            if (maxExpert >= 0 && up != null) {
                ModelFamily family = naming.equals(ExpertNaming.MIXTRAL) ? ModelFamily.MIXTRAL
                        : naming.equals(ExpertNaming.NEMOTRON_H) ? ModelFamily.NEMOTRON_H : ModelFamily.QWEN3_MOE;
                return new DetectedModel(family, new MoeConfig(maxExpert + 1, up.size(1), up.size(0), gate));
            }
        }
        return fromFusedTensors(stateDict);
    }

    /**
     * GPT-OSS with MXFP4 experts: {@code gate_up_proj_blocks} [E, 2I, H/32, 16] and {@code down_proj_blocks}
     * [E, H, I/32, 16] (32 four-bit values in 16 bytes per block, along the input dimension), or null when the
     * tensors are not that.
     */
    private static DetectedModel fromMxfp4Blocks(Map<String, Tensor> stateDict) {
        Tensor gateUp = null;
        Tensor down = null;
        for (Map.Entry<String, Tensor> e : stateDict.entrySet()) {
            if (e.getKey().endsWith(".mlp.experts.gate_up_proj_blocks") && gateUp == null) {
                gateUp = e.getValue();
            } else if (e.getKey().endsWith(".mlp.experts.down_proj_blocks") && down == null) {
                down = e.getValue();
            }
        }
        if (gateUp == null || down == null || gateUp.dim() != 4 || down.dim() != 4) {
            return null;
        }
        long hidden = gateUp.size(2) * 2 * gateUp.size(3);
        long inter = gateUp.size(1) / 2;
        if (down.size(0) != gateUp.size(0) || down.size(1) != hidden || down.size(2) * 2 * down.size(3) != inter) {
            throw new IllegalArgumentException("MXFP4 expert blocks gate_up_proj_blocks " + Arrays.toString(gateUp.sizes())
                    + " and down_proj_blocks " + Arrays.toString(down.sizes()) + " do not describe one model ([E, 2I, "
                    + "H/32, 16] and [E, H, I/32, 16]); pass config.json");
        }
        return new DetectedModel(ModelFamily.GPT_OSS, new MoeConfig((int) gateUp.size(0), hidden, inter, true));
    }

    private static DetectedModel fromFusedTensors(Map<String, Tensor> stateDict) {
        Tensor gateUp = null;
        Tensor down = null;
        boolean router = false;
        for (Map.Entry<String, Tensor> e : stateDict.entrySet()) {
            String k = e.getKey();
            if (k.endsWith(".mlp.experts.gate_up_proj") && gateUp == null) {
                gateUp = e.getValue();
            } else if (k.endsWith(".mlp.experts.down_proj") && down == null) {
                down = e.getValue();
            } else if (k.contains(".mlp.router.")) {
                router = true;
            }
        }
        DetectedModel mxfp4 = fromMxfp4Blocks(stateDict);
        if (mxfp4 != null) {
            return mxfp4;
        }
        if (gateUp == null || down == null || gateUp.dim() != 3 || down.dim() != 3) {
            throw new IllegalArgumentException("no expert tensors found: neither per-expert keys under "
                    + NAMINGS.stream().map(ExpertNaming::segment).toList()
                    + " nor fused mlp.experts.gate_up_proj / down_proj; pass config.json or a MoeConfig");
        }
        long e = gateUp.size(0);
        long a = gateUp.size(1);
        long b = gateUp.size(2);
        // GPT-OSS: gate_up [E, H, 2I], down [E, I, H].  transformers v5: gate_up [E, 2I, H], down [E, H, I].
        boolean fitsGptOss = down.size(1) * 2 == b && down.size(2) == a;
        boolean fitsV5 = down.size(2) * 2 == a && down.size(1) == b;
        if (fitsGptOss && (router || !fitsV5)) {
            return new DetectedModel(ModelFamily.GPT_OSS, new MoeConfig((int) e, a, b / 2, true));
        }
        if (fitsV5 && !router) {
            return new DetectedModel(ModelFamily.QWEN3_MOE, new MoeConfig((int) e, b, a / 2, true));
        }
        throw new IllegalArgumentException("cannot tell the layout of fused experts gate_up_proj "
                + Arrays.toString(gateUp.sizes()) + " / down_proj " + Arrays.toString(down.sizes())
                + (router ? " (a router is present, so GPT-OSS [E, H, 2I] was expected)" : "")
                + "; pass config.json (model_type, hidden_size, intermediate_size) or a ModelFamily and MoeConfig");
    }
}
