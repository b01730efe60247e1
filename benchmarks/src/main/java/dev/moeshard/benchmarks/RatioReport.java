package dev.moeshard.benchmarks;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * Turns JMH JSON results into ratios to memcpy and compares them with a baseline. Times travel badly between
 * machines and between minutes of a shared one; the ratio of a benchmark to the memcpy of the same bytes, measured in
 * the same run, travels much better, so that is what the baseline holds.
 *
 * <p>Each non-memcpy result is paired with the {@code memcpy} result of its class whose parameters it shares (the
 * memcpy takes no engine parameter, so it has fewer). Given several result files (repeated runs), a comparison keeps
 * each benchmark's best ratio (a regression must show in every run), and {@code --update-baseline} keeps the worst
 * (so noise on a busy machine does not set the bar too high).
 *
 * <pre>
 * RatioReport [--update-baseline] [--tolerance 0.15] BASELINE.json RESULTS.json...
 * </pre>
 * Exit status: 0 when no ratio falls more than the tolerance below its baseline, 1 when one does, 2 on bad usage.
 */
public final class RatioReport {
    private static final ObjectMapper JSON = new ObjectMapper();

    private RatioReport() {}

    /** One benchmark's time and its memcpy's, from one run. */
    record Ratio(String key, double score, double memcpy, String unit, double ratio) {}

    public static void main(String[] args) throws IOException {
        boolean update = false;
        double tolerance = 0.15;
        List<Path> paths = new ArrayList<>();
        for (int k = 0; k < args.length; k++) {
            switch (args[k]) {
                case "--update-baseline" -> update = true;
                case "--tolerance" -> tolerance = Double.parseDouble(args[++k]);
                default -> paths.add(Path.of(args[k]));
            }
        }
        if (paths.size() < 2) {
            System.err.println("usage: RatioReport [--update-baseline] [--tolerance 0.15] BASELINE.json RESULTS.json...");
            System.exit(2);
        }
        Path baselinePath = paths.removeFirst();
        Map<String, Ratio> ratios = new TreeMap<>();
        for (Path results : paths) {
            for (Ratio r : ratios(JSON.readTree(results.toFile()))) {
                Ratio kept = ratios.get(r.key());
                boolean better = kept == null || (update ? r.ratio() < kept.ratio() : r.ratio() > kept.ratio());
                if (better) {
                    ratios.put(r.key(), r);
                }
            }
        }
        if (update) {
            writeBaseline(baselinePath, ratios);
            print(ratios, Map.of(), tolerance);
            System.out.println("baseline written to " + baselinePath + " (" + ratios.size() + " ratios, each the lowest"
                    + " across " + paths.size() + " result file(s))");
            return;
        }
        Map<String, Double> baseline = readBaseline(baselinePath);
        int regressions = print(ratios, baseline, tolerance);
        for (String key : baseline.keySet()) {
            if (!ratios.containsKey(key)) {
                System.out.println("not run: " + key);
            }
        }
        if (regressions > 0) {
            System.out.printf(Locale.ROOT, "%d ratio(s) fell more than %.0f%% below the baseline%n", regressions,
                    tolerance * 100);
            System.exit(1);
        }
        System.out.printf(Locale.ROOT, "all ratios within %.0f%% of the baseline or above it%n", tolerance * 100);
    }

    static List<Ratio> ratios(JsonNode results) {
        List<JsonNode> memcpys = new ArrayList<>();
        for (JsonNode r : results) {
            if (method(r).equals("memcpy")) {
                memcpys.add(r);
            }
        }
        List<Ratio> out = new ArrayList<>();
        for (JsonNode r : results) {
            if (method(r).equals("memcpy")) {
                continue;
            }
            JsonNode memcpy = memcpys.stream().filter(m -> pairs(m, r)).findFirst().orElse(null);
            if (memcpy == null) {
                System.err.println("no memcpy in the same run for " + key(r) + ": left out");
                continue;
            }
            double score = r.path("primaryMetric").path("score").asDouble();
            double base = memcpy.path("primaryMetric").path("score").asDouble();
            String unit = r.path("primaryMetric").path("scoreUnit").asText();
            // Time per operation: memcpy time over benchmark time. Operations per time: the other way round.
            double ratio = r.path("mode").asText().equals("thrpt") ? score / base : base / score;
            out.add(new Ratio(key(r), score, base, unit, ratio));
        }
        return out;
    }

