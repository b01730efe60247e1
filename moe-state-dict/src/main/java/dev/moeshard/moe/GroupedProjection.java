package dev.moeshard.moe;

/** The two grouped expert tensors of a layer, with the key suffix they are stored under. */
public enum GroupedProjection {
    /** [E, H, 2I]: columns [0, I) are gateᵀ, [I, 2I) upᵀ; non-gated [E, H, I] = upᵀ. */
    GATE_AND_UP_PROJS("gate_and_up_projs"),
    /** [E, I, H] = downᵀ. */
    DOWN_PROJS("down_projs");

    private final String keySuffix;

    GroupedProjection(String keySuffix) {
        this.keySuffix = keySuffix;
    }

    public String keySuffix() {
        return keySuffix;
    }
}
