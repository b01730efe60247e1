package dev.moeshard.convert;

/**
 * Which PEFT layout the expert LoRA keys of a per-expert input are in. The two cannot be mistaken for each other
 * (per-expert keys carry an expert id, ParamWrapper keys sit on the fused experts), so {@link #AUTO} takes either;
 * naming one refuses input in the other.
 */
public enum LoraInputFormat {
    /** Whichever the input holds. */
    AUTO,
    /** {@code ...experts.{e}.gate_proj.lora_A.weight} and the like (transformers v4). */
    PER_EXPERT,
    /** {@code ...experts.lora_A.weight}, {@code ...experts.base_layer.lora_B.weight} (transformers v5). */
    PARAM_WRAPPER
}