    private static boolean pairs(JsonNode memcpy, JsonNode r) {
        if (!className(memcpy).equals(className(r))) {
            return false;
        }
        for (Iterator<Map.Entry<String, JsonNode>> it = memcpy.path("params").fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> p = it.next();
            if (!p.getValue().asText().equals(r.path("params").path(p.getKey()).asText(null))) {
                return false;
            }
        }
        return true;
    }

    private static String className(JsonNode r) {
        String b = r.path("benchmark").asText();
        return b.substring(0, b.lastIndexOf('.'));
    }

    private static String method(JsonNode r) {
        String b = r.path("benchmark").asText();
        return b.substring(b.lastIndexOf('.') + 1);
    }

    /** {@code Class.method k=v ...} with the parameters in name order, the package left out. */
    static String key(JsonNode r) {
        String b = r.path("benchmark").asText();
        String shortName = b.substring(b.lastIndexOf('.', b.lastIndexOf('.') - 1) + 1);
        StringBuilder key = new StringBuilder(shortName);
        Map<String, String> params = new TreeMap<>();
        r.path("params").fields().forEachRemaining(p -> params.put(p.getKey(), p.getValue().asText()));
        params.forEach((k, v) -> key.append(' ').append(k).append('=').append(v));
        return key.toString();
    }

    /**
     * A view moves no bytes, so its "ratio" is bookkeeping time against bandwidth: it is printed, to show that it is
     * tiny and does not grow with the tensor, but never compared.
     */
    static boolean gated(String key) {
        return !key.contains("Views");
    }

    private static int print(Map<String, Ratio> ratios, Map<String, Double> baseline, double tolerance) {
        int width = ratios.keySet().stream().mapToInt(String::length).max().orElse(9);
        System.out.printf(Locale.ROOT, "%-" + width + "s %14s %14s %8s %9s %8s  %s%n", "benchmark", "time", "memcpy",
                "ratio", "baseline", "change", "");
        int regressions = 0;
        for (Ratio r : ratios.values()) {
            Double b = baseline.get(r.key());
            String verdict;
            String base = "-";
            String change = "-";
            if (!gated(r.key())) {
                verdict = "(no bytes moved; not compared)";
            } else if (b == null) {
                verdict = baseline.isEmpty() ? "" : "new";
            } else {
                base = String.format(Locale.ROOT, "%.4g", b);
                change = String.format(Locale.ROOT, "%+.1f%%", (r.ratio() / b - 1) * 100);
                if (r.ratio() < b * (1 - tolerance)) {
                    verdict = "REGRESSION";
                    regressions++;
                } else {
                    verdict = "ok";
                }
            }
            System.out.printf(Locale.ROOT, "%-" + width + "s %14s %14s %8.4g %9s %8s  %s%n", r.key(),
                    time(r.score(), r.unit()), time(r.memcpy(), r.unit()), r.ratio(), base, change, verdict);
        }
        return regressions;
    }

    private static String time(double score, String unit) {
        return String.format(Locale.ROOT, "%.1f %s", score, unit);
    }

    private static Map<String, Double> readBaseline(Path path) throws IOException {
        Map<String, Double> out = new TreeMap<>();
        if (!Files.exists(path)) {
            System.out.println("no baseline at " + path + ": nothing to compare against (run with --update-baseline)");
            return out;
        }
        JSON.readTree(path.toFile()).path("ratios").fields()
                .forEachRemaining(e -> out.put(e.getKey(), e.getValue().asDouble()));
        return out;
    }

    private static void writeBaseline(Path path, Map<String, Ratio> ratios) throws IOException {
        ObjectNode root = JSON.createObjectNode();
        root.put("about", "ratio of each benchmark to a memcpy of the same bytes in the same JMH run (higher is "
                + "faster), each the lowest across the runs of benchmarks/compare.sh --update-baseline; see "
                + "benchmarks/RESULTS.md");
        ObjectNode values = root.putObject("ratios");
        for (Ratio r : ratios.values()) {
            if (gated(r.key())) {
                // Four significant digits: some ratios (a write through the file system) are far below 0.001.
                values.put(r.key(), new java.math.BigDecimal(r.ratio()).round(new java.math.MathContext(4)).doubleValue());
            }
        }
        JSON.writerWithDefaultPrettyPrinter().writeValue(path.toFile(), root);
    }
}
