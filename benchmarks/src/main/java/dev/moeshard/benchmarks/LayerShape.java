package dev.moeshard.benchmarks;

/**
 * The sizes of one MoE layer's experts, written {@code ExHxI} in benchmark parameters (E experts, H hidden size,
 * I expert intermediate size), so that one JMH {@code @Param} carries the three sizes that only make sense together.
 */
record LayerShape(int experts, long hidden, long intermediate) {

    static LayerShape parse(String text) {
        String[] parts = text.split("x");
        if (parts.length != 3) {
            throw new IllegalArgumentException("a layer shape is ExHxI (e.g. 128x2048x768), got '" + text + "'");
        }
        return new LayerShape(Integer.parseInt(parts[0]), Long.parseLong(parts[1]), Long.parseLong(parts[2]));
    }
}
