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
import org.bytedeco.pytorch.Module;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.tasft.benchmark.BenchmarkSettings;
import org.tasft.benchmark.BenchmarkSetup;
import org.tasft.data.Batch;
import org.tasft.loss.EmdLoss;
import org.tasft.model.CausalLm;
import org.tasft.model.KvCache;
import org.tasft.model.ModelConfig;
import org.tasft.model.Models;

/**
 * Peak memory and time of a training step with the fused LM head ({@code --fused-head on}) vs the logits path
 * ({@code off}), in one process: for each vocabulary size, the default job's model architecture (Llama, hidden 128,
 * 4 layers, tied head) with that vocabulary, at batch B x T tokens with {@code harmful} harmful sequences, method emd.
 * <ul>
 *   <li>loss part: the head and the losses alone, from hidden states h [B, T, hidden] (a leaf) to the gradients of h
 *       and W: peak resident growth and time;</li>
 *   <li>full step: zero grads, the objective's forward + backward, clipping, AdamW: peak resident growth and the
 *       median time, the two paths alternating (A B B A ...) after a warm-up.</li>
 * </ul>
 * Peak resident growth = VmHWM after the measured call minus VmRSS before it, the peak reset by writing 5 to
 * /proc/self/clear_refs first; run with {@code MALLOC_MMAP_THRESHOLD_} fixed (bench/run-fused-head.sh) so that freed
 * large buffers leave the process. Not a JUnit test.
 *
 * <p>Arguments (optional): {@code vocabs rounds warmup batch seq harmful threads} (default 512,32000 5 2 8 512 2, threads:
 * LibTorch's default).
 */
public final class FusedHeadBenchmark {
    private FusedHeadBenchmark() {
    }

