package dev.moeshard.convert;

import dev.moeshard.moe.ExpertNaming;
import dev.moeshard.moe.GroupedLayout;
import dev.moeshard.moe.LayoutConversion;
import dev.moeshard.moe.MoeConfig;
import dev.moeshard.moe.Projection;
import dev.moeshard.moe.family.GroupedOnDiskConversion;
import dev.moeshard.moe.family.ModelFamily;
import dev.moeshard.moe.parallel.DeviceMesh;
import dev.moeshard.moe.parallel.ExpertRange;
import dev.moeshard.safetensors.Checkpoint;
import dev.moeshard.safetensors.ShardedCheckpointWriter;
import dev.moeshard.safetensors.TensorSpec;
import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.Tensor;
import dev.moeshard.tensor.copy.CopyEngine;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * to-grouped of a family grouped on disk in a grouped layout's orientation (Llama-4: DeepEP's; Granite and
 * Qwen3-VL-MoE: hf-v5's) into another layout. Renamed ({@link GroupedOnDiskLayout#grouped}), such a checkpoint is a
 * grouped checkpoint of its own layout, so each layer moves into the target layout as grouped checkpoints are
 * regrouped ({@link GroupedToGrouped}): the rank's experts of each projection with one strided copy from the own
 * layout's view into the target's view of the mapped output ({@link LayoutConversion}). Everything else is cut and
 * renamed as when the family is kept in its own layout. to-hf restores the input ({@link OnDiskRestoration}).
 */
final class OnDiskRegrouping {
    private final ModelFamily family;
    private final GroupedLayout own;
    private final GroupedLayout target;
    private final Checkpoint checkpoint;
    private final MoeConfig config;

    private OnDiskRegrouping(ModelFamily family, GroupedLayout own, GroupedLayout target, Checkpoint checkpoint,
                             MoeConfig config) {
        this.family = family;
        this.own = own;
        this.target = target;
        this.checkpoint = checkpoint;
        this.config = config;
    }

    /**
     * The regrouping of {@code family}'s {@code checkpoint} into {@code target}, or null where none is needed
     * ({@code target} is the family's own layout) or none applies (GPT-OSS, interleaved, has no grouped layout's
     * orientation).
     */
    static OnDiskRegrouping of(ModelFamily family, GroupedLayout target, Checkpoint checkpoint, MoeConfig config) {
        GroupedLayout own = GroupedOnDiskLayout.onDiskLayout(family);
        return own == null || own == target ? null : new OnDiskRegrouping(family, own, target, checkpoint, config);
    }

    /**
     * For a family grouped on disk in a grouped layout's orientation: every layer's own tensors present, each in that
     * orientation's shape for all experts, which the renames and the strided copies take for granted. An input in
     * another orientation is refused here rather than read across: a regrouped output given back as input without
     * the moeshard.json that tells its layout ({@link GroupedToGrouped} regroups it with one). None for GPT-OSS, whose
     * interleaved tensors are only cut.
     */
    static List<String> orientationProblems(ModelFamily family, Checkpoint checkpoint, MoeConfig config) {
        GroupedLayout own = GroupedOnDiskLayout.onDiskLayout(family);
        List<String> problems = new ArrayList<>();
        if (own == null) {
            return problems;
        }
        GroupedOnDiskConversion conversion = new GroupedOnDiskConversion(family, config.numExperts(), own);
        Map<String, Set<String>> layers = new LinkedHashMap<>();
        for (String key : checkpoint.keys()) {
            GroupedLayout.Key k = own.parse(family.naming(), conversion.groupedName(key));
            if (k == null) {
                continue;
            }
            long[] want = own.shape(k.name(), config.numExperts(), config);
            long[] got = checkpoint.entry(key).shape();
            if (!Arrays.equals(want, got)) {
                problems.add(key + ": a " + family.modelType() + " expert tensor of this model (E, H, I = "
                        + config.numExperts() + ", " + config.hidden() + ", " + config.intermediate() + ") has shape "
                        + Arrays.toString(want) + " in its own (" + own.cliName() + ") orientation, got "
                        + Arrays.toString(got) + "; an output of to-grouped is read back in its layout only with its "
                        + GroupedManifest.FILE_NAME + " beside it");
            }
            layers.computeIfAbsent(k.layerPath(), x -> new LinkedHashSet<>()).add(k.name());
        }
        layers.forEach((layer, names) -> {
            if (!names.containsAll(own.tensorNames(config.gated()))) {
                problems.add(layer + ": has the expert tensors " + names + " of " + family.modelType() + "'s "
                        + own.cliName() + " orientation, expected " + own.tensorNames(config.gated()));
            }
        });
        return problems;
    }

