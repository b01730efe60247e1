package dev.moeshard.cli;

import dev.moeshard.moe.GroupedLayout;

/** A {@code --layout} value on the command line: one of the grouped layouts by name, or a usage error listing them. */
final class LayoutOption {
    private LayoutOption() {}

    static GroupedLayout parse(String option, String value) {
        try {
            return GroupedLayout.ofName(value);
        } catch (IllegalArgumentException e) {
            throw new UsageException(option + " must be one of " + String.join(", ", GroupedLayout.names()) + ", got '"
                    + value + "'");
        }
    }

    /** {@code auto} (null: tell the layout from the checkpoint) or a layout. */
    static GroupedLayout parseOrAuto(String option, String value) {
        return value.equalsIgnoreCase("auto") ? null : parse(option, value);
    }
}
