package dev.moeshard.convert;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code revision}: which snapshot of a Hugging Face cache repository folder is read. The two snapshots hold
 * different families, so that the family read back tells which snapshot was taken.
 */
class CacheRevisionTest {
    private static final String MAIN = "0123456789abcdef0123456789abcdef01234567";
    private static final String OTHER = "89abcdef0123456789abcdef0123456789abcdef";

    /** refs/main: qwen3_moe; refs/other and refs/pr/1: olmoe. */
    private static HfCacheFolder repo(Path dir) {
        return HfCacheFolder.in(dir, "tiny-moe")
                .snapshot(MAIN, Fixtures.of("qwen3_moe"))
                .snapshot(OTHER, Fixtures.of("families/olmoe"))
                .ref("main", MAIN).ref("other", OTHER).ref("pr/1", OTHER);
    }

    @Test
    void aRefNameACommitHashAndAUniquePrefixOfOneEachPickTheirSnapshot(@TempDir Path dir) {
        Path repo = repo(dir).path();
        assertEquals("qwen3_moe", MoeConvert.inspect(repo).family());
        assertEquals("qwen3_moe", MoeConvert.inspect(repo, "main").family());
        for (String revision : List.of("other", "pr/1", OTHER, OTHER.substring(0, 7), OTHER.substring(0, 4))) {
            assertEquals("olmoe", MoeConvert.inspect(repo, revision).family(), revision);
        }
        assertEquals("qwen3_moe", MoeConvert.inspect(repo, MAIN.substring(0, 12)).family());
    }

    /**
     * huggingface_hub keeps the ref of revision {@code refs/pr/1} at {@code refs/refs/pr/1} and a tag at
     * {@code refs/TAG}: both are ref names as users write them, and the request types carry them alike.
     */
    @Test
    void aPullRequestRefAndATagAreReadAsHuggingfaceHubWritesThem(@TempDir Path dir) {
        Path repo = repo(dir).ref("refs/pr/1", OTHER).ref("v1.0", OTHER).path();
        assertTrue(Files.isRegularFile(repo.resolve("refs/refs/pr/1")));
        for (String revision : List.of("refs/pr/1", "v1.0")) {
            assertEquals("olmoe", MoeConvert.inspect(repo, revision).family(), revision);
            ConversionRequest request = ToGroupedRequest.of(repo, dir.resolve("out")).withRevision(revision);
            assertEquals(revision, request.revision());
            assertEquals(OTHER, Path.of(MoeConvert.planToGrouped((ToGroupedRequest) request).input()).getFileName()
                    .toString());
            ConversionRequest back = ToHfRequest.of(List.of(repo), dir.resolve("back")).withRevision(revision);
            assertEquals(revision, back.withAbsolutePaths().revision(), "kept for workers elsewhere");
        }
        InvalidInputException e = assertThrows(InvalidInputException.class, () -> MoeConvert.inspect(repo, "v2.0"));
        assertTrue(e.problems().getFirst().contains("(found main, other, pr/1, refs/pr/1, v1.0)"), e.problems().toString());
    }

    @Test
    void toGroupedOfARevisionRestoresThatSnapshotAndVerifiesAgainstIt(@TempDir Path dir) {
        Path repo = repo(dir).path();
        Path grouped = dir.resolve("grouped");
        ToGroupedRequest request = ToGroupedRequest.of(repo, grouped).withRevision("other")
                .withRanks(RankSelection.all(3));
        assertEquals(OTHER, Path.of(MoeConvert.planToGrouped(request).input()).getFileName().toString(),
                "the plan names the snapshot it reads");
        MoeConvert.toGrouped(request);
        assertTrue(MoeConvert.verify(VerifyRequest.of(repo, List.of(grouped)).withRevision(OTHER.substring(0, 8)))
                .identical());
        Path back = dir.resolve("back");
        MoeConvert.toHf(ToHfRequest.of(List.of(grouped), back));
        CheckpointFiles.assertSameTensors(Fixtures.of("families/olmoe"), back);
    }

    @Test
    void toHfReadsTheRevisionOfACacheFolderOfGroupedRanks(@TempDir Path dir) {
        Path grouped = dir.resolve("grouped");
        MoeConvert.toGrouped(ToGroupedRequest.of(Fixtures.of("qwen3_moe"), grouped).withRanks(RankSelection.all(2)));
        Path repo = HfCacheFolder.in(dir, "grouped").snapshot(OTHER, grouped).ref("main", OTHER)
                .snapshot(MAIN, Fixtures.of("families/olmoe")).ref("stale", MAIN).path();
        Path back = dir.resolve("back");
        MoeConvert.toHf(ToHfRequest.of(List.of(repo), back).withRevision(OTHER.substring(0, 6)));
        CheckpointFiles.assertSameTensors(Fixtures.of("qwen3_moe"), back);
    }

