package dev.moeshard.convert;

import java.nio.file.Path;

/** A file-to-file conversion to plan and run: {@link ToGroupedRequest} or {@link ToHfRequest}. */
public sealed interface ConversionRequest permits ToGroupedRequest, ToHfRequest {
    /** The directory to create. */
    Path output();

    /** How the output is written. */
    OutputOptions writing();

    /**
     * The same request with every path absolute against this process's working directory, as a request recorded for
     * workers in other directories (on other machines) must be.
     */
    ConversionRequest withAbsolutePaths();
}
