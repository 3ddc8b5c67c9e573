package org.tasft.train;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
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
import org.tasft.loss.EmdLoss.Reduction;
import org.tasft.model.CausalLm;
import org.tasft.model.ModelConfig;
import org.tasft.model.Models;
import org.tasft.model.Placement;
import org.tasft.model.Precision;
import org.tasft.model.lora.Lora;
import org.tasft.model.lora.LoraConfig;
import org.tasft.train.TaSft.EmbeddingSource;

/**
 * Measures the resident-memory peak of one TA-SFT step in a fresh JVM (run by {@link MemoryPlanTest} with glibc's
 * mmap threshold fixed, so that freed tensors leave the resident set): a warm-up step first (threads, gradients),
 * then the resident size before the measured step, the kernel's high-water mark reset, the step, the high-water
 * mark. Prints {@code measured <bytes> predicted <bytes>}.
 *
 * <p>Arguments: hidden layers heads kvHeads intermediate vocab batch sequence dtype loraRank(0: full) checkpointing.
 */
public final class StepPeakProbe {
    private StepPeakProbe() {
    }

    public static void main(String[] args) throws IOException {
        int hidden = Integer.parseInt(args[0]);
        int layers = Integer.parseInt(args[1]);
        int heads = Integer.parseInt(args[2]);
        int kvHeads = Integer.parseInt(args[3]);
        int inter = Integer.parseInt(args[4]);
        int vocab = Integer.parseInt(args[5]);
        int batch = Integer.parseInt(args[6]);
        int seq = Integer.parseInt(args[7]);
        Precision precision = Precision.parse(args[8]);
        int loraRank = Integer.parseInt(args[9]);
        boolean checkpointing = Boolean.parseBoolean(args[10]);
        org.bytedeco.openblas.global.openblas_nolapack.blas_set_num_threads(1);
        ModelConfig config = ModelConfig.parse(String.format(Locale.ROOT, "{\"architectures\": [\"LlamaForCausalLM\"], "
                + "\"model_type\": \"llama\", \"hidden_size\": %d, \"num_hidden_layers\": %d, "
                + "\"num_attention_heads\": %d, \"num_key_value_heads\": %d, \"intermediate_size\": %d, "
                + "\"vocab_size\": %d, \"max_position_embeddings\": %d, \"rms_norm_eps\": 1e-6, "
                + "\"hidden_act\": \"silu\", \"tie_word_embeddings\": false}", hidden, layers, heads, kvHeads, inter,
                vocab, Math.max(seq, 16)));
        CausalLm model = Models.create(config, 1, new Placement("cpu", precision));
        model.module().train(true);
        model.gradientCheckpointing(checkpointing);
        LoraConfig loraConfig = loraRank > 0 ? new LoraConfig(loraRank, 2.0 * loraRank, 0.05,
                List.of("q_proj", "k_proj", "v_proj", "o_proj")) : null;
        Map<String, Tensor> trained = new LinkedHashMap<>();
        if (loraConfig != null) {
            trained.putAll(Lora.apply(model, loraConfig, 1).namedParameters());
        } else {
            trained.putAll(model.stateDict());
        }
        JavaAdamW optimizer = new JavaAdamW(trained, 0.0);
        Batch b = batch(batch, seq, vocab);
        // the step's objective takes the fused head where AUTO does (float32 on the CPU): the plan must know it
        MemoryPlan plan = new MemoryPlan(config, batch, seq, precision, loraConfig, 1, precision.isReduced(),
                MemoryPlan.fusedHeadThreads(FusedHead.AUTO, Method.EMD, precision, true,
                        org.bytedeco.pytorch.global.torch.get_num_threads()));
        Objective objective = new TaSft(0.5, Reduction.SEQUENCE, EmbeddingSource.INPUT);
        step(model, objective, b, optimizer); // warm-up: threads, gradient buffers
        step(model, objective, b, optimizer);
        optimizer.zeroGrad();
        System.gc();
        long before = status("VmRSS");
        Files.writeString(Path.of("/proc/self/clear_refs"), "5");
        try (PointerScope scope = new PointerScope()) { // as the trainer runs a step
            objective.step(model, b, ShardTotals.SINGLE_PROCESS);
            model.backwardCheckpointedLayers();
        }
        long peak = status("VmHWM");
        System.out.printf(Locale.ROOT, "measured %d predicted %.0f%n", peak - before, plan.stepBytes(checkpointing));
    }

    private static void step(CausalLm model, Objective objective, Batch b, JavaAdamW optimizer) {
        try (PointerScope scope = new PointerScope()) {
            optimizer.zeroGrad();
            objective.step(model, b, ShardTotals.SINGLE_PROCESS);
            model.backwardCheckpointedLayers();
            optimizer.step(1e-4);
        }
    }

    /** Half safe, half harmful (contiguous), prompts of 8 tokens. */
    static Batch batch(int batch, int seq, int vocab) {
        torch.manual_seed(3);
        TensorOptions i64 = new TensorOptions(ScalarType.Long);
        Tensor ids = torch.randint(3, vocab, new long[] {batch, seq}, i64);
        Tensor labels = ids.clone();
        labels.narrow(1, 0, Math.min(8, seq - 1)).fill_(new Scalar(Batch.IGNORE_INDEX));
        boolean[] harmful = new boolean[batch];
        for (int i = batch / 2; i < batch; i++) {
            harmful[i] = true;
        }
        return new Batch(ids, labels, torch.ones(new long[] {batch, seq}, i64), harmful);
    }

    /** A /proc/self/status field in bytes. */
    static long status(String field) throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (line.startsWith(field + ":")) {
                return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
            }
        }
        throw new IOException("no " + field + " in /proc/self/status");
    }
}
