package dev.moeshard.convert;

import dev.moeshard.moe.ToHfOptions;
import dev.moeshard.moe.lora.LoraExpertSuffix;
import dev.moeshard.safetensors.ShardLayout;
import dev.moeshard.safetensors.ShardedCheckpointWriter;
import dev.moeshard.safetensors.TensorSpec;
import dev.moeshard.tensor.Tensor;
import dev.moeshard.tensor.copy.CopyEngine;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * One grouped checkpoint, or the rank directories of one expert-parallel run, back to one per-expert HF checkpoint,
 * merged by global expert id.
 *
 * <p>Plan, then execute, as {@link ToGrouped} does. The plan reads headers and manifests only and refuses the job,
 * listing every problem, when an expert is held by no rank or by two, or shapes disagree. The execution maps the
 * output shards and copies each per-expert tensor straight from a transposed view of the mapped grouped input into
 * its mapped output slice; non-expert tensors are taken once, from the first rank.
 */
final class ToHf {
    private ToHf() {}

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

    static ConversionReport run(ToHfRequest request, ProgressListener listener) {
        long start = System.nanoTime();
        Path output = request.output();
        Requantization requantization = new Requantization(request.quantization() == Quantization.FP8_BLOCK128);
        LayerCopies.requireUsable(request.writing().device());
        CopyEngine engine = request.writing().engine();
        request.writing().requireWritable(output, request.inputs()); // whole cache folders, where given
        List<Path> inputs = request.snapshotInputs();
        try (GroupedRanks ranks = GroupedRanks.open(inputs, null, request.layout())) {
            List<String> problems = ranks.problems();
            if (!problems.isEmpty()) {
                throw new InvalidInputException(String.join(", ", inputs.stream().map(Path::toString).toList()), problems);
            }
            // Grouped key -> its per-expert tensors from every rank; other keys map to themselves, from rank 0.
            OnDiskRestoration restoration = OnDiskRestoration.of(ranks);
            Map<String, List<Source>> plan = plan(ranks, request.lora(), restoration);
            List<TensorSpec> specs = new ArrayList<>();
            for (List<Source> sources : plan.values()) {
                if (sources.get(0).piece() != null) {
                    specs.add(restoration.spec(sources.get(0).name(),
                            sources.stream().map(Source::piece).toList()));
                } else if (sources.get(0).at() < 0) {
                    sources.forEach(s -> specs.addAll(requantization.specs(s.name(), s.view())));
                } else { // one tensor of every rank's experts
                    long[] shape = sources.get(0).view().sizes();
                    shape[0] = sources.stream().mapToLong(s -> s.view().size(0)).sum();
                    specs.add(new TensorSpec(sources.get(0).name(), sources.get(0).view().dtype(), shape));
                }
            }
            ByteProgress progress = new ByteProgress(listener, specs.stream().mapToLong(TensorSpec::byteSize).sum());
            FreeSpace.require(output, progress.total());
            SideFiles.Copied copied;
            InputGuard guard = new InputGuard(ranks.ranks().stream().map(GroupedRanks.Rank::checkpoint).toList());
            try (StagedDirectory staged = StagedDirectory.create(output, request.writing().replaceExisting(), listener)) {
                guard.around(() -> write(plan, specs, staged, request, requantization, engine, ranks, restoration,
                        progress));
                progress.reach(progress.total(), "wrote " + output);
                Path firstRank = ranks.ranks().getFirst().path();
                copied = SideFiles.write(Files.isDirectory(firstRank) ? firstRank : null, ranks.configFile(),
                        staged.path(), specs, request.quantization() == Quantization.FP8_BLOCK128);
                staged.commit();
            } catch (IOException e) {
                throw new UncheckedIOException("cannot write " + output + ": " + e.getMessage(), e);
            }
            long bytes = progress.done();
            ConversionReport.WrittenCheckpoint written = new ConversionReport.WrittenCheckpoint(output, 0,
                    ranks.model().config().numExperts(), specs.size(), bytes);
            List<String> decisions = new ArrayList<>(List.of(
                    "family " + ranks.model().family().modelType() + ", " + ranks.ranks().size() + " grouped rank"
                            + (ranks.ranks().size() == 1 ? "" : "s") + " in "
                            + (ranks.isGroupedOnDisk() ? GroupedOnDiskLayout.layoutName(ranks.model().family()) : ranks.layout().cliName()),
                    "LoRA written as " + request.lora(), "quantization " + request.quantization()));
            decisions.addAll(copied.decisions());
            return Reports.of(output, List.of(written), start, decisions);
        }
    }