    static long statusKb(String key) {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith(key + ":")) {
                    return Long.parseLong(line.replaceAll("[^0-9]", ""));
                }
            }
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
        throw new IllegalStateException(key + " not in /proc/self/status");
    }

    /** Runs {@code r} and returns its peak resident growth in MiB. */
    static double peakMiB(Runnable r) {
        // Native memory of tensors the GC has collected is freed by JavaCPP's deallocator: let it finish first, so
        // that memory released during the measured call does not offset what the call allocates.
        for (int i = 0; i < 3; i++) {
            System.gc();
            org.bytedeco.javacpp.Pointer.deallocateReferences();
            try {
                Thread.sleep(300);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        try {
            Files.writeString(Path.of("/proc/self/clear_refs"), "5");
        } catch (IOException e) {
            throw new IllegalStateException("cannot reset the peak RSS (/proc/self/clear_refs)", e);
        }
        long before = statusKb("VmRSS");
        r.run();
        return (statusKb("VmHWM") - before) / 1024.0;
    }

    /** The head and losses only: hidden states are a leaf, the head is W (tied: also the "input embedding"). */
    static final class HeadOnly implements CausalLm {
        final ModelConfig config;
        final Tensor h;
        final Tensor w;
        final Module root = new Module();

        HeadOnly(ModelConfig config, long b, long t) {
            this.config = config;
            torch.manual_seed(3);
            TensorOptions f32 = new TensorOptions(ScalarType.Float);
            h = torch.randn(new long[] {b, t, config.hiddenSize()}, f32).requires_grad_(true);
            w = root.register_parameter("w", torch.randn(new long[] {config.vocabSize(), config.hiddenSize()}, f32)
                    .mul(new org.bytedeco.pytorch.Scalar(0.05)));
        }

        @Override public ModelConfig config() { return config; }
        @Override public Tensor forward(Tensor ids, Tensor mask, KvCache cache) { return torch.linear(h, w); }
        @Override public boolean exposesHiddenStates() { return true; }
        @Override public Tensor hiddenStates(Tensor ids, Tensor mask) { return h; }
        @Override public KvCache newCache() { throw new UnsupportedOperationException(); }
        @Override public LinkedHashMap<String, Tensor> stateDict() {
            LinkedHashMap<String, Tensor> m = new LinkedHashMap<>();
            m.put("w", w);
            return m;
        }
        @Override public Tensor inputEmbeddingWeight() { return w; }
        @Override public Tensor lmHeadWeight() { return w; }
        @Override public Module module() { return root; }

        void zeroGrad() {
            for (Tensor t : List.of(h, w)) {
                if (t.grad().defined()) {
                    t.grad().zero_();
                }
            }
        }
    }

    static Objective objective(FusedHead f) {
        return Method.EMD.objective(Objectives.Options.defaults().lambda(0.5).reduction(EmdLoss.Reduction.SEQUENCE)
                .fusedHead(f));
    }

    static final class Runner {
        final FusedHead mode;
        final CausalLm model;
        final Objective objective;
        final JavaAdamW optimizer;
        final List<Double> times = new ArrayList<>();

        Runner(FusedHead mode, ModelConfig config) {
            this.mode = mode;
            this.model = Models.create(config, 1);
            model.module().train(true);
            this.objective = objective(mode);
            Map<String, Tensor> params = new LinkedHashMap<>(model.stateDict());
            this.optimizer = new JavaAdamW(params, 0.0);
        }

        void step(Batch batch, boolean record) {
            try (PointerScope scope = new PointerScope()) {
                long t0 = System.nanoTime();
                optimizer.zeroGrad();
                objective.step(model, batch);
                Gradients.clipGradNorm(optimizer.params().values(), 1.0);
                optimizer.step(1e-4);
                if (record) {
                    times.add((System.nanoTime() - t0) / 1e9);
                }
            }
        }
    }

    public static void main(String[] args) {
        String[] vocabs = (args.length > 0 ? args[0] : "512,32000").split(",");
        int rounds = args.length > 1 ? Integer.parseInt(args[1]) : 5;
        int warmup = args.length > 2 ? Integer.parseInt(args[2]) : 2;
        int b = args.length > 3 ? Integer.parseInt(args[3]) : 8;
        int t = args.length > 4 ? Integer.parseInt(args[4]) : 512;
        int harmful = args.length > 5 ? Integer.parseInt(args[5]) : 2;
        if (args.length > 6) {
            int threads = Integer.parseInt(args[6]);
            torch.set_num_threads(threads);
            org.tasft.kernel.EmdKernel.setNumThreads(threads);
        }
        BenchmarkSettings d = BenchmarkSettings.defaults();
        BenchmarkSettings s = BenchmarkSettings.builder().model(d.hidden(), d.layers(), d.heads(), d.kvHeads(),
                d.intermediate(), Math.max(t, d.maxPositions())).build();   // the default model, T positions
        System.out.printf(Locale.ROOT, "model: the default job's Llama (hidden %d, %d layers, %d heads, intermediate %d,"
                + " tied head); batch %d x %d tokens, %d harmful, method emd (lambda 0.5); threads: torch %d, kernel %d;"
                + " %d warm-up + %d timed rounds per path%n", s.hidden(), s.layers(), s.heads(), s.intermediate(), b, t,
                harmful, torch.get_num_threads(), org.tasft.kernel.EmdKernel.numThreads(), warmup, rounds);
        System.out.println("| vocab | path | loss part: peak MiB | loss part: ms | step: peak MiB | step: median ms |");
        System.out.println("|---:|---|---:|---:|---:|---:|");
        for (String v : vocabs) {
            int vocab = Integer.parseInt(v.strip());
            ModelConfig config = ModelConfig.parse(BenchmarkSetup.modelConfigJson(s, vocab));
            Batch batch = TrainStepBenchmark.batch(b, t, harmful, vocab);
            Map<FusedHead, double[]> loss = new LinkedHashMap<>();
            for (FusedHead f : List.of(FusedHead.OFF, FusedHead.ON)) {
                HeadOnly head = new HeadOnly(config, b, t);
                Objective o = objective(f);
                try (PointerScope scope = new PointerScope()) {
                    o.step(head, batch);   // warm-up
                }
                head.zeroGrad();
                double[] ms = new double[1];
                double peak = peakMiB(() -> {
                    try (PointerScope scope = new PointerScope()) {
                        long t0 = System.nanoTime();
                        o.step(head, batch);
                        ms[0] = (System.nanoTime() - t0) / 1e6;
                    }
                });
                loss.put(f, new double[] {peak, ms[0]});
            }
            Runner off = new Runner(FusedHead.OFF, config);
            Runner on = new Runner(FusedHead.ON, config);
            for (int i = 0; i < warmup; i++) {
                off.step(batch, false);
                on.step(batch, false);
            }
            double peakOff = peakMiB(() -> off.step(batch, false));
            double peakOn = peakMiB(() -> on.step(batch, false));
            for (int i = 0; i < rounds; i++) {
                Runner first = i % 2 == 0 ? off : on;
                Runner second = i % 2 == 0 ? on : off;
                first.step(batch, true);
                second.step(batch, true);
            }
            for (Runner r : List.of(off, on)) {
                double[] l = loss.get(r.mode);
                System.out.printf(Locale.ROOT, "| %d | %s | %.1f | %.0f | %.0f | %.0f |%n", vocab,
                        r.mode == FusedHead.ON ? "fused head" : "logits", l[0], l[1],
                        r.mode == FusedHead.ON ? peakOn : peakOff, TrainStepBenchmark.median(r.times) * 1e3);
            }
            System.out.printf(Locale.ROOT, "vocab %d: loss part peak %.1fx smaller, %.2fx the time; step peak %.2fx "
                    + "smaller, step time fused / logits %.3f%n", vocab, loss.get(FusedHead.OFF)[0]
                    / loss.get(FusedHead.ON)[0], loss.get(FusedHead.ON)[1] / loss.get(FusedHead.OFF)[1],
                    peakOff / peakOn, TrainStepBenchmark.median(on.times) / TrainStepBenchmark.median(off.times));
        }
    }
}
