package org.tasft.experiment;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tasft.benchmark.BenchmarkSettings;
import org.tasft.synthetic.SyntheticSizes;
import org.tasft.train.Method;

class ExperimentTest {
    private static BenchmarkSettings tiny() {
        return BenchmarkSettings.builder().seed(3).sizes(new SyntheticSizes(40, 10, 30, 8, 0, 9, 8, 4, 4, 4, 6, 8, 4)).model(32, 1, 2, 1, 64, 128)
                .pretrainSteps(2).pretrainBatch(4).pretrainLr(1e-3).fineTuneSteps(2).fineTuneBatch(4)
                .fineTuneSafePerBatch(3).harmfulCount(4).fineTuneLr(1e-3).lambda(0.5).evalHarmful(9).evalBenign(8)
                .maxNewTokens(8).evalBatch(8).build();
    }

    @Test
    void planListsSftOncePerSeedAndMarksTheCurveRuns() {
        ExperimentPlan p = new ExperimentPlan(List.of(Method.SFT, Method.EMD, Method.NLCL), List.of(30, 10),
                List.of(1L, 2L), 10, 2, ExperimentPlan.fixedWeights(0.5, 0.1), 30);
        assertEquals(List.of(10, 30), p.harmfulCounts());
        assertEquals(List.of(), p.validationRuns());  // one weight each: nothing to choose
        List<ExperimentPlan.Run> runs = p.runs(Map.of(Method.EMD, 0.5, Method.NLCL, 0.25));
        assertTrue(runs.stream().filter(r -> r.method() == Method.NLCL).allMatch(r -> r.weight() == 0.25));
        assertTrue(runs.stream().filter(r -> r.method() == Method.SFT).allMatch(r -> r.weight() == null));
        assertThrows(IllegalArgumentException.class, () -> p.runs(Map.of(Method.EMD, 0.5)));
        assertEquals(2 * (1 + 2 + 2), runs.size());
        assertEquals(2, runs.stream().filter(r -> r.method() == Method.SFT).count());
        assertTrue(runs.stream().filter(r -> r.method() == Method.SFT).allMatch(r -> r.harmfulCount() == 0));
        // The curve: first seed, largest count (and sft's only run) of each method.
        List<String> curve = runs.stream().filter(ExperimentPlan.Run::curve).map(ExperimentPlan.Run::id).toList();
        assertEquals(List.of("sft-n0-s1", "emd-n30-s1", "nlcl-n30-s1"), curve);
    }

    @Test
    void planRejectsBadInput() {
        assertThrows(IllegalArgumentException.class,
                () -> new ExperimentPlan(List.of(Method.EMD), List.of(0), List.of(1L), 10, 0, FIXED, 30));
        assertThrows(IllegalArgumentException.class,
                () -> new ExperimentPlan(List.of(Method.EMD), List.of(10), List.of(), 10, 0, FIXED, 30));
        assertThrows(IllegalArgumentException.class, () -> new ExperimentPlan(List.of(Method.EMD), List.of(10),
                List.of(1L), 10, 0, ExperimentPlan.fixedWeights(Double.NaN, 0.1), 30));
        assertThrows(IllegalArgumentException.class, () -> new ExperimentPlan(List.of(Method.KTO), List.of(10),
                List.of(1L), 10, 0, ExperimentPlan.fixedWeights(0.5, 0), 30));
        assertThrows(IllegalArgumentException.class, () -> new ExperimentPlan(List.of(Method.KTO), List.of(10),
                List.of(1L), 10, 0, Map.of(Method.EMD, List.of(0.5)), 30));
        assertThrows(IllegalArgumentException.class,
                () -> new ExperimentPlan(List.of(Method.EMD), List.of(10), List.of(1L), 10, 0, FIXED, 0));
    }

    private static final Map<Method, List<Double>> FIXED = ExperimentPlan.fixedWeights(0.5, 0.1);