    @Test
    void aPrefixOfTwoSnapshotsIsRefusedNamingBoth(@TempDir Path dir) {
        String second = MAIN.substring(0, 10) + "ffffffffffffffffffffffffffffff";
        Path repo = repo(dir).snapshot(second, Fixtures.of("qwen3_moe")).path();
        InvalidInputException e = assertThrows(InvalidInputException.class,
                () -> MoeConvert.inspect(repo, MAIN.substring(0, 6)));
        assertEquals(repo.toString(), e.source());
        assertTrue(e.getMessage().contains(MAIN) && e.getMessage().contains(second)
                && e.getMessage().contains("give more of the hash"), e.getMessage());
        assertEquals("qwen3_moe", MoeConvert.inspect(repo, MAIN.substring(0, 11)).family(), "one more digit tells");
    }

    @Test
    void anUnknownRevisionIsRefusedNamingTheRefsAndSnapshotsThere(@TempDir Path dir) {
        Path repo = repo(dir).path();
        for (String revision : List.of("nope", "fedcba98", "abc")) {
            InvalidInputException e = assertThrows(InvalidInputException.class,
                    () -> MoeConvert.planToGrouped(ToGroupedRequest.of(repo, dir.resolve("out")).withRevision(revision)));
            assertEquals(List.of("no snapshot for revision '" + revision + "': expected a ref in refs/ (found main, "
                    + "other, pr/1) or a commit hash, or a unique prefix of one of at least 4 hex digits, in "
                    + "snapshots/ (found " + MAIN + ", " + OTHER + ")"), e.problems());
        }
        assertTrue(Files.notExists(dir.resolve("out")));
    }

    @Test
    void aRefNamingAMissingSnapshotIsRefusedNamingTheRefFile(@TempDir Path dir) throws Exception {
        HfCacheFolder cache = repo(dir).ref("gone", "feedfacefeedfacefeedfacefeedfacefeedface");
        InvalidInputException e = assertThrows(InvalidInputException.class,
                () -> MoeConvert.inspect(cache.path(), "gone"));
        assertEquals(cache.path().resolve("refs").resolve("gone").toString(), e.source());
        assertEquals(List.of("refs/gone names commit 'feedfacefeedfacefeedfacefeedfacefeedface'; expected a folder "
                + "of that name in snapshots/, found " + MAIN + ", " + OTHER), e.problems());
    }

    @Test
    void aRevisionThatIsAPathOutOfRefsIsAUsageError(@TempDir Path dir) {
        Path repo = repo(dir).path();
        for (String revision : List.of("../snapshots", "/etc/passwd", "main/..", "", "a//b")) {
            UsageException e = assertThrows(UsageException.class, () -> MoeConvert.inspect(repo, revision));
            assertTrue(e.getMessage().startsWith("--revision '" + revision + "'"), e.getMessage());
        }
    }

    @Test
    void aRevisionForAnInputThatIsNoCacheFolderIsAUsageErrorNamingIt(@TempDir Path dir) {
        Path plain = Fixtures.of("qwen3_moe");
        String expected = "--revision main: " + plain + " is not a Hugging Face cache repository folder "
                + "(models--ORG--NAME/ with refs/ and snapshots/), the only input a revision picks from";
        assertEquals(expected, assertThrows(UsageException.class,
                () -> MoeConvert.toGrouped(ToGroupedRequest.of(plain, dir.resolve("out")).withRevision("main")))
                .getMessage());
        assertEquals(expected, assertThrows(UsageException.class,
                () -> MoeConvert.inspect(plain, "main")).getMessage());
        assertEquals(expected, assertThrows(UsageException.class,
                () -> MoeConvert.verify(VerifyRequest.of(plain, List.of(plain)).withRevision("main"))).getMessage());
        Path repo = repo(dir).path();
        assertEquals(expected, assertThrows(UsageException.class, () -> MoeConvert.toHf(
                ToHfRequest.of(List.of(repo, plain), dir.resolve("back")).withRevision("main"))).getMessage(),
                "every input of to-hf must be a cache folder when a revision is given");
        assertTrue(Files.notExists(dir.resolve("out")) && Files.notExists(dir.resolve("back")));
    }
}
