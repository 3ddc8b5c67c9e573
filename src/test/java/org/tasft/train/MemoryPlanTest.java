package org.tasft.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledOnOs;
import org.junit.jupiter.api.condition.OS;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.tasft.model.ModelConfig;
import org.tasft.model.Precision;
import org.tasft.model.lora.LoraConfig;

/** The memory plan: its arithmetic on Llama-3.1-8B, and its prediction against the measured peak of real CPU steps. */
class MemoryPlanTest {
    static final String LLAMA_8B = "{\"architectures\": [\"LlamaForCausalLM\"], \"model_type\": \"llama\", "
            + "\"hidden_size\": 4096, \"intermediate_size\": 14336, \"num_attention_heads\": 32, "
            + "\"num_hidden_layers\": 32, \"num_key_value_heads\": 8, \"vocab_size\": 128256, "
            + "\"max_position_embeddings\": 131072, \"rms_norm_eps\": 1e-5, \"hidden_act\": \"silu\", "
            + "\"tie_word_embeddings\": false, \"rope_theta\": 500000.0}";
    static final LoraConfig QKVO_16 = new LoraConfig(16, 32, 0.05, List.of("q_proj", "k_proj", "v_proj", "o_proj"));

    @Test
    void llama8bLoraArithmetic() {
        ModelConfig config = ModelConfig.parse(LLAMA_8B);
        MemoryPlan plan = new MemoryPlan(config, 8, 1024, Precision.BFLOAT16, QKVO_16, 1, true, 0);
        double adapters = 13_631_488; // PEFT's trainable-parameter count for this LoRA on Llama-3-8B
        assertEquals(config.parameterCount() * 2 + adapters * 4, plan.weights(), 1);
        assertEquals(adapters * 4, plan.gradients(), 1);
        assertEquals(adapters * 8, plan.optimizer(), 1, "float32 exp_avg and exp_avg_sq, no master copy");
        assertEquals(8.0 * 1024 * 128256 * (2 * MemoryPlan.LOGITS_COPIES + 2), plan.logits(), 1,
                "bf16 logits, the float32 log-softmax, the EMD gradient in place");
        assertTrue(plan.checkpointedActivations() < plan.activations() / 10);
        assertTrue(plan.peak(true) < plan.peak(false));
        List<String> lines = plan.lines(true, 80.0 * (1L << 30));
        assertTrue(lines.get(0).startsWith("memory plan: llama, 32 layers, hidden 4096, vocab 128256; 8 x 1024"),
                lines.get(0));
        assertTrue(lines.get(lines.size() - 1).startsWith("fits in --device-memory 80.00 GiB"), lines.toString());
        List<String> small = plan.lines(false, 16.0 * (1L << 30));
        assertTrue(small.get(small.size() - 1).startsWith("does NOT fit in --device-memory 16.00 GiB"),
                small.toString());
    }

    @Test
    void fullFineTuningInBf16KeepsFloat32MastersAndState() {
        ModelConfig config = ModelConfig.parse(LLAMA_8B);
        MemoryPlan plan = new MemoryPlan(config, 1, 1024, Precision.BFLOAT16, null, 1, true, 0);
        assertEquals(config.parameterCount() * 2, plan.gradients(), 1);
        assertEquals(config.parameterCount() * 12, plan.optimizer(), 1);
        MemoryPlan two = new MemoryPlan(config, 1, 1024, Precision.BFLOAT16, null, 2, true, 0);
        assertEquals(plan.gradients(), two.gradientBuckets(), 1);
    }

    @Test
    void deviceMemorySizes() {
        assertEquals(80.0 * (1L << 30), MemoryPlan.parseBytes("80GiB"));
        assertEquals(24.0 * (1L << 30), MemoryPlan.parseBytes("24G"));
        assertEquals(512.0 * (1 << 20), MemoryPlan.parseBytes("512MiB"));
        assertEquals(1000.0, MemoryPlan.parseBytes("1000"));
        assertThrows(IllegalArgumentException.class, () -> MemoryPlan.parseBytes("lots"));
        assertThrows(IllegalArgumentException.class, () -> MemoryPlan.parseBytes("-1G"));
    }

    /**
     * The predicted step memory (activations, logits, backward buffers) against the resident-set peak of a real step
     * in a fresh JVM, measured from just before the step (the weights, gradients and AdamW state are already there).
     * Sizes where the step is 70-400 MB, far above the measurement's noise; within 15%.
     */
    @ParameterizedTest(name = "{0}")
    @EnabledOnOs(OS.LINUX)
    @CsvSource(delimiter = '|', value = {
        "fp32 full              | 256 2 4 4 688 8000 4 256 float32 0 false",
        "fp32 full, checkpoints | 256 2 4 4 688 8000 4 256 float32 0 true",
        "bf16 full, GQA         | 384 4 6 2 1024 16000 2 384 bfloat16 0 false",
        "bf16 LoRA, checkpoints | 256 4 4 2 688 8000 4 256 bfloat16 16 true"})
    void predictionWithin15PercentOfTheMeasuredPeak(String name, String args) throws Exception {
        List<String> command = new ArrayList<>(List.of(ProcessHandle.current().info().command().orElse("java"),
                "-Xms256m", "-Xmx256m", "-XX:+AlwaysPreTouch", "-cp", System.getProperty("java.class.path"),
                StepPeakProbe.class.getName()));
        command.addAll(List.of(args.trim().split(" +")));
        Path log = Files.createTempFile("step-peak", ".log");
        ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile());
        pb.environment().put("MALLOC_MMAP_THRESHOLD_", "65536"); // freed tensors leave the resident set at once
        pb.environment().put("OPENBLAS_NUM_THREADS", "1");
        Process p = pb.start();
        assertTrue(p.waitFor(5, TimeUnit.MINUTES), "probe timed out");
        String out = Files.readString(log, StandardCharsets.UTF_8);
        Files.deleteIfExists(log);
        assertEquals(0, p.exitValue(), out);
        String last = out.strip().substring(out.strip().lastIndexOf('\n') + 1);
        String[] f = last.split(" ");
        assertEquals("measured", f[0], out);
        double measured = Double.parseDouble(f[1]);
        double predicted = Double.parseDouble(f[3]);
        assertTrue(measured > 50e6, name + ": the step must dominate the measurement: " + measured);
        double error = (predicted - measured) / measured;
        assertTrue(Math.abs(error) <= 0.15, String.format("%s: predicted %.1f MB, measured %.1f MB (%+.1f%%)", name,
                predicted / 1e6, measured / 1e6, 100 * error));
    }
}