    /** The rank's tensors in input order, each layer's own tensors replaced by the target layout's. */
    List<TensorSpec> specs(DeviceMesh mesh) {
        ExpertRange range = ExpertRange.forMesh(mesh, config.numExperts());
        ExpertNaming naming = family.naming();
        List<TensorSpec> specs = new ArrayList<>();
        Set<String> layers = new LinkedHashSet<>();
        for (Map.Entry<String, GroupedOnDiskSource> e : renamed(mesh).entrySet()) {
            GroupedLayout.Key k = own.parse(naming, e.getKey());
            if (k == null) {
                specs.add(e.getValue().spec(e.getKey()));
            } else if (layers.add(k.layerPath())) {
                DType dtype = e.getValue().view().dtype();
                for (String name : target.tensorNames(config.gated())) {
                    specs.add(new TensorSpec(target.key(naming, k.prefix(), k.layer(), name), dtype,
                            target.shape(name, range.count(), config)));
                }
            }
        }
        return specs;
    }

    /**
     * The output tensors the input tensor renamed {@code renamedKey} feeds: an own expert tensor every target tensor
     * of its layer, anything else itself.
     */
    Set<String> outputsOf(String renamedKey) {
        GroupedLayout.Key k = own.parse(family.naming(), renamedKey);
        if (k == null) {
            return Set.of(renamedKey);
        }
        Set<String> out = new LinkedHashSet<>();
        target.tensorNames(config.gated()).forEach(name -> out.add(target.key(family.naming(), k.prefix(), k.layer(), name)));
        return out;
    }

    /** Writes the tensors of {@link #specs} that {@code out} holds, for the rank of {@code mesh}. */
    void write(DeviceMesh mesh, ShardedCheckpointWriter out, CopyEngine engine, ByteProgress progress) {
        ExpertRange range = ExpertRange.forMesh(mesh, config.numExperts());
        ExpertNaming naming = family.naming();
        Map<String, GroupedOnDiskSource> renamed = renamed(mesh);
        try (StagedWrites staged = new StagedWrites(engine, out);
             LayerReadAhead<Map.Entry<String, GroupedOnDiskSource>> tensors = new LayerReadAhead<>(renamed.entrySet(),
                     e -> LayerReadAhead.layerOf(e.getKey()),
                     e -> outputsOf(e.getKey()).stream().anyMatch(out::holds) ? e.getValue().inputs() : List.of())) {
            Set<String> layers = new LinkedHashSet<>();
            Map<String, ReusedScratch> scratch = new HashMap<>();
            for (Map.Entry<String, GroupedOnDiskSource> e : tensors) {
                GroupedLayout.Key k = own.parse(naming, e.getKey());
                if (k == null) {
                    if (!out.holds(e.getKey())) {
                        continue; // another unit's
                    }
                    Tensor t = out.tensor(e.getKey());
                    e.getValue().writeInto(t, staged);
                    MappedPages.release(t);
                    progress.add(t.byteSize());
                    continue;
                }
                if (!layers.add(k.layerPath())) {
                    continue; // the layer's other own tensor, moved with the first
                }
                Map<String, Tensor> sources = new LinkedHashMap<>();
                for (String name : own.tensorNames(config.gated())) {
                    sources.put(name, renamed.get(own.key(naming, k.prefix(), k.layer(), name)).view());
                }
                Map<String, Tensor> targets = new LinkedHashMap<>();
                for (String name : target.tensorNames(config.gated())) {
                    String key = target.key(naming, k.prefix(), k.layer(), name);
                    if (out.holds(key)) {
                        targets.put(name, out.tensor(key));
                    }
                }
                if (targets.isEmpty()) {
                    continue; // the layer's target tensors are other units'
                }
                List<Projection> projections = LayoutConversion.projections(config).stream()
                        .filter(p -> targets.containsKey(target.tensorOf(p))).toList();
                // Expert by expert, each expert's rows read from the file into scratch first, never through the
                // mapping (see SourceReads), then moved into the target's views with one strided copy a projection.
                for (long expert = 0; expert < range.count(); expert++) {
                    Map<String, Tensor> read = new LinkedHashMap<>();
                    for (Map.Entry<String, Tensor> s : sources.entrySet()) {
                        List<Tensor> one = List.of(s.getValue().narrow(0, expert, 1));
                        ReusedScratch bytes = scratch.computeIfAbsent(s.getKey(), x -> new ReusedScratch());
                        read.put(s.getKey(), SourceReads.read(one,
                                bytes.tensor(DType.U8, Math.max(1, SourceReads.bytes(one))).segment()).getFirst());
                    }
                    LayoutConversion.copy(own, read, 0, target, targets, expert, 1, config, projections);
                }
                long bytes = 0;
                for (Tensor t : targets.values()) {
                    MappedPages.release(t);
                    bytes += t.byteSize();
                }
                progress.step("layer " + k.layerPath() + " (experts [" + range.start() + ", "
                        + range.end() + ") into " + target.cliName() + ")", bytes);
            }
        }
    }

    /** The rank's tensors under the renamed (own layout's) names, expert tensors narrowed to its experts. */
    private Map<String, GroupedOnDiskSource> renamed(DeviceMesh mesh) {
        return GroupedOnDiskLayout.grouped(family, own, checkpoint, config.numExperts(), mesh, null);
    }
}
