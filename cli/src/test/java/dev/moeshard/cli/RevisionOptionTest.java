package dev.moeshard.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moeshard.convert.Fixtures;
import dev.moeshard.convert.HfCacheFolder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code --revision}: a snapshot of a Hugging Face cache folder other than main's, in every command that reads one. */
class RevisionOptionTest {
    private static final String MAIN = "0123456789abcdef0123456789abcdef01234567";
    private static final String OTHER = "89abcdef0123456789abcdef0123456789abcdef";

    /** refs/main: qwen3_moe; refs/other: olmoe. */
    private static Path repo(Path dir) {
        return HfCacheFolder.in(dir, "tiny-moe").snapshot(MAIN, Fixtures.of("qwen3_moe"))
                .snapshot(OTHER, Fixtures.of("families/olmoe")).ref("main", MAIN).ref("other", OTHER).path();
    }

    @Test
    void toGroupedInspectVerifyAndToHfReadTheSnapshotAsked(@TempDir Path dir) {
        Path repo = repo(dir);
        CliRun main = CliRun.of("inspect", repo.toString());
        assertTrue(main.out().contains("family:      qwen3_moe"), main.toString());
        CliRun other = CliRun.of("inspect", repo.toString(), "--revision", "other");
        assertEquals(ExitCode.OK, other.code(), other.toString());
        assertTrue(other.out().contains("family:      olmoe") && other.out().contains(OTHER), other.toString());

        Path grouped = dir.resolve("grouped");
        CliRun toGrouped = CliRun.of("to-grouped", repo.toString(), grouped.toString(), "--revision", "other",
                "--ep-size", "3", "--all-ranks", "--quiet");
        assertEquals(ExitCode.OK, toGrouped.code(), toGrouped.toString());
        CliRun verify = CliRun.of("verify", repo.toString(), grouped.toString(), "--revision", OTHER.substring(0, 7));
        assertEquals(ExitCode.OK, verify.code(), verify.toString());
        CliRun wrong = CliRun.of("verify", repo.toString(), grouped.toString());
        assertTrue(wrong.code() != ExitCode.OK, "main's snapshot is another model: " + wrong);

        Path cachedGrouped = HfCacheFolder.in(dir, "grouped").snapshot(OTHER, grouped).ref("v2", OTHER).path();
        Path back = dir.resolve("back");
        CliRun toHf = CliRun.of("to-hf", cachedGrouped.toString(), back.toString(), "--revision", "v2", "--quiet");
        assertEquals(ExitCode.OK, toHf.code(), toHf.toString());
        RoundTrip.assertSameTensors(Fixtures.of("families/olmoe"), back);
    }

    @Test
    void aPullRequestRefOrAUniquePrefixPicksItsSnapshotAndTheUnitsAgree(@TempDir Path dir) {
        Path repo = HfCacheFolder.in(dir, "tiny-moe").snapshot(MAIN, Fixtures.of("qwen3_moe"))
                .snapshot(OTHER, Fixtures.of("families/olmoe")).ref("main", MAIN).ref("refs/pr/1", OTHER).path();
        Path grouped = dir.resolve("grouped");
        for (String unit : List.of("0/2", "1/2")) {
            CliRun worker = CliRun.of("to-grouped", repo.toString(), grouped.toString(), "--revision", "refs/pr/1",
                    "--ep-size", "3", "--all-ranks", "--unit", unit, "--quiet");
            assertEquals(ExitCode.OK, worker.code(), worker.toString());
        }
        CliRun finalize = CliRun.of("finalize", grouped.toString(), "--quiet");
        assertEquals(ExitCode.OK, finalize.code(), finalize.toString());
        CliRun verify = CliRun.of("verify", repo.toString(), grouped.toString(), "--revision", OTHER.substring(0, 5));
        assertEquals(ExitCode.OK, verify.code(), verify.toString());
        Path back = dir.resolve("back");
        CliRun toHf = CliRun.of("to-hf", grouped.toString(), back.toString(), "--quiet");
        assertEquals(ExitCode.OK, toHf.code(), toHf.toString());
        RoundTrip.assertSameTensors(Fixtures.of("families/olmoe"), back);
    }

    @Test
    void aPrefixOfTwoSnapshotsExitsThreeNamingBoth(@TempDir Path dir) {
        String twin = OTHER.substring(0, 8) + "00000000000000000000000000000000";
        Path repo = HfCacheFolder.in(dir, "tiny-moe").snapshot(OTHER, Fixtures.of("families/olmoe"))
                .snapshot(twin, Fixtures.of("qwen3_moe")).ref("main", OTHER).path();
        for (String command : List.of("inspect", "to-grouped", "verify", "to-hf")) {
            List<String> args = new java.util.ArrayList<>(List.of(command, repo.toString()));
            if (!command.equals("inspect")) {
                args.add(dir.resolve("out").toString());
            }
            args.addAll(List.of("--revision", OTHER.substring(0, 8)));
            CliRun run = CliRun.of(args.toArray(String[]::new));
            assertEquals(ExitCode.INVALID_INPUT, run.code(), run.toString());
            assertTrue(run.err().contains("revision '" + OTHER.substring(0, 8) + "' begins 2 snapshots (" + twin + ", "
                    + OTHER + "); expected one: give more of the hash"), run.toString());
        }
        assertTrue(Files.notExists(dir.resolve("out")));
    }

    @Test
    void everyCommandThatReadsCheckpointsOffersRevision() {
        for (String command : List.of("to-grouped", "to-hf", "inspect", "verify")) {
            CliRun help = CliRun.of(command, "--help");
            assertEquals(ExitCode.OK, help.code(), help.toString());
            assertTrue(help.out().contains("--revision=REV"), command + ": " + help.out());
        }
    }

    @Test
    void aRevisionForAnInputThatIsNoCacheFolderExitsTwoNamingIt(@TempDir Path dir) {
        Path plain = Fixtures.of("qwen3_moe");
        for (String[] args : new String[][] {
                {"to-grouped", plain.toString(), dir.resolve("out").toString(), "--revision", "main"},
                {"inspect", plain.toString(), "--revision", "main"},
                {"verify", plain.toString(), plain.toString(), "--revision", "main"},
                {"to-hf", plain.toString(), dir.resolve("out").toString(), "--revision", "main"}}) {
            CliRun run = CliRun.of(args);
            assertEquals(ExitCode.USAGE, run.code(), run.toString());
            assertTrue(run.err().contains("--revision main: " + plain + " is not a Hugging Face cache repository "
                    + "folder"), run.toString());
        }
        assertTrue(Files.notExists(dir.resolve("out")));
    }

    @Test
    void aRevisionTheFolderLacksExitsThreeNamingWhatItHas(@TempDir Path dir) {
        Path repo = repo(dir);
        CliRun run = CliRun.of("to-grouped", repo.toString(), dir.resolve("out").toString(), "--revision", "feature");
        assertEquals(ExitCode.INVALID_INPUT, run.code(), run.toString());
        assertTrue(run.err().contains("no snapshot for revision 'feature'") && run.err().contains("found main, other")
                && run.err().contains(MAIN + ", " + OTHER), run.toString());
        assertTrue(Files.notExists(dir.resolve("out")));
    }
}
