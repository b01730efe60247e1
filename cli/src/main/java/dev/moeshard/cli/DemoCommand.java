package dev.moeshard.cli;

import dev.moeshard.convert.ConversionReport;
import dev.moeshard.convert.DirectoryDeletion;
import dev.moeshard.convert.MoeConvert;
import dev.moeshard.convert.RankSelection;
import dev.moeshard.convert.SampleCheckpoint;
import dev.moeshard.convert.ToGroupedRequest;
import dev.moeshard.convert.ToHfRequest;
import dev.moeshard.convert.VerifyReport;
import dev.moeshard.convert.VerifyRequest;
import dev.moeshard.safetensors.Checkpoint;
import dev.moeshard.tensor.copy.CopyEngine;
import dev.moeshard.tensor.simd.VectorSupport;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.Writer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Mixin;

/**
 * {@code moeshard demo [DIR]}: the main job on a checkpoint it makes itself. A small per-expert checkpoint with its
 * config.json goes to grouped experts ([E, H, 2I] and [E, I, H]) for two expert-parallel ranks, is verified against
 * the original, converted back to per-expert tensors, and compared byte for byte; all through the library's
 * file-to-file API, as a user's program would call it. Without DIR the checkpoints live in a temporary folder that
 * is removed at the end.
 */
@Command(name = "demo", mixinStandardHelpOptions = true,
        description = "Makes a small MoE checkpoint, converts it to grouped experts on 2 expert-parallel ranks and back, "
                + "and verifies every byte.")
final class DemoCommand implements Callable<Integer> {
    private static final SampleCheckpoint MODEL = new SampleCheckpoint(4, 16, 512, 256);

    @Parameters(index = "0", arity = "0..1", paramLabel = "DIR",
            description = "Where to write the demo checkpoints (default: a temporary folder, removed afterwards).")
    Path directory;

    @Mixin
    OutputMode mode;

    /** What the demo did, for --json. */
    record Summary(Path directory, boolean kept, ConversionReport toGrouped, VerifyReport verify,
                   ConversionReport toHf, int tensorsCompared) {}

    @Override
    public Integer call() throws IOException {
        Path root = directory != null ? Files.createDirectories(directory) : Files.createTempDirectory("moeshard-demo");
        try {
            PrintWriter out = mode.quiet || mode.json ? new PrintWriter(Writer.nullWriter()) : mode.out();
            Summary summary = run(root, out);
            if (mode.json) {
                mode.printJson(summary);
            }
            return ExitCode.OK;
        } finally {
            if (directory == null) {
                DirectoryDeletion.deleteRecursively(root);
            }
        }
    }

    private Summary run(Path root, PrintWriter out) {
        Path hf = root.resolve("hf");
        Path grouped = root.resolve("grouped");
        Path back = root.resolve("hf-again");
        MODEL.write(hf, 1234, 4_000_000);
        out.printf("wrote a per-expert checkpoint: %d layers x %d experts, H=%d I=%d, BF16, %d tensors -> %s%n",
                MODEL.layers(), MODEL.experts(), MODEL.hidden(), MODEL.intermediate(), MODEL.tensorCount(), hf);
        out.printf("copy engine: %s kernels, %d threads (%s)%n", CopyEngine.shared().kernels().name(),
                CopyEngine.shared().threads(), VectorSupport.reason());
        ConversionReport toGrouped = MoeConvert.toGrouped(ToGroupedRequest.of(hf, grouped).withRanks(RankSelection.all(2)));
        for (ConversionReport.WrittenCheckpoint rank : toGrouped.outputs()) {
            out.printf("experts [%d, %d) grouped into gate_and_up_projs [%d, %d, %d] and down_projs [%d, %d, %d] -> %s%n",
                    rank.expertStart(), rank.expertEnd(), rank.expertEnd() - rank.expertStart(), MODEL.hidden(),
                    2 * MODEL.intermediate(), rank.expertEnd() - rank.expertStart(), MODEL.intermediate(),
                    MODEL.hidden(), rank.path());
        }
        out.printf("to-grouped: %.1f MB in %.2f s (%.2f GB/s, fsync included; ./moeshard bench measures the copies "
                + "alone beside a memcpy)%n", toGrouped.bytes() / 1e6, toGrouped.seconds(), toGrouped.bytesPerSecond() / 1e9);
        VerifyReport verify = MoeConvert.verify(VerifyRequest.of(hf, List.of(grouped)));
        if (!verify.identical()) {
            throw new IllegalStateException("demo verification failed: " + verify.differences().getFirst());
        }
        out.printf("verify: %d tensor comparisons over %d ranks identical, every expert on exactly one rank%n",
                verify.comparisons(), verify.ranks());
        ConversionReport toHf = MoeConvert.toHf(ToHfRequest.of(List.of(grouped), back));
        out.printf("to-hf: both ranks merged back into one per-expert checkpoint -> %s%n", back);
        int same = sameTensors(hf, back);
        out.printf("read it back: all %d tensors of the original byte-identical%n", same);
        out.flush();
        return new Summary(root, directory != null, toGrouped, verify, toHf, same);
    }

    /** How many tensors {@code a} and {@code b} both hold, after checking they hold the same ones with the same bytes. */
    private static int sameTensors(Path a, Path b) {
        try (Checkpoint want = Checkpoint.open(a); Checkpoint got = Checkpoint.open(b)) {
            if (!new HashSet<>(want.keys()).equals(new HashSet<>(got.keys()))) {
                throw new IllegalStateException("demo verification failed: the round trip gave other tensors");
            }
            for (String key : want.keys()) {
                if (!want.entry(key).spec().equals(got.entry(key).spec())
                        || want.tensor(key).segment().mismatch(got.tensor(key).segment()) != -1) {
                    throw new IllegalStateException("demo verification failed: " + key + " differs after the round trip");
                }
            }
            return want.keys().size();
        }
    }
}
