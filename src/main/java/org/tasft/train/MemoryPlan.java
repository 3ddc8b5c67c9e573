package org.tasft.train;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

import org.tasft.model.ModelConfig;
import org.tasft.model.Precision;
import org.tasft.model.lora.LoraConfig;

/**
 * The memory a training step needs, computed from the sizes alone before anything is allocated ({@code tasft train
 * --plan}): weights, gradients, optimizer state, activations (with and without gradient checkpointing) and the logits.
 *
 * <p>Activations are what autograd saves in this implementation (see {@link org.tasft.model.LlamaModel}; each layer's
 * temporaries are freed when the layer returns), per decoder layer, for N = batch x sequence tokens, hidden H,
 * query/key-value widths Hq = heads x head_dim and Hkv = kv_heads x head_dim, MLP width I, attention matrix
 * S = batch x heads x sequence^2, e the compute dtype's bytes:
 * <ul>
 *   <li>the layer's input (N H e), two RMSNorms (8 N H each: the float32 normalized value and the outputs; float32
 *       also keeps the residual sum, 4 N H);</li>
 *   <li>q, k, v, their rotary halves and rotated values (3 N Hq + 4 N Hkv elements; with grouped-query attention
 *       the repeated k and v instead, 5 N Hq + 2 N Hkv), the float32 softmax (4 S; bf16 adds its bf16 copy, 2 S), the
 *       attention output (N Hq);</li>
 *   <li>the gated MLP: gate, activation, up and their product (4 N I);</li>
 *   <li>LoRA per adapted projection: the rank-r intermediate (float32), the dropout mask and output, and the
 *       float32 copy of a reduced-precision input.</li>
 * </ul>
 * With checkpointing only each layer's input stays, plus one layer's activations while it is recomputed. The logits
 * part is the [N, V] logits, the SFT rows' log-softmax, the EMD kernel's gradient (none when it writes in place) and
 * the gradient buffers of the LM head's backward; its multiplier was measured on the CPU ({@code MemoryPlanTest}).
 *
 * @param config                the model
 * @param batch                 sequences per micro-batch on one rank
 * @param sequence              tokens per sequence
 * @param precision             weights and compute dtype
 * @param lora                  the LoRA adapters, or null for full fine-tuning
 * @param ranks                 data-parallel ranks (each holds everything; gradient buckets add a gradient copy)
 * @param emdInPlace            the EMD kernel writes its gradient over the logits
 * @param fusedHeadThreads      the threads of the fused LM head ({@link FusedHead}: no logits; its working memory is
 *                              the hidden states, their gradient per thread and the head's gradient), or 0 for the
 *                              logits path
 */