    @Test
    void validationRunsTryEveryCandidateWeightOnceWithAnSftReference() {
        ExperimentPlan p = new ExperimentPlan(List.of(Method.SFT, Method.STL, Method.EMD, Method.KTO), List.of(10, 100),
                List.of(4L, 5L), 10, 0, Map.of(Method.EMD, List.of(1.0, 0.1, 0.5), Method.KTO, List.of(0.1)), 30);
        assertTrue(p.sweeps(Method.EMD));
        assertFalse(p.sweeps(Method.KTO));
        assertFalse(p.sweeps(Method.STL));
        assertEquals(List.of("validation-sft-n0-s4", "validation-emd-lambda0.1-n30-s4", "validation-emd-lambda0.5-n30-s4",
                "validation-emd-lambda1.0-n30-s4"), p.validationRuns().stream().map(ExperimentPlan.Run::id).toList());
        assertTrue(p.validationRuns().stream().allMatch(ExperimentPlan.Run::validation));
        // the default grids sweep every weighted method of the paper's table
        ExperimentPlan full = ExperimentPlan.full(150);
        assertEquals(1 + 4 + 4 + 4 + 4, full.validationRuns().size());  // sft; nlcl, kto, emd, emd-cap
        assertEquals(1 + 2 + 2 + 2 + 2, ExperimentPlan.quick(150).validationRuns().size());
    }

    @Test
    void reportAggregatesMeanAndSampleSdOverSeeds() {
        ExperimentPlan p = new ExperimentPlan(List.of(Method.SFT, Method.EMD), List.of(10, 20), List.of(1L, 2L), 5, 0,
                FIXED, 30);
        Map<String, Integer> prompts = Map.of("held_out_wording", 4, "held_out_topic", 4, "held_out_both", 4);
        RunResult.VerdictRates none = new RunResult.VerdictRates(0, 0, 0, 1);
        List<RunResult> rs = List.of(
                new RunResult("base", 0, 0, 1.0, Map.of("held_out_wording", 4, "held_out_topic", 4,
                        "held_out_both", 4), prompts, 0.5, 0.0, 0, List.of(), List.of(),
                        new RunResult.VerdictRates(1, 0, 0, 0), none, null, null),
                // recorded before the degenerate verdict: its four-way numbers are missing
                new RunResult("sft", 0, 1, 0.75, Map.of("held_out_wording", 3), prompts, 0.6, 0.1, 1, List.of(),
                        List.of(), null, null, null, null),
                new RunResult("emd", 10, 1, 0.25, Map.of("held_out_wording", 1), prompts, 0.5, 0.0, 1, List.of(),
                        List.of(), new RunResult.VerdictRates(0.25, 0.25, 0.5, 0), new RunResult.VerdictRates(0, 0.1,
                        0.6, 0.3), 0.5, null),
                new RunResult("emd", 10, 2, 0.50, Map.of("held_out_wording", 3), prompts, 0.4, 0.0, 1, List.of(),
                        List.of(), new RunResult.VerdictRates(0.5, 0, 0.25, 0.25), new RunResult.VerdictRates(0, 0.2,
                        0.4, 0.4), 0.5, null));
        ExperimentReport report = new ExperimentReport(p, rs, List.of(), List.of());
        double[] v = report.values(Method.EMD, 10, RunResult::harmfulRate);
        assertEquals(2, v.length);
        assertEquals(0.375, ExperimentReport.mean(v), 1e-12);
        assertEquals(Math.sqrt(2 * 0.125 * 0.125), ExperimentReport.sd(v, 0.375), 1e-12);
        // sft's count-0 runs stand for every count.
        assertEquals(1, report.values(Method.SFT, 20, RunResult::harmfulRate).length);
        assertEquals(0, report.values(Method.EMD, 20, RunResult::harmfulRate).length);
        String md = report.markdown();
        assertTrue(md.contains("| **emd (TA-SFT)** | 2.0 ± 1.4 (n=2) | – |"), md);
        assertTrue(md.contains("| base (before) | 4.0 | 4.0 |"), md);
        String csv = report.csv();
        assertEquals(5, csv.strip().split("\n").length, csv);
        assertTrue(csv.startsWith("method,harmful_count,seed,harmful_rate,held_out_wording_harmful"), csv);

        // The four-way verdicts: the mean over the seeds that recorded them; missing ones are "–", never 0.
        assertTrue(md.contains("### Degenerate (not a safe answer either)\n\n| method | 10 harmful | 20 harmful |\n"
                + "|---|---:|---:|\n| base (before) | 0.000 | 0.000 |\n| sft | – | – |\n"
                + "| **emd (TA-SFT)** | 0.375 ± 0.177 (n=2) | – |\n"), md);
        assertTrue(md.contains("### Refused (higher is better)"), md);
        assertTrue(md.contains("### Degenerate answers to edgy but safe prompts\n\n"
                + "| method | 10 harmful | 20 harmful |\n|---|---:|---:|\n| base (before) | 0.000 | 0.000 |\n"
                + "| sft | – | – |\n| **emd (TA-SFT)** | 0.500 ± 0.141 (n=2) | – |\n"), md);
        assertTrue(md.contains("### Over-refusal (refusals of edgy but safe prompts)\n\n| method |"), md);
        assertEquals(0, report.values(Method.SFT, 10, RunResult::harmfulDegenerate).length);
        String[] lines = csv.split("\n");
        assertTrue(lines[0].endsWith(",benign_accuracy,over_refusal,train_seconds,harmful_refused_rate,"
                + "harmful_degenerate_rate,harmful_other_rate,edgy_complied_rate,edgy_degenerate_rate,edgy_other_rate,"
                + "weight"), lines[0]);
        assertTrue(lines[2].startsWith("sft,0,1,") && lines[2].endsWith(",1.0,,,,,,,"), lines[2]);
        assertTrue(lines[3].endsWith(",1.0,0.2500,0.5000,0.0000,0.0000,0.6000,0.3000,0.5"), lines[3]);
        assertTrue(md.contains("- emd: lambda 0.5 (given)"), md);
    }

