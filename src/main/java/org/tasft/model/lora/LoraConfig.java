package org.tasft.model.lora;

import java.util.List;
import java.util.Objects;

/**
 * LoRA hyper-parameters as PEFT's {@code LoraConfig} names them: rank {@code r}, {@code lora_alpha} (the update is
 * scaled by alpha / r), {@code lora_dropout} (applied to the adapter's input in training mode) and
 * {@code target_modules}, matched against the Hugging Face module path of each projection as PEFT does: a target
 * selects a layer whose path equals it or ends with "." + target (e.g. "q_proj", "self_attn.v_proj", "c_attn").
 *
 * @param rank          r, at least 1
 * @param alpha         lora_alpha, finite and positive
 * @param dropout       lora_dropout, in [0, 1)
 * @param targetModules non-empty, no blank names
 */
public record LoraConfig(int rank, double alpha, double dropout, List<String> targetModules) {
    /** Safety-Tuned-Llamas' (alpaca-lora's) setting: r 8, alpha 16, dropout 0.05, q_proj and v_proj. */
    public static final LoraConfig SAFETY_TUNED_LLAMAS = new LoraConfig(8, 16, 0.05, List.of("q_proj", "v_proj"));

    public LoraConfig {
        Objects.requireNonNull(targetModules, "targetModules");
        if (rank < 1) {
            throw new IllegalArgumentException("LoRA rank r must be >= 1, got " + rank);
        }
        if (!Double.isFinite(alpha) || alpha <= 0) {
            throw new IllegalArgumentException("LoRA lora_alpha must be a finite positive number, got " + alpha);
        }
        if (!(dropout >= 0 && dropout < 1)) {
            throw new IllegalArgumentException("LoRA lora_dropout must be in [0, 1), got " + dropout);
        }
        if (targetModules.isEmpty()) {
            throw new IllegalArgumentException("LoRA target_modules must name at least one module (e.g. q_proj)");
        }
        for (String t : targetModules) {
            if (t == null || t.isBlank() || t.startsWith(".") || t.endsWith(".")) {
                throw new IllegalArgumentException("LoRA target_modules: not a module name: '" + t + "'");
            }
        }
        targetModules = List.copyOf(targetModules);
    }

    /** The given rank, alpha and targets, no dropout. */
    public static LoraConfig of(int rank, double alpha, String... targetModules) {
        return new LoraConfig(rank, alpha, 0.0, List.of(targetModules));
    }

    /** alpha / r, the factor of B A x. */
    public double scaling() {
        return alpha / rank;
    }

    /** Whether a target selects the module at {@code path} (PEFT's rule: equal, or a "."-separated suffix). */
    public static boolean matches(String target, String path) {
        return path.equals(target) || path.endsWith("." + target);
    }

    /** Whether any target selects the module at {@code path}. */
    public boolean targets(String path) {
        for (String t : targetModules) {
            if (matches(t, path)) {
                return true;
            }
        }
        return false;
    }
}
