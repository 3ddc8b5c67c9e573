package org.tasft.train;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.tasft.data.Batch;
import org.tasft.benchmark.BenchmarkSettings;
import org.tasft.benchmark.BenchmarkSetup;
import org.tasft.loss.EmdLoss;
import org.tasft.model.CausalLm;
import org.tasft.model.ModelConfig;
import org.tasft.model.Models;

/**
 * Time of one optimizer step of SFT vs TA-SFT (emd) on the same batch, on the default job's model (random weights):
 * what the trainer does per step (zero grads, the objective's forward + backward, clipping, AdamW). After a warm-up,
 * the two methods alternate (A B B A ...) so that load changes on a shared machine hit both alike; medians are
 * reported. Run by {@code bench/run-train-step.sh}; not a JUnit test.
 *
 * <p>Arguments (all optional): {@code rounds warmup batch harmful seq threads} (default 40 10 16 2 128, threads:
 * LibTorch's default); {@code threads} sets LibTorch's and the kernel's CPU threads.
 */
public final class TrainStepBenchmark {
    private TrainStepBenchmark() {
    }

    private static final class Runner {
        final String method;
        final CausalLm model;
        final Objective objective;
        final JavaAdamW optimizer;
        final List<Double> step = new ArrayList<>();
        final List<Double> forwardBackward = new ArrayList<>();
        final List<Double> clip = new ArrayList<>();
        final List<Double> adamw = new ArrayList<>();

        Runner(String method, ModelConfig config) {
            this.method = method;
            this.model = Models.create(config, 1);
            model.module().train(true);
            this.objective = Method.parse(method).objective(Objectives.Options.defaults().lambda(0.5)
                    .reduction(EmdLoss.Reduction.SEQUENCE));
            Map<String, Tensor> params = new LinkedHashMap<>(model.stateDict());
            this.optimizer = new JavaAdamW(params, 0.0);
        }

        void step(Batch batch, boolean record) {
            try (PointerScope scope = new PointerScope()) {
                long t0 = System.nanoTime();
                optimizer.zeroGrad();
                long t1 = System.nanoTime();
                objective.step(model, batch);
                long t2 = System.nanoTime();
                Gradients.clipGradNorm(optimizer.params().values(), 1.0);
                long t3 = System.nanoTime();
                optimizer.step(1e-4);
                long t4 = System.nanoTime();
                if (record) {
                    step.add((t4 - t0) / 1e9);
                    forwardBackward.add((t2 - t1) / 1e9);
                    clip.add((t3 - t2) / 1e9);
                    adamw.add((t4 - t3) / 1e9);
                }
            }
        }
    }

    /** B sequences of T tokens: the first T/4 are prompt (no label), the last {@code harmful} rows harmful. */
    static Batch batch(int b, int t, int harmful, long vocab) {
        torch.manual_seed(5);
        TensorOptions i64 = new TensorOptions(ScalarType.Long);
        Tensor ids = torch.randint(3, vocab, new long[] {b, t}, i64);
        Tensor labels = ids.clone();
        labels.narrow(1, 0, t / 4).fill_(new Scalar(Batch.IGNORE_INDEX));
        Tensor mask = torch.ones(new long[] {b, t}, i64);
        boolean[] flags = new boolean[b];
        for (int i = b - harmful; i < b; i++) {
            flags[i] = true;   // safe first, then harmful: as the sampler and collator order a batch
        }
        return new Batch(ids, labels, mask, flags);
    }

    static double median(List<Double> xs) {
        double[] a = xs.stream().mapToDouble(Double::doubleValue).toArray();
        Arrays.sort(a);
        return a.length % 2 == 1 ? a[a.length / 2] : (a[a.length / 2 - 1] + a[a.length / 2]) / 2;
    }

    public static void main(String[] args) {
        int rounds = args.length > 0 ? Integer.parseInt(args[0]) : 40;
        int warmup = args.length > 1 ? Integer.parseInt(args[1]) : 10;
        int b = args.length > 2 ? Integer.parseInt(args[2]) : 16;
        int harmful = args.length > 3 ? Integer.parseInt(args[3]) : 2;
        int t = args.length > 4 ? Integer.parseInt(args[4]) : 128;
        if (args.length > 5) {
            int threads = Integer.parseInt(args[5]);
            torch.set_num_threads(threads);
            org.tasft.kernel.EmdKernel.setNumThreads(threads);
        }
        BenchmarkSettings s = BenchmarkSettings.defaults();
        ModelConfig config = ModelConfig.parse(BenchmarkSetup.modelConfigJson(s, 512));
        Batch batch = batch(b, t, harmful, config.vocabSize());
        long tokens = (long) b * t;
        Runner sft = new Runner("sft", config);
        Runner emd = new Runner("emd", config);
        System.out.printf(Locale.ROOT, "model: Llama hidden %d, %d layers, %d heads (%d kv), intermediate %d, vocab %d;"
                + " batch %d x %d tokens, %d harmful; threads: torch %d, kernel %d; %d warm-up + %d timed rounds%n",
                s.hidden(), s.layers(), s.heads(), s.kvHeads(), s.intermediate(), config.vocabSize(), b, t, harmful,
                torch.get_num_threads(), org.tasft.kernel.EmdKernel.numThreads(), warmup, rounds);
        for (int i = 0; i < warmup; i++) {
            sft.step(batch, false);
            emd.step(batch, false);
        }
        List<Double> ratios = new ArrayList<>();
        for (int i = 0; i < rounds; i++) {
            Runner first = i % 2 == 0 ? sft : emd;
            Runner second = i % 2 == 0 ? emd : sft;
            first.step(batch, true);
            second.step(batch, true);
            ratios.add(emd.step.get(i) / sft.step.get(i));
        }
        double ms = median(sft.step), me = median(emd.step);
        double fs = median(sft.forwardBackward), fe = median(emd.forwardBackward);
        for (Runner r : List.of(sft, emd)) {
            double m = median(r.step);
            System.out.printf(Locale.ROOT, "%-4s step median %7.2f ms (%8.0f tokens/s): forward+backward %7.2f ms, "
                    + "clipping %6.2f ms, AdamW %6.2f ms%n", r.method, m * 1e3, tokens / m,
                    median(r.forwardBackward) * 1e3, median(r.clip) * 1e3, median(r.adamw) * 1e3);
        }
        System.out.printf(Locale.ROOT, "emd / sft: step %.3f (median of per-round ratios %.3f), forward+backward "
                + "%.3f%n", me / ms, median(ratios), fe / fs);
    }
}
