package dev.moeshard.cli;

import dev.moeshard.convert.UsageException;
import dev.moeshard.moe.GroupedLayout;

/** Option values that name one of a fixed set: a grouped layout by name, or a usage error listing them. */
final class Choices {
    private Choices() {}

    static GroupedLayout layout(String option, String value) {
        try {
            return GroupedLayout.ofName(value);
        } catch (IllegalArgumentException e) {
            throw new UsageException(option + " must be one of " + String.join(", ", GroupedLayout.names()) + ", got '"
                    + value + "'");
        }
    }

    /** {@code auto} (null: tell the layout from the checkpoint) or a layout. */
    static GroupedLayout layoutOrAuto(String option, String value) {
        return value.equalsIgnoreCase("auto") ? null : layout(option, value);
    }
}
