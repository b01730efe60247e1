package dev.moeshard.moe.lora;

/**
 * The four grouped LoRA tensors of a layer's experts (r is the LoRA rank), stored as
 * {@code {p}layers.{L}.{segment}.{suffix}}.
 */
public enum LoraExpertSuffix {
    /** [E, H, r]: A of the input projection, shared by gate and up. */
    GATE_AND_UP_A("lora_gate_and_up_A"),
    /** [E, r, 2I] (non-gated [E, r, I]): B of gate (columns [0, I)) and up (columns [I, 2I)). */
    GATE_AND_UP_B("lora_gate_and_up_B"),
    /** [E, I, r]: A of the down projection. */
    DOWN_A("lora_down_A"),
    /** [E, r, H]: B of the down projection. */
    DOWN_B("lora_down_B");

    private final String suffix;

    LoraExpertSuffix(String suffix) {
        this.suffix = suffix;
    }

    public String suffix() {
        return suffix;
    }

    /** The suffix that {@code key} ends in under {@code segment} ({@code ...segment.lora_down_A}), or null. */
    public static LoraExpertSuffix of(String key, String segment) {
        for (LoraExpertSuffix s : values()) {
            if (key.endsWith("." + segment + "." + s.suffix) && key.contains("layers.")) {
                return s;
            }
        }
        return null;
    }
}
