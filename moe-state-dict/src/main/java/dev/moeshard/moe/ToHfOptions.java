package dev.moeshard.moe;

import dev.moeshard.moe.parallel.ExpertRange;
import java.util.regex.Pattern;

/**
 * How {@link MoeStateDictAdapter#toHf} names and materializes per-expert tensors.
 *
 * @param prefixOverride prefix for the emitted expert keys in place of the one before {@code layers.} in the grouped
 *     key (e.g. {@code "mtp."}); null keeps the grouped key's own prefix
 * @param excludeKeyRegex emitted keys it matches at their start are left out (null: none)
 * @param views emit zero-copy strided views of the grouped storage (true) or contiguous copies (false)
 * @param writeThrough record the grouped keys as loaded in place: their views are write targets into caller-owned
 *     storage, so the next {@code fromHf} must not rebuild them (implies {@code views})
 * @param localExperts which global experts a plain grouped tensor holds: null for all of them, or this rank's range
 *     for the [E_local, ...] tensors an expert-parallel {@code fromHf} built
 * @param loraFormat how grouped LoRA tensors are written
 */
public record ToHfOptions(String prefixOverride, Pattern excludeKeyRegex, boolean views, boolean writeThrough,
                          ExpertRange localExperts, LoraFormat loraFormat) {

    /** The two PEFT layouts for expert LoRA. */
    public enum LoraFormat {
        /** Per-expert {@code {e}.gate_proj.lora_A.weight} keys (transformers v4). */
        PER_EXPERT,
        /** Fused {@code experts.lora_A.weight} / {@code experts.base_layer.lora_A.weight} (PEFT ParamWrapper, v5). */
        PARAM_WRAPPER
    }

    public ToHfOptions {
        views = views || writeThrough;
    }

    /** Contiguous copies, every expert, own prefixes, per-expert LoRA. */
    public static ToHfOptions defaults() {
        return new ToHfOptions(null, null, false, false, null, LoraFormat.PER_EXPERT);
    }

    public ToHfOptions withPrefixOverride(String prefix) {
        return new ToHfOptions(prefix, excludeKeyRegex, views, writeThrough, localExperts, loraFormat);
    }

    public ToHfOptions withExcludeKeyRegex(String regex) {
        return new ToHfOptions(prefixOverride, Pattern.compile(regex), views, writeThrough, localExperts, loraFormat);
    }

    public ToHfOptions withViews(boolean asViews) {
        return new ToHfOptions(prefixOverride, excludeKeyRegex, asViews, writeThrough, localExperts, loraFormat);
    }

    public ToHfOptions withWriteThrough(boolean into) {
        return new ToHfOptions(prefixOverride, excludeKeyRegex, views, into, localExperts, loraFormat);
    }

    public ToHfOptions withLocalExperts(ExpertRange range) {
        return new ToHfOptions(prefixOverride, excludeKeyRegex, views, writeThrough, range, loraFormat);
    }

    public ToHfOptions withLoraFormat(LoraFormat format) {
        return new ToHfOptions(prefixOverride, excludeKeyRegex, views, writeThrough, localExperts, format);
    }

    boolean excludes(String key) {
        return excludeKeyRegex != null && excludeKeyRegex.matcher(key).lookingAt();
    }
}
