package dev.moeshard.cli;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.moeshard.moe.ExpertNaming;
import dev.moeshard.moe.GroupedLayout;
import dev.moeshard.moe.GroupedLayoutDetection;
import dev.moeshard.moe.family.ModelFamily;
import dev.moeshard.moe.parallel.ExpertRange;
import dev.moeshard.safetensors.Checkpoint;
import dev.moeshard.safetensors.TensorEntry;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.LinkedHashMap;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/**
 * {@code moeshard inspect INPUT [--json]}: what a checkpoint holds and whether it can be converted, from its headers,
 * index and config.json only; no tensor data is read.
 */
@Command(name = "inspect", mixinStandardHelpOptions = true,
        description = "Shows a checkpoint's family, layout, layers, experts, projections, dtypes, bytes and coverage "
                + "problems, from headers only. Exit 0 when it is complete, 3 when not.")
final class InspectCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "INPUT",
            description = "A checkpoint directory (with an index or *.safetensors files) or one .safetensors file.")
    Path input;

    @Option(names = "--json", description = "Print the report as JSON.")
    boolean json;

    @Mixin
    VerboseOption verbose;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws JsonProcessingException {
        InspectReport report;
        try (ModelInput in = ModelInput.open(input)) {
            report = inspect(in);
        }
        PrintWriter out = spec.commandLine().getOut();
        if (json) {
            out.println(new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValueAsString(report));
        } else {
            printText(report, out);
        }
        out.flush();
        return report.valid() ? ExitCode.OK : ExitCode.INVALID_INPUT;
    }

    static InspectReport inspect(ModelInput in) {
        Checkpoint checkpoint = in.checkpoint();
        ExpertSurvey survey = new ExpertSurvey(checkpoint, in.model());
        ExpertNaming naming = in.model().family().naming();
        Map<String, Integer> dtypes = new TreeMap<>();
        long bytes = 0;
        for (String key : checkpoint.keys()) {
            TensorEntry e = checkpoint.entry(key);
            dtypes.merge(e.dtype().name(), 1, Integer::sum);
            bytes += e.byteSize();
        }
        List<String> layers = new ArrayList<>();
        Map<String, List<Integer>> missing = new LinkedHashMap<>();
        for (ExpertSurvey.Layer layer : survey.layers()) {
            String name = layer.prefix() + "layers." + layer.layer();
            layers.add(name);
            List<Integer> absent = survey.absentExperts(layer);
            if (!absent.isEmpty()) {
                missing.put(name, absent);
            }
        }
        int experts = in.model().config().numExperts();
        List<String> problems = new ArrayList<>(survey.problems(ExpertRange.all(experts), null));
        String layout = layoutOf(in, survey, problems);
        problems.addAll(QuantizationCheck.problems(checkpoint));
        return new InspectReport(checkpoint.path().toString(),
                checkpoint.files().stream().map(p -> p.getFileName().toString()).toList(),
                in.model().family().modelType(), in.detectedFrom(), layout,
                experts, in.model().config().hidden(), in.model().config().intermediate(), in.model().config().gated(),
                layers, survey.projections().stream().map(naming::name).toList(), missing, dtypes,
                checkpoint.keys().size(), survey.expertTensorCount(), bytes, problems,
                QuantizedGroup.of(checkpoint));
    }

    /**
     * per-expert, gpt-oss grouped, or the grouped layout the names, shapes, config.json and moeshard.json tell
     * ({@link GroupedLayoutDetection}); an ambiguity is reported as a problem.
     */
    private static String layoutOf(ModelInput in, ExpertSurvey survey, List<String> problems) {
        if (!survey.layers().isEmpty()) {
            return "per-expert";
        }
        if (in.model().family().layout() == ModelFamily.Layout.GPT_OSS_GROUPED) {
            return "gpt-oss grouped";
        }
        Checkpoint checkpoint = in.checkpoint();
        Map<String, long[]> shapes = new LinkedHashMap<>();
        checkpoint.keys().forEach(k -> shapes.put(k, checkpoint.entry(k).shape()));
        GroupedLayout recorded = GroupedRanks.readManifest(checkpoint.path()).map(GroupedRanks::recordedLayout).orElse(null);
        try {
            return GroupedLayoutDetection.detect(shapes, in.model().family().naming(),
                            in.configFile().isPresent() ? in.model().config() : null, recorded)
                    .map(l -> l == GroupedLayout.HF_V5 ? "hf-v5 (transformers v5 fused)" : l.cliName())
                    .orElse("unknown");
        } catch (IllegalArgumentException e) {
            problems.add(e.getMessage());
            return "ambiguous";
        }
    }

    private static void printText(InspectReport r, PrintWriter out) {
        out.printf("input:       %s (%d file%s)%n", r.input(), r.files().size(), r.files().size() == 1 ? "" : "s");
        out.printf("family:      %s (from %s)%n", r.family(), r.detectedFrom());
        out.printf("layout:      %s%n", r.layout());
        out.printf("experts:     %d per layer, %s, H=%d I=%d%n", r.numExperts(), r.gated() ? "gated" : "not gated",
                r.hidden(), r.intermediate());
        out.printf("layers:      %d with experts %s%n", r.expertLayers().size(), r.expertLayers());
        out.printf("projections: %s%n", String.join(", ", r.projections()));
        out.printf("dtypes:      %s%n", r.dtypes());
        out.printf("tensors:     %d (%d per-expert), %d bytes%n", r.tensors(), r.expertTensors(), r.totalBytes());
        r.missingExperts().forEach((layer, ids) -> out.printf("missing:     %s experts %s%n", layer, ids));
        r.quantization().forEach(q -> out.printf("quantized:   %s: %s, blocks of %s, %d tensors, %d bytes%n", q.group(),
                q.format(), q.blockSize(), q.tensors(), q.bytes()));
        if (r.valid()) {
            out.println("problems:    none");
        } else {
            out.printf("problems:    %d%n", r.problems().size());
            r.problems().forEach(p -> out.println("  " + p));
        }
    }
}
