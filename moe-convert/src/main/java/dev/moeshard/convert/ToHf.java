package dev.moeshard.convert;

import dev.moeshard.moe.ToHfOptions;
import dev.moeshard.moe.parallel.ExpertRange;
import dev.moeshard.moe.quant.Fp8BlockDequantizer;
import dev.moeshard.safetensors.ShardedCheckpointWriter;
import dev.moeshard.safetensors.TensorSpec;
import dev.moeshard.tensor.Tensor;
import dev.moeshard.tensor.copy.CopyEngine;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.Predicate;

/**
 * One grouped checkpoint, or the rank directories of one expert-parallel run, back to one per-expert HF checkpoint,
 * merged by global expert id.
 *
 * <p>Plan, then execute, as {@link ToGrouped} does. The plan reads headers and manifests only and refuses the job,
 * listing every problem, when an expert is held by no rank or by two, or shapes disagree. The execution maps the
 * output shards and copies each per-expert tensor straight from a transposed view of the mapped grouped input into
 * its mapped output slice; non-expert tensors are taken once, from the first rank.
 */
final class ToHf implements StagedJob {
    /**
     * Where an output tensor's data comes from: {@code view} is all of it, or, for a GPT-OSS expert tensor, the
     * experts from {@code at} on along its first axis; or, for a regrouped family grouped on disk, one projection of
     * one rank's experts, landing where {@code piece} says ({@link OnDiskRestoration}).
     */
    private record Source(String name, Tensor view, long at, OnDiskRestoration.Piece piece) {
        Source(String name, Tensor view) {
            this(name, view, -1, null);
        }

        Source(String name, Tensor view, long at) {
            this(name, view, at, null);
        }
    }

    private final ToHfRequest request;
    private final GroupedRanks ranks;
    private final Requantization requantization;
    private final CopyEngine engine;
    private final OnDiskRestoration restoration;
    /** Grouped key -> its per-expert tensors from every rank; other keys map to themselves, from rank 0. */
    private final Map<String, List<Source>> plan;
    private final RankUnit output;
    /** The input tensors by address, for {@link #reads}. */
    private TreeMap<Long, Map.Entry<GroupedRanks.Rank, String>> byAddress;
    private SideFiles.Copied copied = new SideFiles.Copied(List.of(), List.of());

    private ToHf(ToHfRequest request, GroupedRanks ranks) {
        this.request = request;
        this.ranks = ranks;
        this.requantization = new Requantization(request.quantization() == Quantization.FP8_BLOCK128);
        this.engine = request.writing().engine();
        this.restoration = OnDiskRestoration.of(ranks);
        this.plan = plan(ranks, request.lora(), restoration);
        List<TensorSpec> specs = new ArrayList<>();
        for (List<Source> sources : plan.values()) {
            if (sources.get(0).piece() != null) {
                specs.add(restoration.spec(sources.get(0).name(), sources.stream().map(Source::piece).toList()));
            } else if (sources.get(0).at() < 0) {
                sources.forEach(s -> specs.addAll(requantization.specs(s.name(), s.view())));
            } else { // one tensor of every rank's experts
                long[] shape = sources.get(0).view().sizes();
                shape[0] = sources.stream().mapToLong(s -> s.view().size(0)).sum();
                specs.add(new TensorSpec(sources.get(0).name(), sources.get(0).view().dtype(), shape));
            }
        }
        this.output = new RankUnit(0, null, ExpertRange.forMesh(null, ranks.model().config().numExperts()), specs,
                null);
    }

    /**
     * The job of {@code request}, planned from headers and manifests; every problem is raised here. Cache
     * repository folders are read at the snapshot the request's revision names.
     */
    static ToHf open(ToHfRequest request) {
        LayerCopies.requireUsable(request.writing().device());
        GroupedRanks ranks = GroupedRanks.open(request.snapshotInputs(), null, request.layout());
        try {
            List<String> problems = ranks.problems();
            if (!problems.isEmpty()) {
                throw new InvalidInputException(String.join(", ", request.inputs().stream().map(Path::toString).toList()),
                        problems);
            }
            return new ToHf(request, ranks);
        } catch (RuntimeException e) {
            ranks.close();
            throw e;
        }
    }

    @Override
    public String name() {
        return "to-hf";
    }

    @Override
    public String fingerprint() {
        return PlanFingerprint.of(ranks.checkpoints(),
                "to-hf layout=" + request.layout() + " lora=" + request.lora() + " quantization="
                        + request.quantization() + " maxShardBytes=" + request.writing().maxShardBytes());
    }

