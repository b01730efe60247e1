package dev.moeshard.properties.moe;

import dev.moeshard.moe.ExpertNaming;
import dev.moeshard.moe.MoeConfig;
import dev.moeshard.moe.MoeStateDictAdapter;
import dev.moeshard.moe.Projection;
import dev.moeshard.moe.parallel.ExpertRange;
import dev.moeshard.properties.harness.Gen;
import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A random small MoE model: E experts of sizes H and I, gated or not, under a prefix and an expert naming, with some
 * layers, in one dtype; and random state dicts of it in both layouts, filled with random bytes (so NaN payloads,
 * negative zeros and every other bit pattern occur: the conversions move bytes and must not look at them).
 */
record MoeModel(MoeConfig config, ExpertNaming naming, String prefix, int layers, DType dtype) {

    static final List<String> PREFIXES = List.of("", "model.", "model.language_model.", "backbone.");
    /** Float formats the engine converts, and integer ones it only moves: both must come through untouched. */
    static final List<DType> DTYPES = List.of(DType.BF16, DType.F16, DType.F32, DType.F64, DType.F8_E4M3,
            DType.F8_E5M2, DType.U8, DType.I8, DType.I32, DType.I64, DType.BOOL);

    static MoeModel random(Gen gen) {
        return random(gen, PREFIXES);
    }

    /** A random model whose keys start with one of {@code prefixes}. */
    static MoeModel random(Gen gen, List<String> prefixes) {
        int experts = gen.chance(0.7) ? gen.upTo(1, 12) : gen.between(1, 12);
        long hidden = gen.chance(0.7) ? gen.upTo(1, 40) : gen.between(1, 40);
        long inter = gen.chance(0.7) ? gen.upTo(1, 40) : gen.between(1, 40);
        // Nemotron-H's ReLU² experts are never gated; the other namings come both ways.
        ExpertNaming naming = gen.oneOf(ExpertNaming.DEFAULT, ExpertNaming.MIXTRAL, ExpertNaming.NEMOTRON_H,
                ExpertNaming.DEFAULT.withSegment("feed_forward.experts"));
        boolean gated = naming != ExpertNaming.NEMOTRON_H && gen.chance(0.7);
        return new MoeModel(new MoeConfig(experts, hidden, inter, gated), naming, gen.oneOf(PREFIXES),
                gen.between(1, 3), gen.oneOf(DTYPES));
    }

    MoeStateDictAdapter adapter() {
        return new MoeStateDictAdapter(config, naming);
    }

    int experts() {
        return config.numExperts();
    }

    long hidden() {
        return config.hidden();
    }

    long inter() {
        return config.intermediate();
    }

    String layer(int l) {
        return prefix + "layers." + l + ".";
    }

    /** The per-expert HF state dict: every expert of every layer, among non-expert tensors, in a random order. */
    Map<String, Tensor> hf(Gen gen) {
        List<Map.Entry<String, Tensor>> entries = new ArrayList<>(nonExpert(gen).entrySet());
        List<Projection> projections = config.gated()
                ? List.of(Projection.GATE, Projection.UP, Projection.DOWN) : List.of(Projection.UP, Projection.DOWN);
        for (int l = 0; l < layers; l++) {
            for (int e = 0; e < experts(); e++) {
                for (Projection p : projections) {
                    long[] shape = p == Projection.DOWN ? new long[] {hidden(), inter()} : new long[] {inter(), hidden()};
                    entries.add(Map.entry(naming.perExpertKey(prefix, l, e, p), random(gen, dtype, shape)));
                }
            }
        }
        return shuffled(gen, entries);
    }

    /**
     * A grouped state dict of the experts of {@code range}: {@code gate_and_up_projs} [E_r, H, 2I] (non-gated
     * [E_r, H, I]) and {@code down_projs} [E_r, I, H] per layer, among non-expert tensors, in a random order.
     */
    Map<String, Tensor> grouped(Gen gen, ExpertRange range) {
        List<Map.Entry<String, Tensor>> entries = new ArrayList<>(nonExpert(gen).entrySet());
        for (int l = 0; l < layers; l++) {
            entries.add(Map.entry(layer(l) + naming.segment() + ".gate_and_up_projs",
                    random(gen, dtype, range.count(), hidden(), config.gateUpWidth())));
            entries.add(Map.entry(layer(l) + naming.segment() + ".down_projs",
                    random(gen, dtype, range.count(), inter(), hidden())));
        }
        return shuffled(gen, entries);
    }

    /**
     * Tensors a conversion passes through, some named much like expert weights: the router, shared experts, norms,
     * embeddings, in dtypes of their own.
     */
    Map<String, Tensor> nonExpert(Gen gen) {
        Map<String, Tensor> m = new LinkedHashMap<>();
        if (gen.chance(0.5)) {
            m.put(prefix + "embed_tokens.weight", random(gen, gen.oneOf(DTYPES), gen.between(1, 5), hidden()));
        }
        if (gen.chance(0.3)) {
            m.put("lm_head.weight", random(gen, gen.oneOf(DTYPES), gen.between(1, 5), hidden()));
        }
        String owner = naming.segment().substring(0, naming.segment().lastIndexOf('.') + 1);
        for (int l = 0; l < layers; l++) {
            m.put(layer(l) + "input_layernorm.weight", random(gen, gen.oneOf(DTYPES), hidden()));
            if (gen.chance(0.7)) {
                m.put(layer(l) + owner + "gate.weight", random(gen, gen.oneOf(DTYPES), experts(), hidden()));
            }
            if (gen.chance(0.3)) {
                m.put(layer(l) + owner + "gate.e_score_correction_bias", random(gen, DType.F32, experts()));
            }
            if (gen.chance(0.3)) {
                String shared = layer(l) + owner + "shared_experts.";
                m.put(shared + naming.up() + ".weight", random(gen, dtype, inter(), hidden()));
                m.put(shared + naming.down() + ".weight", random(gen, dtype, hidden(), inter()));
            }
        }
        if (gen.chance(0.5)) {
            m.put(prefix + "norm.weight", random(gen, gen.oneOf(DTYPES), hidden()));
        }
        return m;
    }

    /** A contiguous tensor of random bytes. */
    static Tensor random(Gen gen, DType dtype, long... shape) {
        Tensor t = Tensor.allocate(dtype, shape);
        byte[] bytes = new byte[(int) t.byteSize()];
        gen.nextBytes(bytes);
        MemorySegment.copy(MemorySegment.ofArray(bytes), 0, t.segment(), 0, bytes.length);
        return t;
    }

    static Map<String, Tensor> shuffled(Gen gen, List<Map.Entry<String, Tensor>> entries) {
        for (int i = entries.size() - 1; i > 0; i--) {
            Collections.swap(entries, i, gen.between(0, i));
        }
        Map<String, Tensor> m = new LinkedHashMap<>();
        entries.forEach(e -> m.put(e.getKey(), e.getValue()));
        return m;
    }

    @Override
    public String toString() {
        return "E " + experts() + ", H " + hidden() + ", I " + inter() + (config.gated() ? ", gated" : ", not gated")
                + ", " + naming.segment() + " (" + naming.gate() + "/" + naming.up() + "/" + naming.down() + "), prefix '"
                + prefix + "', " + layers + " layer(s), " + dtype;
    }
}