    /** Every output tensor of {@code plan} into {@code staged}'s shards, group by group. */
    private static void write(Map<String, List<Source>> plan, List<TensorSpec> specs, StagedDirectory staged,
                              ToHfRequest request, Requantization requantization, CopyEngine engine,
                              GroupedRanks ranks, OnDiskRestoration restoration, ByteProgress progress) {
        try (ShardedCheckpointWriter out = ShardedCheckpointWriter.open(staged.path(),
                ShardLayout.of(specs, request.writing().maxShardBytes()), Map.of("format", "pt"));
             StagedWrites writes = new StagedWrites(engine, out)) {
            for (Map.Entry<String, List<Source>> group : plan.entrySet()) {
                long groupBytes = 0;
                List<MemorySegment> written = new ArrayList<>();
                for (Source s : group.getValue()) {
                    // The output view is a slice of the shard, the source a view of the mapped input; the
                    // engine lays the transposed source out contiguously on the way into the shard.
                    Tensor target = out.tensor(s.name());
                    if (s.piece() != null) {
                        target = restoration.target(target, s.piece());
                    } else if (s.at() >= 0) {
                        target = target.narrow(0, s.at(), s.view().size(0));
                    }
                    if (s.piece() != null || !requantization.write(s.name(), s.view(), out)) {
                        writes.copy(target, s.view());
                    }
                    // Done with these pages; they stay in the page cache but leave the resident set.
                    MappedPages.release(target);
                    if (s.piece() == null) {
                        written.add(target.segment());
                    }
                    groupBytes += s.view().byteSize();
                }
                if (group.getValue().getFirst().piece() != null) { // strided pieces of one tensor, now complete
                    Tensor whole = out.tensor(group.getKey());
                    MappedPages.release(whole);
                    written.add(whole.segment());
                }
                progress.add(groupBytes);
                if (group.getValue().size() > 1) { // a grouped tensor's experts: to disk while the next is split
                    out.startWriteBack(written);
                }
                if (ranks.isGroupedExpertKey(group.getKey()) || ranks.isOnDiskExpertKey(group.getKey())) {
                    for (GroupedRanks.Rank r : ranks.ranks()) {
                        if (r.checkpoint().contains(group.getKey())) {
                            MappedPages.release(r.checkpoint().tensor(group.getKey()));
                        }
                    }
                    progress.step("split " + group.getKey() + " (" + group.getValue().size() + " tensors)");
                }
            }
            out.commit();
        }
    }

    /** The output tensors in order: rank 0's key order, each grouped key expanded over all ranks by expert id. */
    private static Map<String, List<Source>> plan(GroupedRanks ranks, ToHfOptions.LoraFormat lora,
                                                  OnDiskRestoration restoration) {
        Map<String, List<Source>> plan = new LinkedHashMap<>();
        GroupedRanks.Rank first = ranks.ranks().get(0);
        Map<String, String> onDiskNames = ranks.isGroupedOnDisk()
                ? GroupedOnDiskLayout.hfNames(ranks.model().family(), first.checkpoint(), ranks.model().config().numExperts()) : Map.of();
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
            } else if (LoraExpertSuffix.of(key, ranks.model().family().naming().segment()) != null) {
                // Grouped LoRA is whole on every rank and small (r/H of the experts): the adapter's own conversion,
                // in memory, gives its PEFT tensors.
                for (Map.Entry<String, Tensor> e : ranks.model().adapter().toHf(key, first.checkpoint().tensor(key),
                        ToHfOptions.defaults().withLoraFormat(lora))) {
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