    @Override
    public List<RankUnit> checkpoints() {
        return List.of(output);
    }

    /** The bytes of the input that the sources of {@code keys} span, found by where their views lie. */
    @Override
    public List<ByteRange> reads(RankUnit checkpoint, Set<String> keys) {
        if (byAddress == null) {
            // Every input tensor by the address its mapping starts at, so that a view's address names its tensor.
            byAddress = new TreeMap<>();
            for (GroupedRanks.Rank r : ranks.ranks()) {
                for (String key : r.checkpoint().keys()) {
                    Tensor t = r.checkpoint().tensor(key);
                    byAddress.put(t.storage().address() + t.byteOffset(), Map.entry(r, key));
                }
            }
        }
        Map<GroupedRanks.Rank, ReadSet> reads = new LinkedHashMap<>();
        for (List<Source> sources : plan.values()) {
            for (Source s : sources) {
                if (!fills(s, keys::contains)) {
                    continue;
                }
                long at = s.view().storage().address() + s.view().byteOffset();
                Map.Entry<Long, Map.Entry<GroupedRanks.Rank, String>> in = byAddress.floorEntry(at);
                GroupedRanks.Rank r = in == null ? null : in.getValue().getKey();
                if (r == null || s.view().byteSpan() == 0
                        || at - in.getKey() >= r.checkpoint().entry(in.getValue().getValue()).byteSize()) {
                    continue; // an empty view, or one converted in memory (grouped LoRA), which lies in no input
                }
                reads.computeIfAbsent(r, x -> new ReadSet(x.checkpoint()))
                        .span(in.getValue().getValue(), at - in.getKey(), s.view().byteSpan());
            }
        }
        List<ByteRange> all = new ArrayList<>();
        reads.values().forEach(r -> all.addAll(r.ranges()));
        return ByteRange.merged(all);
    }

    @Override
    public String layoutName() {
        return null;
    }

    @Override
    public List<String> decisions() {
        List<String> decisions = new ArrayList<>(List.of(
                "family " + ranks.model().family().modelType() + ", " + ranks.ranks().size() + " grouped rank"
                        + (ranks.ranks().size() == 1 ? "" : "s") + " in "
                        + (ranks.isGroupedOnDisk() ? GroupedOnDiskLayout.layoutName(ranks.model().family(), ranks.layout())
                                : ranks.layout().cliName()),
                "LoRA written as " + request.lora(), "quantization " + request.quantization()));
        decisions.addAll(copied.decisions());
        return decisions;
    }

    @Override
    public InputGuard guard() {
        return new InputGuard(ranks.checkpoints());
    }

    @Override
    public List<String> finishedFiles() {
        Path firstRank = ranks.ranks().getFirst().path();
        return SideFiles.planned(Files.isDirectory(firstRank) ? firstRank : null, ranks.configFile());
    }

    @Override
    public SideFiles.Copied finish(RankUnit checkpoint, Path dir) throws IOException {
        Path firstRank = ranks.ranks().getFirst().path();
        copied = SideFiles.write(Files.isDirectory(firstRank) ? firstRank : null, ranks.configFile(), dir,
                checkpoint.specs(), request.quantization() == Quantization.FP8_BLOCK128);
        return copied;
    }

    @Override
    public void close() {
        ranks.close();
    }

