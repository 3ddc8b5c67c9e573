package org.tasft.bench;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.tasft.data.Batch;
import org.tasft.kernel.EmdKernel;
import org.tasft.loss.EmdLoss.Reduction;
import org.tasft.model.CausalLm;
import org.tasft.model.CudaRuntime;
import org.tasft.model.ModelConfig;
import org.tasft.model.Models;
import org.tasft.model.Placement;
import org.tasft.model.Precision;
import org.tasft.model.lora.Lora;
import org.tasft.model.lora.LoraConfig;
import org.tasft.train.JavaAdamW;
import org.tasft.train.StepLoss;
import org.tasft.train.TaSft;
import org.tasft.train.TaSft.EmbeddingSource;

/**
 * The Java side of bench/gpu/train-gpu.sh: the trainer's TA-SFT step on a device, as one line of key=value results.
 * <ul>
 *   <li>{@code correctness MODEL_DIR DEVICE}: the fixture's logits and one TA-SFT step's gradients (every parameter)
 *       on DEVICE against the CPU, float32; on CUDA the step's EMD gradient can only come from the CUDA kernel (the
 *       kernel refuses CUDA tensors without it; no CPU fallback exists), and it is checked once more directly
 *       against the CPU kernel on the same logits.</li>
 *   <li>{@code speed CONFIG_DIR DEVICE DTYPE BATCH SEQ HARMFUL LORA_RANK STEPS CHECKPOINTING}: random weights made on
 *       the device from the config, LoRA on q,k,v,o (rank 0: full fine-tuning), TA-SFT steps with AdamW; tokens/s
 *       over the timed steps (after two warm-up steps) and the step's loss.</li>
 * </ul>
 * Runs on the CPU too (DEVICE cpu): that is how the script's dry run checks it where there is no GPU.
 */
public final class GpuTrainCheck {
    private GpuTrainCheck() {
    }

    public static void main(String[] args) {
        org.bytedeco.openblas.global.openblas_nolapack.blas_set_num_threads(1);
        CudaRuntime cuda = CudaRuntime.libtorch();
        System.out.printf(Locale.ROOT, "libtorch cuda_built=%s gpus=%d tasft_cuda=%s cuda_kernel=%s%n", cuda.built(),
                cuda.deviceCount(), EmdKernel.cudaAvailable(), EmdKernel.defaultCudaKernel());
        switch (args[0]) {
            case "correctness" -> correctness(Path.of(args[1]), args[2]);
            case "speed" -> speed(Path.of(args[1]), args[2], Precision.parse(args[3]), Integer.parseInt(args[4]),
                    Integer.parseInt(args[5]), Integer.parseInt(args[6]), Integer.parseInt(args[7]),
                    Integer.parseInt(args[8]), Boolean.parseBoolean(args[9]));
            default -> throw new IllegalArgumentException("correctness | speed, got " + args[0]);
        }
    }