public record MemoryPlan(ModelConfig config, int batch, int sequence, Precision precision, LoraConfig lora, int ranks,
        boolean emdInPlace, int fusedHeadThreads) {
    /** Bytes of the logits part per logits element-size: logits, log-softmax, backward buffers (measured). */
    static final double LOGITS_COPIES = 3.6;
    /** ... and one more when the EMD kernel writes its gradient to a new buffer. */
    static final double EMD_GRADIENT_COPIES = 1.0;

    public MemoryPlan {
        if (batch < 1 || sequence < 1 || ranks < 1 || fusedHeadThreads < 0) {
            throw new IllegalArgumentException("batch, sequence and ranks must be >= 1, fusedHeadThreads >= 0");
        }
    }

    /**
     * The threads of the fused head a step with these settings runs through ({@link FusedHead#AUTO}: float32 on the
     * CPU, for sft, stl and emd), or 0 when it takes the logits.
     */
    public static int fusedHeadThreads(FusedHead choice, Method method, Precision precision, boolean cpu,
                                       int threads) {
        boolean objective = method == Method.SFT || method == Method.STL || method == Method.EMD;
        boolean used = objective && choice.use(cpu, precision == Precision.FLOAT32);
        return used ? Math.max(1, threads) : 0;
    }

    /** The plan for a training configuration: its batch split over {@code ranks}, its longest sequence. */
    public static MemoryPlan of(TrainConfig c, ModelConfig model, int sequence, int ranks, int threads) {
        Precision p = c.placement().precision();
        return new MemoryPlan(model, Math.max(1, c.batchSize() / ranks), sequence, p, c.lora(), ranks, p.isReduced(),
                fusedHeadThreads(c.fusedHead(), c.method(), p, !c.placement().isCuda(), threads));
    }

    private double tokens() {
        return (double) batch * sequence;
    }

    private int e() {
        return precision.bytes();
    }

    /** The model's weights in the compute dtype, plus float32 LoRA adapters. */
    public double weights() {
        return config.parameterCount() * e() + loraParameters() * 4;
    }

    /** Gradients of what is trained: every weight (compute dtype) or the adapters (float32). */
    public double gradients() {
        return lora == null ? config.parameterCount() * e() : loraParameters() * 4;
    }

    /** AdamW: exp_avg and exp_avg_sq in float32, plus float32 master weights for reduced-precision full fine-tuning. */
    public double optimizer() {
        double trained = lora == null ? config.parameterCount() : loraParameters();
        return trained * (8 + (lora == null && precision.isReduced() ? 4 : 0));
    }

    /** Data parallel: the gradient buckets' flat copy (no ranks, no buckets). */
    public double gradientBuckets() {
        return ranks > 1 ? gradients() : 0;
    }

    /**
     * One decoder layer's saved activations. Autograd saves an input only for the gradients it will compute: the
     * rotary products save cos/sin, not q and k; with a frozen base (LoRA) the projections save no input and the
     * norms' weight products nothing.
     */
    public double layerActivations() {
        double n = tokens();
        double h = config.hiddenSize();
        double hq = (double) config.numHeads() * config.headDim();
        double hkv = (double) config.numKvHeads() * config.headDim();
        double s = (double) batch * config.numHeads() * sequence * sequence;
        double i = config.intermediateSize();
        int e = e();
        boolean trainedBase = lora == null;
        double bytes = n * h * e;                                   // the layer's input
        // per RMSNorm: float32 input copy (reduced precision), normalized value (when its weight trains), output
        double norm = (e == 4 ? 0 : 4 * n * h) + (trainedBase ? n * h * e : 0) + n * h * e;
        bytes += 2 * norm + (e == 4 ? n * h * 4 : 0);               // fp32: the residual sum is the norm's input
        boolean gqa = config.numKvHeads() != config.numHeads();
        bytes += (gqa ? 3 * n * hq : n * hq + 2 * n * hkv) * e;     // rotated q, k (repeated), v (repeated)
        bytes += 4 * s + (e == 4 ? 0 : e * s);                      // softmax (float32) and its reduced copy
        bytes += (trainedBase ? n * hq * e : 0);                    // attention output (o_proj's input)
        bytes += (trainedBase ? 4 : 3) * n * i * e;                 // gate, act, up, (product: down_proj's input)
        bytes += loraLayerActivations();
        return bytes;
    }

    /** Gradient buffers alive at once in a layer's backward (attention scores and MLP products). */
    public double backwardScratch() {
        double s = (double) batch * config.numHeads() * sequence * sequence;
        return 2 * 4 * s + 4 * tokens() * config.intermediateSize() * e();
    }

    private double loraLayerActivations() {
        if (lora == null) {
            return 0;
        }
        double n = tokens();
        double bytes = 0;
        for (long[] io : loraLayers().subList(0, loraLayers().size() / config.numLayers())) { // one layer's
            bytes += n * lora.rank() * 4;                           // B's input
            if (lora.dropout() > 0) {
                bytes += 2 * n * io[0] * e();                       // mask and dropped input
            }
            if (precision.isReduced()) {
                bytes += n * io[0] * 4;                             // the float32 copy A reads
            }
        }
        return bytes;
    }

    /** The final norm's saved values (the last layer's output, the float32 normalized value, its output). */
    private double top() {
        return tokens() * config.hiddenSize() * (e() + 8);
    }

    /** Activations of all layers without checkpointing. */
    public double activations() {
        return config.numLayers() * layerActivations() + top();
    }

    /** With checkpointing: every layer's input, and one layer's activations while it is recomputed. */
    public double checkpointedActivations() {
        return config.numLayers() * tokens() * config.hiddenSize() * e() + layerActivations() + top();
    }

    /**
     * The logits part at its peak (the LM head's backward); with the fused head, its working memory instead: the
     * float32 hidden states, their gradient and the kernel's per-row buffers, a hidden-states gradient per thread, and
     * the head weight's gradient buffer.
     */
    public double logits() {
        if (fusedHeadThreads > 0) {
            double nh = tokens() * config.hiddenSize() * 4;
            return nh * (3 + fusedHeadThreads) + tokens() * config.hiddenSize() * 4
                    + (double) config.vocabSize() * config.hiddenSize() * 4;
        }
        double elements = tokens() * config.vocabSize();
        double nv = elements * e();
        // In bf16/fp16 the loss's log-softmax is float32 (StepForward.logSoftmax): 4 - e more bytes per element.
        return nv * (LOGITS_COPIES + (emdInPlace ? 0 : EMD_GRADIENT_COPIES)) + elements * (4 - e());
    }

    /**
     * What one step adds on top of weights, gradients and optimizer state. Without checkpointing the peak is at the
     * LM head's backward with every activation saved. With it, the head's backward (logits peak over the layers'
     * inputs) comes before the layers' recomputation (one layer's activations and scratch over the logits the step
     * still holds: logits, log-softmax, the EMD gradient), and the peak is the larger of the two.
     */
    public double stepBytes(boolean checkpointing) {
        if (!checkpointing) {
            return activations() + logits() + backwardScratch();
        }
        double inputs = config.numLayers() * tokens() * config.hiddenSize() * e() + top();
        double held = fusedHeadThreads > 0 ? logits()
                : tokens() * config.vocabSize() * e() * (2 + (emdInPlace ? 0 : EMD_GRADIENT_COPIES));
        double s = (double) batch * config.numHeads() * sequence * sequence;
        // recomputing a layer in backward holds ~3.5 more float32 attention matrices than the plain backward (measured)
        return inputs + Math.max(logits(), held + layerActivations() + backwardScratch() + 3.5 * 4 * s);
    }

    /** The peak of a step: everything held plus the step's activations and logits. */
    public double peak(boolean checkpointing) {
        return weights() + gradients() + optimizer() + gradientBuckets() + stepBytes(checkpointing);
    }

    private double loraParameters() {
        if (lora == null) {
            return 0;
        }
        double n = 0;
        for (long[] io : loraLayers()) {
            n += (double) lora.rank() * (io[0] + io[1]);
        }
        return n;
    }

    /** {in, out} of every projection LoRA adapts. */
    private List<long[]> loraLayers() {
        List<long[]> out = new ArrayList<>();
        for (Map.Entry<String, long[]> e : projections().entrySet()) {
            for (int l = 0; l < config.numLayers(); l++) {
                if (lora.targets(e.getKey().replace("{l}", Integer.toString(l)))) {
                    out.add(e.getValue());
                }
            }
        }
        return out;
    }

    private Map<String, long[]> projections() {
        long h = config.hiddenSize();
        long hq = (long) config.numHeads() * config.headDim();
        long hkv = (long) config.numKvHeads() * config.headDim();
        long i = config.intermediateSize();
        Map<String, long[]> m = new LinkedHashMap<>();
        if (config.architecture() == ModelConfig.Architecture.GPT2) {
            m.put("transformer.h.{l}.attn.c_attn", new long[] {h, 3 * h});
            m.put("transformer.h.{l}.attn.c_proj", new long[] {h, h});
            m.put("transformer.h.{l}.mlp.c_fc", new long[] {h, i});
            m.put("transformer.h.{l}.mlp.c_proj", new long[] {i, h});
        } else {
            m.put("model.layers.{l}.self_attn.q_proj", new long[] {h, hq});
            m.put("model.layers.{l}.self_attn.k_proj", new long[] {h, hkv});
            m.put("model.layers.{l}.self_attn.v_proj", new long[] {h, hkv});
            m.put("model.layers.{l}.self_attn.o_proj", new long[] {hq, h});
            m.put("model.layers.{l}.mlp.gate_proj", new long[] {h, i});
            m.put("model.layers.{l}.mlp.up_proj", new long[] {h, i});
            m.put("model.layers.{l}.mlp.down_proj", new long[] {i, h});
        }
        return m;
    }

    /** The plan as the lines {@code --plan} prints; {@code deviceMemory} (bytes, <= 0: not given) adds the verdict. */
    public List<String> lines(boolean checkpointing, double deviceMemory) {
        List<String> out = new ArrayList<>();
        out.add(String.format(Locale.ROOT, "memory plan: %s, %d layers, hidden %d, vocab %d; %d x %d tokens per rank, "
                + "%s, %s%s", config.architecture().name().toLowerCase(Locale.ROOT), config.numLayers(),
                config.hiddenSize(), config.vocabSize(), batch, sequence, precision.id(),
                lora == null ? "full fine-tuning" : "LoRA r " + lora.rank() + " on " + String.join(",",
                        lora.targetModules()), ranks > 1 ? ", " + ranks + " ranks" : ""));
        out.add(row("weights", weights()));
        out.add(row("gradients", gradients()));
        out.add(row("optimizer state", optimizer()) + (lora == null && precision.isReduced()
                ? "  (float32 exp_avg, exp_avg_sq and master weights)" : "  (float32 exp_avg, exp_avg_sq)"));
        if (ranks > 1) {
            out.add(row("gradient buckets", gradientBuckets()));
        }
        out.add(row("activations", activations()) + "  (without checkpointing)");
        out.add(row("activations", checkpointedActivations()) + "  (with --gradient-checkpointing)");
        out.add(fusedHeadThreads > 0 ? row("fused LM head", logits()) + "  (no [tokens, vocab] logits)"
                : row("logits", logits()) + (emdInPlace ? "  (EMD gradient written in place)" : ""));
        double peak = peak(checkpointing);
        out.add(row("peak per rank", peak) + (checkpointing ? "  (with checkpointing)" : "  (without checkpointing)"));
        if (deviceMemory > 0) {
            double other = peak(!checkpointing);
            out.add(peak <= deviceMemory
                    ? String.format(Locale.ROOT, "fits in --device-memory %s (%.0f%% used)", gib(deviceMemory),
                            100 * peak / deviceMemory)
                    : String.format(Locale.ROOT, "does NOT fit in --device-memory %s (%s over)%s", gib(deviceMemory),
                            gib(peak - deviceMemory), !checkpointing && other <= deviceMemory
                                    ? "; with --gradient-checkpointing it would (" + gib(other) + ")" : ""));
        }
        return out;
    }

    private static String row(String what, double bytes) {
        return String.format(Locale.ROOT, "  %-18s %12s", what, gib(bytes));
    }

    /** Bytes as GiB (MiB below 1 GiB). */
    static String gib(double bytes) {
        return bytes >= 1L << 30 ? String.format(Locale.ROOT, "%.2f GiB", bytes / (1L << 30))
                : String.format(Locale.ROOT, "%.1f MiB", bytes / (1 << 20));
    }

    /** A size like 80GiB, 80G, 512MiB, 512M or plain bytes. */
    public static double parseBytes(String text) {
        String s = text.strip().toUpperCase(Locale.ROOT).replace("IB", "").replace("B", "");
        double unit = 1;
        if (s.endsWith("G")) {
            unit = 1L << 30;
        } else if (s.endsWith("M")) {
            unit = 1 << 20;
        } else if (s.endsWith("T")) {
            unit = 1L << 40;
        } else if (s.endsWith("K")) {
            unit = 1 << 10;
        }
        String number = unit == 1 ? s : s.substring(0, s.length() - 1);
        try {
            double v = Double.parseDouble(number.strip());
            if (!(v > 0) || Double.isInfinite(v)) {
                throw new NumberFormatException();
            }
            return v * unit;
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("--device-memory: not a size: '" + text + "' (e.g. 80GiB, 24G, 512MiB)");
        }
    }
}