    /** Every output tensor of the plan that {@code out} holds, group by group. */
    @Override
    public void writeShard(RankUnit checkpoint, ShardedCheckpointWriter out, ByteProgress progress) {
        try (StagedWrites writes = new StagedWrites(engine, out);
             LayerReadAhead<Map.Entry<String, List<Source>>> groups = new LayerReadAhead<>(plan.entrySet(),
                     group -> LayerReadAhead.layerOf(group.getKey()), group -> inputsOf(group.getValue(), out))) {
            for (Map.Entry<String, List<Source>> group : groups) {
                long groupBytes = 0;
                List<MemorySegment> written = new ArrayList<>();
                for (Source s : group.getValue()) {
                    if (s.piece() == null && requantization.write(s.name(), s.view(), out)) {
                        groupBytes += out.holds(s.name()) ? s.view().byteSize() : 0;
                        continue;
                    }
                    if (!out.holds(s.name())) {
                        continue; // another unit's
                    }
                    // The output view is a slice of the shard, the source a view of the mapped input; the
                    // engine lays the transposed source out contiguously on the way into the shard.
                    Tensor target = out.tensor(s.name());
                    if (s.piece() != null) {
                        target = restoration.target(target, s.piece());
                    } else if (s.at() >= 0) {
                        target = target.narrow(0, s.at(), s.view().size(0));
                    }
                    writes.copy(target, s.view());
                    // Done with these pages; they stay in the page cache but leave the resident set.
                    MappedPages.release(target);
                    if (s.piece() == null) {
                        written.add(target.segment());
                    }
                    groupBytes += s.view().byteSize();
                }
                if (group.getValue().getFirst().piece() != null && out.holds(group.getKey())) {
                    // strided pieces of one tensor, now complete
                    Tensor whole = out.tensor(group.getKey());
                    MappedPages.release(whole);
                    written.add(whole.segment());
                }
                progress.add(groupBytes);
                if (written.size() > 1 || (written.size() == 1 && group.getValue().getFirst().piece() != null)) {
                    out.startWriteBack(written); // a grouped tensor's experts: to disk while the next is split
                }
                if (groupBytes > 0 && (ranks.isGroupedExpertKey(group.getKey())
                        || ranks.isOnDiskExpertKey(group.getKey()))) {
                    for (GroupedRanks.Rank r : ranks.ranks()) {
                        if (r.checkpoint().contains(group.getKey())) {
                            MappedPages.release(r.checkpoint().tensor(group.getKey()));
                        }
                    }
                    progress.step("split " + group.getKey() + " (" + group.getValue().size() + " tensors)");
                }
            }
        }
    }

    /** The input views of {@code sources} that go into tensors {@code out} holds. */
    private static List<Tensor> inputsOf(List<Source> sources, ShardedCheckpointWriter out) {
        return sources.stream().filter(s -> fills(s, out::holds)).map(Source::view).toList();
    }

    /** Whether {@code s} goes into a tensor {@code held} names: its own, or, requantized, its scales. */
    private static boolean fills(Source s, Predicate<String> held) {
        return held.test(s.name()) || held.test(s.name() + Fp8BlockDequantizer.SCALE_SUFFIX);
    }

    /** The output tensors in order: rank 0's key order, each grouped key expanded over all ranks by expert id. */
    private static Map<String, List<Source>> plan(GroupedRanks ranks, ToHfOptions.LoraFormat lora,
                                                  OnDiskRestoration restoration) {
        Map<String, List<Source>> plan = new LinkedHashMap<>();
        GroupedRanks.Rank first = ranks.ranks().get(0);
        Map<String, String> onDiskNames = ranks.isGroupedOnDisk()
                ? GroupedOnDiskLayout.hfNames(ranks.model().family(), ranks.layout(), first.checkpoint(),
                        ranks.model().config().numExperts()) : Map.of();
        List<String> restoredLayers = new ArrayList<>();
        for (String key : first.checkpoint().keys()) {
            List<Source> sources = new ArrayList<>();
            if (restoration != null && restoration.restores(key)) {
                // The layer's own tensors in their own orientation, all of them with its first tensor.
                restoration.layer(key, restoredLayers).forEach((name, pieces) -> plan.put(name, pieces.stream()
                        .map(p -> new Source(name, p.source(), p.at(), p)).toList()));
                continue;
            }
            if (ranks.isOnDiskExpertKey(key)) {
                // Renamed back, each rank's experts at their place along the first axis.
                for (GroupedRanks.Rank r : ranks.byFirstExpert()) {
                    sources.add(new Source(onDiskNames.get(key), r.checkpoint().tensor(key), r.range().start()));
                }
            } else if (ranks.isGroupedOnDisk()) {
                sources.add(new Source(onDiskNames.get(key), first.checkpoint().tensor(key)));
            } else if (ranks.isGroupedExpertKey(key)) {
                for (GroupedRanks.Rank r : ranks.byFirstExpert()) {
                    for (Map.Entry<String, Tensor> e : ranks.perExpertViews(r, key)) {
                        sources.add(new Source(e.getKey(), e.getValue()));
                    }
                }
            } else if (ranks.isGroupedLoraKey(key)) {
                // Grouped LoRA holds each rank's experts and is small (r/H of the experts): the adapter's own
                // conversion, in memory, gives every rank's PEFT tensors in expert order.
                for (Map.Entry<String, Tensor> e : ranks.loraToHf(key, lora)) {
                    sources.add(new Source(e.getKey(), e.getValue()));
                }
            } else {
                sources.add(new Source(key, first.checkpoint().tensor(key)));
            }
            plan.put(key, sources);
        }
        return plan;
    }
}
