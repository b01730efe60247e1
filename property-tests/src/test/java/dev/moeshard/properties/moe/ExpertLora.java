package dev.moeshard.properties.moe;

import dev.moeshard.moe.Projection;
import dev.moeshard.moe.lora.LoraExpertSuffix;
import dev.moeshard.properties.harness.Gen;
import dev.moeshard.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Random expert LoRA adapters of rank r for a {@link MoeModel}, in the grouped layout and in both PEFT layouts,
 * among LoRA tensors of other modules (attention, shared experts, the router) that the conversions pass through.
 */
record ExpertLora(MoeModel model, long rank) {

    /** Where PEFT adapters keep a model's layers. */
    static final List<String> PREFIXES = List.of("base_model.model.model.", "base_model.model.",
            "base_model.model.model.language_model.", "base_model.model.backbone.", "");

    static ExpertLora random(Gen gen) {
        return new ExpertLora(MoeModel.random(gen, PREFIXES), gen.chance(0.7) ? gen.upTo(1, 8) : gen.between(1, 8));
    }

    private String segment(int layer) {
        return model.layer(layer) + model.naming().segment() + ".";
    }

    /**
     * Grouped: {@code lora_gate_and_up_A} [E, H, r], {@code lora_gate_and_up_B} [E, r, 2I] (non-gated [E, r, I]),
     * {@code lora_down_A} [E, I, r], {@code lora_down_B} [E, r, H] per layer.
     */
    Map<String, Tensor> grouped(Gen gen) {
        List<Map.Entry<String, Tensor>> entries = others(gen);
        long e = model.experts();
        for (int l = 0; l < model.layers(); l++) {
            String s = segment(l);
            entries.add(entry(gen, s + LoraExpertSuffix.GATE_AND_UP_A.suffix(), e, model.hidden(), rank));
            entries.add(entry(gen, s + LoraExpertSuffix.GATE_AND_UP_B.suffix(), e, rank, model.config().gateUpWidth()));
            entries.add(entry(gen, s + LoraExpertSuffix.DOWN_A.suffix(), e, model.inter(), rank));
            entries.add(entry(gen, s + LoraExpertSuffix.DOWN_B.suffix(), e, rank, model.hidden()));
        }
        return MoeModel.shuffled(gen, entries);
    }

    /**
     * PEFT per expert (v4), nn.Linear orientation: {@code {e}.{gate,up}.lora_A} [r, H] (gate's and up's the same
     * tensor, as PEFT saves a shared A), {@code {e}.{gate,up}.lora_B} [I, r], {@code {e}.down.lora_A} [r, I],
     * {@code {e}.down.lora_B} [H, r].
     */
    Map<String, Tensor> perExpert(Gen gen) {
        List<Map.Entry<String, Tensor>> entries = others(gen);
        for (int l = 0; l < model.layers(); l++) {
            for (int x = 0; x < model.experts(); x++) {
                String base = segment(l) + x + ".";
                Tensor a = MoeModel.random(gen, model.dtype(), rank, model.hidden());
                if (model.config().gated()) {
                    entries.add(Map.entry(base + model.naming().name(Projection.GATE) + ".lora_A.weight", a));
                    entries.add(Map.entry(base + model.naming().name(Projection.UP) + ".lora_A.weight", a.contiguousCopy()));
                    entries.add(entry(gen, base + model.naming().name(Projection.GATE) + ".lora_B.weight", model.inter(), rank));
                } else {
                    entries.add(Map.entry(base + model.naming().name(Projection.UP) + ".lora_A.weight", a));
                }
                entries.add(entry(gen, base + model.naming().name(Projection.UP) + ".lora_B.weight", model.inter(), rank));
                entries.add(entry(gen, base + model.naming().name(Projection.DOWN) + ".lora_A.weight", rank, model.inter()));
                entries.add(entry(gen, base + model.naming().name(Projection.DOWN) + ".lora_B.weight", model.hidden(), rank));
            }
        }
        return MoeModel.shuffled(gen, entries);
    }

    /**
     * PEFT ParamWrapper (v5), the expert dimension folded into the rank: {@code lora_A} [r·E, H], {@code lora_B}
     * [I, r·E], {@code base_layer.lora_A} [r·E, 2I] (non-gated [r·E, I]), {@code base_layer.lora_B} [H, r·E].
     */
    Map<String, Tensor> paramWrapper(Gen gen) {
        List<Map.Entry<String, Tensor>> entries = others(gen);
        long folded = rank * model.experts();
        for (int l = 0; l < model.layers(); l++) {
            String s = segment(l);
            entries.add(entry(gen, s + "lora_A.weight", folded, model.hidden()));
            entries.add(entry(gen, s + "lora_B.weight", model.inter(), folded));
            entries.add(entry(gen, s + "base_layer.lora_A.weight", folded, model.config().gateUpWidth()));
            entries.add(entry(gen, s + "base_layer.lora_B.weight", model.hidden(), folded));
        }
        return MoeModel.shuffled(gen, entries);
    }

    /** LoRA of modules other than the routed experts, which every conversion passes through untouched. */
    private List<Map.Entry<String, Tensor>> others(Gen gen) {
        List<Map.Entry<String, Tensor>> entries = new ArrayList<>();
        String owner = model.naming().segment().substring(0, model.naming().segment().lastIndexOf('.') + 1);
        for (int l = 0; l < model.layers(); l++) {
            if (gen.chance(0.5)) {
                entries.add(entry(gen, model.layer(l) + "self_attn.q_proj.lora_A.weight", rank, model.hidden()));
                entries.add(entry(gen, model.layer(l) + "self_attn.q_proj.lora_B.weight", model.hidden(), rank));
            }
            if (gen.chance(0.3)) {
                String shared = model.layer(l) + owner + "shared_experts." + model.naming().name(Projection.DOWN);
                entries.add(entry(gen, shared + ".lora_A.weight", rank, model.inter()));
                entries.add(entry(gen, shared + ".lora_B.weight", model.hidden(), rank));
            }
            if (gen.chance(0.2)) {
                entries.add(entry(gen, model.layer(l) + owner + "gate.lora_A.weight", rank, model.hidden()));
            }
        }
        return entries;
    }

    private Map.Entry<String, Tensor> entry(Gen gen, String key, long... shape) {
        return Map.entry(key, MoeModel.random(gen, model.dtype(), shape));
    }

    @Override
    public String toString() {
        return model + ", LoRA rank " + rank;
    }
}
