package dev.moeshard.convert;

import java.nio.file.Path;

/** A file-to-file conversion to plan and run: {@link ToGroupedRequest} or {@link ToHfRequest}. */
public sealed interface ConversionRequest permits ToGroupedRequest, ToHfRequest {
    /** The directory to create. */
    Path output();

    /**
     * Which snapshot of an input that is a Hugging Face cache repository folder ({@code models--org--name/}) is read:
     * a ref under its {@code refs/} ({@code main}, a branch, a tag, {@code refs/pr/1}), or a commit hash in its
     * {@code snapshots/} or a unique prefix of one; null reads {@code refs/main}. Refused for an input that is no
     * cache folder.
     */
    String revision();

    /** The same request reading {@code revision} of its cache repository folder inputs (see {@link #revision()}). */
    ConversionRequest withRevision(String revision);

    /** How the output is written. */
    OutputOptions writing();

    /**
     * The same request with every path absolute against this process's working directory, as a request recorded for
     * workers in other directories (on other machines) must be.
     */
    ConversionRequest withAbsolutePaths();
}