    static void correctness(Path modelDir, String device) {
        Placement there = new Placement(device, Precision.FLOAT32);
        CausalLm cpu = Models.load(modelDir);
        CausalLm dev = Models.load(modelDir, there);
        Batch batch = batch(4, 24, (int) cpu.config().vocabSize(), 2, 8, 11);
        double logitsError;
        try (NoGradGuard g = new NoGradGuard()) {
            Tensor a = cpu.forward(batch.inputIds());
            Tensor b = dev.forward(batch.inputIds().to(there.torchDevice(), ScalarType.Long)).cpu();
            logitsError = relative(b, a);
        }
        cpu.module().train(true);
        dev.module().train(true);
        TaSft objective = new TaSft(0.5, Reduction.SEQUENCE, EmbeddingSource.INPUT);
        StepLoss la = objective.step(cpu, batch);
        StepLoss lb = objective.step(dev, batch);
        double worst = 0;
        String worstName = "";
        for (Map.Entry<String, Tensor> e : cpu.stateDict().entrySet()) {
            double err = relative(dev.stateDict().get(e.getKey()).grad().cpu(), e.getValue().grad());
            if (err > worst) {
                worst = err;
                worstName = e.getKey();
            }
        }
        // the kernel alone on the device's logits vs the CPU kernel
        Tensor logits = torch.randn(new long[] {64, cpu.config().vocabSize()}).mul(new Scalar(3.0));
        Tensor unit = EmdKernel.unitEmbedding(cpu.inputEmbeddingWeight().detach());
        Tensor targets = torch.randint(0, cpu.config().vocabSize(), new long[] {64},
                new TensorOptions(ScalarType.Long));
        EmdKernel.Options o = EmdKernel.Options.defaults().gradient(EmdKernel.GradientMode.NEW_TENSOR);
        EmdKernel.Result rc = EmdKernel.compute(logits, unit, targets, o);
        EmdKernel.Result rd = EmdKernel.compute(logits.to(there.torchDevice(), ScalarType.Float),
                unit.to(there.torchDevice(), ScalarType.Float), targets.to(there.torchDevice(), ScalarType.Long), o);
        double kernelError = relative(rd.gradLogits().cpu(), rc.gradLogits());
        boolean versionsOk = device.startsWith("cuda") ? everyCudaKernel(logits, unit, targets, o, there) : true;
        boolean ok = logitsError < 1e-5 && worst < 1e-4 && kernelError < 1e-5 && versionsOk
                && Math.abs(la.total() - lb.total()) < 1e-5 * Math.abs(la.total());
        System.out.printf(Locale.ROOT, "correctness device=%s logits_rel_err=%.3g loss_cpu=%.8f loss_dev=%.8f "
                + "grad_worst_rel_err=%.3g (%s) emd_kernel_grad_rel_err=%.3g emd_on=%s ok=%s%n", device, logitsError,
                la.total(), lb.total(), worst, worstName, kernelError, device.startsWith("cuda") ? "cuda-kernel"
                        : "cpu-kernel", ok);
        if (!ok) {
            System.exit(1);
        }
    }

    /**
     * Every CUDA kernel version, each named per call ({@link EmdKernel.CudaKernel}, AUTO included, reported with the
     * version it resolves to), on bf16 logits and a bf16 embedding, against the CPU kernel on the same inputs; a
     * version this device cannot run prints the library's reason. One line per version; false when a version that
     * ran is off by more than 5e-2 (v2 and v3 are within bf16 bounds, far below that; a broken kernel is far above).
     */
    static boolean everyCudaKernel(Tensor logits, Tensor unit, Tensor targets, EmdKernel.Options o, Placement there) {
        Tensor lb = logits.to(ScalarType.BFloat16);
        Tensor ub = unit.to(ScalarType.BFloat16);
        EmdKernel.Result cpu = EmdKernel.compute(lb, ub, targets, o);
        Tensor ld = lb.to(there.torchDevice(), ScalarType.BFloat16);
        Tensor ud = ub.to(there.torchDevice(), ScalarType.BFloat16);
        Tensor td = targets.to(there.torchDevice(), ScalarType.Long);
        boolean ok = true;
        for (EmdKernel.CudaKernel k : EmdKernel.CudaKernel.values()) {
            EmdKernel.Options withKernel = o.cudaKernel(k);
            try {
                EmdKernel.CudaKernel runs = EmdKernel.cudaKernelFor(ld, ud, td, withKernel);
                EmdKernel.Result r = EmdKernel.compute(ld, ud, td, withKernel);
                double lossError = relative(r.lossRows().cpu(), cpu.lossRows());
                double gradError = relative(r.gradLogits().cpu(), cpu.gradLogits());
                boolean good = lossError < 5e-2 && gradError < 5e-2;
                ok &= good;
                System.out.printf(Locale.ROOT, "cuda_kernel %s runs=%s bf16 loss_rel_err=%.3g grad_rel_err=%.3g ok=%s%n",
                        k.id(), runs.id(), lossError, gradError, good);
            } catch (UnsupportedOperationException e) {
                System.out.printf(Locale.ROOT, "cuda_kernel %s unsupported here: %s%n", k.id(), e.getMessage());
            }
        }
        return ok;
    }

