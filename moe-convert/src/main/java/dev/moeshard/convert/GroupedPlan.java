package dev.moeshard.convert;

import dev.moeshard.moe.ExpertNaming;
import dev.moeshard.moe.FromHfOptions;
import dev.moeshard.moe.FusedExperts;
import dev.moeshard.moe.GroupedLayout;
import dev.moeshard.moe.MoeConfig;
import dev.moeshard.moe.MoeStateDictAdapter;
import dev.moeshard.moe.family.ModelFamily;
import dev.moeshard.moe.parallel.DeviceMesh;
import dev.moeshard.safetensors.Checkpoint;
import dev.moeshard.safetensors.TensorEntry;
import dev.moeshard.safetensors.TensorSpec;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The tensors one rank's grouped checkpoint will hold, in order, worked out from headers alone so that the output
 * shards can be laid out and mapped before a byte moves. The adapter names them, shapes them and orders them
 * ({@link MoeStateDictAdapter#planFromHf}): every non-expert tensor as it is, and for each MoE layer the layout's
 * grouped tensors, e.g. {@code gate_and_up_projs} [E_local, H, 2I] and {@code down_projs} [E_local, I, H], where the
 * layer's first expert tensor stood. The plan adds only what the file-to-file conversion needs to know besides: which
 * of them it fills itself, expert by expert, through write-through views.
 *
 * @param specs the output tensors, in the order they will be laid out
 * @param groupedKeys the keys of {@code specs} that are grouped expert tensors, filled through write-through views
 */
record GroupedPlan(List<TensorSpec> specs, Set<String> groupedKeys) {

    /**
     * The plan of the tensors {@code adapter}'s {@code fromHf} makes of {@code checkpoint} with {@code options} (see
     * {@link #options}). Assumes the survey found no problems for the options' rank.
     */
    static GroupedPlan of(Checkpoint checkpoint, ExpertSurvey survey, MoeStateDictAdapter adapter,
                          FromHfOptions options) {
        Map<String, TensorSpec> headers = new LinkedHashMap<>();
        for (String key : checkpoint.keys()) {
            headers.put(key, checkpoint.entry(key).spec());
        }
        List<TensorSpec> specs = adapter.planFromHf(headers, options);
        // The layers with per-expert tensors: their grouped tensors are copied into expert by expert, not emitted.
        Set<String> grouped = new LinkedHashSet<>();
        if (adapter.expertRange(options.mesh()).count() > 0) {
            GroupedLayout layout = adapter.layout();
            for (ExpertSurvey.Layer layer : survey.layers()) {
                for (String name : layout.tensorNames(adapter.config().gated())) {
                    grouped.add(layout.key(adapter.naming(), layer.prefix(), layer.layer(), name));
                }
            }
        }
        Set<String> names = new HashSet<>();
        specs.forEach(s -> names.add(s.name()));
        if (!names.containsAll(grouped)) {
            throw new IllegalStateException("the adapter planned no " + grouped.stream().filter(k -> !names.contains(k))
                    .toList() + " for layers with per-expert tensors");
        }
        return new GroupedPlan(List.copyOf(specs), Set.copyOf(grouped));
    }

    /**
     * The options the conversion runs the adapter with for {@code mesh}'s rank of {@code request}: its dtype and
     * whether FP8 experts are kept.
     */
    static FromHfOptions options(ToGroupedRequest request, DeviceMesh mesh) {
        return FromHfOptions.defaults().withMesh(mesh).withOutputDtype(request.dtype()).withKeepFp8(request.keepFp8());
    }

    /**
     * The grouped key a transformers-v5 fused expert tensor ({@code {seg}.gate_up_proj} [E, 2I, H] or
     * {@code {seg}.down_proj} [E, H, I]) becomes in the DeepEP layout, or null when {@code key} is not one.
     */
    static String fusedGroupedKey(String key, TensorEntry entry, ExpertNaming naming) {
        FusedExperts fused = FusedExperts.parse(naming, key, entry.shape().length);
        if (fused == null) {
            return null;
        }
        return fused.targetKey(naming, GroupedLayout.DEEPEP.tensorOf(fused.projection()));
    }

    /** How many transformers-v5 fused expert tensors {@code checkpoint} holds. */
    static int fusedCount(Checkpoint checkpoint, ExpertNaming naming) {
        int n = 0;
        for (String key : checkpoint.keys()) {
            n += fusedGroupedKey(key, checkpoint.entry(key), naming) != null ? 1 : 0;
        }
        return n;
    }

    /**
     * transformers-v5 fused experts of another shape than the model's, each as a problem. (GPT-OSS, grouped in its
     * own layout, is planned by {@link GroupedOnDiskLayout}, never here.)
     */
    static List<String> unsupported(Checkpoint checkpoint, ModelFamily family, MoeConfig config) {
        List<String> problems = new ArrayList<>();
        for (String key : checkpoint.keys()) {
            FusedExperts fused = FusedExperts.parse(family.naming(), key, checkpoint.entry(key).shape().length);
            String problem = fused == null ? null : fused.problem(key, checkpoint.entry(key).shape(), config);
            if (problem != null) {
                problems.add(problem);
            }
        }
        return problems;
    }
}
