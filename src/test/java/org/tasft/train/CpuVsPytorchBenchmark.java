package org.tasft.train;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.tasft.data.Batch;
import org.tasft.generate.GenerationOptions;
import org.tasft.generate.Generator;
import org.tasft.loss.EmdLoss;
import org.tasft.model.CausalLm;
import org.tasft.model.Models;
import org.tasft.model.Placement;
import org.tasft.model.Precision;

/**
 * tasft's half of bench/run-cpu-vs-pytorch.sh (bench/cpu/anchor.py is PyTorch's): one measurement per process, so
 * that its peak resident size is its own. Not a JUnit test.
 *
 * <p>{@code train DIR THREADS REPS WARMUP BATCH SEQ METHOD [DTYPE [FUSED_HEAD]]}: optimizer steps (zero grads, the
 * objective's forward + backward, clipping, AdamW) on a fixed random batch (the first quarter of each row is prompt,
 * unlabelled; the last BATCH/8 sequences harmful), the weights in DTYPE (default float32; bfloat16 with float32
 * master weights in AdamW), {@code --fused-head} FUSED_HEAD (default auto). Then REPS forward passes alone (the
 * logits with autograd recording, no loss, no backward), printed as {@code forward SECONDS}: the step's forward +
 * backward minus this is the loss and the backward. The first step's loss is printed ({@code loss VALUE}).
 * {@code generate DIR THREADS REPS WARMUP BATCH NEW DTYPE}: greedy generation of NEW tokens for BATCH prompts of 16
 * tokens, no stop token. Prints one line per timed repetition ({@code rep SECONDS}), the first tokens generated, and
 * the peak resident size (VmHWM).
 */
public final class CpuVsPytorchBenchmark {
    private CpuVsPytorchBenchmark() {
    }

    public static void main(String[] a) throws IOException {
        String mode = a[0];
        Path dir = Path.of(a[1]);
        int threads = Integer.parseInt(a[2]);
        int reps = Integer.parseInt(a[3]);
        int warmup = Integer.parseInt(a[4]);
        int batch = Integer.parseInt(a[5]);
        int length = Integer.parseInt(a[6]);
        torch.set_num_threads(threads);
        org.tasft.kernel.EmdKernel.setNumThreads(threads);
        if (mode.equals("train")) {
            train(dir, reps, warmup, batch, length, a[7], Precision.parse(a.length > 8 ? a[8] : "float32"),
                    FusedHead.parse(a.length > 9 ? a[9] : "auto"));
        } else {
            generate(dir, reps, warmup, batch, length, Precision.parse(a[7]));
        }
        System.out.println("peak_rss_kb " + peakRssKb());
    }

    private static void train(Path dir, int reps, int warmup, int b, int t, String method, Precision precision,
            FusedHead fusedHead) {
        CausalLm model = Models.load(dir, new Placement("cpu", precision));
        model.module().train(true);
        Objective objective = Method.parse(method).objective(Objectives.Options.defaults().lambda(0.5)
                .reduction(EmdLoss.Reduction.SEQUENCE).fusedHead(fusedHead));
        Map<String, Tensor> params = new LinkedHashMap<>(model.stateDict());
        JavaAdamW optimizer = new JavaAdamW(params, 0.0);
        Batch data = TrainStepBenchmark.batch(b, t, Math.max(1, b / 8), model.config().vocabSize());
        for (int i = 0; i < warmup + reps; i++) {
            long t0 = System.nanoTime();
            long t1;
            long t2;
            long t3;
            try (PointerScope scope = new PointerScope()) {
                optimizer.zeroGrad();
                t1 = System.nanoTime();
                StepLoss loss = objective.step(model, data);
                t2 = System.nanoTime();
                if (i == 0) {
                    System.out.printf(Locale.ROOT, "loss %.5f%n", loss.total()); // the anchor's first loss
                }
                Gradients.clipGradNorm(optimizer.params().values(), 1.0);
                t3 = System.nanoTime();
                optimizer.step(1e-4);
            }
            long t4 = System.nanoTime();
            if (i >= warmup) {
                System.out.printf(Locale.ROOT, "rep %.6f%n", (t4 - t0) / 1e9);
                // the step's parts, for the breakdown in bench/RESULTS.md
                System.out.printf(Locale.ROOT, "phases zero %.6f forward+backward %.6f clip %.6f adamw %.6f%n",
                        (t1 - t0) / 1e9, (t2 - t1) / 1e9, (t3 - t2) / 1e9, (t4 - t3) / 1e9);
            }
        }
        // the forward alone, as the anchor times it: which half of forward + backward the gap is in
        for (int i = 0; i < reps; i++) {
            long t0 = System.nanoTime();
            try (PointerScope scope = new PointerScope()) {
                model.forward(data.inputIds(), data.attentionMask(), null);
            }
            System.out.printf(Locale.ROOT, "forward %.6f%n", (System.nanoTime() - t0) / 1e9);
        }
    }

    private static void generate(Path dir, int reps, int warmup, int b, int n, Precision precision) {
        CausalLm model = Models.load(dir, new Placement("cpu", precision));
        Generator generator = new Generator(model);
        List<long[]> prompts = new ArrayList<>();
        long vocab = model.config().vocabSize();
        for (int i = 0; i < b; i++) {
            long[] p = new long[16];
            for (int j = 0; j < p.length; j++) {
                p[j] = 3 + (i * 7919L + j * 104729L) % (vocab - 3); // the anchor's prompts
            }
            prompts.add(p);
        }
        GenerationOptions options = GenerationOptions.defaults().maxNewTokens(n).stopTokens();
        long[] first = null;
        for (int i = 0; i < warmup + reps; i++) {
            long t0 = System.nanoTime();
            List<Generator.Generation> out = generator.generate(prompts, options);
            if (i >= warmup) {
                System.out.printf(Locale.ROOT, "rep %.6f%n", (System.nanoTime() - t0) / 1e9);
            }
            first = out.get(0).tokens();
        }
        StringBuilder s = new StringBuilder("tokens");
        for (int j = 0; j < Math.min(16, first.length); j++) {
            s.append(' ').append(first[j]);
        }
        System.out.println(s);
    }

    private static long peakRssKb() throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (line.startsWith("VmHWM:")) {
                return Long.parseLong(line.replaceAll("[^0-9]", ""));
            }
        }
        return -1;
    }
}