    static void speed(Path configDir, String device, Precision precision, int batchSize, int seq, int harmful,
            int loraRank, int steps, boolean checkpointing) {
        ModelConfig config = ModelConfig.read(configDir.resolve("config.json"));
        Placement placement = new Placement(device, precision);
        long t0 = System.nanoTime();
        CausalLm model = Models.create(config, 1, placement);
        model.module().train(true);
        model.gradientCheckpointing(checkpointing);
        Map<String, Tensor> trained = new LinkedHashMap<>();
        if (loraRank > 0) {
            trained.putAll(Lora.apply(model, new LoraConfig(loraRank, 2.0 * loraRank, 0.05,
                    List.of("q_proj", "k_proj", "v_proj", "o_proj")), 1).namedParameters());
        } else {
            trained.putAll(model.stateDict());
        }
        JavaAdamW optimizer = new JavaAdamW(trained, 0.0);
        double setup = (System.nanoTime() - t0) / 1e9;
        Batch batch = batch(batchSize, seq, (int) config.vocabSize(), harmful, 64, 5);
        TaSft objective = new TaSft(0.5, Reduction.SEQUENCE, EmbeddingSource.INPUT);
        double loss = 0;
        long timed = 0;
        for (int s = 0; s < steps + 2; s++) {
            if (s == 2) {
                synchronize(device);
                timed = System.nanoTime();
            }
            try (PointerScope scope = new PointerScope()) { // as the trainer runs a step
                optimizer.zeroGrad();
                StepLoss l = objective.step(model, batch); // logs the loss: the step's one host wait
                optimizer.step(1e-4);
                loss = l.total();
            }
        }
        synchronize(device);
        double seconds = (System.nanoTime() - timed) / 1e9 / steps;
        System.out.printf(Locale.ROOT, "speed impl=tasft device=%s dtype=%s batch=%d seq=%d harmful=%d lora_r=%d "
                + "checkpointing=%s step_s=%.4f tokens_per_s=%.1f loss=%.5f setup_s=%.1f%n", device, precision,
                batchSize, seq, harmful, loraRank, checkpointing, seconds, batchSize * (double) seq / seconds, loss,
                setup);
    }

    private static void synchronize(String device) {
        if (device.startsWith("cuda")) {
            org.bytedeco.pytorch.global.torch_cuda.device_synchronize();
        }
    }

    /** {@code harmful} harmful sequences last; prompts of {@code prompt} tokens carry no labels. */
    static Batch batch(int batchSize, int seq, int vocab, int harmful, int prompt, long seed) {
        torch.manual_seed(seed);
        TensorOptions i64 = new TensorOptions(ScalarType.Long);
        Tensor ids = torch.randint(0, vocab, new long[] {batchSize, seq}, i64);
        Tensor labels = ids.clone();
        labels.narrow(1, 0, Math.min(prompt, seq - 1)).fill_(new Scalar(Batch.IGNORE_INDEX));
        boolean[] h = new boolean[batchSize];
        for (int i = batchSize - harmful; i < batchSize; i++) {
            h[i] = true;
        }
        return new Batch(ids, labels, torch.ones(new long[] {batchSize, seq}, i64), h);
    }

    /** ||a - b|| / ||b|| in float64 on the host. */
    static double relative(Tensor a, Tensor b) {
        Tensor bd = b.to(ScalarType.Double);
        double norm = bd.norm().item_double();
        double diff = a.to(ScalarType.Double).sub(bd).norm().item_double();
        return norm == 0 ? diff : diff / norm;
    }
}
