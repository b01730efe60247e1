package dev.moeshard.moe;

/** The three linear maps of one expert, by role; their names in a checkpoint come from {@link ExpertNaming}. */
public enum Projection {
    GATE,
    UP,
    DOWN;

    /** The grouped tensor this projection lands in. */
    public GroupedProjection grouped() {
        return this == DOWN ? GroupedProjection.DOWN_PROJS : GroupedProjection.GATE_AND_UP_PROJS;
    }
}