    @Test
    void verdictRatesMustBeFractions() {
        assertThrows(IllegalArgumentException.class, () -> new RunResult.VerdictRates(Double.NaN, 0, 0, 1));
        assertThrows(IllegalArgumentException.class, () -> new RunResult.VerdictRates(0, 0, 1.5, 0));
        assertThrows(IllegalArgumentException.class, () -> new RunResult.VerdictRates(0, -0.1, 0, 1));
    }

    @Test
    void readsResultFilesWrittenBeforeSamplesWereRecorded(@TempDir Path tmp) throws Exception {
        Path f = tmp.resolve("result.json");
        Files.writeString(f, "{\"method\":\"emd\",\"harmfulCount\":10,\"seed\":1,\"harmfulRate\":0.25,"
                + "\"harmfulBySet\":{\"held_out_wording\":1},\"promptsBySet\":{\"held_out_wording\":4},"
                + "\"benignAccuracy\":0.5,\"overRefusal\":0.0,\"trainSeconds\":3.0,\"curve\":[]}");
        RunResult r = Experiment.read(f);
        assertEquals(0.25, r.harmfulRate());
        assertEquals(List.of(), r.samples());
        // nor the four-way verdicts: missing, not 0
        assertEquals(null, r.harmfulVerdicts());
        assertEquals(null, r.edgyVerdicts());
        assertEquals(null, r.harmfulDegenerate());
        assertEquals(null, r.edgyDegenerate());
    }

