package dev.moeshard.cli;

/**
 * {@code moeshard.json}, written beside a grouped checkpoint: where it came from and which experts it holds, so that
 * the rank directories of one run can be told apart and merged back without guessing.
 *
 * @param expertStart first global expert id held (inclusive)
 * @param expertEnd last global expert id held (exclusive)
 * @param dtype the grouped tensors' dtype, or "keep" when each kept its input dtype
 */
record GroupedManifest(String source, String family, String layout, int numExperts, int epSize, int epRank,
                       int expertStart, int expertEnd, String dtype, String tool, String toolVersion) {

    static final String FILE_NAME = "moeshard.json";
}
