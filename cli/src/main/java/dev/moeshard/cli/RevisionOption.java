package dev.moeshard.cli;

import picocli.CommandLine.Option;

/**
 * {@code --revision}, read the same way by every command that reads checkpoints: which snapshot of an input that is
 * a Hugging Face cache repository folder. The library resolves it and refuses it for any other input.
 */
final class RevisionOption {
    @Option(names = "--revision", paramLabel = "REV",
            description = "Which snapshot to read of the input (to-hf: of every INPUT; verify: of HF_INPUT) that is a "
                    + "Hugging Face cache folder (models--ORG--NAME/): a ref under its refs/ (main, a branch, a tag "
                    + "such as v1.0, refs/pr/1), or a commit hash in its snapshots/ or a unique prefix of one "
                    + "(default: main). Refused for an input that is no cache folder.")
    String revision;
}