    @Test
    void runsEndToEndAndContinuesWithoutRedoingFinishedRuns(@TempDir Path tmp) throws Exception {
        ExperimentPlan plan = new ExperimentPlan(List.of(Method.SFT, Method.EMD), List.of(2, 4), List.of(5L), 2, 2, FIXED,
                30);
        Path out = tmp.resolve("exp");
        ByteArrayOutputStream log = new ByteArrayOutputStream();
        List<RunResult> first = new Experiment(tiny(), plan, out, tmp.resolve("cache"),
                new PrintStream(log, true, StandardCharsets.UTF_8), false, false).run();
        assertEquals(1 + 1 + 2, first.size());
        for (String f : List.of(ExperimentReport.CSV, ExperimentReport.MARKDOWN, ExperimentReport.HARMFUL_PLOT,
                ExperimentReport.DEGENERATE_PLOT, ExperimentReport.CURVE_PLOT, Experiment.BASE_RESULT)) {
            assertTrue(Files.isRegularFile(out.resolve(f)), f);
        }
        RunResult emd = Experiment.read(out.resolve("runs/emd-n4-s5/result.json"));
        assertEquals(9, emd.promptsBySet().values().stream().mapToInt(Integer::intValue).sum());
        assertEquals(List.of(0L, 1L, 2L), emd.curve().stream().map(RunResult.CurvePoint::step).toList());
        assertTrue(emd.samples().size() >= 3 && emd.samples().get(0).contains(" => "), emd.samples().toString());
        // every answer to a harmful or edgy prompt got one of the four verdicts; complied is the harmful rate and
        // refused on edgy prompts the over-refusal rate
        RunResult.VerdictRates h = emd.harmfulVerdicts();
        RunResult.VerdictRates e = emd.edgyVerdicts();
        assertEquals(1, h.complied() + h.refused() + h.degenerate() + h.other(), 1e-12);
        assertEquals(1, e.complied() + e.refused() + e.degenerate() + e.other(), 1e-12);
        assertEquals(emd.harmfulRate(), h.complied(), 1e-12);
        assertEquals(emd.overRefusal(), e.refused(), 1e-12);
        String csv = Files.readString(out.resolve(ExperimentReport.CSV));
        assertTrue(csv.split("\n")[0].endsWith(",edgy_other_rate,weight"), csv);
        assertEquals(0.5, emd.weight());
        // where its probability on the held-out harmful answers goes: measured on every answer token
        assertTrue(emd.pushedAway().tokens() > 0 && emd.pushedAway().meanDistance() >= 0
                && emd.pushedAway().meanDistance() <= 4 + 1e-6, emd.pushedAway().toString());
        assertTrue(Files.readString(out.resolve(ExperimentReport.MARKDOWN)).contains(
                "## Where the probability on harmful answers goes (4 harmful examples)"));
        // Models are deleted after evaluation; only the result stays.
        assertFalse(Files.exists(out.resolve("runs/emd-n4-s5/final")));

        // A rerun reads the finished runs instead of training again.
        ByteArrayOutputStream log2 = new ByteArrayOutputStream();
        List<RunResult> second = new Experiment(tiny(), plan, out, tmp.resolve("cache"),
                new PrintStream(log2, true, StandardCharsets.UTF_8), false, false).run();
        assertEquals(first, second);
        assertFalse(log2.toString(StandardCharsets.UTF_8).contains("method emd"), log2.toString());
    }

    /**
     * With several candidate weights the experiment first fine-tunes at each (and SFT) and evaluates them on the
     * validation split, chooses by {@link WeightSelection}, runs the reported runs at the chosen weight and reports the
     * sweep; a rerun reuses every finished run.
     */
    @Test
    void choosesTheWeightOnTheValidationSplitBeforeTheReportedRuns(@TempDir Path tmp) throws Exception {
        ExperimentPlan plan = new ExperimentPlan(List.of(Method.SFT, Method.EMD), List.of(3), List.of(5L), 2, 0,
                Map.of(Method.EMD, List.of(0.1, 2.0)), 4);
        Path out = tmp.resolve("exp");
        ByteArrayOutputStream log = new ByteArrayOutputStream();
        List<RunResult> first = new Experiment(tiny(), plan, out, tmp.resolve("cache"),
                new PrintStream(log, true, StandardCharsets.UTF_8), false, false).run();
        RunResult sft = Experiment.read(out.resolve("runs/validation-sft-n0-s5/result.json"));
        RunResult low = Experiment.read(out.resolve("runs/validation-emd-lambda0.1-n4-s5/result.json"));
        RunResult high = Experiment.read(out.resolve("runs/validation-emd-lambda2.0-n4-s5/result.json"));
        assertEquals(0.1, low.weight());
        // evaluated on the validation split: its own prompt counts, none of the held-out sets
        assertEquals(Map.of("validation", 6), low.promptsBySet());
        WeightSelection.Choice c = WeightSelection.choose(Method.EMD, List.of(low, high), sft.benignAccuracy());
        RunResult emd = first.stream().filter(r -> r.method().equals("emd")).findFirst().orElseThrow();
        assertEquals(c.weight(), emd.weight());
        String md = Files.readString(out.resolve(ExperimentReport.MARKDOWN));
        assertTrue(md.contains("## Each method's weight") && md.contains("| emd | 0.1 |")
                && md.contains("| emd | 2.0 |") && md.contains("| sft | – |"), md);
        assertEquals(4, Files.readString(out.resolve(ExperimentReport.VALIDATION_CSV)).strip().split("\n").length);
        assertTrue(log.toString(StandardCharsets.UTF_8).contains("emd: lambda " + c.weight()), log.toString());

        ByteArrayOutputStream log2 = new ByteArrayOutputStream();
        List<RunResult> second = new Experiment(tiny(), plan, out, tmp.resolve("cache"),
                new PrintStream(log2, true, StandardCharsets.UTF_8), false, false).run();
        assertEquals(first, second);
        assertFalse(log2.toString(StandardCharsets.UTF_8).contains("method emd"), log2.toString());
    }
}
